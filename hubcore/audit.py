"""The append-only, hash-chained audit log.

Each entry holds the previous entry's hash, so changing or deleting any entry
breaks every hash after it; ``verify_chain`` finds the first broken one.

**Keyed.** Each entry's hash is an HMAC-SHA256 under a key kept outside the
database (``HUBCORE_AUDIT_KEY``), so someone who can write to the database
but does not hold the key cannot recompute a chain that verifies. A key is
known by its id, a fingerprint of the key (``key_id``), never by the key.
When the configured key changes (rotation), the next append first writes a
marker entry (action ``audit.key_changed``, entity id the new key id,
summary ``{"from": old id, "to": new id}``), hashed with the new key; the
verifier checks each stretch of the chain with its own key, so retired keys
are kept for verification (``HUBCORE_AUDIT_OLD_KEYS``). A chain begun under
a key needs no marker: its first entry shows which key it is under.
Chains written before keying (plain SHA-256, key id ``unkeyed``) stay
verifiable: ``hubcore db upgrade`` (or the next append) writes the marker
from ``unkeyed`` to the key, which seals them; a chain that is still unkeyed
at its end fails verification, since anyone could have recomputed it.

**Head.** The newest entry's seq and hash: noted down elsewhere, it lets a
later verification (``expect_head``) show that nothing was cut off the end
and that the chain was not rewritten up to that entry.

**No personal data, no free text.** Summaries are for ids, counts, codes
and flags. ``record`` enforces two rules on every summary, at any depth:

- keys naming personal data (names, contact details, addresses...) are kept
  but their values are masked (``[redacted]``): an auditor may need to know
  *that* an email changed, never what it was;
- keys naming text a person types (whose last word is ``reason``, ``note``,
  ``comment``, ``description``, ``message``, ``text``...: ``reason``,
  ``priority_reason``) may not carry a string: ``record`` raises
  ``SummaryNotAllowed``. Record that one was given (``reason_given``), its
  length (``reason_length``) or a fixed code (``reason_code``) instead.
  Erasure never touches the log, so what a person typed must never reach it.

Values may be None, booleans, numbers, strings (at most 200 characters
kept), dates, and lists or mappings of those; anything else is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import current_app, has_request_context
from sqlalchemy.orm import Mapped, mapped_column

from hubcore.db import UTCDateTime, db, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)  # gapless position in the chain
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(100), default="system")
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    entity_type: Mapped[str] = mapped_column(sa.String(60))
    entity_id: Mapped[str | None] = mapped_column(sa.String(60))
    district_code: Mapped[str | None] = mapped_column(sa.String(9), index=True)
    summary: Mapped[str] = mapped_column(sa.Text, default="{}")  # redacted JSON
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_audit_entries_entity", "entity_type", "entity_id"),)


GENESIS_HASH = "0" * 64

# Keys whose values are personal data: never written to the log.
PERSONAL_KEYS = frozenset({
    "name", "given_name", "family_name", "full_name", "first_name", "last_name", "surname",
    "middle_name", "preferred_name", "email", "phone", "mobile", "telephone", "address",
    "postcode", "date_of_birth", "dob", "notes", "note", "description", "bank_account",
    "sort_code", "account_number", "iban", "password", "token", "secret", "latitude",
    "longitude", "recipient", "body", "nhs_number", "ni_number",
    "national_insurance_number",
})
# Any key containing one of these is personal too ("email_address", "address_line_1").
PERSONAL_KEY_PARTS = ("email", "phone", "address", "postcode", "password", "secret")
REDACTED = "[redacted]"
MAX_SUMMARY_VALUE = 200
MAX_SUMMARY_ITEMS = 50


# Words that name text a person types: a key with one of them may not carry a string.
FREE_TEXT_WORDS = frozenset({
    "reason", "reasons", "note", "notes", "comment", "comments", "description", "details",
    "message", "text", "body", "subject", "explanation", "remarks",
})
_KEY_WORDS = re.compile(r"[^a-z0-9]+")


class SummaryNotAllowed(ValueError):
    """A summary carries what the audit log must never hold (see the module docstring)."""


def is_personal_key(key) -> bool:
    lowered = str(key).lower()
    return lowered in PERSONAL_KEYS or any(part in lowered for part in PERSONAL_KEY_PARTS)


def is_free_text_key(key) -> bool:
    """A key that names typed text: its last word is one of FREE_TEXT_WORDS
    (``reason``, ``priority_reason``; not ``reason_code`` or ``note_id``)."""
    words = [word for word in _KEY_WORDS.split(str(key).lower()) if word]
    return bool(words) and words[-1] in FREE_TEXT_WORDS


def redact(summary: dict | None) -> dict:
    """Keep only what an auditor needs: mask personal values, bound the rest.

    The key stays (an auditor may need to know *that* an email changed) but
    its value never reaches the log, however deeply it is nested. A string
    under a free-text key, or a value of another type than those the module
    docstring lists, raises ``SummaryNotAllowed``: the caller is wrong, and
    masking would hide that from its tests.
    """
    return {str(key): _redact_item(key, value) for key, value in (summary or {}).items()}


def _redact_item(key, value):
    if is_free_text_key(key) and _holds_text(value):
        raise SummaryNotAllowed(
            f"audit summary key {str(key)!r} carries text: record that it was given "
            f"({key}_given), its length or a fixed code, never what a person typed")
    return REDACTED if is_personal_key(key) else _redact_value(key, value)


def _holds_text(value) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_text(item) for item in value)
    return False  # a mapping's own keys are checked as keys


def _redact_value(key, value):
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(key, item) for item in list(value)[:MAX_SUMMARY_ITEMS]]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, str):
        return value[:MAX_SUMMARY_VALUE]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise SummaryNotAllowed(f"audit summary key {str(key)!r} holds a {type(value).__name__}: "
                            "record ids, counts, codes, flags or dates")


# -- Keys ------------------------------------------------------------------------------

UNKEYED = "unkeyed"  # the key id of entries written before the chain was keyed
KEY_MARKER_ACTION = "audit.key_changed"
KEY_MARKER_ENTITY = "audit_key"
_CURRENT = object()  # entry_hash's default: the configured key


def key_id(key: bytes) -> str:
    """The id a key is known by in the chain and in messages: a fingerprint, not the key."""
    return hmac.new(key, b"hubcore audit key id", hashlib.sha256).hexdigest()[:16]


def sha256_hex(data: bytes) -> str:
    """How entries written before keying were hashed."""
    return hashlib.sha256(data).hexdigest()


def hmac_signer(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 under ``key`` (RFC 2104), as a function of the message.

    The key's inner and outer pads are hashed once; each message then costs
    two copies and two updates, about half of what ``hmac.new`` costs per
    call: the verifier's million calls.
    """
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def sign(data: bytes) -> str:
        digest = inner()
        digest.update(data)
        result = outer()
        result.update(digest.digest())
        return result.hexdigest()

    return sign


@dataclass(frozen=True)
class Keyring:
    """The keys this process signs and verifies with.

    ``keys`` maps key ids to keys: the current one and every retired one
    still needed to verify the older stretches of the chain.
    """

    current_id: str
    keys: Mapping[str, bytes]
    derived: bool = False  # the current key is the embedded default, derived from the secret key

    @classmethod
    def from_settings(cls, settings) -> "Keyring":
        current = settings.resolved_audit_key().encode()
        keys = {key_id(old.encode()): old.encode() for old in settings.audit_old_keys}
        keys[key_id(current)] = current
        return cls(key_id(current), keys, derived=not settings.audit_key)

    @classmethod
    def of(cls, *keys: bytes) -> "Keyring":
        """A keyring whose first key is the current one (tests, tools)."""
        return cls(key_id(keys[0]), {key_id(k): k for k in keys})

    def signer(self, kid: str) -> Callable[[bytes], str] | None:
        """How entries under key id ``kid`` are hashed; None for a key not held."""
        if kid == UNKEYED:
            return sha256_hex
        key = self.keys.get(kid)
        return None if key is None else _signer_cache(key)


_SIGNERS: dict[bytes, Callable[[bytes], str]] = {}


def _signer_cache(key: bytes) -> Callable[[bytes], str]:
    sign = _SIGNERS.get(key)
    if sign is None:
        sign = _SIGNERS[key] = hmac_signer(key)
    return sign


_KEYRING = "hubcore.audit.keyring"


def keyring() -> Keyring:
    """The current app's keyring, built once from its settings."""
    ring = current_app.extensions.get(_KEYRING)
    if ring is None:
        ring = current_app.extensions[_KEYRING] = Keyring.from_settings(
            current_app.extensions["hubcore"].settings)
    return ring


# -- Hashing -----------------------------------------------------------------------------


def entry_hash(*, seq: int, at: datetime, actor_id, actor_label: str, action: str,
               entity_type: str, entity_id, district_code, summary: str, prev_hash: str,
               key: bytes | None = _CURRENT) -> str:
    """An entry's hash: HMAC-SHA256 under ``key`` (default: the app's current key),
    or plain SHA-256 with ``key=None`` (entries written before keying)."""
    if key is _CURRENT:
        ring = keyring()
        sign = ring.signer(ring.current_id)
    else:
        sign = sha256_hex if key is None else _signer_cache(key)
    return sign(_payload_of_fields(seq, at, actor_id, actor_label, action, entity_type,
                                   entity_id, district_code, summary, prev_hash))


# The hashed payload is this encoder's JSON of the fields in order; built once, because
# json.dumps with options builds a new encoder on every call.
_encode_payload = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_string = json.encoder.encode_basestring  # what that encoder writes for a str


def _payload_of_fields(seq, at, actor_id, actor_label, action, entity_type, entity_id,
                       district_code, summary, prev_hash) -> bytes:
    """The hashed bytes, by position, with ``at`` a datetime."""
    return _payload(seq, at.astimezone(UTC).isoformat(timespec="microseconds"), actor_id,
                    actor_label, action, entity_type, entity_id, district_code, summary,
                    prev_hash)


def _payload(seq, at_text, actor_id, actor_label, action, entity_type, entity_id,
             district_code, summary, prev_hash) -> bytes:
    """The hashed bytes, with ``at`` already written as text: the verifier's million calls.

    The usual types (int, str, None) are written straight into the JSON text,
    byte for byte what ``_encode_payload`` writes, at two thirds of its cost;
    anything else goes through the encoder.
    """
    try:
        if type(seq) is not int or (actor_id is not None and type(actor_id) is not int):
            raise TypeError  # bool, float, enum...: leave them to the encoder
        payload = '[%d,"%s",%s,%s,%s,%s,%s,%s,%s,%s]' % (
            seq, at_text, "null" if actor_id is None else "%d" % actor_id,
            _json_string(actor_label), _json_string(action), _json_string(entity_type),
            "null" if entity_id is None else _json_string(entity_id),
            "null" if district_code is None else _json_string(district_code),
            _json_string(summary), _json_string(prev_hash))
    except TypeError:  # encode_basestring refuses anything but a str
        payload = _encode_payload([seq, at_text, actor_id, actor_label, action, entity_type,
                                   entity_id, district_code, summary, prev_hash])
    return payload.encode()


_AS_SYSTEM: ContextVar[bool] = ContextVar("hubcore.audit.as_system", default=False)


@contextmanager
def as_system():
    """Record entries as "system" in this block, whoever is signed in.

    For jobs: embedded, rq runs them inside the request that enqueued them,
    but what a job does is the platform's doing, not that person's.
    """
    token = _AS_SYSTEM.set(True)
    try:
        yield
    finally:
        _AS_SYSTEM.reset(token)


def _actor_from_context():
    if _AS_SYSTEM.get() or not has_request_context():
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


@dataclass(frozen=True)
class Pending:
    """One entry to append, as ``record`` takes it; ``record_many`` appends several."""

    action: str
    entity_type: str
    entity_id: object = None
    actor: object = None
    district: str | None = None
    summary: dict | None = None


def record(action: str, entity_type: str, entity_id=None, *, actor=None,
           district: str | None = None, summary: dict | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change).

    ``actor`` defaults to the signed-in account of the current request, else
    "system". ``summary`` is redacted before it is stored, and refused
    (``SummaryNotAllowed``, nothing written) if it carries typed text.
    """
    return record_many([Pending(action, entity_type, entity_id, actor, district, summary)])[0]


def record_many(entries: list[Pending]) -> list[AuditEntry]:
    """Append several entries at once, in order, in the caller's transaction.

    One lock, one read of the tail and one insert for all of them: a write
    path that records several things (a person, their consent, their request)
    holds the append lock for the least time when it records them together,
    after its own inserts. When the chain's newest entry is not under the
    current key, a key marker goes first.
    """
    if not entries:
        return []
    for pending in entries:
        if pending.action == KEY_MARKER_ACTION:
            raise SummaryNotAllowed(f"{KEY_MARKER_ACTION} is written by the audit log itself")
    return _append(entries, switch_key=False)


def switch_key() -> AuditEntry | None:
    """Write the key marker now if the chain's newest entry is not under the current key.

    ``hubcore db upgrade`` calls it: it seals a chain written before keying
    (or under a retired key) at once, rather than at the next append. An
    empty chain needs no marker. Returns the marker written, if any.
    """
    made = _append([], switch_key=True)
    return made[0] if made else None


def _append(entries: list[Pending], *, switch_key: bool) -> list[AuditEntry]:
    session = db.session()
    session.flush()  # the caller's pending changes first, as before any query
    ring = keyring()
    seq, prev_hash, from_id = _next_link(session, ring)
    if from_id is not None:
        entries = [Pending(KEY_MARKER_ACTION, KEY_MARKER_ENTITY, ring.current_id,
                           _SYSTEM, None, {"from": from_id, "to": ring.current_id}),
                   *entries]
    if not entries:
        return []
    sign = ring.signer(ring.current_id)
    default_actor = _actor_from_context()
    rows = []
    for pending in entries:
        actor = pending.actor if pending.actor is not None else default_actor
        if actor is _SYSTEM:
            actor = None
        values = dict(
            seq=seq, at=utcnow(),
            actor_id=getattr(actor, "id", None),
            actor_label=(f"account:{actor.id}" if actor is not None else "system"),
            action=pending.action, entity_type=pending.entity_type,
            entity_id=None if pending.entity_id is None else str(pending.entity_id),
            district_code=pending.district,
            summary=json.dumps(redact(pending.summary), sort_keys=True, ensure_ascii=False),
            prev_hash=prev_hash,
        )
        values["hash"] = prev_hash = sign(_payload_of_fields(*values.values()))
        rows.append(values)
        seq += 1
    # One Core insert: a fraction of the cost of an ORM flush, and appending is on
    # every write path. The entries returned are plain copies, never saved again.
    ids = session.connection().execute(_INSERT_ENTRIES, rows).scalars().all()
    made = [AuditEntry(id=entry_id, **values) for entry_id, values in zip(ids, rows, strict=True)]
    if made:
        session.info[_CHAIN_TAIL] = (_innermost_transaction(session), made[-1].seq,
                                     made[-1].hash)
    return made


_SYSTEM = object()  # a Pending's actor: "system", whoever is signed in

# One statement for any number of entries; the ids come back in the rows' order.
_INSERT_ENTRIES = AuditEntry.__table__.insert().returning(AuditEntry.__table__.c.id,
                                                          sort_by_parameter_order=True)
_CHAIN_TAIL = "hubcore.audit.chain_tail"


def _innermost_transaction(session):
    return session.get_nested_transaction() or session.get_transaction()


def _next_link(session, ring: Keyring) -> tuple[int, str, str | None]:
    """The seq and previous hash of the next entry, holding the append lock, and
    the key id the chain is under if it is not the current key (else None).

    Once this transaction (or savepoint) has appended, it holds the lock until
    it ends, so its last entry is still the tail, under the current key:
    further appends in the same transaction skip the lock and the query. A
    savepoint rolled back, or any other transaction, asks the database again,
    and checks the tail's hash under the current key (one HMAC): an entry
    that fits is under it; one that does not means the key changed.
    """
    cached = session.info.get(_CHAIN_TAIL)
    if cached is not None and cached[0] is _innermost_transaction(session):
        return cached[1] + 1, cached[2], None
    _serialise_appenders(session)
    try:
        last = session.connection().execute(_TAIL).first()
    except ValueError:  # a timestamp overwritten with something that is not one:
        # keep appending (verify reports the entry); a marker seals what is there
        last = session.connection().execute(_TAIL_LINK).first()
        return last.seq + 1, last.hash, "unknown"
    if last is None:
        return 1, GENESIS_HASH, None  # a new chain begins under the current key
    return last.seq + 1, last.hash, _tail_key_change(ring, last)


def _tail_key_change(ring: Keyring, last) -> str | None:
    """None if ``last`` is under the current key, else the id of the key it is under
    (``unknown`` if none held fits: the new marker seals whatever is there)."""
    try:
        payload = _payload_of_fields(*last[:10])
    except (TypeError, ValueError, AttributeError):
        return "unknown"
    if ring.signer(ring.current_id)(payload) == last.hash:
        return None
    for kid in (UNKEYED, *ring.keys):
        if ring.signer(kid)(payload) == last.hash:
            return kid
    return "unknown"


_TAIL = sa.select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor_label,
                  AuditEntry.action, AuditEntry.entity_type, AuditEntry.entity_id,
                  AuditEntry.district_code, AuditEntry.summary, AuditEntry.prev_hash,
                  AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
_TAIL_LINK = sa.select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)


def head() -> tuple[int, str]:
    """The newest entry's seq and hash, unverified (0 and the genesis hash when empty)."""
    last = db.session.execute(sa.select(AuditEntry.seq, AuditEntry.hash)
                              .order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS_HASH)


def select_entries(districts: frozenset[str] | None, *, entity_type: str | None = None,
                   entity_id: str | None = None, action: str | None = None,
                   district: str | None = None) -> sa.Select:
    """Entries a reader may see, newest first, optionally filtered.

    ``districts=None`` means every entry, including those without a district
    (administrators); otherwise only entries in those districts.
    """
    statement = sa.select(AuditEntry).order_by(AuditEntry.seq.desc())
    if districts is not None:
        statement = statement.where(AuditEntry.district_code.in_(sorted(districts)))
    for column, value in ((AuditEntry.entity_type, entity_type),
                          (AuditEntry.entity_id, entity_id), (AuditEntry.action, action),
                          (AuditEntry.district_code, district)):
        if value:
            statement = statement.where(column == value)
    return statement


ADVISORY_LOCK_KEY = 0x4855_4243  # "HUBC"
_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_TAKE_WRITE_LOCK = sa.text("UPDATE audit_entries SET seq = seq WHERE 1 = 0")


def _serialise_appenders(session) -> None:
    """Hold the append lock until this transaction ends, before reading the last entry.

    Otherwise two transactions read the same last entry and chain onto it
    (on SQLite the loser fails on the unique ``seq``). PostgreSQL has an
    advisory lock for this; on SQLite a write that changes nothing takes the
    database's write lock, which other writers wait for.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(_ADVISORY_LOCK, {"key": ADVISORY_LOCK_KEY})
    elif dialect == "sqlite":
        connection.execute(_TAKE_WRITE_LOCK)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""
    head_hash: str = GENESIS_HASH  # note it down with head_seq: a later run must still reach it
    head_seq: int = 0
    key_id: str = UNKEYED  # the key the newest stretch of the chain is under
    current_key_id: str = ""  # the key new entries are written under

    @property
    def head(self) -> str:
        """``SEQ:HASH``, as ``--expect-head`` takes it."""
        return f"{self.head_seq}:{self.head_hash}"


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as (seq, hash); ValueError with a message a person can act on."""
    seq_text, _, hash_text = text.strip().partition(":")
    hash_text = hash_text.lower()
    if not (seq_text.isdecimal() and len(seq_text) <= 18 and int(seq_text) >= 1
            and re.fullmatch(r"[0-9a-f]{64}", hash_text)):
        raise ValueError("Give the head as SEQ:HASH, as verify printed it: an entry number "
                         "from 1, a colon, and the 64-character hash.")
    return int(seq_text), hash_text


def _at_as_hashed(dialect: str):
    """``at`` as text, exactly as ``entry_hash`` writes it, made by the database.

    Turning a million stored timestamps into datetimes only to write them back
    as text is most of what verifying costs in Python. ``None`` where the
    dialect is not known: the verifier then formats the datetimes itself.
    """
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", AuditEntry.at),
                               'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    if dialect == "sqlite":  # UTCDateTime stores naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
        return sa.func.replace(sa.type_coerce(AuditEntry.at, sa.String), " ", "T") + "+00:00"
    return None


def _stored_entry_hash(seq: int, sign: Callable[[bytes], str]) -> str | None:
    """The hash of entry ``seq`` recomputed from its typed columns.

    The arbiter when the database's text of ``at`` gave another hash, so that
    a text written differently can never report an unchanged entry as changed.
    """
    try:
        entry = db.session.connection().execute(
            sa.select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor_id,
                      AuditEntry.actor_label, AuditEntry.action, AuditEntry.entity_type,
                      AuditEntry.entity_id, AuditEntry.district_code, AuditEntry.summary,
                      AuditEntry.prev_hash).where(AuditEntry.seq == seq)).first()
    except ValueError:  # a timestamp overwritten with something that is not one
        return None
    return None if entry is None else sign(_payload_of_fields(*entry))


def verify_chain(batch: int = 5000, *, keys: Keyring | None = None,
                 expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Recompute every hash in order; report the first entry that does not fit.

    ``keys``: the key ids and keys to verify with (default: the app's current
    and retired keys). Each stretch of the chain is checked with its own key:
    the first entry's hash shows which key the chain begins under (or that it
    began before keying), and each key marker switches to the key it names.
    ``expect_head``: a (seq, hash) noted down earlier; the chain must still
    reach that entry, with that hash.
    """
    ring = keys or keyring()
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    expect_seq, expect_hash = expect_head or (0, "")
    seen_hash = None
    kid, sign = UNKEYED, sha256_hex
    connection = db.session.connection()
    at_text = _at_as_hashed(connection.dialect.name)
    payload_of = _payload_of_fields if at_text is None else _payload
    # The hashed fields in _payload's order, then the stored hash. Core rows on the
    # session's connection: the ORM layer would double the cost of a million rows.
    rows = connection.execute(
        sa.select(AuditEntry.seq, AuditEntry.at if at_text is None else at_text,
                  AuditEntry.actor_id, AuditEntry.actor_label,
                  AuditEntry.action, AuditEntry.entity_type, AuditEntry.entity_id,
                  AuditEntry.district_code, AuditEntry.summary, AuditEntry.prev_hash,
                  AuditEntry.hash).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )

    def broken(seq, reason):
        return VerifyResult(False, checked, seq, reason, current_key_id=ring.current_id)

    marker = KEY_MARKER_ACTION
    for row in rows:
        seq, row_prev_hash, stored_hash = row[0], row[9], row[10]
        if seq != expected_seq:
            return broken(expected_seq, f"entry {expected_seq} is missing (found {seq} next)")
        if row_prev_hash != prev_hash:
            return broken(seq, f"entry {seq} does not point at entry {seq - 1} "
                               f"(one of them was changed, or they were reordered)")
        if row[4] == marker:  # the stretch under the key it names begins here
            kid = row[6]
            if kid == UNKEYED:
                return broken(seq, f"entry {seq} switches the chain back to no key, which "
                                   "the audit log never does")
            sign = ring.signer(kid)
            if sign is None:
                return broken(seq, f"entry {seq} switches the chain to key id {kid}, which "
                                   "is not among the keys given (a retired key must stay "
                                   "in HUBCORE_AUDIT_OLD_KEYS)")
        elif seq == 1:
            kid, sign = _first_key(ring, payload_of(*row[:10]), stored_hash)
        if sign(payload_of(*row[:10])) != stored_hash \
                and _stored_entry_hash(seq, sign) != stored_hash:
            return broken(seq, f"entry {seq} was changed after it was written"
                          + ("" if seq > 1 else ", or written with a key not given"))
        if seq == expect_seq:
            seen_hash = stored_hash
        prev_hash, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    head = dict(head_hash=prev_hash, head_seq=checked, key_id=kid,
                current_key_id=ring.current_id)
    if checked and kid == UNKEYED:
        return VerifyResult(False, checked, None,
                            "no entry is under a key: the chain was written before keying "
                            "(run hubcore db upgrade to seal it) or recomputed by someone "
                            "without the key", **head)
    if expect_seq and checked < expect_seq:
        return VerifyResult(False, checked, checked + 1,
                            f"the chain ends at entry {checked}, but entry {expect_seq} was "
                            "noted down before: entries were removed from its end", **head)
    if expect_seq and seen_hash != expect_hash:
        return VerifyResult(False, checked, expect_seq,
                            f"entry {expect_seq} has hash {seen_hash}, not the {expect_hash} "
                            "noted down: the chain was rewritten up to that entry", **head)
    return VerifyResult(True, checked, **head)


def _first_key(ring: Keyring, payload: bytes, stored_hash: str):
    """The key id (and signer) the chain begins under: the one entry 1's hash fits."""
    for kid in (UNKEYED, ring.current_id, *ring.keys):
        sign = ring.signer(kid)
        if sign(payload) == stored_hash:
            return kid, sign
    return ring.current_id, ring.signer(ring.current_id)  # the check below reports it

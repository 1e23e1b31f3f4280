"""The append-only, hash-chained audit log.

Each entry holds the previous entry's hash, so changing or deleting any entry
breaks every hash after it; ``verify_chain`` finds the first broken one.
Summaries are redacted: never raw personal data.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_request_context
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


def is_personal_key(key) -> bool:
    lowered = str(key).lower()
    return lowered in PERSONAL_KEYS or any(part in lowered for part in PERSONAL_KEY_PARTS)


def redact(summary: dict | None) -> dict:
    """Keep only what an auditor needs: mask personal values, bound the rest.

    The key stays (an auditor may need to know *that* an email changed) but
    its value never reaches the log, however deeply it is nested.
    """
    return {str(key): REDACTED if is_personal_key(key) else _redact_value(value)
            for key, value in (summary or {}).items()}


def _redact_value(value):
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(item) for item in list(value)[:MAX_SUMMARY_ITEMS]]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)[:MAX_SUMMARY_VALUE]


def entry_hash(*, seq: int, at: datetime, actor_id, actor_label: str, action: str,
               entity_type: str, entity_id, district_code, summary: str, prev_hash: str) -> str:
    return _hash_fields(seq, at, actor_id, actor_label, action, entity_type, entity_id,
                        district_code, summary, prev_hash)


# The hashed payload is this encoder's JSON of the fields in order; built once, because
# json.dumps with options builds a new encoder on every call.
_encode_payload = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_string = json.encoder.encode_basestring  # what that encoder writes for a str


def _hash_fields(seq, at, actor_id, actor_label, action, entity_type, entity_id,
                 district_code, summary, prev_hash) -> str:
    """``entry_hash`` by position."""
    return _hash_payload(seq, at.astimezone(UTC).isoformat(timespec="microseconds"), actor_id,
                         actor_label, action, entity_type, entity_id, district_code, summary,
                         prev_hash)


def _hash_payload(seq, at_text, actor_id, actor_label, action, entity_type, entity_id,
                  district_code, summary, prev_hash) -> str:
    """The hash, with ``at`` already written as text: the verifier's million calls.

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
    return hashlib.sha256(payload.encode()).hexdigest()


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
    "system". ``summary`` is redacted before it is stored.
    """
    return record_many([Pending(action, entity_type, entity_id, actor, district, summary)])[0]


def record_many(entries: list[Pending]) -> list[AuditEntry]:
    """Append several entries at once, in order, in the caller's transaction.

    One lock, one read of the tail and one insert for all of them: a write
    path that records several things (a person, their consent, their request)
    holds the append lock for the least time when it records them together,
    after its own inserts.
    """
    if not entries:
        return []
    session = db.session()
    session.flush()  # the caller's pending changes first, as before any query
    seq, prev_hash = _next_link(session)
    default_actor = _actor_from_context()
    rows = []
    for pending in entries:
        actor = pending.actor if pending.actor is not None else default_actor
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
        values["hash"] = prev_hash = entry_hash(**values)
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


# One statement for any number of entries; the ids come back in the rows' order.
_INSERT_ENTRIES = AuditEntry.__table__.insert().returning(AuditEntry.__table__.c.id,
                                                          sort_by_parameter_order=True)
_CHAIN_TAIL = "hubcore.audit.chain_tail"


def _innermost_transaction(session):
    return session.get_nested_transaction() or session.get_transaction()


def _next_link(session) -> tuple[int, str]:
    """The seq and previous hash of the next entry, holding the append lock.

    Once this transaction (or savepoint) has appended, it holds the lock until
    it ends, so its last entry is still the tail: further appends in the same
    transaction skip the lock and the query. A savepoint rolled back, or any
    other transaction, asks the database again.
    """
    cached = session.info.get(_CHAIN_TAIL)
    if cached is not None and cached[0] is _innermost_transaction(session):
        return cached[1] + 1, cached[2]
    _serialise_appenders(session)
    last = session.connection().execute(_TAIL).first()
    return (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)


_TAIL = sa.select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)


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
    head_hash: str = GENESIS_HASH  # note it down: a later run must still reach it


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


def _stored_entry_hash(seq: int) -> str | None:
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
    return None if entry is None else _hash_fields(*entry)


def verify_chain(batch: int = 5000) -> VerifyResult:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    connection = db.session.connection()
    at_text = _at_as_hashed(connection.dialect.name)
    hash_row = _hash_fields if at_text is None else _hash_payload
    # The hashed fields in _hash_fields' order, then the stored hash. Core rows on the
    # session's connection: the ORM layer would double the cost of a million rows.
    rows = connection.execute(
        sa.select(AuditEntry.seq, AuditEntry.at if at_text is None else at_text,
                  AuditEntry.actor_id, AuditEntry.actor_label,
                  AuditEntry.action, AuditEntry.entity_type, AuditEntry.entity_id,
                  AuditEntry.district_code, AuditEntry.summary, AuditEntry.prev_hash,
                  AuditEntry.hash).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )
    for row in rows:
        seq, row_prev_hash, stored_hash = row[0], row[9], row[10]
        if seq != expected_seq:
            return VerifyResult(False, checked, expected_seq,
                                f"entry {expected_seq} is missing (found {seq} next)")
        if row_prev_hash != prev_hash:
            return VerifyResult(False, checked, seq,
                                f"entry {seq} does not point at entry {seq - 1} "
                                f"(one of them was changed, or they were reordered)")
        if hash_row(*row[:10]) != stored_hash and _stored_entry_hash(seq) != stored_hash:
            return VerifyResult(False, checked, seq,
                                f"entry {seq} was changed after it was written")
        prev_hash, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    return VerifyResult(True, checked, head_hash=prev_hash)

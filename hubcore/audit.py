"""The append-only, hash-chained audit log.

Each entry holds the previous entry's hash, so changing or deleting any entry
breaks every hash after it; ``verify_chain`` finds the first broken one.
Summaries are redacted: never raw personal data.
"""

from __future__ import annotations

import hashlib
import json
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
    "name", "given_name", "family_name", "full_name", "email", "phone", "address",
    "postcode", "date_of_birth", "dob", "notes", "note", "description", "bank_account",
    "sort_code", "account_number", "password", "token", "secret", "latitude", "longitude",
})
MAX_SUMMARY_VALUE = 200


def redact(summary: dict | None) -> dict:
    """Keep only what an auditor needs: drop personal values, bound the rest."""
    clean: dict = {}
    for key, value in (summary or {}).items():
        if key.lower() in PERSONAL_KEYS:
            clean[key] = "[redacted]"
        elif isinstance(value, dict):
            clean[key] = redact(value)
        elif isinstance(value, (list, tuple)):
            clean[key] = [v if isinstance(v, (int, float, bool)) or v is None
                          else str(v)[:MAX_SUMMARY_VALUE] for v in value][:50]
        elif isinstance(value, (int, float, bool)) or value is None:
            clean[key] = value
        else:
            clean[key] = str(value)[:MAX_SUMMARY_VALUE]
    return clean


def entry_hash(*, seq: int, at: datetime, actor_id, actor_label: str, action: str,
               entity_type: str, entity_id, district_code, summary: str, prev_hash: str) -> str:
    payload = json.dumps(
        [seq, at.astimezone(UTC).isoformat(timespec="microseconds"), actor_id, actor_label,
         action, entity_type, entity_id, district_code, summary, prev_hash],
        separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _actor_from_context():
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


def record(action: str, entity_type: str, entity_id=None, *, actor=None,
           district: str | None = None, summary: dict | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change).

    ``actor`` defaults to the signed-in account of the current request, else
    "system". ``summary`` is redacted before it is stored.
    """
    actor = actor if actor is not None else _actor_from_context()
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders so two transactions never chain onto the same entry.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    last = session.execute(
        sa.select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    entry = AuditEntry(
        seq=seq, at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=(f"account:{actor.id}" if actor is not None else "system"),
        action=action, entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        district_code=district,
        summary=json.dumps(redact(summary), sort_keys=True, ensure_ascii=False),
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(seq=entry.seq, at=entry.at, actor_id=entry.actor_id,
                            actor_label=entry.actor_label, action=action,
                            entity_type=entity_type, entity_id=entry.entity_id,
                            district_code=district, summary=entry.summary, prev_hash=prev_hash)
    session.add(entry)
    session.flush()
    return entry


ADVISORY_LOCK_KEY = 0x4855_4243  # "HUBC"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def verify_chain(batch: int = 5000) -> VerifyResult:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    rows = db.session.execute(
        sa.select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor_label,
                  AuditEntry.action, AuditEntry.entity_type, AuditEntry.entity_id,
                  AuditEntry.district_code, AuditEntry.summary, AuditEntry.prev_hash,
                  AuditEntry.hash).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )
    for row in rows:
        if row.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq,
                                f"entry {expected_seq} is missing (found {row.seq} next)")
        if row.prev_hash != prev_hash:
            return VerifyResult(False, checked, row.seq,
                                f"entry {row.seq} does not point at entry {row.seq - 1}")
        computed = entry_hash(seq=row.seq, at=row.at, actor_id=row.actor_id,
                              actor_label=row.actor_label, action=row.action,
                              entity_type=row.entity_type, entity_id=row.entity_id,
                              district_code=row.district_code, summary=row.summary,
                              prev_hash=row.prev_hash)
        if computed != row.hash:
            return VerifyResult(False, checked, row.seq,
                                f"entry {row.seq} was changed after it was written")
        prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    return VerifyResult(True, checked)

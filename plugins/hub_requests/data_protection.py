"""What the plugin holds about a person: subject access, erasure, retention.

Closed requests (completed, closed or cancelled) are kept for
``HUBCORE_HUB_REQUESTS_RETENTION_DAYS`` (default 365) after they finished,
then deleted with their notes, calls and history. The audit log is never touched, so its chain
still verifies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from hubcore import audit
from hubcore.db import db

from .models import CallAttempt, CaseNote, HelpRequest, StatusChange

RETENTION_SETTING = "hub_requests_retention_days"  # HUBCORE_HUB_REQUESTS_RETENTION_DAYS
DEFAULT_RETENTION_DAYS = 365
ERASED = "[erased]"


def retention_days() -> int:
    return int(current_app.config.get("HUB_REQUESTS_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def _requests_of(person_id: int) -> list[HelpRequest]:
    return list(db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.person_id == person_id)
        .order_by(HelpRequest.id)).scalars())


def export_for_person(person_id: int) -> list[dict]:
    """Every request of the person, with its notes, calls and history."""
    return [{
        "reference": r.reference, "district": r.district_code, "needs": list(r.needs),
        "circumstances": list(r.circumstances), "urgency": r.urgency,
        "description": r.description, "priority": r.priority, "reason": r.reason,
        "status": r.status, "channel": r.channel,
        "details_given": {k: v for k, v in (r.given_details or {}).items()
                          if k in ("postcode", "address", "phone", "email")} or None,
        "created_at": r.created_at.isoformat(),
        "closed_at": r.closed_at.isoformat() if r.closed_at else None,
        "outcome": r.outcome,
        "notes": [{"at": n.created_at.isoformat(), "body": n.body} for n in r.notes],
        "calls": [{"at": c.called_at.isoformat(), "outcome": c.outcome, "notes": c.notes}
                  for c in r.calls],
        "history": [{"at": h.at.isoformat(), "from": h.from_status, "to": h.to_status,
                     "reason": h.reason} for h in r.history],
    } for r in _requests_of(person_id)]


def move_to_person(from_person_id: int, to_person_id: int) -> int:
    """Point the requests of a merged record at the surviving one."""
    requests = _requests_of(from_person_id)
    for request in requests:
        request.person_id = to_person_id
    db.session.flush()
    return len(requests)


def erase_for_person(person_id: int) -> int:
    """Blank every free text about the person; keep the counts (needs, dates, status)."""
    requests = _requests_of(person_id)
    changed = 0
    for request in requests:
        request.description = ERASED
        request.status_reason = ERASED if request.status_reason else None
        request.escalation_reason = ERASED if request.escalation_reason else None
        request.priority_override_reason = (ERASED if request.priority_override_reason
                                            else None)
        request.helper_name = None
        request.given_details = None
        changed += 1
        for note in request.notes:
            note.body = ERASED
            changed += 1
        for call in request.calls:
            call.notes = ERASED if call.notes else ""
            changed += 1
        for step in request.history:
            step.reason = ERASED if step.reason else None
    db.session.flush()
    if requests:
        audit.record("hub_requests.person.erased", "person", person_id,
                     summary={"requests": len(requests), "records": changed})
    return changed


def purge_finished(now: datetime) -> int:
    """Delete requests that finished more than the retention period before ``now``."""
    cutoff = now - timedelta(days=retention_days())
    ids = list(db.session.execute(
        sa.select(HelpRequest.id).where(HelpRequest.closed_at.is_not(None),
                                        HelpRequest.closed_at < cutoff)).scalars())
    if not ids:
        return 0
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        # Links from other requests to a purged one are cut first (SQLite may
        # not enforce ON DELETE SET NULL).
        for column in (HelpRequest.duplicate_of_id, HelpRequest.follows_id):
            db.session.execute(sa.update(HelpRequest).where(column.in_(chunk))
                               .values({column.key: None, "version": HelpRequest.version + 1})
                               .execution_options(synchronize_session=False))
        for model in (CaseNote, CallAttempt, StatusChange):
            db.session.execute(sa.delete(model).where(model.request_id.in_(chunk)))
        db.session.execute(sa.delete(HelpRequest).where(HelpRequest.id.in_(chunk)))
    db.session.expire_all()
    audit.record("hub_requests.requests.purged", "help_request",
                 summary={"count": len(ids), "retention_days": retention_days()})
    return len(ids)

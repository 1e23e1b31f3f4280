"""What came of a finished request: the coordinator's last word on it.

A helper reporting a task done completes the request; the hub still has to
say whether the need was met (the district picture counts needs met, not
tasks done). The outcome can be recorded on any finished request and changed
later (a follow-up call finds the shopping never came); each change is a
case note and an audit entry, and the note's words are erased with the
person's other free text.
"""

from __future__ import annotations

from datetime import datetime

from hubcore import audit
from hubcore.db import utcnow
from hubcore.errors import Conflict, InvalidInput

from .lifecycle import _save, add_note
from .models import NOTE_MAX, OUTCOMES, HelpRequest


def record_outcome(request: HelpRequest, outcome: str, note: str | None = None, *, actor,
                   now: datetime | None = None) -> HelpRequest:
    """Record whether a finished request's need was met, with an optional note."""
    now = now or utcnow()
    note = (note or "").strip()
    problems = {}
    if outcome not in OUTCOMES:
        problems["outcome"] = [f"Choose one of: {', '.join(OUTCOMES)}."]
    if len(note) > NOTE_MAX - 100:  # room for the outcome's words in the case note
        problems["note"] = [f"Keep the note to {NOTE_MAX - 100} characters or fewer."]
    if problems:
        raise InvalidInput("Check the outcome and try again.", fields=problems)
    if request.is_open:
        raise Conflict("Record the outcome once the request is finished: complete or close "
                       "it first.", code="request-open")
    previous = request.outcome
    request.outcome, request.outcome_at, request.updated_at = outcome, now, now
    _save(request)
    add_note(request, f"Outcome: {OUTCOMES[outcome]}." + (f" {note}" if note else ""),
             actor=actor, now=now)
    audit.record("hub_requests.request.outcome", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"outcome": outcome, "previous": previous, "note_given": bool(note)})
    return request

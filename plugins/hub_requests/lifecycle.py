"""A request's life: status transitions, edits, escalation, duplicates, notes and calls.

new → triaged → assigned → completed, as the offer flow walks it (a helper
accepts, reports it done, or gives it back to triaged); ``matched`` and
``in_progress`` are set only by hand. Or closed (resolved elsewhere, with a
reason) or cancelled. Anything else is refused
with ``Conflict`` (409). Every change is written to the status history and
the audit log; the ``version`` column makes a concurrent edit fail with 412
instead of overwriting someone else's change. Plain functions: flush, never
commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.errors import Conflict, InvalidInput, PreconditionFailed
from hubcore.identity import people
from hubcore.identity.permissions import can
from hubcore.values import HelperCandidate, Task

from . import triage
from .models import (
    AWAITING,
    CALL_OUTCOMES,
    CIRCUMSTANCES,
    FINISHED,
    NEEDS,
    NOTE_MAX,
    PRIORITIES,
    REASON_MAX,
    RECURRENCES,
    STATUSES,
    URGENCIES,
    CallAttempt,
    CaseNote,
    HelpRequest,
    StatusChange,
)

OWNER = "hub_requests"  # what tasks owned by this plugin carry in Task.owner

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triaged", "closed", "cancelled"}),
    "triaged": frozenset({"matched", "assigned", "closed", "cancelled"}),
    "matched": frozenset({"triaged", "assigned", "closed", "cancelled"}),
    "assigned": frozenset({"triaged", "in_progress", "completed", "closed", "cancelled"}),
    "in_progress": frozenset({"triaged", "completed", "closed", "cancelled"}),
    "completed": frozenset(),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
STATUS_LABELS = {
    "new": "New", "triaged": "Triaged", "matched": "Matched", "assigned": "Assigned",
    "in_progress": "In progress", "completed": "Completed", "closed": "Closed",
    "cancelled": "Cancelled",
}


def find_by_reference(reference: str) -> HelpRequest | None:
    return db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.reference == reference.strip().upper())
    ).scalar_one_or_none()


def check_version(request: HelpRequest, version: int | None) -> None:
    """Refuse a change made from an out-of-date copy of the request (pages)."""
    if version is None or version != request.version:
        raise PreconditionFailed("Someone else changed this request since you opened it. "
                                 "Nothing was saved: look at it again and retry.")


def _save(request: HelpRequest) -> None:
    """Flush; a row changed by someone else meanwhile is a stale write, not a 500."""
    try:
        db.session.flush()
    except StaleDataError:
        raise PreconditionFailed("Someone else changed this request at the same moment. "
                                 "Nothing was saved: reload it and try again.") from None


def _reason(reason: str | None, field: str = "reason") -> str | None:
    reason = (reason or "").strip() or None
    if reason and len(reason) > REASON_MAX:
        raise InvalidInput("The reason is too long.",
                           fields={field: [f"Keep the reason to {REASON_MAX} characters "
                                           "or fewer."]})
    return reason


# -- Transitions ---------------------------------------------------------------------


def allowed_transitions(request: HelpRequest) -> tuple[str, ...]:
    return tuple(s for s in STATUSES if s in TRANSITIONS[request.status])


def transition(request: HelpRequest, to: str, *, actor, reason: str | None = None,
               now: datetime | None = None) -> HelpRequest:
    """Move the request to ``to`` if the lifecycle allows it; closing needs a reason."""
    now = now or utcnow()
    if to not in STATUSES:
        raise InvalidInput("Choose a status.", fields={"to": [f"Choose one of: "
                                                              f"{', '.join(STATUSES)}."]})
    reason = _reason(reason)
    if to not in TRANSITIONS[request.status]:
        raise Conflict(f"A {STATUS_LABELS[request.status].lower()} request cannot become "
                       f"{STATUS_LABELS[to].lower()}.", code="illegal-transition")
    if to == "closed" and not reason:
        raise InvalidInput("Say why the request is closed.",
                           fields={"reason": ["Say why it is closed, for example "
                                              "'referred to Citizens Advice'."]})
    before = request.status
    request.status, request.status_reason, request.updated_at = to, reason, now
    if to in FINISHED:
        request.closed_at = now
    if to == "triaged" and before in ("assigned", "in_progress", "matched"):
        request.helper_id = request.helper_name = None
    _save(request)
    db.session.add(StatusChange(request_id=request.id, from_status=before, to_status=to,
                                reason=reason, actor_id=getattr(actor, "id", None), at=now))
    audit.record("hub_requests.request.transition", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"from": before, "to": to, "reason_given": bool(reason)})
    return request


# -- Edits -------------------------------------------------------------------------------


def update_request(request: HelpRequest, changes: dict, *, actor,
                   now: datetime | None = None) -> HelpRequest:
    """Apply a coordinator's edits; what the triage depends on re-triages it.

    ``changes`` may hold needs, circumstances, urgency, description,
    recurrence, priority (with priority_reason), escalated (with
    escalation_reason) and overflow_district (None to stop sharing).
    """
    now = now or utcnow()
    if not request.is_open:
        raise Conflict("This request is finished and can no longer be changed.",
                       code="request-finished")
    problems: dict[str, list[str]] = {}
    if "description" in changes and len(changes["description"] or "") > 2000:
        problems["description"] = ["Keep the description to 2000 characters or fewer."]
    if "recurrence" in changes and changes["recurrence"] not in RECURRENCES:
        problems["recurrence"] = [f"Choose one of: {', '.join(RECURRENCES)}."]
    if "priority" in changes and changes["priority"] not in PRIORITIES:
        problems["priority"] = [f"Choose one of: {', '.join(PRIORITIES)}."]
    if "priority" in changes and not (changes.get("priority_reason") or "").strip():
        problems["priority_reason"] = ["Say why the priority is changed."]
    if problems:
        raise InvalidInput("Check the highlighted fields and try again.", fields=problems)

    changed: list[str] = []
    if {"needs", "circumstances", "urgency"} & set(changes):
        needs = changes.get("needs", request.needs)
        circumstances = changes.get("circumstances", request.circumstances)
        urgency = changes.get("urgency", request.urgency)
        result = triage.score_request(needs, circumstances, urgency,
                                      created_at=request.created_at)
        request.needs, request.circumstances = list(needs), list(circumstances)
        request.urgency = urgency
        request.score, request.reason = result.score, result.reason
        request.rules_version = result.rules_version
        if not request.priority_override_reason:
            request.priority, request.due_at = result.priority, result.due_at
        changed += sorted({"needs", "circumstances", "urgency"} & set(changes))
    for key in ("description", "recurrence"):
        if key in changes:
            setattr(request, key, (changes[key] or "").strip())
            changed.append(key)
    if changed:
        request.updated_at = now
        _save(request)
        audit.record("hub_requests.request.updated", "help_request", request.id, actor=actor,
                     district=request.district_code,
                     summary={"fields": changed, "priority": request.priority,
                              "score": request.score})
    if "priority" in changes:
        override_priority(request, changes["priority"], changes.get("priority_reason"),
                          actor=actor, now=now)
    if "escalated" in changes:
        set_escalation(request, bool(changes["escalated"]), changes.get("escalation_reason"),
                       actor=actor, now=now)
    if "overflow_district" in changes:
        share_overflow(request, changes["overflow_district"], actor=actor, now=now)
    return request


def override_priority(request: HelpRequest, priority: str, reason: str | None, *, actor,
                      now: datetime | None = None) -> HelpRequest:
    """A coordinator's judgement over the rules: a new priority, its due time, and why."""
    now = now or utcnow()
    reason = _reason(reason, "priority_reason")
    if priority not in PRIORITIES:
        raise InvalidInput("Choose a priority.",
                           fields={"priority": [f"Choose one of: {', '.join(PRIORITIES)}."]})
    if not reason:
        raise InvalidInput("Say why the priority is changed.",
                           fields={"priority_reason": ["Say why the priority is changed."]})
    before = request.priority
    request.priority, request.priority_override_reason = priority, reason
    request.due_at = triage.due_at_for(priority, request.created_at)
    request.updated_at = now
    _save(request)
    audit.record("hub_requests.request.priority_overridden", "help_request", request.id,
                 actor=actor, district=request.district_code,
                 summary={"from": before, "to": priority, "reason_given": True,
                          "reason_length": len(reason)})  # never the words: see hubcore.audit
    return request


def set_escalation(request: HelpRequest, escalated: bool, reason: str | None, *, actor,
                   now: datetime | None = None) -> HelpRequest:
    """Flag (or unflag) a request for a senior coordinator's attention."""
    now = now or utcnow()
    reason = _reason(reason, "escalation_reason")
    if escalated and not reason:
        raise InvalidInput("Say why the request is escalated.",
                           fields={"escalation_reason": ["Say why it is escalated."]})
    if request.escalated == escalated:
        return request
    request.escalated = escalated
    request.escalation_reason = reason if escalated else None
    request.updated_at = now
    _save(request)
    audit.record("hub_requests.request.escalated" if escalated
                 else "hub_requests.request.deescalated", "help_request", request.id,
                 actor=actor, district=request.district_code,
                 summary={"reason_given": True, "reason_length": len(reason)}
                 if escalated else {})  # never the words: see hubcore.audit
    return request


def share_overflow(request: HelpRequest, district: str | None, *, actor,
                   now: datetime | None = None) -> HelpRequest:
    """Share the request with a neighbouring district's hub (or stop sharing)."""
    now = now or utcnow()
    if district:
        own = packs.district(request.district_code)
        if own is None or district not in own.neighbours:
            raise InvalidInput("Overflow goes to a neighbouring district only.",
                               fields={"overflow_district": [
                                   "Choose a district next to this request's district."]})
    before = request.overflow_district_code
    if before == (district or None):
        return request
    request.overflow_district_code = district or None
    request.updated_at = now
    _save(request)
    audit.record("hub_requests.request.overflow", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"from": before, "to": district or None})
    return request


def escalate_overdue(now: datetime) -> int:
    """Flag open requests past their due time that nobody has escalated yet."""
    overdue = db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.status.in_(AWAITING),
                                     HelpRequest.due_at < now,
                                     HelpRequest.escalated.is_(False))
        .order_by(HelpRequest.id)
    ).scalars().all()
    for request in overdue:
        set_escalation(request, True, f"Overdue: it was due by {request.due_at:%d %b %H:%M} "
                                      "UTC and nobody has taken it on.", actor=None, now=now)
    return len(overdue)


# -- Duplicates -----------------------------------------------------------------------


def _suspected(request: HelpRequest) -> HelpRequest:
    if request.duplicate_state != "suspected" or request.duplicate_of is None:
        raise Conflict("This request is not flagged as a possible duplicate.",
                       code="not-a-duplicate")
    return request.duplicate_of


def confirm_duplicate(request: HelpRequest, *, actor, now: datetime | None = None,
                      other_hub_agreed: bool = False) -> HelpRequest:
    """It is the same need: merge it into the open original and close it, linked.

    When another hub holds the original, the coordinator (who cannot see it)
    confirms only after agreeing with that hub (``other_hub_agreed``): the
    original gains this request's needs and a note, nothing else is shown.
    """
    now = now or utcnow()
    original = _suspected(request)
    elsewhere = actor is not None and not can(actor, "help_requests.write", original.district_code)
    if elsewhere and not other_hub_agreed:
        raise Conflict(f"The possible original is held by {packs.district_name(original.district_code)}"
                       " community hub. Agree with that hub that it is the same need, then "
                       "confirm again saying so, or dismiss the flag.",
                       code="other-hub-agreement-needed")
    if not original.is_open:
        raise Conflict(f"{original.reference} is finished: dismiss the duplicate flag and "
                       "deal with this request on its own.", code="original-finished")
    if not request.is_open:
        raise Conflict("This request is already finished.", code="request-finished")
    merged_needs = list(dict.fromkeys([*original.needs, *request.needs]))
    merged_circumstances = list(dict.fromkeys([*original.circumstances,
                                               *request.circumstances]))
    if merged_needs != original.needs or merged_circumstances != original.circumstances:
        urgency = min((original.urgency, request.urgency), key=list(URGENCIES).index)
        update_request(original, {"needs": merged_needs, "circumstances": merged_circumstances,
                                  "urgency": urgency}, actor=actor, now=now)
    add_note(original, f"{request.reference} was confirmed as a duplicate and merged into "
                       "this request.", actor=actor, now=now)
    request.duplicate_state = "confirmed"
    what = (f"a request held by the {packs.district_name(original.district_code)} community hub"
            if elsewhere else original.reference)  # its reference is that hub's to show
    transition(request, "closed", actor=actor, reason=f"Duplicate of {what}", now=now)
    audit.record("hub_requests.duplicate.confirmed", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"original": original.id,
                          **({"agreed_with_district": original.district_code} if elsewhere
                             else {})})
    return original


def dismiss_duplicate(request: HelpRequest, *, actor, reason: str | None = None,
                      now: datetime | None = None) -> HelpRequest:
    """Not the same need after all: keep both, remember the decision."""
    now = now or utcnow()
    original = _suspected(request)
    reason = _reason(reason)
    request.duplicate_state = "dismissed"
    request.updated_at = now
    _save(request)
    audit.record("hub_requests.duplicate.dismissed", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"original": original.id, "reason_given": bool(reason)})
    return request


# -- Notes and calls ----------------------------------------------------------------------


def add_note(request: HelpRequest, body: str, *, actor, now: datetime | None = None) -> CaseNote:
    body = (body or "").strip()
    if not body or len(body) > NOTE_MAX:
        raise InvalidInput("Write the note.", fields={"body": [
            f"Write the note, up to {NOTE_MAX} characters."]})
    note = CaseNote(request_id=request.id, author_id=getattr(actor, "id", None), body=body,
                    created_at=now or utcnow())
    db.session.add(note)
    db.session.flush()
    audit.record("hub_requests.note.added", "help_request", request.id, actor=actor,
                 district=request.district_code, summary={"note_id": note.id,
                                                          "length": len(body)})
    return note


def log_call(request: HelpRequest, outcome: str, notes: str = "", *, actor,
             called_at: datetime | None = None) -> CallAttempt:
    """Record one call attempt and how it went."""
    notes = (notes or "").strip()
    problems: dict[str, list[str]] = {}
    if outcome not in CALL_OUTCOMES:
        problems["outcome"] = [f"Choose one of: {', '.join(CALL_OUTCOMES)}."]
    if len(notes) > NOTE_MAX:
        problems["notes"] = [f"Keep the notes to {NOTE_MAX} characters or fewer."]
    called_at = called_at or utcnow()
    if called_at > utcnow():
        problems["called_at"] = ["A call cannot be logged in the future."]
    if problems:
        raise InvalidInput("Check the call details.", fields=problems)
    call = CallAttempt(request_id=request.id, caller_id=getattr(actor, "id", None),
                       outcome=outcome, notes=notes, called_at=called_at)
    db.session.add(call)
    db.session.flush()
    audit.record("hub_requests.call.logged", "help_request", request.id, actor=actor,
                 district=request.district_code, summary={"call_id": call.id,
                                                          "outcome": outcome})
    return call


# -- Tasks: how the helper side sees a request ------------------------------------------------


def task_for(request: HelpRequest) -> Task:
    """The plain value the helper side (``find_helpers``, ``task_*``) gets for a request."""
    level, regulated = triage.helper_requirements(request.needs)
    location = people.person_info(request.person).location if request.person else None
    return Task(owner=OWNER, owner_id=str(request.id), district=request.district_code,
                needs=tuple(request.needs), location=location, due_at=request.due_at,
                priority=int(request.priority[1]), dbs_level=level,
                person_id=request.person_id, regulated_activity=regulated)


def request_for_task(task: Task) -> HelpRequest | None:
    """The request behind ``task`` if this plugin owns it, else None.

    The task must name a district the request is visible in: the helper
    side checks its caller's permission against the task's district, so a
    task naming another district must not reach this district's request.
    """
    if task.owner != OWNER:
        return None
    try:
        found = db.session.get(HelpRequest, int(task.owner_id))
    except ValueError:
        return None
    if found is None or task.district not in found.visible_districts():
        return None
    return found


def open_request_for(owner: str, owner_id: str) -> HelpRequest | None:
    """The open request a helper side names by owner and id (``task_details``), else None.

    Only open requests are offered to helpers; an id that is not a plain
    number in the id column's range names nothing (and never reaches the
    database as an out-of-range integer).
    """
    if owner != OWNER or not isinstance(owner_id, str) or not owner_id.isascii() \
            or not owner_id.isdigit() or len(owner_id) > 10 or int(owner_id) >= 2**31:
        return None
    found = db.session.get(HelpRequest, int(owner_id))
    return found if found is not None and found.is_open else None


def _refuse_if_finished(request: HelpRequest) -> None:
    if not request.is_open:
        raise Conflict(f"Request {request.reference} is "
                       f"{STATUS_LABELS[request.status].lower()}: it no longer needs a helper.",
                       code="request-finished")


def helper_assigned(request: HelpRequest, helper: HelperCandidate) -> None:
    """The helper side says a helper accepted: the request is assigned to them.

    A request nobody has triaged yet is marked triaged on the way (a helper
    was found first); one already with a helper changes helper. A finished
    request refuses (409), so the helper side does not send anyone.
    """
    _refuse_if_finished(request)
    if request.helper_id == helper.helper_id and request.status in ("assigned", "in_progress"):
        return
    source = helper.source or "a helper"
    if request.status == "new":
        transition(request, "triaged", actor=None, reason=f"a helper from {source} accepted it "
                                                         "before triage")
    request.helper_id = helper.helper_id[:60]
    request.helper_name = (helper.display_name or "")[:200]
    if request.status in ("assigned", "in_progress"):
        _save(request)
        audit.record("hub_requests.request.helper_changed", "help_request", request.id,
                     district=request.district_code, summary={"source": source})
        return
    transition(request, "assigned", actor=None, reason=f"accepted through {source}")


def helper_released(request: HelpRequest, reason: str) -> None:
    """The helper gave it back: back to the queue, with their reason."""
    if request.status not in ("matched", "assigned", "in_progress"):
        return
    transition(request, "triaged", actor=None,
               reason=(f"released by the helper: {reason}" if reason
                       else "released by the helper")[:REASON_MAX])


def helper_completed(request: HelpRequest, hours: float, *, now: datetime | None = None
                     ) -> None:
    """The helper reports it done, with the hours they logged.

    Never refused: the work was done and the helper side keeps its hours. A
    request closed or cancelled meanwhile keeps its outcome; the report is
    written in its notes (audited) and the hours kept with it, once. A
    completed request is left as it is.
    """
    now = now or utcnow()
    if request.status == "completed":
        return
    if request.status in ("closed", "cancelled"):
        _completed_after_finish(request, hours, now)
        return
    if request.status not in ("assigned", "in_progress"):
        helper_assigned(request, HelperCandidate(request.helper_id or "unknown",
                                                 request.helper_name or "A helper", 0.0, None))
    request.hours = hours
    transition(request, "completed", actor=None, reason="the helper reported it done", now=now)


def _completed_after_finish(request: HelpRequest, hours: float, now: datetime) -> None:
    """A helper finished the task after the hub closed or cancelled the request."""
    if request.hours is not None:  # told before: nothing new to record
        return
    status = STATUS_LABELS[request.status].lower()
    request.hours, request.updated_at = hours, now
    _save(request)
    add_note(request, f"The helper reported this task done after the request was {status}, "
                      f"and logged {hours:g} hour{'' if hours == 1 else 's'}. The request "
                      f"stays {status}.", actor=None, now=now)
    audit.record("hub_requests.request.helper_completed_after_finish", "help_request",
                 request.id, district=request.district_code,
                 summary={"status": request.status, "hours": hours})


def labels() -> dict:
    """Every code's words, for pages and the API's reference data."""
    return {"needs": NEEDS, "circumstances": CIRCUMSTANCES, "urgency": URGENCIES,
            "statuses": STATUS_LABELS, "call_outcomes": CALL_OUTCOMES}

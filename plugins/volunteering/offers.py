"""Offers and assignments: one task, one volunteer, whoever accepts first.

A coordinator offers a task (to a named volunteer, or to the best
candidate); the offer expires (sooner for urgent tasks); a decline or an
expiry offers it to the next candidate. Accepting is atomic: a conditional
UPDATE claims the offer, and an assignment row whose ``active_key`` is unique
per task claims the task, so two clicks, or two volunteers, assign once.
The owner of the task hears of it through ``task_assigned`` /
``task_released`` / ``task_completed`` (which it cannot refuse: the hours
are the volunteer's).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from hubcore import audit, notify
from hubcore.db import db, utcnow
from hubcore.errors import Conflict, HubcoreError, InvalidInput, NotFound
from hubcore.identity.permissions import can
from hubcore.plugins import collect
from hubcore.values import HelperCandidate, Location, Task

from . import matching
from .models import Assignment, Offer, Volunteer

log = logging.getLogger(__name__)

OFFERS = "volunteering.offers.manage"

# How long a volunteer has to answer, by the task's priority (1 is most urgent).
OFFER_TTL = {1: timedelta(hours=1), 2: timedelta(hours=4), 3: timedelta(hours=12),
             4: timedelta(hours=24)}
MAX_HOURS = 24.0


# -- Tasks as plain data ---------------------------------------------------------------


def task_to_dict(task: Task) -> dict:
    return {
        "owner": task.owner, "owner_id": task.owner_id, "district": task.district,
        "needs": list(task.needs),
        "location": ({"latitude": task.location.latitude, "longitude": task.location.longitude}
                     if task.location else None),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "priority": task.priority, "dbs_level": task.dbs_level,
        "max_distance_km": task.max_distance_km, "person_id": task.person_id,
        "languages": list(task.languages), "regulated_activity": task.regulated_activity,
    }


def task_from_dict(data: dict) -> Task:
    location = data.get("location")
    due_at = data.get("due_at")
    return Task(
        owner=data["owner"], owner_id=str(data["owner_id"]), district=data["district"],
        needs=tuple(data.get("needs") or ()),
        location=Location(location["latitude"], location["longitude"]) if location else None,
        due_at=datetime.fromisoformat(due_at) if isinstance(due_at, str) else due_at,
        priority=int(data.get("priority", 3)), dbs_level=data.get("dbs_level", "none"),
        max_distance_km=data.get("max_distance_km"), person_id=data.get("person_id"),
        languages=tuple(data.get("languages") or ()),
        regulated_activity=bool(data.get("regulated_activity", False)),
    )


def _pm():
    return current_app.extensions["hubcore"].pm


def _candidate(volunteer: Volunteer, score: float = 0.0, overflow: bool = False,
               distance_km: float | None = None) -> HelperCandidate:
    return HelperCandidate(helper_id=matching.helper_id(volunteer.id),
                           display_name=matching.display_name(volunteer.given_name,
                                                              volunteer.family_name),
                           score=score, distance_km=distance_km, overflow=overflow,
                           source=matching.SOURCE)


# -- Making offers --------------------------------------------------------------------------


class TaskOwnerUnavailable(HubcoreError):
    """The plugin that owns the task failed when asked for it: nothing was offered."""

    status = 503
    code = "task-owner-unavailable"
    title = "The task could not be read"


def owners_task(owner: str, owner_id: str, *, user) -> Task:
    """The task as its owner plugin has it now (``task_details``), for ``user`` to offer.

    A form or API call names only the owner and the id: what the task needs,
    its DBS level, person, place and district are the owner's to say, so a
    hand-made post cannot lower a gate or name another person. Refused (422)
    when no plugin answers for an open record of that owner and id, and in
    the same words when ``user`` may not offer tasks in its district: the
    answer never tells another district's staff which records exist. A
    plugin that fails when asked gives ``TaskOwnerUnavailable`` (503).
    """
    try:
        with db.session.begin_nested():  # a failure inside leaves the transaction usable
            task = _pm().hook.task_details(owner=owner, owner_id=owner_id)
    except HubcoreError:
        raise
    except Exception as exc:
        # The owner's bug or outage: refuse clearly (503), offer nothing, log who failed.
        log.exception("task_details failed for owner %r, id %r", owner, owner_id)
        raise TaskOwnerUnavailable(
            "The task could not be read from the service it belongs to just now, so "
            "nothing was offered. Try again in a minute.") from exc
    if task is None or task.owner != owner or not can(user, OFFERS, task.district):
        raise InvalidInput("There is no open task with this owner and id to offer: it may "
                           "have been finished since the page was shown.", code="unknown-task",
                           fields={"owner_id": ["No plugin has an open task with this owner "
                                                "and id in your districts."]})
    return task


def get_offer(offer_id: int) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound("No such offer.")
    return offer


def get_assignment(assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound("No such assignment.")
    return assignment


def offered_before(task: Task) -> frozenset[int]:
    """Volunteers who have had an offer for this task (they are not asked twice)."""
    return frozenset(db.session.execute(
        sa.select(Offer.volunteer_id).where(Offer.task_owner == task.owner,
                                            Offer.task_owner_id == task.owner_id)).scalars())


def _active_assignment(task: Task) -> Assignment | None:
    return db.session.execute(sa.select(Assignment).where(
        Assignment.active_key == _key(task.owner, task.owner_id))).scalar_one_or_none()


def _open_offer(task: Task) -> Offer | None:
    return db.session.execute(sa.select(Offer).where(
        Offer.task_owner == task.owner, Offer.task_owner_id == task.owner_id,
        Offer.status == "offered")).scalars().first()


def _key(owner: str, owner_id: str) -> str:
    return f"{owner}:{owner_id}"


def make_offer(task: Task, *, volunteer_id: int | None, actor, now: datetime | None = None
               ) -> Offer:
    """Offer ``task`` to a named volunteer (if eligible) or to the best candidate.

    Refused when the task is already assigned or has an open offer, when the
    named volunteer fails any gate (the reasons are given), or when nobody
    eligible is left.
    """
    now = now or utcnow()
    if _active_assignment(task) is not None:
        raise Conflict("This task has already been assigned to a volunteer.",
                       code="task-assigned")
    if _open_offer(task) is not None:
        raise Conflict("This task is already offered to a volunteer: withdraw that offer "
                       "first, or wait for an answer.", code="offer-open")
    excluded = offered_before(task)
    if volunteer_id is not None:
        volunteer = db.session.get(Volunteer, volunteer_id)
        if volunteer is None:
            raise InvalidInput("No such volunteer.", fields={"volunteer_id": ["No such volunteer."]})
        index = matching.current_index()
        district = index.pack.get(task.district)
        home = volunteer.district_code == task.district
        if not home and (district is None or volunteer.district_code not in district.neighbours):
            raise InvalidInput("This volunteer is not in the task's district or a neighbouring one.",
                               fields={"volunteer_id": ["Choose a volunteer from the task's "
                                                        "district or a neighbouring one."]})
        workload = matching.workload_for(task, {volunteer.district_code}, now, excluded)
        reasons = matching.why_not_eligible(volunteer, task, workload, now)
        if reasons:
            raise InvalidInput("This volunteer cannot be offered this task.",
                               code="volunteer-not-eligible", fields={"volunteer_id": reasons})
        single = matching.DistrictArrays([matching.row_of(volunteer)], index.ref_latitude)
        ranked = matching.rank(single, task, workload, now, 1, overflow=not home)
        score = ranked[0].score if ranked else 0.0
        overflow = not home
    else:
        best = matching.find_candidates(task, 1, now=now, excluded=excluded)
        if not best:
            raise Conflict("No eligible volunteer is left for this task.", code="no-candidate")
        volunteer = db.session.get(Volunteer, matching.volunteer_id_of(best[0].helper_id))
        score, overflow = best[0].score, best[0].overflow
    return _create_offer(task, volunteer, score=score, overflow=overflow, actor=actor, now=now)


def _create_offer(task: Task, volunteer: Volunteer, *, score: float, overflow: bool, actor,
                  now: datetime) -> Offer:
    ttl = OFFER_TTL.get(task.priority, OFFER_TTL[4])
    offer = Offer(task_owner=task.owner, task_owner_id=task.owner_id,
                  district_code=task.district, task=task_to_dict(task), volunteer=volunteer,
                  status="offered", score=score, overflow=overflow,
                  offered_by_id=getattr(actor, "id", None), offered_at=now,
                  expires_at=now + ttl)
    db.session.add(offer)
    db.session.flush()
    audit.record("volunteering.offer.made", "volunteering_offer", offer.id, actor=actor,
                 district=task.district,
                 summary={"task": _key(task.owner, task.owner_id), "volunteer_id": volunteer.id,
                          "overflow": overflow, "expires_at": offer.expires_at.isoformat()})
    tell_volunteer(volunteer, "A task for you",
          f"There is a task near you ({', '.join(n.replace('_', ' ') for n in task.needs)}). "
          f"Sign in and open My tasks to accept or decline it by "
          f"{offer.expires_at:%H:%M on %d %B} (UTC).")
    return offer


def tell_volunteer(volunteer: Volunteer, subject: str, body: str) -> None:
    """Write to the volunteer by email, else by text, through the core outbox."""
    if volunteer.email:
        notify.queue_message("email", volunteer.email, subject, body,
                             person_id=volunteer.person_id)
    elif volunteer.phone:
        notify.queue_message("sms", volunteer.phone, "", body, person_id=volunteer.person_id)


def offer_next(task: Task, *, now: datetime) -> Offer | None:
    """Offer the task to the best candidate not yet asked, if there is one."""
    if _active_assignment(task) is not None or _open_offer(task) is not None:
        return None
    best = matching.find_candidates(task, 1, now=now, excluded=offered_before(task))
    if not best:
        audit.record("volunteering.offer.exhausted", "volunteering_task",
                     _key(task.owner, task.owner_id), district=task.district,
                     summary={"offers_made": len(offered_before(task))})
        return None
    volunteer = db.session.get(Volunteer, matching.volunteer_id_of(best[0].helper_id))
    return _create_offer(task, volunteer, score=best[0].score, overflow=best[0].overflow,
                         actor=None, now=now)


# -- Answering offers ------------------------------------------------------------------------


def _claim(offer: Offer, to: str, now: datetime, *, require_unexpired: bool) -> bool:
    """Move an open offer to ``to`` if nobody else did first; True when we did."""
    conditions = [Offer.id == offer.id, Offer.status == "offered"]
    if require_unexpired:
        conditions.append(Offer.expires_at > now)
    result = db.session.execute(
        sa.update(Offer).where(*conditions)
        .values(status=to, answered_at=now, version=Offer.version + 1)
        .execution_options(synchronize_session=False))
    db.session.refresh(offer)
    return result.rowcount == 1


def _refusal(offer: Offer, now: datetime) -> Conflict:
    if offer.status == "offered" and offer.expires_at <= now or offer.status == "expired":
        return Conflict("This offer has expired, so it has gone to someone else.",
                        code="offer-expired")
    if offer.status == "accepted":
        return Conflict("This offer has already been accepted.", code="offer-accepted")
    return Conflict(f"This offer is {offer.status} and can no longer be answered.",
                    code=f"offer-{offer.status}")


def _require_own(offer: Offer, account) -> None:
    from .vetting import volunteer_for_account

    mine = volunteer_for_account(account)
    if mine is None or mine.id != offer.volunteer_id:
        raise NotFound("No such offer.")


def accept(offer: Offer, *, account, now: datetime | None = None) -> Assignment:
    """The volunteer takes the task. Exactly one acceptance of a task ever wins."""
    now = now or utcnow()
    _require_own(offer, account)
    task = task_from_dict(offer.task)
    volunteer = offer.volunteer
    # The gates that can change after an offer is made are checked again.
    if volunteer.status != "active":
        raise Conflict("Only an active volunteer can accept a task.", code="volunteer-inactive")
    short = matching.dbs_shortfall(volunteer, task, now.date())
    if short is not None:
        raise Conflict(f"This task needs a verified {short.needed} DBS check.",
                       code="dbs-required")
    if not _claim(offer, "accepted", now, require_unexpired=True):
        raise _refusal(offer, now)
    assignment = Assignment(
        active_key=_key(task.owner, task.owner_id), task_owner=task.owner,
        task_owner_id=task.owner_id, district_code=task.district, task=offer.task,
        person_id=task.person_id, volunteer_id=volunteer.id, offer_id=offer.id,
        status="active", assigned_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(assignment)
    except sa.exc.IntegrityError:
        raise Conflict("Another volunteer has already taken this task. Thank you for "
                       "offering: it is no longer yours to accept.",
                       code="task-taken") from None
    audit.record("volunteering.offer.accepted", "volunteering_offer", offer.id, actor=account,
                 district=task.district,
                 summary={"task": assignment.active_key, "assignment_id": assignment.id,
                          "volunteer_id": volunteer.id})
    _pm().hook.task_assigned(task=task, helper=_candidate(volunteer, offer.score,
                                                          offer.overflow))
    return assignment


def decline(offer: Offer, *, account, now: datetime | None = None) -> Offer | None:
    """The volunteer says no; the task goes to the next candidate (returned, if any)."""
    now = now or utcnow()
    _require_own(offer, account)
    if not _claim(offer, "declined", now, require_unexpired=False):
        raise _refusal(offer, now)
    audit.record("volunteering.offer.declined", "volunteering_offer", offer.id, actor=account,
                 district=offer.district_code, summary={"volunteer_id": offer.volunteer_id})
    return offer_next(task_from_dict(offer.task), now=now)


def withdraw(offer: Offer, *, actor, now: datetime | None = None) -> Offer:
    """A coordinator takes an open offer back (the task is not offered on)."""
    now = now or utcnow()
    if not _claim(offer, "withdrawn", now, require_unexpired=False):
        raise _refusal(offer, now)
    audit.record("volunteering.offer.withdrawn", "volunteering_offer", offer.id, actor=actor,
                 district=offer.district_code, summary={"volunteer_id": offer.volunteer_id})
    return offer


def expire_due(now: datetime) -> int:
    """Expire every open offer past its time and offer each task on. Idempotent."""
    due = db.session.execute(
        sa.select(Offer).where(Offer.status == "offered", Offer.expires_at <= now)
        .order_by(Offer.expires_at, Offer.id)).scalars().all()
    expired = 0
    for offer in due:
        if not _claim(offer, "expired", now, require_unexpired=False):
            continue
        expired += 1
        audit.record("volunteering.offer.expired", "volunteering_offer", offer.id,
                     district=offer.district_code, summary={"volunteer_id": offer.volunteer_id})
        offer_next(task_from_dict(offer.task), now=now)
    return expired


# -- Assignments -----------------------------------------------------------------------------


def _require_own_assignment(assignment: Assignment, account) -> None:
    from .vetting import volunteer_for_account

    mine = volunteer_for_account(account)
    if mine is None or mine.id != assignment.volunteer_id:
        raise NotFound("No such task.")


def _finish(assignment: Assignment, to: str, now: datetime) -> None:
    if assignment.status != "active":
        raise Conflict(f"This task is already {assignment.status}.", code="illegal-transition")
    assignment.status = to
    assignment.active_key = None
    assignment.finished_at = now
    db.session.flush()


def complete(assignment: Assignment, *, hours, account, now: datetime | None = None
             ) -> Assignment:
    """The volunteer reports the task done and logs the hours it took.

    The work was done, so the hours are kept whatever the task's owner says:
    an owner whose ``task_completed`` fails is logged and audited by name,
    for its coordinators to finish the record by hand, and its writes undone.
    """
    now = now or utcnow()
    _require_own_assignment(assignment, account)
    if isinstance(hours, bool) or not isinstance(hours, int | float) \
            or not 0 < hours <= MAX_HOURS:
        raise InvalidInput("Enter the hours spent, more than 0 and up to 24.",
                           fields={"hours": ["Enter the hours spent, like 1.5 (up to 24)."]})
    assignment.hours = round(float(hours), 2)
    _finish(assignment, "completed", now)
    audit.record("volunteering.assignment.completed", "volunteering_assignment", assignment.id,
                 actor=account, district=assignment.district_code,
                 summary={"hours": assignment.hours})
    told = collect(_pm(), "task_completed", task=task_from_dict(assignment.task),
                   hours=assignment.hours)
    if told.failed:
        audit.record("volunteering.assignment.owner_not_told", "volunteering_assignment",
                     assignment.id, district=assignment.district_code,
                     summary={"task": _key(assignment.task_owner, assignment.task_owner_id),
                              "plugins": list(told.failed)})
    return assignment


def release(assignment: Assignment, *, reason: str, actor, now: datetime | None = None
            ) -> Assignment:
    """Give a task back (the volunteer or a coordinator); its owner requeues it."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("Say why the task is given back (up to 500 characters).",
                           fields={"reason": ["Say why the task is given back."]})
    assignment.release_reason = reason
    _finish(assignment, "released", now)
    audit.record("volunteering.assignment.released", "volunteering_assignment", assignment.id,
                 actor=actor, district=assignment.district_code,
                 summary={"reason_given": True})
    _pm().hook.task_released(task=task_from_dict(assignment.task), reason=reason)
    return assignment


def stand_down(volunteer: Volunteer, *, reason: str, actor, now: datetime) -> None:
    """A volunteer paused or left: withdraw their open offers, give back their tasks."""
    for offer in db.session.execute(sa.select(Offer).where(
            Offer.volunteer_id == volunteer.id, Offer.status == "offered")).scalars().all():
        withdraw(offer, actor=actor, now=now)
    for assignment in db.session.execute(sa.select(Assignment).where(
            Assignment.volunteer_id == volunteer.id,
            Assignment.status == "active")).scalars().all():
        release(assignment, reason=reason, actor=actor, now=now)


def open_offers_for(volunteer: Volunteer) -> list[Offer]:
    return list(db.session.execute(sa.select(Offer).where(
        Offer.volunteer_id == volunteer.id, Offer.status == "offered")
        .order_by(Offer.expires_at, Offer.id)).scalars())


def assignments_for(volunteer: Volunteer) -> list[Assignment]:
    """The volunteer's tasks: those in hand first, then the finished, newest first."""
    found = db.session.execute(sa.select(Assignment).where(
        Assignment.volunteer_id == volunteer.id)
        .order_by(Assignment.assigned_at.desc(), Assignment.id.desc())).scalars().all()
    return sorted(found, key=lambda a: a.status != "active")


def offers_for_task(owner: str, owner_id: str) -> list[Offer]:
    return list(db.session.execute(sa.select(Offer).where(
        Offer.task_owner == owner, Offer.task_owner_id == owner_id)
        .order_by(Offer.id)).scalars())

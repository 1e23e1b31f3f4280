"""Intake: one way in for every channel (public form, API, phone on behalf).

``submit_request`` validates everything before it changes anything, finds or
creates the core person, records the consent given (online, or verbally to
the coordinator on the phone), lets the postcode set the district, triages,
flags a likely duplicate (never drops it) and audits. Other plugins hear of
the request (``help_request_created``) through one job enqueued after the
transaction commits (``jobs.announce_created``).
"""

from __future__ import annotations

import difflib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from hubcore import audit, inputs, jobs
from hubcore.db import db, insert_now, utcnow
from hubcore.districts import gazetteer, packs
from hubcore.errors import HubcoreError, InvalidInput, NotFound
from hubcore.identity import people
from hubcore.identity.models import Organisation, OrganisationDistrict, Person
from hubcore.identity.permissions import require
from hubcore.values import HelpRequestInfo, Location

from . import triage
from .models import (
    CHANNELS,
    DESCRIPTION_MAX,
    OPEN,
    RECURRENCES,
    HelpRequest,
    StatusChange,
)

log = logging.getLogger(__name__)

CONSENT_PURPOSE = "help_request"
DUPLICATE_WINDOW = timedelta(days=14)
NAME_SIMILARITY = 0.85
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U
_HUB_CONTACTS = "hub_requests.hub_contacts"
ANNOUNCE_JOB = "plugins.hub_requests.jobs.announce_created"
NAME_MAX, ADDRESS_MAX = 100, 300


def submit_request(*, person: dict, needs, circumstances, urgency: str, description: str = "",
                   consent: bool, channel: str, actor=None, recurrence: str = "none",
                   now: datetime | None = None) -> HelpRequest:
    """Accept a request for help from any channel; flush, never commit.

    ``person`` holds given_name, family_name, phone, email, postcode, address.
    ``channel="phone"`` is a coordinator taking the request for someone: the
    coordinator (``actor``) must hold ``help_requests.write`` in the district,
    and ``consent`` is the consent the person gave verbally.
    """
    now = now or utcnow()
    needs = list(dict.fromkeys(needs or ()))
    circumstances = list(dict.fromkeys(circumstances or ()))
    details = {k: (person.get(k) or "").strip() for k in
               ("given_name", "family_name", "phone", "email", "postcode", "address")}
    problems: dict[str, list[str]] = {}
    place, contact = _check_details(details, problems)
    if channel not in CHANNELS:
        problems["channel"] = [f"Choose one of: {', '.join(CHANNELS)}."]
    if recurrence not in RECURRENCES:
        problems["recurrence"] = [f"Choose one of: {', '.join(RECURRENCES)}."]
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        problems["description"] = [f"Keep the description to {DESCRIPTION_MAX} characters "
                                   "or fewer."]
    if consent is not True:
        problems["consent"] = ["Tick the box to agree that the hub may use these details "
                               "to arrange help."]
    try:
        result = triage.score_request(needs, circumstances, urgency, created_at=now)
    except InvalidInput as exc:
        problems.update(exc.fields)
    if problems:
        raise InvalidInput("Check the highlighted fields and try again.", fields=problems)
    if channel == "phone":
        require(actor, "help_requests.write", place.district_code)

    # Reads first: appending to the audit log holds its lock until the commit,
    # so everything read is read before the first write.
    found = people.find_person(details)
    household = Household(
        person_id=found.id if found else None, phone=contact["phone"], email=contact["email"],
        postcode=place.postcode, name_key=people.name_key(details["given_name"],
                                                          details["family_name"]),
        family_key=people.name_key(details["family_name"]))
    duplicate = find_duplicate(household, needs, now)
    hub_contact(place.district_code)  # for the receipt: read now, not under the lock

    # Then the writes, together: the write lock (SQLite) or the audit log's append
    # lock (PostgreSQL) is held from the first of them to the commit, so the less
    # done there, the more intakes a second. Every row is built first; then the new
    # person, their consent, the request and its first status change are one Core
    # INSERT each (the ORM's unit of work costs more than these rows), with the ids
    # passed along, then the three audit entries in one append.
    resident, created, differ = _person_for(found, details, place)
    taker = actor if channel == "phone" else None  # who heard a verbal consent
    consent = people.new_consent(
        resident, purpose=CONSENT_PURPOSE,
        scope=f"{packs.district_name(place.district_code)} community hub and the helpers it arranges",
        method="verbal" if channel == "phone" else "online", recorded_by=taker, given_at=now)
    request = HelpRequest(
        person_id=resident.id,
        district_code=place.district_code, needs=needs, circumstances=circumstances,
        urgency=urgency, description=description, recurrence=recurrence,
        priority=result.priority, score=result.score, due_at=result.due_at,
        reason=result.reason, rules_version=result.rules_version, status="new",
        escalated=False, channel=channel,
        created_by_id=getattr(actor, "id", None),
        taken_by_id=getattr(actor, "id", None) if channel == "phone" else None,
        given_details=differ, created_at=now, updated_at=now)
    _flag(request, duplicate)
    opened = StatusChange(from_status=None, to_status="new", reason=f"received by {channel}",
                          actor_id=request.created_by_id, at=now)

    if created:
        resident, created = people.claim_person(resident)
        if not created:  # recorded a moment ago by a concurrent submission
            request.given_details = differing_details(resident, details, place)
            if request.duplicate_of_id is None:
                _flag(request, find_duplicate(_household_of(resident), needs, now))
        consent.person_id = request.person_id = resident.id
    insert_now(consent)
    insert_request(request)
    opened.request_id = request.id
    insert_now(opened)
    audit.record_many([
        *([people.person_created(resident, actor)] if created else []),
        people.consent_recorded(resident, consent, taker),
        audit.Pending("hub_requests.request.created", "help_request", request.id, actor,
                      request.district_code,
                      {"reference": request.reference, "channel": channel,
                       "priority": request.priority, "score": request.score,
                       "needs": needs, "rules_version": request.rules_version,
                       "duplicate_of": request.duplicate_of_id}),
    ])
    announce_after_commit(request)
    return request


def _check_details(details: dict, problems: dict):
    """Check the person's details, collecting every problem.

    Returns the place of the postcode and the normalised phone and email.
    """
    contact: dict[str, str | None] = {"phone": None, "email": None}
    problems.update(inputs.text_problems(details, ("given_name", "family_name"), ("address",)))
    if not details["given_name"]:
        problems["given_name"] = ["Enter a first name."]
    for key, limit in (("given_name", NAME_MAX), ("family_name", NAME_MAX),
                       ("address", ADDRESS_MAX)):
        if len(details[key]) > limit:
            problems[key] = [f"Keep this to {limit} characters or fewer."]
    if not details["phone"] and not details["email"]:
        problems["phone"] = ["Enter a phone number or an email address so the hub can "
                             "contact you."]
    for key, normalise in (("phone", people.normalise_phone), ("email", people.normalise_email)):
        if details[key]:
            try:
                contact[key] = normalise(details[key])
            except InvalidInput as exc:
                problems.update(exc.fields)
    if not details["postcode"]:
        problems["postcode"] = ["Enter a postcode, like BL1 1AA."]
        return None, contact
    try:
        return gazetteer.locate(details["postcode"]), contact
    except (InvalidInput, NotFound) as exc:
        problems["postcode"] = (exc.fields or {}).get("postcode") or [exc.message]
    except HubcoreError as exc:  # the geocoder is down: say so, keep nothing
        problems["postcode"] = [exc.message]
    return None, contact


def _person_for(found: Person | None, details: dict, place) -> tuple[Person, bool, dict | None]:
    """The core person, whether they are new, and the details given that differ
    from the record found.

    A request never changes a stored person, whoever sends it: anyone who knows
    a resident's name and phone number could otherwise move them to another
    district or rewrite their address. What differs is kept on the request and
    shown to the coordinator, who may apply it (``apply_given_details``).
    """
    given = {k: v for k, v in details.items() if v}
    given["postcode"] = place.postcode
    if found is None:
        return people.new_person(given, place=place), True, None
    return found, False, differing_details(found, details, place)


def differing_details(found: Person, details: dict, place) -> dict | None:
    """The details given (normalised) that the person's record does not hold."""
    differ: dict = {}
    if found.postcode != place.postcode:
        differ.update(postcode=place.postcode, district=place.district_code,
                      latitude=place.latitude, longitude=place.longitude)
    address = details.get("address") or ""
    if address and address != (found.address or ""):
        differ["address"] = address
    for key, normalise in (("phone", people.normalise_phone), ("email", people.normalise_email)):
        if details.get(key) and normalise(details[key]) != getattr(found, key):
            differ[key] = normalise(details[key])
    if differ:  # which contacts were given (no values): what a hub elsewhere may see
        differ["contacts_given"] = [k for k in ("phone", "email") if details.get(k)]
    return differ or None


def new_reference(district_code: str, attempt: int = 0) -> str:
    """A reference a person can read out on the phone: ``BOL-7K3Q``.

    Random, so it may be taken: ``insert_request`` tries again, and after ten
    tries in a crowded district makes it longer.
    """
    found = packs.district(district_code)
    prefix = found.short if found else "HUB"
    length = 4 if attempt < 10 else 6
    return f"{prefix}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))


def insert_request(request: HelpRequest) -> HelpRequest:
    """Insert a new request under a reference nobody has.

    The INSERT itself finds out (``ON CONFLICT DO NOTHING`` on the unique
    reference): no query first, and two intakes that draw the same code at
    the same moment cannot both have it.
    """
    for attempt in range(20):
        request.reference = new_reference(request.district_code, attempt)
        if insert_now(request, unless_taken="reference") is not None:
            return request
    raise RuntimeError("could not find a free reference")  # 30^6 values: not reachable


# -- Duplicates ------------------------------------------------------------------


@dataclass(frozen=True)
class Household:
    """Who is asking, as duplicate detection compares them (normalised)."""

    person_id: int | None
    phone: str | None
    email: str | None
    postcode: str | None
    name_key: str
    family_key: str


def _household_of(person: Person) -> Household:
    return Household(person_id=person.id, phone=person.phone, email=person.email,
                      postcode=person.postcode, name_key=person.name_key,
                      family_key=people.name_key(person.family_name))


def _flag(request: HelpRequest, found: tuple[HelpRequest, str] | None) -> None:
    """Mark ``request`` a suspected duplicate of the request found, if any."""
    if found is not None:
        original, why = found
        request.duplicate_of_id, request.duplicate_state = original.id, "suspected"
        request.duplicate_reason = why


def find_duplicate(person: Household, needs, now: datetime, *,
                   exclude_id: int | None = None) -> tuple[HelpRequest, str] | None:
    """An open request of the same person or household, for an overlapping need.

    Same person, same phone or email, or a similar name (or the same family
    name) at the same postcode, within the last 14 days. Returns the earliest
    such request (preferring one that is not itself a duplicate) and why.
    """
    if not (person.person_id or person.phone or person.email or person.postcode):
        return None
    statement = _OPEN_OF_HOUSEHOLD if exclude_id is None else _OTHER_OPEN_OF_HOUSEHOLD
    db.session.flush()  # a Core query: pending changes first, as the ORM would
    rows = db.session.connection().execute(statement, {
        "person_id": person.person_id, "phone": person.phone, "email": person.email,
        "postcode": person.postcode, "since": now - DUPLICATE_WINDOW,
        "exclude_id": exclude_id})
    wanted = set(needs)
    matches = []
    for row in rows:
        if not wanted & set(row.needs or ()):
            continue
        why = _same_household(person, row)
        if why:
            matches.append((row.duplicate_state in ("suspected", "confirmed"),
                            row.created_at, row.id, why))
    if not matches:
        return None
    *_, request_id, why = min(matches)
    return db.session.get(HelpRequest, request_id), why


# Built once: every intake asks. The household's people are found first, each
# through its own index (one OR over the four would make SQLite walk every open
# request and look at its person: a cost that grows with the queue), then their
# open requests through the person index. Only the columns compared are read:
# the request chosen is loaded at the end. A detail not given is NULL, which
# equals nothing.
_HOUSEHOLD = sa.union(
    sa.select(Person.id).where(Person.id == sa.bindparam("person_id")),
    sa.select(Person.id).where(Person.phone == sa.bindparam("phone")),
    sa.select(Person.id).where(Person.email == sa.bindparam("email")),
    sa.select(Person.id).where(Person.postcode == sa.bindparam("postcode")),
).subquery("household")
_OPEN_OF_HOUSEHOLD = (
    sa.select(HelpRequest.id, HelpRequest.needs, HelpRequest.duplicate_state,
              HelpRequest.created_at, Person.id.label("person_id"), Person.phone,
              Person.email, Person.postcode, Person.name_key, Person.family_name)
    .select_from(_HOUSEHOLD)
    .join(HelpRequest, HelpRequest.person_id == _HOUSEHOLD.c.id)
    .join(Person, Person.id == _HOUSEHOLD.c.id)
    .where(HelpRequest.status.in_(OPEN), HelpRequest.created_at >= sa.bindparam("since"))
    .order_by(HelpRequest.created_at, HelpRequest.id)
)
_OTHER_OPEN_OF_HOUSEHOLD = _OPEN_OF_HOUSEHOLD.where(
    HelpRequest.id != sa.bindparam("exclude_id"))


def _same_household(a: Household, b) -> str | None:
    """Why ``b`` (a row with the person's id and details) is ``a``'s household, or None."""
    if a.person_id == b.person_id:
        return "same person"
    if a.phone and a.phone == b.phone:
        return "same phone number"
    if a.email and a.email == b.email:
        return "same email address"
    if a.postcode and a.postcode == b.postcode:
        similar = difflib.SequenceMatcher(None, a.name_key, b.name_key).ratio()
        if similar >= NAME_SIMILARITY:
            return "similar name at the same postcode"
        if a.family_key and a.family_key == people.name_key(b.family_name):
            return "same family name at the same postcode"
    return None


LATE_DUPLICATE_WINDOW = timedelta(minutes=10)  # the sweep runs every minute


def flag_missed_duplicates(now: datetime) -> int:
    """Flag the later of two requests that arrived together from one household.

    Intake checks for duplicates before it writes, so two submits of the same
    household at the same moment (a double tap on two phones, a relative
    asking too) may each find nothing. The sweep looks again at the last ten
    minutes' unflagged open requests: one whose household has an earlier open
    request for an overlapping need is flagged and linked, as intake would
    have; the earliest stays the original. Returns how many were flagged.
    """
    recent = db.session.execute(
        sa.select(HelpRequest)
        .where(HelpRequest.status.in_(OPEN), HelpRequest.duplicate_state.is_(None),
               HelpRequest.created_at >= now - LATE_DUPLICATE_WINDOW,
               HelpRequest.person_id.is_not(None),
               HelpRequest.follows_id.is_(None))  # a recurring need's next one is no duplicate
        .order_by(HelpRequest.created_at, HelpRequest.id)
    ).scalars().all()
    flagged = 0
    for request in recent:
        found = find_duplicate(_household_of(request.person), request.needs, request.created_at,
                               exclude_id=request.id)
        if found is None:
            continue
        original, why = found
        if (original.created_at, original.id) > (request.created_at, request.id):
            continue  # this one is the original: the later one is flagged in its turn
        request.duplicate_of_id, request.duplicate_state = original.id, "suspected"
        request.duplicate_reason = why
        request.updated_at = now
        db.session.flush()
        audit.record("hub_requests.request.duplicate_flagged", "help_request", request.id,
                     district=request.district_code,
                     summary={"reference": request.reference, "duplicate_of": original.id,
                              "why": why, "found_by": "sweep"})
        flagged += 1
    return flagged


# -- Who to contact -------------------------------------------------------------------


HUB_CONTACT_SECONDS = 60.0


def hub_contact(district_code: str) -> dict:
    """The district's community hub: name, email and phone people can use.

    Every receipt shows it, so each process keeps it for a minute rather than
    asking the database on every intake: a hub's changed phone number reaches
    receipts within a minute.
    """
    known = current_app.extensions.setdefault(_HUB_CONTACTS, {})
    now = time.monotonic()
    cached = known.get(district_code)
    if cached is None or cached[0] <= now:
        cached = known[district_code] = (now + HUB_CONTACT_SECONDS,
                                         _read_hub_contact(district_code))
    return dict(cached[1])


def _read_hub_contact(district_code: str) -> dict:
    hub = db.session.execute(
        sa.select(Organisation)
        .join(OrganisationDistrict, OrganisationDistrict.organisation_id == Organisation.id)
        .where(OrganisationDistrict.district_code == district_code, Organisation.kind == "hub")
        .order_by(Organisation.id).limit(1)
    ).scalar_one_or_none()
    name = packs.district_name(district_code)
    if hub is None:
        return {"name": f"{name} Community Hub", "email": None, "phone": None,
                "district": district_code, "district_name": name}
    return {"name": hub.name, "email": hub.contact_email, "phone": hub.contact_phone,
            "district": district_code, "district_name": name}


def next_steps(request: HelpRequest, hub: dict | None = None) -> str:
    """What happens next, in words a resident reads on the confirmation."""
    band = triage.current_rules().band(request.priority)
    hub = (hub or hub_contact(request.district_code))["name"]
    when = {"P1": "today", "P2": "within a day", "P3": "within three days"}.get(
        request.priority, "within a week")
    return (f"{hub} has your request. Someone from the hub will contact you {when} "
            f"to talk about the help you need ({band.label}). If things get worse before "
            f"then, contact the hub and give your reference {request.reference}. "
            "In an emergency, call 999.")


# -- Recurring needs ---------------------------------------------------------------------


def repeat_request(previous: HelpRequest, now: datetime) -> HelpRequest | None:
    """The next occurrence of a recurring request (weekly shopping ...), or None.

    Made only while the person's consent stands; linked to the previous one
    (``follows_id`` is unique, so a sweep run twice makes it once).
    """
    resident = db.session.get(Person, previous.person_id) if previous.person_id else None
    if resident is None or resident.erased_at is not None:
        return None
    if not people.has_consent(resident, CONSENT_PURPOSE, now):
        return None
    result = triage.score_request(previous.needs, previous.circumstances, previous.urgency,
                                  created_at=now)
    request = insert_request(HelpRequest(
        person_id=resident.id,
        district_code=previous.district_code, needs=list(previous.needs),
        circumstances=list(previous.circumstances), urgency=previous.urgency,
        description=previous.description, recurrence=previous.recurrence,
        follows_id=previous.id, priority=result.priority, score=result.score,
        due_at=result.due_at, reason=result.reason, rules_version=result.rules_version,
        status="new", escalated=False, channel=previous.channel, created_at=now,
        updated_at=now))
    db.session.add(StatusChange(request_id=request.id, from_status=None, to_status="new",
                                reason=f"repeats {previous.reference} ({previous.recurrence})",
                                at=now))
    audit.record("hub_requests.request.repeated", "help_request", request.id,
                 district=request.district_code,
                 summary={"reference": request.reference, "follows": previous.id,
                          "recurrence": previous.recurrence, "priority": request.priority})
    announce_after_commit(request)
    return request


def repeat_due(now: datetime) -> int:
    """Make the next occurrence of each completed recurring request that is due.

    The next one is due one interval after the previous one was made; a
    request cancelled or closed does not recur.
    """
    successor = aliased(HelpRequest)
    candidates = db.session.execute(
        sa.select(HelpRequest)
        .outerjoin(successor, successor.follows_id == HelpRequest.id)
        .where(HelpRequest.status == "completed", HelpRequest.recurrence != "none",
               successor.id.is_(None))
        .order_by(HelpRequest.id)
    ).scalars().all()
    made = 0
    for previous in candidates:
        days = RECURRENCES.get(previous.recurrence, 0)
        if days and previous.created_at + timedelta(days=days) <= now:
            made += repeat_request(previous, now) is not None
    return made


# -- Telling other plugins, after the commit ------------------------------------------------


def request_info(request: HelpRequest) -> HelpRequestInfo:
    location = people.person_info(request.person).location if request.person else None
    given = request.given_details or {}
    if given.get("latitude") is not None:  # help is arranged where the request says
        location = Location(given["latitude"], given["longitude"])
    return HelpRequestInfo(
        id=request.id, reference=request.reference, district=request.district_code,
        person_id=request.person_id, needs=tuple(request.needs),
        circumstances=tuple(request.circumstances), priority=request.priority,
        due_at=request.due_at, location=location)


def announce_after_commit(request: HelpRequest) -> None:
    """Announce ``help_request_created`` for this request once this transaction commits.

    One job (``jobs.announce_created``) per request, enqueued by the core
    after the commit (``jobs.enqueue_after_commit``: dropped on rollback): it
    runs every plugin's implementation, each in a transaction of its own, off
    the request path when a worker runs the queue; embedded, in-process once
    the request's connection is back in the pool. With no plugin listening
    nothing is enqueued.
    """
    if current_app.extensions["hubcore"].pm.hook.help_request_created.get_hookimpls():
        jobs.enqueue_after_commit(ANNOUNCE_JOB, request.id)  # flushed: it has an id

"""Data protection: subject access, erasure and retention for volunteering records.

A person may appear here twice: as a volunteer (linked by their core person
record, or by the same email or phone when they were imported) and as the
person a task was for. Erasure anonymises what must stay countable (hours,
assignments) and keeps the audit chain untouched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db, utcnow

from . import offers
from .models import Assignment, Offer, Volunteer

ERASED = "Erased"
LEFT_VOLUNTEER_DAYS = 2 * 365
FINISHED_ASSIGNMENT_DAYS = 2 * 365
ANSWERED_OFFER_DAYS = 180


def volunteers_of(person) -> list[Volunteer]:
    matches = [Volunteer.person_id == person.id]
    if person.email:
        matches.append(Volunteer.email == person.email)
    if person.phone:
        matches.append(Volunteer.phone == person.phone)
    return list(db.session.execute(sa.select(Volunteer).where(sa.or_(*matches))
                                   .order_by(Volunteer.id)).scalars())


def export_for(person) -> list[dict]:
    records = []
    for v in volunteers_of(person):
        records.append({
            "kind": "volunteer", "id": v.id, "given_name": v.given_name,
            "family_name": v.family_name, "email": v.email, "phone": v.phone,
            "postcode": v.postcode, "district": v.district_code, "skills": v.skills,
            "languages": v.languages, "availability": v.availability,
            "max_travel_km": v.max_travel_km, "has_car": v.has_car, "status": v.status,
            "dbs_level": v.dbs_level,
            "dbs_issue_date": v.dbs_issue_date.isoformat() if v.dbs_issue_date else None,
            "signed_up_at": v.created_at.isoformat(),
            "tasks": [{"id": a.id, "status": a.status, "assigned_at": a.assigned_at.isoformat(),
                       "hours": a.hours}
                      for a in db.session.execute(sa.select(Assignment).where(
                          Assignment.volunteer_id == v.id)).scalars()],
        })
    for a in db.session.execute(sa.select(Assignment).where(
            Assignment.person_id == person.id).order_by(Assignment.id)).scalars():
        records.append({"kind": "help received", "id": a.id, "needs": a.task.get("needs"),
                        "status": a.status, "assigned_at": a.assigned_at.isoformat(),
                        "helper": a.volunteer.given_name})
    return records


def _anonymise(volunteer: Volunteer, now: datetime) -> None:
    volunteer.given_name, volunteer.family_name = ERASED, ""
    volunteer.email = volunteer.phone = volunteer.postcode = None
    volunteer.latitude = volunteer.longitude = None
    volunteer.languages, volunteer.availability = [], []
    volunteer.dbs_certificate_number = None
    volunteer.person_id = None
    if volunteer.status != "left":
        volunteer.status, volunteer.left_at = "left", now
    volunteer.updated_at = now


def move_to_person(duplicate, survivor) -> int:
    """Point the volunteer records, tasks and offers of a merged person at the survivor
    (so "who helped this person before" still finds their helpers)."""
    changed = 0
    for volunteer in db.session.execute(sa.select(Volunteer).where(
            Volunteer.person_id == duplicate.id)).scalars():
        volunteer.person_id = survivor.id
        changed += 1
    for record in db.session.execute(sa.select(Assignment).where(
            Assignment.person_id == duplicate.id)).scalars():
        record.person_id = survivor.id
        record.task = {**record.task, "person_id": survivor.id}
        changed += 1
    for offer in db.session.execute(sa.select(Offer).where(
            Offer.task["person_id"].as_integer() == duplicate.id)).scalars():
        offer.task = {**offer.task, "person_id": survivor.id}
        changed += 1
    db.session.flush()
    return changed


def erase_for(person) -> int:
    """Anonymise the person's volunteer records and unlink tasks done for them."""
    now = utcnow()
    changed = 0
    for volunteer in volunteers_of(person):
        offers.stand_down(volunteer, reason="The volunteer's details were erased.", actor=None,
                          now=now)
        _anonymise(volunteer, now)
        changed += 1
    for record in (*db.session.execute(sa.select(Assignment).where(
            Assignment.person_id == person.id)).scalars(),):
        record.person_id = None
        record.task = {**record.task, "person_id": None}
        changed += 1
    for offer in db.session.execute(sa.select(Offer).where(
            Offer.task["person_id"].as_integer() == person.id)).scalars():
        offer.task = {**offer.task, "person_id": None}
        changed += 1
    db.session.flush()
    if changed:
        audit.record("volunteering.person.erased", "person", person.id,
                     summary={"records": changed})
    return changed


def purge(now: datetime) -> dict[str, int]:
    """Apply the retention rules: old answered offers go, long-gone volunteers are anonymised."""
    offers_cut = now - timedelta(days=ANSWERED_OFFER_DAYS)
    old_offers = db.session.execute(sa.select(Offer.id).where(
        Offer.status != "offered", Offer.answered_at < offers_cut)).scalars().all()
    if old_offers:
        db.session.execute(sa.update(Assignment).where(Assignment.offer_id.in_(old_offers))
                           .values(offer_id=None).execution_options(synchronize_session=False))
        db.session.execute(sa.delete(Offer).where(Offer.id.in_(old_offers))
                           .execution_options(synchronize_session=False))
    assignments_cut = now - timedelta(days=FINISHED_ASSIGNMENT_DAYS)
    old_assignments = db.session.execute(sa.delete(Assignment).where(
        Assignment.status != "active", Assignment.finished_at < assignments_cut)
        .execution_options(synchronize_session=False)).rowcount
    left_cut = now - timedelta(days=LEFT_VOLUNTEER_DAYS)
    gone = db.session.execute(sa.select(Volunteer).where(
        Volunteer.status == "left", Volunteer.left_at < left_cut,
        Volunteer.given_name != ERASED)).scalars().all()
    for volunteer in gone:
        _anonymise(volunteer, now)
    counts = {"volunteering_offers_purged": len(old_offers),
              "volunteering_assignments_purged": old_assignments or 0,
              "volunteering_volunteers_anonymised": len(gone)}
    if any(counts.values()):
        db.session.flush()
        audit.record("volunteering.retention.applied", "volunteer", summary=counts)
    return counts

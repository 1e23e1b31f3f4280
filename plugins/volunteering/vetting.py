"""Vetting: coordinators edit, activate, pause and let volunteers go, and verify DBS checks.

Status moves applied → active → paused → active ... → left; anything else
is refused. Activation gives the volunteer a sign-in account (linked, with
the volunteer role in a hub serving their district) so they can see their
offers, and one message: the welcome, with the link to set a password.
Pausing or leaving withdraws open offers and gives back tasks in hand,
telling the owner of each task.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.errors import Conflict, InvalidInput, NotFound
from hubcore.identity import accounts
from hubcore.identity.models import Account, Organisation, OrganisationDistrict
from hubcore.identity.permissions import ALL_DISTRICTS

from . import matching, offers
from .models import DBS_LEVELS, Volunteer
from .signup import EDITABLE, clean_details, duplicate_error, find_duplicate

TRANSITIONS = {
    "applied": ("active", "left"),
    "active": ("paused", "left"),
    "paused": ("active", "left"),
    "left": (),
}
CERTIFICATE = re.compile(r"^\d{12}$")  # a DBS certificate number: 12 digits
REVIEW_NOTICE_DAYS = 60  # show a check on the review list this long before it lapses


def get_volunteer(volunteer_id: int) -> Volunteer:
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound("No such volunteer.")
    return volunteer


def volunteer_for_account(account) -> Volunteer | None:
    if account is None or not getattr(account, "is_authenticated", False):
        return None
    return db.session.execute(
        sa.select(Volunteer).where(Volunteer.account_id == account.id)).scalar_one_or_none()


def volunteers_in(districts, *, status: str | None = None) -> sa.Select:
    """A query for the volunteers of ``districts`` (ALL_DISTRICTS: every one)."""
    query = sa.select(Volunteer).order_by(Volunteer.id)
    if districts is not ALL_DISTRICTS:
        query = query.where(Volunteer.district_code.in_(sorted(districts)))
    if status:
        query = query.where(Volunteer.status == status)
    return query


def update_volunteer(volunteer: Volunteer, changes: dict, *, actor) -> Volunteer:
    """Change a volunteer's details; a new postcode may move them to another district."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput("Some fields cannot be changed here.",
                           fields={name: ["This field cannot be changed."] for name in unknown})
    clean = clean_details(changes, partial=True)
    if clean.get("email") or clean.get("phone"):
        found = find_duplicate(clean.get("email"), clean.get("phone"), ignore_id=volunteer.id)
        if found is not None:
            raise duplicate_error(found)
    if not (clean.get("email", volunteer.email) or clean.get("phone", volunteer.phone)):
        raise InvalidInput("Keep an email address or a phone number.",
                           fields={"email": ["Keep an email address or a phone number."]})
    before = volunteer.district_code
    for key, value in clean.items():
        setattr(volunteer, key, value)
    volunteer.updated_at = utcnow()
    db.session.flush()
    audit.record("volunteering.volunteer.updated", "volunteer", volunteer.id, actor=actor,
                 district=volunteer.district_code,
                 summary={"fields": sorted(changes), "moved_from": before
                          if before != volunteer.district_code else None})
    return volunteer


def change_status(volunteer: Volunteer, to: str, *, actor, reason: str = "") -> Volunteer:
    """Move a volunteer along applied → active → paused → left; refuse anything else."""
    if to not in TRANSITIONS[volunteer.status]:
        raise Conflict(f"A volunteer who is {volunteer.status} cannot become {to}.",
                       code="illegal-transition")
    before = volunteer.status
    now = utcnow()
    volunteer.status = to
    volunteer.updated_at = now
    if to == "left":
        volunteer.left_at = now
    invitee = _give_account(volunteer, actor=actor) if to == "active" else None
    db.session.flush()
    if to in ("paused", "left"):
        offers.stand_down(volunteer, reason=reason or f"The volunteer is {to}.", actor=actor,
                          now=now)
    audit.record(f"volunteering.volunteer.{to}", "volunteer", volunteer.id, actor=actor,
                 district=volunteer.district_code,
                 summary={"from": before, "to": to, "reason_given": bool(reason)})
    if to == "active":
        _tell_activated(volunteer, invitee, first=before == "applied", actor=actor)
    return volunteer


WELCOME_SUBJECT = "You are now a volunteer"
WELCOME = ("A coordinator has checked your details and you are now an active volunteer. "
           "We will send you offers of tasks that suit you; you can accept or decline "
           "each one.")


def _tell_activated(volunteer: Volunteer, invitee: Account | None, *, first: bool,
                    actor) -> None:
    """Send one message on activation, never a welcome and an invitation apart.

    The first time, the welcome; for an account with no password yet, it
    carries the link to set one (a reactivation sends only that link).
    """
    if invitee is not None:
        accounts.invite_account(
            invitee, actor=actor, person_id=volunteer.person_id,
            subject=f"{WELCOME_SUBJECT}: set your Hubcore password" if first else None,
            welcome=(f"{WELCOME}\n\nWe have made you an account on Hubcore, where you can "
                     "see your offers and answer them." if first else None))
    elif first:
        offers.tell_volunteer(volunteer, WELCOME_SUBJECT, WELCOME)


def _give_account(volunteer: Volunteer, *, actor) -> Account | None:
    """Link (or create) the volunteer's sign-in account, with the volunteer role.

    Returns the account when it still needs a password (so it is to be invited).
    """
    if volunteer.account_id is not None or not volunteer.email:
        return None
    account = accounts.find_account_by_email(volunteer.email)
    if account is not None:
        taken = db.session.execute(sa.select(Volunteer.id).where(
            Volunteer.account_id == account.id)).scalar_one_or_none()
        if taken is not None:
            return None
    else:
        account = accounts.create_account(email=volunteer.email, name=volunteer.name,
                                          actor=actor)
    volunteer.account_id = account.id
    hub = db.session.execute(
        sa.select(Organisation).join(OrganisationDistrict)
        .where(OrganisationDistrict.district_code == volunteer.district_code,
               Organisation.kind == "hub").order_by(Organisation.id).limit(1)
    ).scalar_one_or_none()
    if hub is not None:
        accounts.add_membership(account, hub, "volunteer", actor=actor)
    return account if account.active and not account.password_hash else None


def verify_dbs(volunteer: Volunteer, *, level: str, certificate_number: str | None,
               issue_date: date | None, actor: Account, today: date | None = None) -> Volunteer:
    """Record a DBS check a coordinator has seen: level, certificate, issue date, who."""
    today = today or utcnow().date()
    problems: dict[str, list[str]] = {}
    if level not in DBS_LEVELS:
        problems["level"] = [f"Choose one of: {', '.join(DBS_LEVELS)}."]
    number = (certificate_number or "").replace(" ", "")
    if level != "none":
        if not CERTIFICATE.match(number):
            problems["certificate_number"] = ["Enter the 12-digit certificate number."]
        if issue_date is None:
            problems["issue_date"] = ["Enter the date the certificate was issued."]
        elif issue_date > today:
            problems["issue_date"] = ["The issue date must be today or in the past."]
        elif (today - issue_date).days > matching.DBS_VALID_DAYS:
            problems["issue_date"] = ["This certificate is more than three years old: "
                                      "ask for a new check."]
    if problems:
        raise InvalidInput("Check the DBS details.", fields=problems)
    volunteer.dbs_level = level
    volunteer.dbs_certificate_number = number if level != "none" else None
    volunteer.dbs_issue_date = issue_date if level != "none" else None
    volunteer.dbs_verified_by_id = actor.id if level != "none" else None
    volunteer.dbs_verified_at = utcnow() if level != "none" else None
    volunteer.updated_at = utcnow()
    db.session.flush()
    audit.record("volunteering.volunteer.dbs_verified", "volunteer", volunteer.id, actor=actor,
                 district=volunteer.district_code,
                 summary={"level": level, "issue_date": issue_date.isoformat()
                          if issue_date and level != "none" else None})
    return volunteer


def dbs_review_due(districts, today: date | None = None) -> list[tuple[Volunteer, date]]:
    """Volunteers whose verified check lapses within REVIEW_NOTICE_DAYS (or has), soonest first."""
    today = today or utcnow().date()
    lapse_before = today - timedelta(days=matching.DBS_VALID_DAYS - REVIEW_NOTICE_DAYS)
    query = volunteers_in(districts).where(
        Volunteer.dbs_level != "none", Volunteer.dbs_verified_at.is_not(None),
        Volunteer.dbs_issue_date <= lapse_before, Volunteer.status != "left")
    found = db.session.execute(query).scalars().all()
    due = [(v, v.dbs_issue_date + timedelta(days=matching.DBS_VALID_DAYS)) for v in found]
    return sorted(due, key=lambda pair: (pair[1], pair[0].id))


def effective_level(volunteer: Volunteer, now: datetime | None = None) -> str:
    """The level the volunteer's check counts as now: the matching gate's own rule."""
    return matching.held_dbs_level(volunteer, (now or utcnow()).date())

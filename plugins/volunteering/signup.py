"""Signing up: one front door for the region; the postcode picks the district.

``clean_details`` checks and normalises what a volunteer tells us (used by
sign-up, by coordinators' edits and by the CSV import); ``sign_up`` stores a
new volunteer with their consent, refusing a second sign-up with the same
email or phone with a message that says what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hubcore import audit, inputs
from hubcore.db import db, utcnow
from hubcore.districts import gazetteer, packs
from hubcore.errors import Conflict, InvalidInput, NotFound
from hubcore.identity import people

from .models import SKILLS, SLOTS, Volunteer

MAX_TRAVEL_KM = 50.0
MAX_WEEKLY_CAP = 20
CONSENT_PURPOSE = "volunteering"
CONSENT_SCOPE = "The volunteer coordinators of the district the volunteer signed up to"
EDITABLE = ("given_name", "family_name", "email", "phone", "postcode", "skills", "languages",
            "availability", "max_travel_km", "has_car", "weekly_cap")


@dataclass(frozen=True)
class SignUpResult:
    """The new volunteer and the district whose team will contact them."""

    volunteer: Volunteer
    district_name: str

    @property
    def confirmation(self) -> str:
        return (f"Thank you for signing up. The {self.district_name} volunteer team will "
                f"contact you about the next steps.")


def clean_details(details: dict, *, partial: bool = False, locate=None) -> dict:
    """Check and normalise a volunteer's details; every field's problem at once.

    ``partial`` (an edit) checks only the fields given. ``locate`` places a
    postcode (returning the place, or the error it raised): an import passes
    a cached one. Raises InvalidInput.
    """
    clean: dict = {}
    problems = inputs.text_problems(details, ("given_name", "family_name"))

    def given(key: str) -> bool:
        return key in details or not partial

    for key, label in (("given_name", "first name"), ("family_name", "last name")):
        if given(key):
            value = (details.get(key) or "").strip()
            if key == "given_name" and not value:
                problems[key] = ["Enter your first name."]
            elif len(value) > 100:
                problems[key] = [f"Your {label} must be 100 characters or fewer."]
            clean[key] = value
    for key, normaliser in (("email", people.normalise_email),
                            ("phone", people.normalise_phone)):
        if given(key):
            raw = (details.get(key) or "").strip()
            clean[key] = None
            if raw:
                try:
                    clean[key] = normaliser(raw)
                except InvalidInput as exc:
                    problems[key] = exc.fields.get(key, [exc.message])
    if not partial and not clean.get("email") and not clean.get("phone") \
            and "email" not in problems and "phone" not in problems:
        problems["email"] = ["Enter an email address or a phone number, so the team "
                             "can contact you."]
    if given("postcode"):
        raw = (details.get("postcode") or "").strip()
        if not raw:
            problems["postcode"] = ["Enter your postcode."]
        else:
            place = (locate or locate_postcode)(raw)
            if isinstance(place, Exception):
                problems["postcode"] = place.fields.get("postcode", [place.message])
            else:
                clean.update(postcode=place.postcode, district_code=place.district_code,
                             latitude=place.latitude, longitude=place.longitude)
    if given("skills"):
        skills = _string_list(details.get("skills"))
        unknown = sorted(set(skills) - set(SKILLS))
        if unknown:
            problems["skills"] = [f"Choose from: {', '.join(SKILLS)}."]
        elif not skills:
            problems["skills"] = ["Choose at least one way you can help."]
        clean["skills"] = sorted(set(skills))
    if given("languages"):
        languages = [lang.strip() for lang in _string_list(details.get("languages"))
                     if lang.strip()]
        if len(languages) > 20 or any(len(lang) > 40 for lang in languages):
            problems["languages"] = ["List up to 20 languages, each 40 characters or fewer."]
        clean["languages"] = sorted({lang.title() for lang in languages})
    if given("availability"):
        slots = _string_list(details.get("availability"))
        if set(slots) - set(SLOTS):
            problems["availability"] = ["Choose times like mon_morning or sat_evening."]
        elif not slots:
            problems["availability"] = ["Choose at least one time you are free each week."]
        chosen = set(slots)
        clean["availability"] = [s for s in SLOTS if s in chosen]
    if given("max_travel_km"):
        value = _number(details.get("max_travel_km", 5.0))
        if value is None or not 0.5 <= value <= MAX_TRAVEL_KM:
            problems["max_travel_km"] = [f"Enter how far you can travel, from 0.5 to "
                                         f"{MAX_TRAVEL_KM:g} km."]
        else:
            clean["max_travel_km"] = value
    if given("has_car"):
        value = details.get("has_car", False)
        if not isinstance(value, bool):
            problems["has_car"] = ["Say yes or no."]
        clean["has_car"] = bool(value)
    if "weekly_cap" in details:
        value = details["weekly_cap"]
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 1 <= value <= MAX_WEEKLY_CAP:
            problems["weekly_cap"] = [f"Enter a weekly limit from 1 to {MAX_WEEKLY_CAP} tasks."]
        else:
            clean["weekly_cap"] = value
    if problems:
        raise InvalidInput("Check the highlighted details and try again.", fields=problems)
    return clean


def locate_postcode(postcode: str):
    """The place of a postcode, or the error that says why it has none."""
    try:
        return gazetteer.locate(postcode)
    except (InvalidInput, NotFound) as exc:
        return exc


def _string_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return ["\0invalid"]


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def find_duplicate(email: str | None, phone: str | None,
                   *, ignore_id: int | None = None) -> Volunteer | None:
    """A volunteer already holding this email or phone, if any."""
    matches = []
    if email:
        matches.append(Volunteer.email == email)
    if phone:
        matches.append(Volunteer.phone == phone)
    if not matches:
        return None
    query = sa.select(Volunteer).where(sa.or_(*matches))
    if ignore_id is not None:
        query = query.where(Volunteer.id != ignore_id)
    return db.session.execute(query.limit(1)).scalar_one_or_none()


def duplicate_error(found: Volunteer) -> Conflict:
    district = packs.district(found.district_code)
    team = f"the {district.name} volunteer team" if district else "the volunteer team"
    return Conflict(
        f"Someone has already signed up with this email address or phone number. If that "
        f"was you, there is no need to sign up again: {team} will contact you.",
        code="volunteer-exists",
        fields={"email": ["This email address or phone number has already been used to "
                          "sign up."]})


def sign_up(details: dict, *, actor=None) -> SignUpResult:
    """Store a new volunteer (status applied) with their consent; flush, not commit."""
    problems: dict[str, list[str]] = {}
    if details.get("consent") is not True:
        problems["consent"] = ["Tick the box to agree that we may store your details."]
    placed: list = []

    def locate(raw: str):  # remembered, so the core person reuses it
        placed.append(locate_postcode(raw))
        return placed[-1]

    try:
        clean = clean_details(details, locate=locate)
    except InvalidInput as exc:
        problems = {**exc.fields, **problems}
    if problems:
        raise InvalidInput("Check the highlighted details and try again.", fields=problems)
    found = find_duplicate(clean.get("email"), clean.get("phone"))
    if found is not None:
        raise duplicate_error(found)
    person, _created = people.find_or_create_person(
        {k: clean.get(k) for k in ("given_name", "family_name", "email", "phone", "postcode")},
        actor=actor, place=placed[-1] if placed else None)
    people.record_consent(person, purpose=CONSENT_PURPOSE, scope=CONSENT_SCOPE,
                          method="online" if actor is None else "verbal", recorded_by=actor)
    now = utcnow()
    volunteer = Volunteer(**clean, status="applied", dbs_level="none", person_id=person.id,
                          consent_given_at=now, created_at=now, updated_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(volunteer)
    except sa.exc.IntegrityError:
        # Someone signed up with the same contact details a moment ago.
        found = find_duplicate(clean.get("email"), clean.get("phone"))
        if found is None:
            raise
        raise duplicate_error(found) from None
    audit.record("volunteering.volunteer.signed_up", "volunteer", volunteer.id, actor=actor,
                 district=volunteer.district_code,
                 summary={"skills": volunteer.skills, "slots": len(volunteer.availability),
                          "has_email": bool(volunteer.email), "has_phone": bool(volunteer.phone)})
    district = packs.district(volunteer.district_code)
    return SignUpResult(volunteer, district.name if district else volunteer.district_code)

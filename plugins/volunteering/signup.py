"""Signing up: one front door for the region; the postcode picks the district.

``clean_details`` checks and normalises what a volunteer tells us (used by
sign-up, by coordinators' edits and by the CSV import); ``sign_up`` stores a
new volunteer with their consent, refusing a second sign-up with the same
email or phone (``VolunteerExists``).

The public front door uses ``sign_up_publicly``, which answers a repeated
sign-up exactly as a new one, so that nobody can use it to find out whether
an email address or phone number belongs to a volunteer: both get the same
answer and one message to the contact given; a repeat only tells the
volunteer already signed up (by their own email or phone) that someone
tried, and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hubcore import audit, inputs, notify
from hubcore.db import LONDON, db, utcnow
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


class VolunteerExists(Conflict):
    """A sign-up with the email or phone of a volunteer already signed up (``volunteer``)."""

    def __init__(self, message: str, *, volunteer: Volunteer, **kwargs):
        super().__init__(message, **kwargs)
        self.volunteer = volunteer


def duplicate_error(found: Volunteer) -> VolunteerExists:
    district = packs.district(found.district_code)
    team = f"the {district.name} volunteer team" if district else "the volunteer team"
    return VolunteerExists(
        f"Someone has already signed up with this email address or phone number. If that "
        f"was you, there is no need to sign up again: {team} will contact you.",
        code="volunteer-exists", volunteer=found,
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


# -- The public front door: the same answer whoever is signed up ---------------------------


THANKS_SUBJECT = "Thank you for offering to volunteer"
REPEAT_SUBJECT = "Someone tried to sign up to volunteer with your details"


@dataclass(frozen=True)
class PublicAnswer:
    """What the public is told after a sign-up: the same for a new and a repeated one.

    Made only from what was submitted (never from a stored volunteer), so
    it cannot differ between the two.
    """

    district_code: str
    district_name: str
    sent_by: str  # "email" or "sms": where the one message about it went

    @property
    def message(self) -> str:
        where = "an email" if self.sent_by == "email" else "a text message"
        return (f"Thank you. We have sent you {where} about your offer to volunteer: check "
                f"it for what happens next. The {self.district_name} volunteer team will "
                f"contact you about the next steps.")


def sign_up_publicly(details: dict) -> PublicAnswer:
    """Sign a member of the public up; flush, not commit. Raises InvalidInput only.

    A new volunteer is stored (``sign_up``) and sent a thank-you. Details of
    a volunteer already signed up store nothing new: the message goes to the
    email (or, without one, the phone) given, as for a new sign-up, except
    that when that contact is the existing volunteer's they are told instead
    that someone tried to sign up with it, and when only the other contact
    matched, the existing volunteer is told on that one too. Audited either
    way, without personal details.
    """
    try:
        with db.session.begin_nested():  # a repeat found late leaves no half-made person
            result = sign_up(details)
    except VolunteerExists as exc:
        return _answer_repeat(details, exc.volunteer)
    volunteer = result.volunteer
    sent_by, recipient = _primary_contact(volunteer.email, volunteer.phone)
    _queue_thanks(sent_by, recipient, volunteer.given_name, result.district_name,
                  person_id=volunteer.person_id)
    return PublicAnswer(volunteer.district_code, result.district_name, sent_by)


def _answer_repeat(details: dict, existing: Volunteer) -> PublicAnswer:
    clean = clean_details(details)  # it passed once already: the same details again
    district = packs.district(clean["district_code"])
    district_name = district.name if district else clean["district_code"]
    sent_by, recipient = _primary_contact(clean.get("email"), clean.get("phone"))
    theirs = {"email": existing.email, "sms": existing.phone}
    if recipient == theirs[sent_by]:
        _queue_repeat_notice(existing, sent_by)
    else:  # the contact given is not theirs: it gets what a new sign-up gets
        _queue_thanks(sent_by, recipient, clean["given_name"], district_name)
        other = "sms" if sent_by == "email" else "email"
        _queue_repeat_notice(existing, other)
    audit.record("volunteering.volunteer.sign_up_repeated", "volunteer", existing.id,
                 actor=None, district=existing.district_code,
                 summary={"matched": [kind for kind, value in (
                     ("email", clean.get("email")), ("phone", clean.get("phone")))
                     if value and value == getattr(existing, kind)]})
    return PublicAnswer(clean["district_code"], district_name, sent_by)


def _primary_contact(email: str | None, phone: str | None) -> tuple[str, str]:
    return ("email", email) if email else ("sms", phone)


def _queue_thanks(channel: str, recipient: str, given_name: str, district_name: str, *,
                  person_id: int | None = None) -> None:
    if channel == "email":
        body = (f"Hello {given_name},\n\n"
                "Thank you for offering to volunteer. The "
                f"{district_name} volunteer team will contact you about the next steps: a "
                "coordinator will check your details, and may ask to see a DBS certificate "
                "for some kinds of task.\n\n"
                "If you did not sign up to volunteer, you can ignore this email.\n")
    else:
        body = (f"Thank you for offering to volunteer. The {district_name} volunteer team "
                "will contact you about the next steps. Not you? Ignore this message.")
    notify.queue_message(channel, recipient, THANKS_SUBJECT, body, person_id=person_id)


def _queue_repeat_notice(existing: Volunteer, channel: str) -> None:
    recipient = existing.email if channel == "email" else existing.phone
    if not recipient:
        return
    when = f"{utcnow().astimezone(LONDON):%d %B %Y at %H:%M}"
    district = packs.district(existing.district_code)
    team = f"the {district.name} volunteer team" if district else "your volunteer team"
    if channel == "email":
        what = "email address"
        body = (f"Hello {existing.given_name},\n\n"
                f"On {when} someone tried to sign up to volunteer using this {what}. You "
                f"are already signed up, so nothing has changed and there is no need to sign "
                f"up again: {team} will contact you.\n\n"
                f"If it was not you, you do not need to do anything, but you may want to "
                f"tell {team}.\n")
    else:
        body = (f"Someone tried to sign up to volunteer with this phone number on {when}. "
                f"You are already signed up, so nothing has changed. Not you? Tell {team}.")
    notify.queue_message(channel, recipient, REPEAT_SUBJECT, body,
                         person_id=existing.person_id)

"""People: the residents a case is about, one record shared by every plugin.

Contact details are normalised on the way in (phone to E.164, email lower
case, postcode to the UK format) so that the same person is found again and
households can be spotted; a match is never merged silently.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

import phonenumbers
import sqlalchemy as sa
from flask import current_app

from hubcore import audit, inputs
from hubcore.db import ANY_UNIQUE, db, insert_now, utcnow
from hubcore.errors import Conflict, InvalidInput, NotFound
from hubcore.identity.models import CONSENT_METHODS, Consent, Person
from hubcore.values import Location, PersonDataSection, PersonInfo

ERASED_NAME = "Erased"


def normalise_phone(raw: str) -> str:
    """A UK (or +country) phone number in E.164, e.g. ``+447700900123``."""
    fast = _uk_e164(raw)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(raw, "GB")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise InvalidInput("Enter a phone number, like 01632 960 001 or 07700 900 982.",
                           fields={"phone": ["Enter a phone number, like 01632 960 001 or "
                                             "07700 900 982."]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The everyday UK shapes: 0, +44, 0044 or +44 (0), then a 9 or 10 digit national
# number not starting with 0, in ASCII digits, spaces, hyphens and brackets.
# For these phonenumbers' answer is "+44" and the national number (checked
# over many generated numbers by tests/core/test_phone_fast_path.py); it costs
# tens of microseconds each, which a 500,000-row import notices. Anything else
# (other countries, letters, extensions, 180020 relay prefixes) goes to it.
_SEPARATORS = str.maketrans("", "", " ()-")
_UK_NATIONAL = re.compile(r"(?:\+44|0044)0?([1-9][0-9]{8,9})|0([1-9][0-9]{8,9})")


def _uk_e164(raw: str) -> str | None:
    """E.164 for an everyday UK number, or None when phonenumbers must decide."""
    if len(raw) > 30 or raw[:1] != "+" and "+" in raw:
        return None  # a plus only first, before any bracket or space
    match = _UK_NATIONAL.fullmatch(raw.translate(_SEPARATORS))
    if match is None:
        return None
    national = match[1] or match[2]
    if national.startswith("180020"):
        return None
    return "+44" + national


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("Enter an email address in the correct format, like name@example.org.",
                           fields={"email": ["Enter an email address in the correct format, "
                                             "like name@example.org."]})
    return email


def name_key(given_name: str, family_name: str = "") -> str:
    """Lower case, accents and punctuation removed: "Seán O'Brien" -> "sean obrien"."""
    text = unicodedata.normalize("NFKD", f"{given_name} {family_name}")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9 ]+", "", text)
    return " ".join(text.split())


def person_info(person: Person) -> PersonInfo:
    """The plain value other plugins get for a person."""
    location = (Location(person.latitude, person.longitude)
                if person.latitude is not None and person.longitude is not None else None)
    age = None
    if person.date_of_birth:
        today = utcnow().date()
        dob = person.date_of_birth
        age = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
    return PersonInfo(id=person.id, district=person.district_code, postcode=person.postcode,
                      location=location, age=age)


def _clean_details(details: dict, place=None) -> dict:
    """Normalise contact details; collect every field's problem before refusing.

    ``place`` is ``gazetteer.locate(details["postcode"])`` when the caller has
    placed the postcode already (intake): it is not looked up twice.
    """
    from hubcore.districts import gazetteer

    clean: dict = {}
    problems = inputs.text_problems(details, ("given_name", "family_name"), ("address",))
    for key in ("given_name", "family_name", "address"):
        if key in details:
            value = (details[key] or "").strip()
            clean[key] = value or (None if key == "address" else "")
    for key, normaliser in (("phone", normalise_phone), ("email", normalise_email)):
        if key in details:
            if details[key]:
                try:
                    clean[key] = normaliser(details[key])
                except InvalidInput as exc:
                    problems.update(exc.fields)
            else:
                clean[key] = None
    if place is not None and details.get("postcode") == place.postcode:
        clean.update(postcode=place.postcode, district_code=place.district_code,
                     latitude=place.latitude, longitude=place.longitude)
    elif details.get("postcode"):
        try:
            place = gazetteer.locate(details["postcode"])
        except InvalidInput as exc:
            problems.update(exc.fields or {"postcode": [exc.message]})
        except NotFound as exc:
            problems["postcode"] = [exc.message]
        else:
            clean.update(postcode=place.postcode, district_code=place.district_code,
                         latitude=place.latitude, longitude=place.longitude)
    elif "postcode" in details:
        clean.update(postcode=None, latitude=None, longitude=None)
    if details.get("district_code") and not details.get("postcode"):
        from hubcore.districts import packs

        if packs.district(details["district_code"]) is None:
            problems["district"] = ["Choose a district of this region."]
        else:
            clean["district_code"] = details["district_code"]
    if "date_of_birth" in details:
        dob = details["date_of_birth"]
        if dob is not None and (dob > utcnow().date() or dob < date(1900, 1, 1)):
            problems["date_of_birth"] = ["Enter a date of birth in the past."]
        clean["date_of_birth"] = dob
    if "given_name" in clean and not clean["given_name"]:
        problems["given_name"] = ["Enter the person's first name."]
    if problems:
        raise InvalidInput("Check the person's details.", fields=problems)
    return clean


def create_person(details: dict, *, actor=None, place=None) -> Person:
    """Create a person from contact details; the postcode sets the district.

    ``place``: the postcode already placed by ``gazetteer.locate`` (saves a lookup).
    A person with the same name and phone or email is recorded already: 409.
    """
    person, created = claim_person(new_person(details, place=place))
    if not created:
        raise Conflict("A person with this name and phone number or email address is "
                       "already recorded: find them instead of adding them again.",
                       code="person-exists")
    audit.record_many([person_created(person, actor)])
    return person


def claim_person(person: Person) -> tuple[Person, bool]:
    """Save a new person unless their identity (name and phone, or name and
    email) is taken; return the person saved, or the one who has it, and
    whether it was new.

    The INSERT decides (the unique indexes on the normalised identity): two
    intakes of one person at the same moment make one record, whichever
    database, and the later one finds the earlier's.
    """
    if insert_now(person, unless_taken=ANY_UNIQUE) is not None:
        return person, True
    found = db.session.connection().execute(
        _FIND_PERSON, {"phone": person.phone, "email": person.email,
                       "key": person.name_key}).scalar()
    if found is None:  # taken by a record this transaction cannot see: not expected
        raise Conflict("This person is being recorded by someone else: try again.",
                       code="person-busy")
    return db.session.get(Person, found), False


def new_person(details: dict, *, place=None) -> Person:
    """A checked person, not yet saved: for a write path that saves several
    records in one flush and then records ``person_created`` with the rest."""
    clean = _clean_details(details, place)
    if not clean.get("given_name"):
        raise InvalidInput("Enter the person's first name.",
                           fields={"given_name": ["Enter the person's first name."]})
    person = Person(**clean)
    person.name_key = name_key(person.given_name, person.family_name)
    return person


def person_created(person: Person, actor) -> audit.Pending:
    """The audit entry for a person just saved (flushed: it has an id)."""
    return audit.Pending("person.created", "person", person.id, actor, person.district_code,
                         {"has_phone": bool(person.phone), "has_email": bool(person.email)})


def find_person(details: dict) -> Person | None:
    """The existing person with the same name and the same phone or email, if any.

    Same contact details but another name is a different person (perhaps the
    same household): callers flag that, never merge it.
    """
    clean = _clean_details({k: v for k, v in details.items()
                            if k in ("given_name", "family_name", "phone", "email")})
    key = name_key(clean.get("given_name", ""), clean.get("family_name", ""))
    phone, email = clean.get("phone") or None, clean.get("email") or None
    if not (phone or email) or not key:
        return None
    found = db.session.connection().execute(
        _FIND_PERSON, {"phone": phone, "email": email, "key": key}).scalar()
    return None if found is None else db.session.get(Person, found)


# Built once (intake asks it on every request). Found through the phone and email
# indexes, each on its own (one OR would send SQLite down the name index, through
# everyone of that name); a contact not given is NULL, which equals nothing.
_SAME_CONTACT = sa.union(
    sa.select(Person.id).where(Person.phone == sa.bindparam("phone")),
    sa.select(Person.id).where(Person.email == sa.bindparam("email")),
).subquery("same_contact")
_FIND_PERSON = (sa.select(Person.id).select_from(_SAME_CONTACT)
                .join(Person, Person.id == _SAME_CONTACT.c.id)
                .where(Person.name_key == sa.bindparam("key"), Person.erased_at.is_(None))
                .order_by(Person.id).limit(1))


def find_or_create_person(details: dict, *, actor=None, place=None) -> tuple[Person, bool]:
    """Return (person, created).

    A found person's missing details are filled in only by a signed-in
    ``actor`` (staff): an anonymous submission never changes a stored person,
    or anyone who knows a resident's name and phone number could rewrite them.
    ``place``: the postcode already placed by ``gazetteer.locate`` (saves a lookup).
    """
    found = find_person(details)
    if found is None:
        person, created = claim_person(new_person(details, place=place))
        if created:
            audit.record_many([person_created(person, actor)])
            return person, True
        found = person  # recorded a moment ago by a concurrent submission
    if actor is not None:
        fill = {k: v for k, v in details.items() if v and getattr(found, k, None) in (None, "")}
        if fill:
            update_person(found, fill, actor=actor, place=place)
    return found, False


def update_person(person: Person, changes: dict, *, actor=None, place=None) -> Person:
    """Change a person's details; ``place`` as for ``create_person``."""
    if person.erased_at is not None:
        raise NotFound("This person's record was erased.")
    clean = _clean_details(changes, place)
    for key, value in clean.items():
        setattr(person, key, value)
    person.name_key = name_key(person.given_name, person.family_name)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict("Another person with this name has this phone number or email "
                       "address: merge the two records instead.",
                       code="person-exists") from None
    audit.record("person.updated", "person", person.id, actor=actor,
                 district=person.district_code, summary={"fields": sorted(changes)})
    return person


def get_person(person_id: int) -> Person:
    """The person with this id; a record merged into another resolves to the survivor."""
    person = db.session.get(Person, person_id)
    for _ in range(10):  # merges chain at most a few deep; a loop is refused on merge
        if person is None or person.merged_into_id is None:
            break
        person = db.session.get(Person, person.merged_into_id)
    if person is None:
        raise NotFound("No such person.")
    return person


MERGED_FIELDS = ("family_name", "phone", "email", "address", "postcode", "district_code",
                 "latitude", "longitude", "date_of_birth")


def merge_people(survivor: Person, duplicate: Person, *, actor=None) -> dict[str, int]:
    """Merge two records of the same person into ``survivor``; flush, never commit.

    Every plugin points its records at the survivor (``merge_person`` hook),
    consents and messages move, details the survivor lacks are taken from the
    duplicate, and the duplicate keeps only its id, dates and a link to the
    survivor, so both ids resolve to the survivor and the audit chain says
    who merged what, when. Never automatic: a coordinator decides.
    """
    if survivor.id == duplicate.id:
        raise InvalidInput("Choose two different records to merge.",
                           fields={"duplicate_id": ["Choose another person's record."]})
    for person in (survivor, duplicate):
        if person.erased_at is not None or person.merged_into_id is not None:
            raise Conflict(f"Record {person.id} was erased or merged already.",
                           code="person-not-mergeable")
    pm = current_app.extensions["hubcore"].pm
    counts: dict[str, int] = {}
    for impl in pm.hook.merge_person.get_hookimpls():
        kwargs = {name: {"survivor": survivor, "duplicate": duplicate}[name]
                  for name in impl.argnames}
        counts[impl.plugin_name] = impl.function(**kwargs) or 0
    for consent in list(duplicate.consents):
        consent.person_id = survivor.id
    fill = {k: getattr(duplicate, k) for k in MERGED_FIELDS
            if getattr(survivor, k) in (None, "") and getattr(duplicate, k) not in (None, "")}
    if fill.get("postcode") is None:  # a place is the postcode, district and point together
        for key in ("postcode", "district_code", "latitude", "longitude"):
            fill.pop(key, None)
    duplicate.family_name, duplicate.given_name = "", "Merged"
    duplicate.phone = duplicate.email = duplicate.address = duplicate.postcode = None
    duplicate.latitude = duplicate.longitude = duplicate.date_of_birth = None
    duplicate.name_key = ""
    duplicate.merged_into_id = survivor.id
    db.session.flush()  # the duplicate lets go of its phone and email first
    for key, value in fill.items():
        setattr(survivor, key, value)
    survivor.name_key = name_key(survivor.given_name, survivor.family_name)
    db.session.flush()
    db.session.expire(duplicate, ["consents"])
    db.session.expire(survivor, ["consents"])
    counts["hubcore"] = 1
    audit.record_many([
        audit.Pending("person.merged", "person", survivor.id, actor, survivor.district_code,
                      {"merged": duplicate.id, "records": counts,
                       "fields_taken": sorted(fill)}),
        audit.Pending("person.merged_into", "person", duplicate.id, actor,
                      duplicate.district_code, {"survivor": survivor.id}),
    ])
    return counts


# -- Consent -------------------------------------------------------------------


def record_consent(person: Person, *, purpose: str, scope: str, method: str,
                   recorded_by=None, given_at: datetime | None = None,
                   expires_at: datetime | None = None) -> Consent:
    """Record what the person agreed to, how (online, or verbally to a named
    coordinator) and when. A ``given_at`` later than now (and a few minutes of
    clock drift) is refused: consent cannot be recorded before it is given."""
    inputs.refuse_future(given_at, "given_at", now=utcnow())
    consent = new_consent(person, purpose=purpose, scope=scope, method=method,
                          recorded_by=recorded_by, given_at=given_at, expires_at=expires_at)
    person.consents.append(consent)
    db.session.flush()
    audit.record_many([consent_recorded(person, consent, recorded_by)])
    return consent


def new_consent(person: Person, *, purpose: str, scope: str, method: str,
                recorded_by=None, given_at: datetime | None = None,
                expires_at: datetime | None = None) -> Consent:
    """A checked consent of ``person``, not yet saved (see ``new_person``).

    It names the person by id only (``person_id``; None while the person is
    unsaved): the caller adds it to ``person.consents`` or saves it itself.
    """
    problems: dict[str, list[str]] = {}
    if not purpose.strip():
        problems["purpose"] = ["Say what the consent is for."]
    if not scope.strip():
        problems["scope"] = ["Say who may see the information."]
    if method not in CONSENT_METHODS:
        problems["method"] = [f"Choose one of: {', '.join(CONSENT_METHODS)}."]
    if method == "verbal" and recorded_by is None:
        problems["method"] = ["Verbal consent must be recorded by a named, signed-in person."]
    given_at = given_at or utcnow()
    if expires_at is not None and expires_at <= given_at:
        problems["expires_at"] = ["The expiry must be after the consent was given."]
    if problems:
        raise InvalidInput("Check the consent details.", fields=problems)
    return Consent(person_id=person.id, purpose=purpose.strip(), scope=scope.strip(), method=method,
                   recorded_by_id=getattr(recorded_by, "id", None), given_at=given_at,
                   expires_at=expires_at)


def consent_recorded(person: Person, consent: Consent, recorded_by) -> audit.Pending:
    """The audit entry for ``person``'s consent just saved (it has an id)."""
    return audit.Pending("consent.recorded", "person", person.id, recorded_by,
                         person.district_code,
                         {"consent_id": consent.id, "purpose": consent.purpose,
                          "method": consent.method})


def withdraw_consent(person: Person, consent_id: int, *, actor=None) -> Consent:
    consent = next((c for c in person.consents if c.id == consent_id), None)
    if consent is None:
        raise NotFound("No such consent for this person.")
    if consent.withdrawn_at is None:
        consent.withdrawn_at = utcnow()
        consent.withdrawn_by_id = getattr(actor, "id", None)
        audit.record("consent.withdrawn", "person", person.id, actor=actor,
                     district=person.district_code, summary={"consent_id": consent.id})
    return consent


def has_consent(person: Person, purpose: str, when: datetime | None = None) -> bool:
    when = when or utcnow()
    return any(c.purpose == purpose and c.active_at(when) for c in person.consents)


# -- Subject access and erasure ----------------------------------------------------


def consent_record(consent: Consent) -> dict:
    return {
        "id": consent.id, "purpose": consent.purpose, "scope": consent.scope,
        "method": consent.method,
        "recorded_by": consent.recorded_by.name if consent.recorded_by else None,
        "given_at": consent.given_at.isoformat(),
        "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
    }


def export_person(person: Person, *, actor=None) -> dict:
    """Everything held on a person, across the core and every plugin."""
    pm = current_app.extensions["hubcore"].pm
    sections: list[PersonDataSection] = [PersonDataSection(
        source="hubcore", title="Contact details and consent",
        records=[{
            "id": person.id, "given_name": person.given_name,
            "family_name": person.family_name, "phone": person.phone, "email": person.email,
            "address": person.address, "postcode": person.postcode,
            "district": person.district_code,
            "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else None,
            "created_at": person.created_at.isoformat(),
            "consents": [consent_record(c) for c in person.consents],
        }],
    )]
    sections.extend(section for section in pm.hook.person_data(person=person) if section)
    audit.record("person.exported", "person", person.id, actor=actor,
                 district=person.district_code, summary={"sections": len(sections)})
    return {"person_id": person.id, "exported_at": utcnow().isoformat(),
            "sections": [{"source": s.source, "title": s.title, "records": s.records}
                         for s in sections]}


def erase_person(person: Person, *, actor=None) -> dict[str, int]:
    """Erase a person's personal data everywhere; the audit chain is untouched.

    Plugins erase or anonymise theirs first (``erase_person`` hook), then the
    core record keeps only its id, district and dates, so counts and the audit
    trail still add up.
    """
    if person.erased_at is not None:
        return {"hubcore": 0}
    pm = current_app.extensions["hubcore"].pm
    counts: dict[str, int] = {}
    # Called one implementation at a time so the result says which plugin
    # erased what; arguments are passed by name, as pluggy would.
    for impl in pm.hook.erase_person.get_hookimpls():
        kwargs = {name: person for name in impl.argnames if name == "person"}
        counts[impl.plugin_name] = impl.function(**kwargs) or 0
    person.given_name, person.family_name = ERASED_NAME, ""
    person.phone = person.email = person.address = person.postcode = None
    person.latitude = person.longitude = None
    person.date_of_birth = None
    person.name_key = ""
    person.erased_at = utcnow()
    counts["hubcore"] = 1
    db.session.flush()
    audit.record("person.erased", "person", person.id, actor=actor,
                 district=person.district_code, summary={"records": counts})
    return counts


"""What a viewer may see of a request beyond the request itself.

A request is visible in its district (and an overflow neighbour), but it
links to records that may live elsewhere: the person's stored record (a
resident known to another hub who asked this one), and the request it was
flagged as a duplicate of (the same household asking two hubs). A
coordinator sees those only where they hold the district; otherwise they
learn only that something exists, and which hub holds it, so that the two
hubs can agree what to do without either seeing the other's residents.
"""

from __future__ import annotations

import sqlalchemy as sa

from hubcore.db import db
from hubcore.districts import packs
from hubcore.identity.permissions import ALL_DISTRICTS, districts_for

from .models import HelpRequest

READ = "help_requests.read"


def _sees_request(viewer, request: HelpRequest) -> bool:
    held = districts_for(viewer, READ)
    return held is ALL_DISTRICTS or any(d in held for d in request.visible_districts())


def _elsewhere(district_code: str) -> dict:
    return {"district": district_code, "district_name": packs.district_name(district_code)}


def duplicate_link(request: HelpRequest, viewer) -> tuple[dict | None, dict | None]:
    """(the original's id and reference, or None; the other hub, when it is hidden)."""
    original = request.duplicate_of
    if original is None:
        return None, None
    if _sees_request(viewer, original):
        return {"id": original.id, "reference": original.reference}, None
    return None, _elsewhere(original.district_code)


def duplicates_held_elsewhere(request: HelpRequest, viewer) -> list[dict]:
    """Hubs holding a request flagged as a possible duplicate of this one,
    where the viewer cannot see it: which hub, nothing more."""
    rows = db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.duplicate_of_id == request.id,
                                     HelpRequest.duplicate_state == "suspected")
    ).scalars().all()
    return [_elsewhere(r.district_code) for r in rows if not _sees_request(viewer, r)]


def person_view(request: HelpRequest, viewer) -> dict | None:
    """The person as this viewer may see them on this request.

    Their stored record in full when it belongs to a district the request is
    visible in or the viewer holds; otherwise (a resident of another district
    who asked this hub) only their name and the details given with this request.
    """
    person = request.person
    if person is None:
        return None
    if person.erased_at is not None:
        return {"id": person.id, "given_name": "Erased", "family_name": "",
                "record_elsewhere": False}
    given = request.given_details or {}
    held = districts_for(viewer, "people.read")
    if (person.district_code in request.visible_districts() or held is ALL_DISTRICTS
            or person.district_code in held):
        return {"id": person.id, "given_name": person.given_name,
                "family_name": person.family_name, "phone": person.phone,
                "email": person.email, "postcode": person.postcode,
                "address": person.address, "record_elsewhere": False}
    contacts = given.get("contacts_given", ())
    return {"id": person.id, "given_name": person.given_name,
            "family_name": person.family_name,
            "phone": given.get("phone", person.phone if "phone" in contacts else None),
            "email": given.get("email", person.email if "email" in contacts else None),
            "postcode": given.get("postcode"), "address": given.get("address"),
            "record_elsewhere": True}


def given_details_view(request: HelpRequest) -> dict | None:
    """The details given with the request that differ from the person's record
    (without the coordinates of the postcode)."""
    given = request.given_details
    if not given:
        return None
    return {k: given[k] for k in ("postcode", "address", "phone", "email") if k in given}

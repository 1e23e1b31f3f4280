"""Details given with a request that differ from the person's record.

Intake never changes a stored person (see ``intake._person_for``): a new
postcode, address, phone or email is kept on the request, and the
coordinator who calls the person back either applies it to the record or
keeps the record as it is. Applying changes the person, so it needs the
right to change people in the person's district (not only the request's).
"""

from __future__ import annotations

from datetime import datetime

from hubcore import audit
from hubcore.db import utcnow
from hubcore.errors import Conflict, Forbidden, InvalidInput
from hubcore.identity import people
from hubcore.identity.permissions import can

from .models import HelpRequest

DECISIONS = ("apply", "keep_record")


def settle_given_details(request: HelpRequest, decision: str, *, actor,
                         now: datetime | None = None) -> HelpRequest:
    """Apply the details given with ``request`` to the person's record, or keep
    the record as it is; either way the request no longer shows them as differing."""
    now = now or utcnow()
    if decision not in DECISIONS:
        raise InvalidInput("Choose whether to update the record or keep it.",
                           fields={"decision": ["Choose apply or keep_record."]})
    given = request.given_details
    if not given or request.person is None or request.person.erased_at is not None:
        raise Conflict("This request has no details that differ from the person's record.",
                       code="no-differing-details")
    if decision == "apply":
        person = request.person
        if not can(actor, "people.write", person.district_code):
            raise Forbidden("Only a coordinator of the district that holds this person's "
                            "record can change it: ask that hub, or keep the record.")
        changes = {k: given[k] for k in ("postcode", "address", "phone", "email") if k in given}
        people.update_person(person, changes, actor=actor)
    request.given_details = None
    request.updated_at = now
    audit.record("hub_requests.given_details.settled", "help_request", request.id, actor=actor,
                 district=request.district_code,
                 summary={"decision": decision, "fields": sorted(
                     k for k in given if k in ("postcode", "address", "phone", "email"))})
    return request

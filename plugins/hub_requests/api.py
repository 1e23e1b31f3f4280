"""The help requests API: load → domain function → dump.

``POST /api/v1/help-requests`` is public (no account): rate-limited and
idempotent. Everything else is for coordinators, within their districts
(and overflow shared with them); a request outside them reads as 404.
"""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_login import current_user

from hubcore.api import (
    check_if_match,
    etag_for,
    idempotent,
    json_response,
    load,
    operation,
)
from hubcore.db import db, utcnow
from hubcore.errors import NotFound
from hubcore.identity.permissions import (
    ALL_DISTRICTS,
    districts_for,
    require,
    require_record,
)
from hubcore.web.security import public_limit

from . import (candidates, intake, lifecycle, outcomes, person_details, queue, services, triage,
               visibility)
from .models import HelpRequest
from .schemas import (
    CallAttemptIn,
    CallAttemptOut,
    CaseNoteIn,
    CaseNoteOut,
    DuplicateConfirmIn,
    DuplicateDismissIn,
    GivenDetailsDecisionIn,
    HelpRequestHelpersOut,
    HelpRequestHelpersQuery,
    HelpRequestOut,
    HelpRequestPatch,
    HelpRequestQueueQuery,
    HelpRequestReceiptOut,
    HelpRequestServiceRoutesOut,
    HelpRequestStatusChangeOut,
    HelpRequestSubmitIn,
    HelpRequestTransitionIn,
    OutcomeIn,
)

help_requests_api = Blueprint("help_requests_api", __name__,
                              url_prefix="/api/v1/help-requests")
TAGS = ("help requests",)
READ, WRITE = "help_requests.read", "help_requests.write"


def _me():
    return current_user if current_user.is_authenticated else None


def request_in_scope(request_id: int, permission: str) -> HelpRequest:
    """The request, if the signed-in account holds ``permission`` where it is visible."""
    me = _me()
    found = db.session.get(HelpRequest, request_id)
    if found is None:
        require(me, permission)
        raise NotFound("No such help request.")
    held = districts_for(me, permission)
    if held is ALL_DISTRICTS or any(d in held for d in found.visible_districts()):
        return found
    require_record(me, permission, found.district_code)
    return found


def _etag(found: HelpRequest) -> str:
    return etag_for("help_request", found.id, found.version)


def dump_request(found: HelpRequest, now=None, *, one: bool = False) -> dict:
    """The request as the signed-in viewer may see it (``visibility``); ``one``:
    a single request's read, which also names hubs holding its duplicates."""
    now, me = now or utcnow(), _me()
    body = HelpRequestOut().dump(found)
    body["effective_score"] = triage.effective_score(found.score, found.created_at, now,
                                                     escalated=found.escalated)
    body["overdue"] = found.is_overdue(now)
    body["allowed_transitions"] = list(lifecycle.allowed_transitions(found))
    body["person"] = visibility.person_view(found, me)
    body["duplicate_of"], body["duplicate_elsewhere"] = visibility.duplicate_link(found, me)
    body["given_details"] = visibility.given_details_view(found)
    if one:
        body["duplicates_elsewhere"] = visibility.duplicates_held_elsewhere(found, me)
    return body


def _response(found: HelpRequest, status: int = 200, **headers):
    return json_response(dump_request(found, one=True), status, etag=_etag(found),
                         headers=headers)


# -- Intake ---------------------------------------------------------------------------


# Built once: intake is the busiest endpoint, and a schema costs more to build than
# to use (marshmallow schemas hold no state between loads).
_SUBMIT_IN, _RECEIPT_OUT = HelpRequestSubmitIn(), HelpRequestReceiptOut()


@help_requests_api.post("")
@public_limit()
@operation(summary="Ask for help (public: no account needed)", tags=TAGS, body=HelpRequestSubmitIn,
           response=HelpRequestReceiptOut, status=201, public=True, errors=(403, 429),
           description=(
               "The answer is a receipt: the request's reference (e.g. BOL-7K3Q), which the "
               "resident quotes to the hub, the hub's contact details and what happens next. "
               "A caller without a token gets no id and no Location, and cannot read the "
               "request back: it holds a resident's personal details, and only the hub, "
               "which can confirm who is asking, may show them. A signed-in caller who may "
               "read the request also gets its id and a Location to read it by."))
@idempotent
def submit():
    data = load(_SUBMIT_IN)
    person = {k: data.pop(k) for k in ("given_name", "family_name", "phone", "email",
                                       "postcode", "address")}
    found = intake.submit_request(person=person, actor=_me(), now=utcnow(), **data)
    hub = intake.hub_contact(found.district_code)
    receipt = {"reference": found.reference, "status": "received",
               "district": found.district_code, "hub": hub,
               "next_steps": intake.next_steps(found, hub)}
    headers = {}
    me = _me()
    if me is not None and any(d in districts_for(me, READ) for d in found.visible_districts()):
        receipt["id"] = found.id
        headers["Location"] = url_for(".get_one", request_id=found.id)
    return json_response(_RECEIPT_OUT.dump(receipt), 201, headers=headers)


# -- The queue and one request -------------------------------------------------------------


@help_requests_api.get("")
@operation(summary="The triage queue: requests in your districts, most urgent first",
           tags=TAGS, query=HelpRequestQueueQuery, response=HelpRequestOut, paged=True)
def list_queue():
    me = _me()
    require(me, READ)
    args = load(HelpRequestQueueQuery(), request.args.to_dict())
    held = districts_for(me, READ)
    if args["district"] and args["district"] not in held:
        require(me, READ, args["district"])
    now = utcnow()
    statement = queue.queue_statement(held, now=now, district=args["district"],
                                      status=args["status"], overdue=args["overdue"],
                                      priority=args["priority"], reference=args["reference"])
    page = queue.queue_page(statement, page=args["page"], per_page=args["per_page"])
    return json_response(page.body([dump_request(r, now) for r in page.items]))


@help_requests_api.get("/<id:request_id>")
@operation(summary="Read a help request", tags=TAGS, response=HelpRequestOut, errors=(404,))
def get_one(request_id: int):
    return _response(request_in_scope(request_id, READ))


@help_requests_api.patch("/<id:request_id>")
@operation(summary="Change a help request: needs, priority (with reason), escalation, "
                   "overflow (send If-Match)", tags=TAGS, body=HelpRequestPatch,
           response=HelpRequestOut, errors=(404, 409), if_match="required")
def patch_one(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    changes = load(HelpRequestPatch(), partial=True)
    if "overflow_district" in changes:
        require(_me(), WRITE, found.district_code)  # only the owning district shares it
    lifecycle.update_request(found, changes, actor=_me())
    db.session.commit()
    return _response(found)


@help_requests_api.post("/<id:request_id>/transitions")
@operation(summary="Move a help request along its lifecycle (send If-Match)", tags=TAGS,
           body=HelpRequestTransitionIn, response=HelpRequestOut, errors=(404, 409),
           if_match="required")
def post_transition(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    data = load(HelpRequestTransitionIn())
    lifecycle.transition(found, data["to"], actor=_me(), reason=data["reason"])
    db.session.commit()
    return _response(found)


@help_requests_api.get("/<id:request_id>/history")
@operation(summary="The status history of a help request", tags=TAGS,
           response=HelpRequestStatusChangeOut, many=True, errors=(404,))
def get_history(request_id: int):
    found = request_in_scope(request_id, READ)
    return json_response(HelpRequestStatusChangeOut(many=True).dump(found.history))


# -- Duplicates ------------------------------------------------------------------------------


@help_requests_api.post("/<id:request_id>/duplicate/confirm")
@operation(summary="Confirm a flagged duplicate: merge it into the original and close it "
                   "(send If-Match)", tags=TAGS, body=DuplicateConfirmIn, body_required=False,
           response=HelpRequestOut, errors=(404, 409), if_match="required")
def confirm_duplicate(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    data = load(DuplicateConfirmIn()) if request.get_data() else {"other_hub_agreed": False}
    original = lifecycle.confirm_duplicate(found, actor=_me(),
                                           other_hub_agreed=data["other_hub_agreed"])
    db.session.commit()
    if not visibility.duplicate_link(found, _me())[0]:
        return _response(found)  # the original is another hub's: show this one, closed
    return _response(original)


@help_requests_api.post("/<id:request_id>/duplicate/dismiss")
@operation(summary="Dismiss a duplicate flag: both requests stay (send If-Match)", tags=TAGS,
           body=DuplicateDismissIn, body_required=False, response=HelpRequestOut,
           errors=(404, 409), if_match="required")
def dismiss_duplicate(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    data = load(DuplicateDismissIn()) if request.get_data() else {"reason": None}
    lifecycle.dismiss_duplicate(found, actor=_me(), reason=data["reason"])
    db.session.commit()
    return _response(found)


@help_requests_api.post("/<id:request_id>/outcome")
@operation(summary="Record whether a finished request's need was met (send If-Match)",
           tags=TAGS, body=OutcomeIn, response=HelpRequestOut, errors=(404, 409),
           if_match="required")
def record_outcome(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    data = load(OutcomeIn())
    outcomes.record_outcome(found, data["outcome"], data["note"], actor=_me())
    db.session.commit()
    return _response(found)


@help_requests_api.post("/<id:request_id>/given-details")
@operation(summary="Apply the details given with a request to the person's record, or keep "
                   "the record (send If-Match)", tags=TAGS, body=GivenDetailsDecisionIn,
           response=HelpRequestOut, errors=(403, 404, 409), if_match="required")
def settle_given_details(request_id: int):
    found = request_in_scope(request_id, WRITE)
    check_if_match(_etag(found))
    data = load(GivenDetailsDecisionIn())
    person_details.settle_given_details(found, data["decision"], actor=_me())
    db.session.commit()
    return _response(found)


# -- Notes and calls ----------------------------------------------------------------------------


@help_requests_api.get("/<id:request_id>/notes")
@operation(summary="Case notes of a help request", tags=TAGS, response=CaseNoteOut, many=True,
           errors=(404,))
def list_notes(request_id: int):
    return json_response(CaseNoteOut(many=True).dump(request_in_scope(request_id, READ).notes))


@help_requests_api.post("/<id:request_id>/notes")
@operation(summary="Add a case note", tags=TAGS, body=CaseNoteIn, response=CaseNoteOut, status=201,
           errors=(404,))
def add_note(request_id: int):
    found = request_in_scope(request_id, WRITE)
    data = load(CaseNoteIn())
    note = lifecycle.add_note(found, data["body"], actor=_me())
    db.session.commit()
    return json_response(CaseNoteOut().dump(note), 201)


@help_requests_api.get("/<id:request_id>/calls")
@operation(summary="Call log of a help request", tags=TAGS, response=CallAttemptOut, many=True,
           errors=(404,))
def list_calls(request_id: int):
    return json_response(CallAttemptOut(many=True).dump(request_in_scope(request_id, READ).calls))


@help_requests_api.post("/<id:request_id>/calls")
@operation(summary="Log a call attempt and its outcome", tags=TAGS, body=CallAttemptIn,
           response=CallAttemptOut, status=201, errors=(404,))
def log_call(request_id: int):
    found = request_in_scope(request_id, WRITE)
    data = load(CallAttemptIn())
    call = lifecycle.log_call(found, data["outcome"], data["notes"], actor=_me(),
                              called_at=data["called_at"])
    db.session.commit()
    return json_response(CallAttemptOut().dump(call), 201)


# -- Helpers -----------------------------------------------------------------------------------


@help_requests_api.get("/<id:request_id>/candidates")
@operation(summary="Ranked helpers for a request, from the plugins that answer find_helpers",
           tags=TAGS, query=HelpRequestHelpersQuery, response=HelpRequestHelpersOut, errors=(404,))
def list_candidates(request_id: int):
    found = request_in_scope(request_id, READ)
    args = load(HelpRequestHelpersQuery(), request.args.to_dict())
    result = candidates.candidates_for(found, args["limit"])
    return json_response(HelpRequestHelpersOut().dump({"items": result.items, "note": result.note}))


@help_requests_api.get("/<id:request_id>/services")
@operation(summary="Referral routes for each need, from the plugins that answer "
                   "suggest_services", tags=TAGS, response=HelpRequestServiceRoutesOut, many=True,
           errors=(404,))
def list_services(request_id: int):
    found = request_in_scope(request_id, READ)
    routes = services.suggestions_for(found)
    return json_response(HelpRequestServiceRoutesOut(many=True).dump(
        [{"need": code, "services": found_routes} for code, found_routes in routes.items()]))

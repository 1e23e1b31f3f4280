"""The volunteering API: load → domain function → dump.

Sign-up is public; everything a coordinator does is scoped to their
districts (a volunteer elsewhere reads as not found); a volunteer answers
only their own offers.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, request, url_for
from flask_login import current_user

from hubcore.api import (
    check_if_match,
    etag_for,
    idempotent,
    json_response,
    load,
    operation,
    paginate,
)
from hubcore.db import db, utcnow
from hubcore.errors import Unauthorised
from hubcore.identity.permissions import districts_for, require, require_record
from hubcore.web.security import public_limit

from . import batch_assign, hours, offers, signup, vetting
from .schemas import (
    AssignmentOut,
    BatchIn,
    CompleteIn,
    DbsIn,
    DbsReviewOut,
    DeclineOut,
    HoursOut,
    HoursQuery,
    OfferIn,
    OfferOut,
    OfferQuery,
    ProposalOut,
    ReleaseIn,
    SignUpIn,
    SignUpOut,
    StatusIn,
    VolunteerOut,
    VolunteerPatch,
    VolunteerQuery,
)

volunteering_api = Blueprint("volunteering_api", __name__, url_prefix="/api/v1")
TAGS = ("volunteering",)
READ, MANAGE, VERIFY = ("volunteering.volunteers.read", "volunteering.volunteers.manage",
                        "volunteering.dbs.verify")
OFFERS, HOURS = "volunteering.offers.manage", "volunteering.hours.read"


def _require_signed_in() -> None:
    """A volunteer acts on their own offers and tasks: signing in is what it takes."""
    if not current_user.is_authenticated:
        raise Unauthorised("Sign in to do this.")


def _etag(volunteer) -> str:
    return etag_for("volunteer", volunteer.id, volunteer.version)


def _volunteer_in_scope(volunteer_id: int, permission: str):
    volunteer = vetting.get_volunteer(volunteer_id)
    require_record(current_user, permission, volunteer.district_code)
    return volunteer


def _volunteer_response(volunteer, status: int = 200, headers: dict | None = None):
    return json_response(VolunteerOut().dump(volunteer), status, etag=_etag(volunteer),
                         headers=headers)


# -- Volunteers ------------------------------------------------------------------------------


@volunteering_api.post("/volunteers")
@operation(summary="Sign up to volunteer (no account needed). The answer is the same "
                   "whether or not the details are already signed up; a message goes to "
                   "the email (or phone) given", tags=TAGS, body=SignUpIn,
           response=SignUpOut, status=202, public=True, errors=(429,))
@public_limit()
@idempotent
def sign_up():
    data = load(SignUpIn())
    answer = signup.sign_up_publicly(data)
    return json_response(SignUpOut().dump(answer), 202)


@volunteering_api.get("/volunteers")
@operation(summary="List the volunteers of your districts", tags=TAGS, query=VolunteerQuery,
           response=VolunteerOut, paged=True)
def list_volunteers():
    require(current_user, READ)
    args = load(VolunteerQuery(), request.args.to_dict())
    query = vetting.volunteers_in(districts_for(current_user, READ), status=args.get("status"))
    page = paginate(query, args)
    return json_response(page.body(VolunteerOut(many=True).dump(page.items)))


@volunteering_api.get("/volunteers/dbs-reviews")
@operation(summary="DBS checks due for review in your districts, soonest first", tags=TAGS,
           response=DbsReviewOut, many=True)
def dbs_reviews():
    require(current_user, VERIFY)
    due = vetting.dbs_review_due(districts_for(current_user, VERIFY))
    return json_response(DbsReviewOut(many=True).dump([
        {"volunteer_id": v.id, "name": v.name, "district": v.district_code,
         "dbs_level": v.dbs_level, "issue_date": v.dbs_issue_date, "review_by": review_by}
        for v, review_by in due]))


@volunteering_api.get("/volunteers/<id:volunteer_id>")
@operation(summary="A volunteer's record", tags=TAGS, response=VolunteerOut, errors=(404,))
def get_volunteer(volunteer_id: int):
    return _volunteer_response(_volunteer_in_scope(volunteer_id, READ))


@volunteering_api.patch("/volunteers/<id:volunteer_id>")
@operation(summary="Change a volunteer's details", tags=TAGS, body=VolunteerPatch,
           response=VolunteerOut, errors=(404, 409), if_match="required")
def patch_volunteer(volunteer_id: int):
    volunteer = _volunteer_in_scope(volunteer_id, MANAGE)
    check_if_match(_etag(volunteer))
    changes = load(VolunteerPatch(), partial=True)
    if changes.get("postcode"):
        # Moving someone to another district needs the right there too; a
        # postcode that cannot be placed is refused by the update, field by field.
        place = signup.locate_postcode(changes["postcode"])
        if not isinstance(place, Exception):
            require(current_user, MANAGE, place.district_code)
    vetting.update_volunteer(volunteer, changes, actor=current_user)
    db.session.commit()
    return _volunteer_response(volunteer)


def _status_route(to: str):
    def view(volunteer_id: int):
        volunteer = _volunteer_in_scope(volunteer_id, MANAGE)
        check_if_match(_etag(volunteer))
        data = load(StatusIn(), request.get_json(silent=True) or {})
        vetting.change_status(volunteer, to, actor=current_user, reason=data["reason"])
        db.session.commit()
        return _volunteer_response(volunteer)

    view.__name__ = f"{to}_volunteer"
    return view


for _path, _to, _summary in (("activate", "active", "Activate a vetted volunteer"),
                             ("pause", "paused", "Pause a volunteer"),
                             ("leave", "left", "Record that a volunteer has left")):
    volunteering_api.add_url_rule(
        f"/volunteers/<id:volunteer_id>/{_path}", methods=["POST"],
        view_func=operation(summary=_summary, tags=TAGS, body=StatusIn, body_required=False,
                            response=VolunteerOut, errors=(404, 409),
                            if_match="optional")(_status_route(_to)))


@volunteering_api.post("/volunteers/<id:volunteer_id>/dbs")
@operation(summary="Record a DBS check you have seen", tags=TAGS, body=DbsIn,
           response=VolunteerOut, errors=(404,), if_match="required")
def verify_dbs(volunteer_id: int):
    volunteer = _volunteer_in_scope(volunteer_id, VERIFY)
    check_if_match(_etag(volunteer))
    data = load(DbsIn())
    vetting.verify_dbs(volunteer, level=data["level"],
                       certificate_number=data["certificate_number"],
                       issue_date=data["issue_date"], actor=current_user)
    db.session.commit()
    return _volunteer_response(volunteer)


# -- Offers ------------------------------------------------------------------------------------


@volunteering_api.post("/volunteering/offers")
@operation(summary="Offer a task (named by its owner and id) to a volunteer, or to the best "
                   "candidate", tags=TAGS, body=OfferIn, response=OfferOut, status=201,
           errors=(404, 409, 503))
def make_offer():
    require(current_user, OFFERS)
    data = load(OfferIn())
    task = offers.owners_task(data["owner"], data["owner_id"], user=current_user)
    offer = offers.make_offer(task, volunteer_id=data["volunteer_id"], actor=current_user)
    db.session.commit()
    return json_response(OfferOut().dump(offer), 201, headers={
        "Location": url_for("volunteering_api.get_offer", offer_id=offer.id)})


@volunteering_api.get("/volunteering/offers")
@operation(summary="The offers made for one task", tags=TAGS, query=OfferQuery,
           response=OfferOut, many=True)
def list_offers():
    require(current_user, OFFERS)
    args = load(OfferQuery(), request.args.to_dict())
    scope = districts_for(current_user, OFFERS)
    found = [o for o in offers.offers_for_task(args["owner"], args["owner_id"])
             if o.district_code in scope]
    return json_response(OfferOut(many=True).dump(found))


@volunteering_api.get("/volunteering/offers/<id:offer_id>")
@operation(summary="One offer (to its volunteer, or a coordinator of its district)",
           tags=TAGS, response=OfferOut, errors=(404,))
def get_offer(offer_id: int):
    offer = offers.get_offer(offer_id)
    mine = vetting.volunteer_for_account(current_user)
    if mine is None or mine.id != offer.volunteer_id:
        require_record(current_user, OFFERS, offer.district_code)
    return json_response(OfferOut().dump(offer))


@volunteering_api.post("/volunteering/offers/<id:offer_id>/accept")
@operation(summary="Accept an offer made to you (one acceptance per task wins)", tags=TAGS,
           response=AssignmentOut, status=201, errors=(404, 409))
def accept_offer(offer_id: int):
    _require_signed_in()
    assignment = offers.accept(offers.get_offer(offer_id), account=current_user)
    db.session.commit()
    return json_response(AssignmentOut().dump(assignment), 201)


@volunteering_api.post("/volunteering/offers/<id:offer_id>/decline")
@operation(summary="Decline an offer made to you; it goes to the next candidate", tags=TAGS,
           response=DeclineOut, errors=(404, 409))
def decline_offer(offer_id: int):
    _require_signed_in()
    offer = offers.get_offer(offer_id)
    following = offers.decline(offer, account=current_user)
    db.session.commit()
    return json_response(DeclineOut().dump({"declined": offer,
                                            "next_offer_made": following is not None}))


@volunteering_api.post("/volunteering/offers/<id:offer_id>/withdraw")
@operation(summary="Withdraw an open offer", tags=TAGS, response=OfferOut, errors=(404, 409))
def withdraw_offer(offer_id: int):
    offer = offers.get_offer(offer_id)
    require_record(current_user, OFFERS, offer.district_code)
    offers.withdraw(offer, actor=current_user)
    db.session.commit()
    return json_response(OfferOut().dump(offer))


@volunteering_api.post("/volunteering/batch-proposals")
@operation(summary="Propose volunteers for a queue of tasks (priority first, load spread); "
                   "nothing is offered until you confirm", tags=TAGS, body=BatchIn,
           response=ProposalOut, many=True)
def batch_proposals():
    data = load(BatchIn())
    tasks = [offers.task_from_dict(t) for t in data["tasks"]]
    for district in sorted({t.district for t in tasks}):
        require(current_user, OFFERS, district)
    proposals = batch_assign.propose_for(tasks, now=utcnow())
    return json_response(ProposalOut(many=True).dump([
        {"owner": p.task.owner, "owner_id": p.task.owner_id, "candidate": p.candidate}
        for p in proposals]))


# -- A volunteer's own tasks ---------------------------------------------------------------------


@volunteering_api.get("/volunteering/my/offers")
@operation(summary="Your open offers", tags=TAGS, response=OfferOut, many=True)
def my_offers():
    _require_signed_in()
    mine = vetting.volunteer_for_account(current_user)
    return json_response(OfferOut(many=True).dump(offers.open_offers_for(mine) if mine else []))


@volunteering_api.get("/volunteering/my/assignments")
@operation(summary="Your tasks", tags=TAGS, response=AssignmentOut, many=True)
def my_assignments():
    _require_signed_in()
    mine = vetting.volunteer_for_account(current_user)
    return json_response(AssignmentOut(many=True).dump(
        offers.assignments_for(mine) if mine else []))


@volunteering_api.post("/volunteering/assignments/<id:assignment_id>/complete")
@operation(summary="Report a task done and log the hours", tags=TAGS, body=CompleteIn,
           response=AssignmentOut, errors=(404, 409))
def complete_assignment(assignment_id: int):
    _require_signed_in()
    data = load(CompleteIn())
    assignment = offers.complete(offers.get_assignment(assignment_id), hours=data["hours"],
                                 account=current_user)
    db.session.commit()
    return json_response(AssignmentOut().dump(assignment))


@volunteering_api.post("/volunteering/assignments/<id:assignment_id>/release")
@operation(summary="Give a task back (its volunteer, or a coordinator of its district)",
           tags=TAGS, body=ReleaseIn, response=AssignmentOut, errors=(404, 409))
def release_assignment(assignment_id: int):
    data = load(ReleaseIn())
    assignment = offers.get_assignment(assignment_id)
    mine = vetting.volunteer_for_account(current_user)
    if mine is None or mine.id != assignment.volunteer_id:
        require_record(current_user, OFFERS, assignment.district_code)
    offers.release(assignment, reason=data["reason"], actor=current_user)
    db.session.commit()
    return json_response(AssignmentOut().dump(assignment))


# -- Hours -------------------------------------------------------------------------------------------


@volunteering_api.get("/volunteering/hours")
@operation(summary="Hours by district and volunteer; who is over- or under-used", tags=TAGS,
           query=HoursQuery, response=HoursOut)
def hours_report():
    require(current_user, HOURS)
    args = load(HoursQuery(), request.args.to_dict())
    now = utcnow()
    report = hours.hours_report(districts_for(current_user, HOURS),
                                since=now - timedelta(days=args["days"]), now=now)
    return json_response(HoursOut().dump({
        "since": report.since, "districts": report.districts,
        "volunteers": [{**vars(row), "use": row.use} for row in report.volunteers]}))

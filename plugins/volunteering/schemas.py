"""marshmallow schemas at the API boundary (the domain checks the meaning)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hubcore.api import PageArgs
from hubcore.inputs import FreeText, Id, Postcode
from hubcore.districts import packs

from .models import DBS_LEVELS, SKILLS, SLOTS


class SignUpIn(ma.Schema):
    given_name = fields.String(required=True, validate=validate.Length(max=100))
    family_name = fields.String(load_default="", validate=validate.Length(max=100))
    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    postcode = Postcode(required=True, validate=validate.Length(max=10))
    skills = fields.List(fields.String(validate=validate.OneOf(SKILLS)), required=True)
    languages = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list)
    availability = fields.List(fields.String(validate=validate.OneOf(SLOTS)), required=True)
    max_travel_km = fields.Float(load_default=5.0, validate=validate.Range(0.5, 50))
    has_car = fields.Boolean(load_default=False)
    consent = fields.Boolean(required=True, metadata={
        "description": "The volunteer agrees that their details are stored for volunteering."})


class SignUpOut(ma.Schema):
    """The public answer to a sign-up: made from what was sent, the same for a new
    volunteer and for details already signed up (so it carries no id)."""

    district = fields.String(attribute="district_code")
    district_name = fields.String()
    sent_by = fields.String(metadata={"description": "email or sms: where the message went"})
    message = fields.String()


class VolunteerOut(ma.Schema):
    id = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    district = fields.String(attribute="district_code")
    skills = fields.List(fields.String())
    languages = fields.List(fields.String())
    availability = fields.List(fields.String())
    max_travel_km = fields.Float()
    has_car = fields.Boolean()
    dbs_level = fields.String()
    dbs_certificate_number = fields.String(allow_none=True)
    dbs_issue_date = fields.Date(allow_none=True)
    dbs_verified_by_id = fields.Integer(allow_none=True)
    dbs_verified_at = fields.DateTime(allow_none=True)
    status = fields.String()
    weekly_cap = fields.Integer()
    account_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()


class VolunteerPatch(ma.Schema):
    given_name = fields.String(validate=validate.Length(max=100))
    family_name = fields.String(validate=validate.Length(max=100))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    postcode = Postcode(validate=validate.Length(max=10))
    skills = fields.List(fields.String(validate=validate.OneOf(SKILLS)))
    languages = fields.List(fields.String(validate=validate.Length(max=40)))
    availability = fields.List(fields.String(validate=validate.OneOf(SLOTS)))
    max_travel_km = fields.Float(validate=validate.Range(0.5, 50))
    has_car = fields.Boolean()
    weekly_cap = fields.Integer(validate=validate.Range(1, 20))


class VolunteerQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(("applied", "active", "paused", "left")))


class StatusIn(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class DbsIn(ma.Schema):
    """A DBS check seen: ``certificate_number`` and ``issue_date`` are required
    for every level but ``none`` (which clears the record); ``vetting.verify_dbs``
    enforces it, field by field."""

    level = fields.String(required=True, validate=validate.OneOf(DBS_LEVELS))
    certificate_number = fields.String(load_default=None, allow_none=True,
                                       validate=validate.Length(max=20), metadata={
        "description": "The 12-digit certificate number (spaces are ignored). Required "
                       "unless level is none."})
    issue_date = fields.Date(load_default=None, allow_none=True, metadata={
        "description": "The date on the certificate: not in the future, and not more than "
                       "three years ago. Required unless level is none."})

    class Meta:
        # What the OpenAPI document adds to the fields: the rule above, as JSON Schema.
        openapi = {"anyOf": [
            {"properties": {"level": {"type": "string", "enum": ["none"]}}},
            {"required": ["certificate_number", "issue_date"],
             "properties": {"certificate_number": {"type": "string", "minLength": 12},
                            "issue_date": {"type": "string", "format": "date"}}},
        ]}


class DbsReviewOut(ma.Schema):
    volunteer_id = fields.Integer()
    name = fields.String()
    district = fields.String()
    dbs_level = fields.String()
    issue_date = fields.Date()
    review_by = fields.Date()


class LocationIn(ma.Schema):
    latitude = fields.Float(required=True, validate=validate.Range(-90, 90))
    longitude = fields.Float(required=True, validate=validate.Range(-180, 180))


class TaskIn(ma.Schema):
    owner = fields.String(required=True, validate=validate.Length(min=1, max=40))
    owner_id = fields.String(required=True, validate=validate.Length(min=1, max=60))
    district = fields.String(required=True, validate=validate.Length(equal=9))
    needs = fields.List(fields.String(validate=validate.Length(min=1, max=40)), required=True,
                        validate=validate.Length(min=1, max=10))
    location = fields.Nested(LocationIn, load_default=None, allow_none=True)
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    priority = fields.Integer(load_default=3, validate=validate.Range(1, 4))
    dbs_level = fields.String(load_default="none", validate=validate.OneOf(DBS_LEVELS))
    max_distance_km = fields.Float(load_default=None, allow_none=True,
                                   validate=validate.Range(0.1, 100))
    person_id = Id(load_default=None, allow_none=True)
    languages = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list)
    regulated_activity = fields.Boolean(load_default=False)


class OfferIn(ma.Schema):
    """Which task (its owner asked for the rest) and, maybe, which volunteer.

    The task's needs, DBS level, person, place and district are the owner's
    to say (``task_details``): a body naming them is refused as unknown fields.
    """

    owner = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={
        "description": "The plugin that owns the task, e.g. hub_requests."})
    owner_id = fields.String(required=True, validate=validate.Length(min=1, max=60), metadata={
        "description": "The task's id in its owner plugin, e.g. a help request's id."})
    volunteer_id = Id(load_default=None, allow_none=True, metadata={
        "description": "Offer to this volunteer (if eligible); omit for the best candidate."})


class OfferOut(ma.Schema):
    id = fields.Integer()
    task = fields.Dict()
    volunteer_id = fields.Integer()
    volunteer_name = fields.Method("get_volunteer_name")
    status = fields.String()
    score = fields.Float()
    overflow = fields.Boolean()
    offered_at = fields.DateTime()
    expires_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)

    def get_volunteer_name(self, obj) -> str:
        return obj.volunteer.name


class OfferQuery(ma.Schema):
    owner = fields.String(required=True, validate=validate.Length(min=1, max=40))
    owner_id = fields.String(required=True, validate=validate.Length(min=1, max=60))


class DeclineOut(ma.Schema):
    declined = fields.Nested(OfferOut)
    next_offer_made = fields.Boolean()


class AssignmentOut(ma.Schema):
    id = fields.Integer()
    task = fields.Dict()
    volunteer_id = fields.Integer()
    offer_id = fields.Integer(allow_none=True)
    status = fields.String()
    assigned_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    hours = fields.Float(allow_none=True)
    release_reason = fields.String(allow_none=True)


class CompleteIn(ma.Schema):
    hours = fields.Float(required=True, validate=validate.Range(min=0, max=24, min_inclusive=False))


class ReleaseIn(ma.Schema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=500))


class HoursQuery(ma.Schema):
    days = fields.Integer(load_default=28, validate=validate.Range(1, 366))


class HoursRowOut(ma.Schema):
    volunteer_id = fields.Integer()
    name = fields.String()
    district = fields.String()
    status = fields.String()
    tasks = fields.Integer()
    hours = fields.Float()
    tasks_this_week = fields.Integer()
    weekly_cap = fields.Integer()
    use = fields.String(metadata={"description": "over, under or usual"})


class HoursOut(ma.Schema):
    since = fields.DateTime()
    districts = fields.Dict(keys=fields.String(), values=fields.Float())
    volunteers = fields.List(fields.Nested(HoursRowOut))


class BatchIn(ma.Schema):
    tasks = fields.List(fields.Nested(TaskIn), required=True,
                        validate=validate.Length(min=1, max=1000))


class ScoreComponentOut(ma.Schema):
    name = fields.String()
    points = fields.Float()
    reason = fields.String()


class CandidateOut(ma.Schema):
    helper_id = fields.String()
    display_name = fields.String()
    score = fields.Float()
    distance_km = fields.Float(allow_none=True)
    overflow = fields.Boolean()
    breakdown = fields.List(fields.Nested(ScoreComponentOut))


class ProposalOut(ma.Schema):
    owner = fields.String()
    owner_id = fields.String()
    candidate = fields.Nested(CandidateOut, allow_none=True)

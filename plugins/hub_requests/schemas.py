"""API shapes of the hub requests plugin (marshmallow, at the boundary only)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hubcore.api import PageArgs
from hubcore.inputs import FreeText, Postcode

from .models import (
    CALL_OUTCOMES,
    CHANNELS,
    CIRCUMSTANCES,
    DESCRIPTION_MAX,
    NEEDS,
    NOTE_MAX,
    OUTCOMES,
    PRIORITIES,
    REASON_MAX,
    RECURRENCES,
    STATUSES,
    URGENCIES,
)

_NAME = validate.Length(max=100)


class HelpRequestSubmitIn(ma.Schema):
    """A request for help, from a resident or a client acting for one."""

    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(load_default="", validate=_NAME)
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=254))
    postcode = Postcode(required=True, validate=validate.Length(min=1, max=10))
    address = FreeText(load_default="", validate=validate.Length(max=300))
    needs = fields.List(fields.String(validate=validate.OneOf(list(NEEDS))), required=True,
                        validate=validate.Length(min=1, max=len(NEEDS)))
    circumstances = fields.List(fields.String(validate=validate.OneOf(list(CIRCUMSTANCES))),
                                load_default=list,
                                validate=validate.Length(max=len(CIRCUMSTANCES)))
    urgency = fields.String(required=True, validate=validate.OneOf(list(URGENCIES)))
    description = FreeText(load_default="", validate=validate.Length(max=DESCRIPTION_MAX))
    recurrence = fields.String(load_default="none", validate=validate.OneOf(list(RECURRENCES)))
    consent = fields.Boolean(required=True, metadata={
        "description": "The person agrees that the hub may use these details to arrange "
                       "help. Must be true; for phone intake, the consent given verbally."})
    channel = fields.String(load_default="api", validate=validate.OneOf(
        [c for c in CHANNELS if c != "web"]), metadata={
        "description": "'phone' when a signed-in coordinator takes the request for someone."})


class HelpRequestHubContactOut(ma.Schema):
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    district = fields.String()
    district_name = fields.String()


class HelpRequestReceiptOut(ma.Schema):
    """What the person (or the client acting for them) is told on submitting."""

    reference = fields.String(metadata={
        "description": "What the resident quotes to the hub, e.g. BOL-7K3Q: random, not "
                       "a sequence."})
    status = fields.String()
    district = fields.String()
    hub = fields.Nested(HelpRequestHubContactOut)
    next_steps = fields.String()
    id = fields.Integer(metadata={
        "description": "Only for a signed-in caller who may read the request (a "
                       "coordinator of its district); an anonymous caller gets none."})


class HelpRequestPersonOut(ma.Schema):
    id = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    record_elsewhere = fields.Boolean(metadata={
        "description": "The person's record is held by another district: only their name "
                       "and the details given with this request are shown."})


class HelpRequestLinkOut(ma.Schema):
    id = fields.Integer()
    reference = fields.String()


class HelpRequestElsewhereOut(ma.Schema):
    """Another hub holds a linked request: which hub, and nothing of its resident."""

    district = fields.String()
    district_name = fields.String()


class HelpRequestGivenDetailsOut(ma.Schema):
    """Details given with the request that differ from the person's record."""

    postcode = fields.String()
    address = fields.String()
    phone = fields.String()
    email = fields.String()


class GivenDetailsDecisionIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("apply", "keep_record")),
                             metadata={"description": "apply: change the person's record to "
                                       "the details given; keep_record: leave it as it is."})


class OutcomeIn(ma.Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(list(OUTCOMES)))
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=NOTE_MAX - 100))


class DuplicateConfirmIn(ma.Schema):
    other_hub_agreed = fields.Boolean(load_default=False, metadata={
        "description": "Required when the original is held by another hub: you have agreed "
                       "with that hub that this is the same need."})


class HelpRequestOut(ma.Schema):
    id = fields.Integer()
    reference = fields.String()
    district = fields.String(attribute="district_code")
    overflow_district = fields.String(attribute="overflow_district_code", allow_none=True)
    person = fields.Nested(HelpRequestPersonOut, allow_none=True)
    needs = fields.List(fields.String())
    circumstances = fields.List(fields.String())
    urgency = fields.String()
    description = fields.String()
    recurrence = fields.String()
    priority = fields.String()
    score = fields.Integer()
    effective_score = fields.Float()
    due_at = fields.AwareDateTime()
    overdue = fields.Boolean()
    reason = fields.String()
    rules_version = fields.String()
    priority_override_reason = fields.String(allow_none=True)
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    allowed_transitions = fields.List(fields.String())
    escalated = fields.Boolean()
    escalation_reason = fields.String(allow_none=True)
    duplicate_of = fields.Nested(HelpRequestLinkOut, allow_none=True)
    duplicate_elsewhere = fields.Nested(HelpRequestElsewhereOut, allow_none=True, metadata={
        "description": "The possible original is held by another hub (then duplicate_of is null)."})
    duplicates_elsewhere = fields.List(fields.Nested(HelpRequestElsewhereOut), metadata={
        "description": "Hubs holding a possible duplicate of this request (one request read "
                       "only)."})
    given_details = fields.Nested(HelpRequestGivenDetailsOut, allow_none=True)
    duplicate_state = fields.String(allow_none=True)
    duplicate_reason = fields.String(allow_none=True)
    channel = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    taken_by_id = fields.Integer(allow_none=True)
    helper_id = fields.String(allow_none=True)
    helper_name = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"enum": list(OUTCOMES)})
    outcome_at = fields.AwareDateTime(allow_none=True)
    version = fields.Integer()


class HelpRequestQueueQuery(PageArgs):
    district = fields.String(load_default=None, validate=validate.Length(equal=9))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    overdue = fields.Boolean(load_default=None)
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))
    reference = fields.String(load_default=None, validate=validate.Length(max=12))


class HelpRequestPatch(ma.Schema):
    needs = fields.List(fields.String(validate=validate.OneOf(list(NEEDS))),
                        validate=validate.Length(min=1, max=len(NEEDS)))
    circumstances = fields.List(fields.String(validate=validate.OneOf(list(CIRCUMSTANCES))),
                                validate=validate.Length(max=len(CIRCUMSTANCES)))
    urgency = fields.String(validate=validate.OneOf(list(URGENCIES)))
    description = FreeText(validate=validate.Length(max=DESCRIPTION_MAX))
    recurrence = fields.String(validate=validate.OneOf(list(RECURRENCES)))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    priority_reason = fields.String(validate=validate.Length(max=REASON_MAX))
    escalated = fields.Boolean()
    escalation_reason = fields.String(validate=validate.Length(max=REASON_MAX))
    overflow_district = fields.String(allow_none=True, validate=validate.Length(equal=9))


class HelpRequestTransitionIn(ma.Schema):
    to = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=REASON_MAX))


class DuplicateDismissIn(ma.Schema):
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=REASON_MAX))


class CaseNoteIn(ma.Schema):
    body = FreeText(required=True, validate=validate.Length(min=1, max=NOTE_MAX))


class CaseNoteOut(ma.Schema):
    id = fields.Integer()
    body = fields.String()
    author = fields.Function(lambda n: n.author.name if n.author else None)
    created_at = fields.AwareDateTime()


class CallAttemptIn(ma.Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(list(CALL_OUTCOMES)))
    notes = FreeText(load_default="", validate=validate.Length(max=NOTE_MAX))
    called_at = fields.AwareDateTime(load_default=None, allow_none=True)


class CallAttemptOut(ma.Schema):
    id = fields.Integer()
    outcome = fields.String()
    notes = fields.String()
    caller = fields.Function(lambda c: c.caller.name if c.caller else None)
    called_at = fields.AwareDateTime()


class HelpRequestStatusChangeOut(ma.Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String(allow_none=True)
    actor = fields.Function(lambda s: s.actor.name if s.actor else "system")
    at = fields.AwareDateTime()


class HelpRequestHelperScoreOut(ma.Schema):
    name = fields.String()
    points = fields.Float()
    reason = fields.String()


class HelpRequestHelperOut(ma.Schema):
    helper_id = fields.String()
    display_name = fields.String()
    score = fields.Float()
    distance_km = fields.Float(allow_none=True)
    breakdown = fields.List(fields.Nested(HelpRequestHelperScoreOut))
    overflow = fields.Boolean()
    source = fields.String()
    # Where a page may POST an offer of the task to this helper (find_helpers).
    offer_url = fields.String(allow_none=True)


class HelpRequestHelpersOut(ma.Schema):
    items = fields.List(fields.Nested(HelpRequestHelperOut))
    note = fields.String(allow_none=True)


class HelpRequestHelpersQuery(ma.Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class HelpRequestServiceOut(ma.Schema):
    service_id = fields.String()
    service_name = fields.String()
    organisation_name = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String())
    source = fields.String()


class HelpRequestServiceRoutesOut(ma.Schema):
    need = fields.String()
    services = fields.List(fields.Nested(HelpRequestServiceOut))

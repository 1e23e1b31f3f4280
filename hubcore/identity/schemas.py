"""marshmallow schemas of the identity API (the API boundary only)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from hubcore.api import PageArgs
from hubcore.inputs import FreeText, Id, Postcode, Secret
from hubcore.identity.models import CONSENT_METHODS, ORGANISATION_KINDS


class TokenRequestSchema(ma.Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = Secret(required=True, load_only=True,
                             validate=validate.Length(min=1, max=1024))
    name = fields.String(load_default="api", validate=validate.Length(min=1, max=100))


class TokenSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    token = fields.String(dump_only=True, metadata={"description": "Shown once."})
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class MembershipSchema(ma.Schema):
    organisation_id = fields.Integer()
    organisation_name = fields.Function(lambda m: m.organisation.name)
    role = fields.String()
    districts = fields.Function(lambda m: m.organisation.district_codes)


class AccountSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = Secret(load_only=True, validate=validate.Length(min=12, max=1024))
    is_admin = fields.Boolean(load_default=False)
    active = fields.Boolean(dump_only=True)
    memberships = fields.List(fields.Nested(MembershipSchema), dump_only=True)
    invitation_sent = fields.Boolean(dump_only=True, metadata={
        "description": "Only in the answer to a create: true when the account has no "
                       "password and an invitation to set one was emailed."})


class InvitationSchema(ma.Schema):
    account_id = fields.Integer(dump_only=True)
    invitation_sent = fields.Boolean(dump_only=True)
    expires_at = fields.DateTime(dump_only=True,
                                 metadata={"description": "When the emailed link stops working."})


class MemberAddSchema(ma.Schema):
    account_id = Id(required=True)
    role = fields.String(required=True, validate=validate.Length(min=1, max=40))


class OrganisationSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(ORGANISATION_KINDS))
    districts = fields.List(fields.String(validate=validate.Length(equal=9)), required=True,
                            validate=validate.Length(min=1, max=50),
                            attribute="district_codes")
    contact_email = fields.Email(load_default=None, allow_none=True)
    contact_phone = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Length(max=40))


class OrganisationUpdateSchema(OrganisationSchema):
    class Meta:
        exclude = ("kind",)


class ConsentSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(required=True, validate=validate.Length(min=1, max=300))
    method = fields.String(required=True, validate=validate.OneOf(CONSENT_METHODS))
    recorded_by_id = fields.Integer(dump_only=True, allow_none=True)
    given_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)
    withdrawn_at = fields.DateTime(dump_only=True, allow_none=True)


class PersonSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(load_default="", validate=validate.Length(max=100))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=254))
    address = FreeText(load_default=None, allow_none=True, validate=validate.Length(max=300))
    postcode = Postcode(load_default=None, allow_none=True, validate=validate.Length(max=16))
    district_code = fields.String(load_default=None, allow_none=True, data_key="district",
                                  validate=validate.Length(equal=9))
    date_of_birth = fields.Date(load_default=None, allow_none=True)
    consents = fields.List(fields.Nested(ConsentSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class PersonCreateSchema(PersonSchema):
    consent = fields.Nested(ConsentSchema, load_default=None, allow_none=True)


class PersonMergeSchema(ma.Schema):
    duplicate_id = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=1, max=2**31 - 1), metadata={
                                      "description": "The other record of the same person: "
                                      "it is merged into this one and then resolves to it."})


class PersonQuerySchema(PageArgs):
    district = fields.String(load_default=None, validate=validate.Length(equal=9))
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=100))

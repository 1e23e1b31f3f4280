"""Identity API: tokens, accounts, organisations, people and consent.

Thin views: load → domain function → dump. Every read and write is checked
with district scope; a person outside the caller's districts reads as 404.
"""

from __future__ import annotations

import sqlalchemy as sa
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
from hubcore.db import db
from hubcore.errors import InvalidInput, NotFound
from hubcore.identity import accounts, people
from hubcore.identity.models import Account, Organisation, Person
from hubcore.identity.permissions import ALL_DISTRICTS, districts_for, require, require_record
from hubcore.identity.schemas import (
    AccountSchema,
    ConsentSchema,
    InvitationSchema,
    MemberAddSchema,
    OrganisationSchema,
    OrganisationUpdateSchema,
    PersonCreateSchema,
    PersonMergeSchema,
    PersonQuerySchema,
    PersonSchema,
    TokenRequestSchema,
    TokenSchema,
)
from hubcore.web.security import login_limit

identity_api = Blueprint("identity_api", __name__, url_prefix="/api/v1")
TAGS = ("identity",)


def _me() -> Account:
    if not current_user.is_authenticated:
        from hubcore.errors import Unauthorised

        raise Unauthorised("Sign in, or send a bearer token from POST /api/v1/tokens.")
    return current_user._get_current_object()


# -- Tokens ------------------------------------------------------------------------


@identity_api.post("/tokens")
@login_limit()
@operation(summary="Issue a bearer token from email and password", tags=TAGS,
           body=TokenRequestSchema, response=TokenSchema, status=201, public=True,
           errors=(401, 429))
def issue_token():
    data = load(TokenRequestSchema())
    account = accounts.authenticate(data["email"], data["password"])
    token, secret = accounts.issue_token(account, name=data["name"])
    db.session.commit()
    body = TokenSchema().dump(token) | {"token": secret}
    return json_response(body, 201)


@identity_api.get("/tokens")
@operation(summary="List your tokens", tags=TAGS, response=TokenSchema, many=True)
def list_tokens():
    return json_response(TokenSchema(many=True).dump(accounts.tokens_of(_me())))


@identity_api.delete("/tokens/current")
@operation(summary="Revoke the token this request uses", tags=TAGS, status=204,
           errors=(404,))
def revoke_current_token():
    me = _me()
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer":
        raise NotFound("This request does not use a bearer token.")
    accounts.revoke_token_by_secret(secret.strip(), me)
    db.session.commit()
    return "", 204


@identity_api.delete("/tokens/<id:token_id>")
@operation(summary="Revoke one of your tokens", tags=TAGS, status=204, errors=(404,))
def revoke_token(token_id: int):
    accounts.revoke_token(_me(), token_id)
    db.session.commit()
    return "", 204


@identity_api.get("/me")
@operation(summary="The signed-in account, its roles and districts", tags=TAGS,
           response=AccountSchema)
def me():
    return json_response(AccountSchema().dump(_me()))


# -- Accounts and organisations (administrators) ---------------------------------


@identity_api.post("/accounts")
@operation(summary="Create an account (without a password: an invitation is emailed)",
           tags=TAGS, body=AccountSchema, response=AccountSchema, status=201, errors=(409,))
def create_account():
    require(current_user, "accounts.manage")
    data = load(AccountSchema())
    account = accounts.create_account(email=data["email"], name=data["name"],
                                      password=data.get("password"),
                                      is_admin=data["is_admin"], actor=current_user)
    invited = account.password_hash is None
    if invited:
        accounts.invite_account(account, actor=current_user)
    db.session.commit()
    return json_response(AccountSchema().dump(account) | {"invitation_sent": invited}, 201,
                         etag=etag_for("account", account.id, account.version),
                         headers={"Location": url_for(".get_account", account_id=account.id)})


@identity_api.get("/accounts/<id:account_id>")
@operation(summary="Read an account", tags=TAGS, response=AccountSchema, errors=(404,))
def get_account(account_id: int):
    me = _me()
    if me.id != account_id:
        require(me, "accounts.manage")
    account = db.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    return json_response(AccountSchema().dump(account),
                         etag=etag_for("account", account.id, account.version))


@identity_api.post("/accounts/<id:account_id>/invite")
@operation(summary="Email an account without a password a new link to set one", tags=TAGS,
           response=InvitationSchema, status=202, errors=(404, 409))
def invite_account(account_id: int):
    require(current_user, "accounts.manage")
    account = db.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    expires_at = accounts.invite_account(account, actor=current_user)
    db.session.commit()
    return json_response(InvitationSchema().dump(
        {"account_id": account.id, "invitation_sent": True, "expires_at": expires_at}), 202)


def _switch(account_id: int, active: bool):
    require(current_user, "accounts.manage")
    account = db.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    accounts.set_active(account, active, actor=current_user._get_current_object())
    db.session.commit()
    return json_response(AccountSchema().dump(account),
                         etag=etag_for("account", account.id, account.version))


@identity_api.post("/accounts/<id:account_id>/disable")
@operation(summary="Switch an account off: its sessions and tokens stop working at once",
           tags=TAGS, response=AccountSchema, errors=(404, 409))
def disable_account(account_id: int):
    return _switch(account_id, False)


@identity_api.post("/accounts/<id:account_id>/enable")
@operation(summary="Switch an account on again (it signs in afresh)", tags=TAGS,
           response=AccountSchema, errors=(404,))
def enable_account(account_id: int):
    return _switch(account_id, True)


@identity_api.get("/organisations")
@operation(summary="List organisations", tags=TAGS, response=OrganisationSchema, paged=True)
def list_organisations():
    _me()
    page = paginate(sa.select(Organisation).order_by(Organisation.name))
    return json_response(page.body(OrganisationSchema(many=True).dump(page.items)))


@identity_api.post("/organisations")
@operation(summary="Create an organisation", tags=TAGS, body=OrganisationSchema,
           response=OrganisationSchema, status=201, errors=(409,))
def create_organisation():
    require(current_user, "organisations.manage")
    data = load(OrganisationSchema())
    organisation = accounts.create_organisation(
        name=data["name"], kind=data["kind"], districts=data["district_codes"],
        contact_email=data["contact_email"], contact_phone=data["contact_phone"],
        actor=current_user)
    db.session.commit()
    return json_response(
        OrganisationSchema().dump(organisation), 201,
        etag=etag_for("organisation", organisation.id, organisation.version),
        headers={"Location": url_for(".get_organisation", organisation_id=organisation.id)})


@identity_api.get("/organisations/<id:organisation_id>")
@operation(summary="Read an organisation", tags=TAGS, response=OrganisationSchema,
           errors=(404,))
def get_organisation(organisation_id: int):
    _me()
    organisation = accounts.get_organisation(organisation_id)
    return json_response(OrganisationSchema().dump(organisation),
                         etag=etag_for("organisation", organisation.id, organisation.version))


@identity_api.patch("/organisations/<id:organisation_id>")
@operation(summary="Change an organisation (send If-Match)", tags=TAGS,
           body=OrganisationUpdateSchema, response=OrganisationSchema,
           errors=(404, 409), if_match="required")
def update_organisation(organisation_id: int):
    require(current_user, "organisations.manage")
    organisation = accounts.get_organisation(organisation_id)
    check_if_match(etag_for("organisation", organisation.id, organisation.version))
    data = load(OrganisationUpdateSchema(), partial=True)
    if "district_codes" in data:
        data["districts"] = data.pop("district_codes")
    accounts.update_organisation(organisation, data, actor=current_user)
    db.session.commit()
    return json_response(OrganisationSchema().dump(organisation),
                         etag=etag_for("organisation", organisation.id, organisation.version))


@identity_api.post("/organisations/<id:organisation_id>/members")
@operation(summary="Give an account a role through an organisation", tags=TAGS,
           body=MemberAddSchema, response=AccountSchema, status=201, errors=(404,))
def add_member(organisation_id: int):
    require(current_user, "accounts.manage")
    organisation = accounts.get_organisation(organisation_id)
    data = load(MemberAddSchema())
    account = db.session.get(Account, data["account_id"])
    if account is None:
        raise InvalidInput("No such account.", fields={"account_id": ["No such account."]})
    accounts.add_membership(account, organisation, data["role"], actor=current_user)
    db.session.commit()
    return json_response(AccountSchema().dump(account), 201)


# -- People and consent ------------------------------------------------------------


def _person_in_scope(person_id: int, permission: str) -> Person:
    """The person (a merged record resolves to its survivor), within the caller's scope."""
    me = _me()
    try:
        person = people.get_person(person_id)
    except NotFound:
        person = None
    if person is None or person.erased_at is not None:
        require(me, permission)
        raise NotFound("No such person.")
    require_record(me, permission, person.district_code)
    return person


def _person_response(person: Person, status: int = 200, **headers):
    return json_response(PersonSchema().dump(person), status,
                         etag=etag_for("person", person.id, person.version), headers=headers)


@identity_api.post("/people")
@idempotent
@operation(summary="Record a person (resident) a case is about", tags=TAGS,
           body=PersonCreateSchema, response=PersonSchema, status=201)
def create_person():
    me = _me()
    require(me, "people.write")
    data = load(PersonCreateSchema())
    consent = data.pop("consent")
    if not data.get("postcode") and not data.get("district_code"):
        # A person belongs to a district its creator holds; with none, nobody could read it.
        raise InvalidInput("Enter the person's postcode, or choose their district.",
                           fields={"postcode": ["Enter the person's postcode, like BL1 1AA, "
                                                "or choose their district."]})
    person = people.create_person(data, actor=me)
    require(me, "people.write", person.district_code)
    if consent:
        people.record_consent(person, recorded_by=me, **consent)
    db.session.flush()
    return _person_response(person, 201,
                            Location=url_for(".get_person", person_id=person.id))


@identity_api.get("/people")
@operation(summary="List people in your districts", tags=TAGS, query=PersonQuerySchema,
           response=PersonSchema, paged=True)
def list_people():
    me = _me()
    require(me, "people.read")
    args = load(PersonQuerySchema(), request.args.to_dict())
    held = districts_for(me, "people.read")
    statement = sa.select(Person).where(Person.erased_at.is_(None))
    if args["district"]:
        if args["district"] not in held:
            require(me, "people.read", args["district"])
        statement = statement.where(Person.district_code == args["district"])
    elif held is not ALL_DISTRICTS:
        statement = statement.where(Person.district_code.in_(sorted(held)))
    if args["q"]:
        statement = statement.where(Person.name_key.contains(people.name_key(args["q"])))
    page = paginate(statement.order_by(Person.id), args)
    return json_response(page.body(PersonSchema(many=True).dump(page.items)))


@identity_api.get("/people/<id:person_id>")
@operation(summary="Read a person", tags=TAGS, response=PersonSchema, errors=(404,))
def get_person(person_id: int):
    return _person_response(_person_in_scope(person_id, "people.read"))


@identity_api.patch("/people/<id:person_id>")
@operation(summary="Change a person's details (send If-Match)", tags=TAGS,
           body=PersonSchema, response=PersonSchema, errors=(404,),
           if_match="required")
def update_person(person_id: int):
    person = _person_in_scope(person_id, "people.write")
    check_if_match(etag_for("person", person.id, person.version))
    changes = load(PersonSchema(), partial=True)
    people.update_person(person, changes, actor=current_user)
    require(current_user, "people.write", person.district_code)  # may not move it out of scope
    db.session.commit()
    return _person_response(person)


@identity_api.post("/people/<id:person_id>/merge")
@operation(summary="Merge another record of the same person into this one (send If-Match)",
           tags=TAGS, body=PersonMergeSchema, response=PersonSchema, errors=(404, 409),
           if_match="required")
def merge_person(person_id: int):
    survivor = _person_in_scope(person_id, "people.write")
    check_if_match(etag_for("person", survivor.id, survivor.version))
    data = load(PersonMergeSchema())
    duplicate = db.session.get(Person, data["duplicate_id"])
    if duplicate is None or duplicate.erased_at is not None or duplicate.merged_into_id:
        raise NotFound("No such person to merge.")
    require_record(current_user, "people.write", duplicate.district_code)
    people.merge_people(survivor, duplicate, actor=current_user)
    db.session.commit()
    return _person_response(survivor)


@identity_api.post("/people/<id:person_id>/consents")
@operation(summary="Record consent given by the person", tags=TAGS, body=ConsentSchema,
           response=ConsentSchema, status=201, errors=(404,))
def record_consent(person_id: int):
    person = _person_in_scope(person_id, "people.write")
    data = load(ConsentSchema())
    consent = people.record_consent(person, recorded_by=current_user, **data)
    db.session.commit()
    return json_response(ConsentSchema().dump(consent), 201)


@identity_api.post("/people/<id:person_id>/consents/<id:consent_id>/withdraw")
@operation(summary="Withdraw a consent (kept, marked withdrawn)", tags=TAGS,
           response=ConsentSchema, errors=(404,))
def withdraw_consent(person_id: int, consent_id: int):
    person = _person_in_scope(person_id, "people.write")
    consent = people.withdraw_consent(person, consent_id, actor=current_user)
    db.session.commit()
    return json_response(ConsentSchema().dump(consent))


@identity_api.get("/people/<id:person_id>/export")
@operation(summary="Subject access export: everything held on the person", tags=TAGS,
           errors=(404,))
def export_person(person_id: int):
    person = _person_in_scope(person_id, "people.export")
    body = people.export_person(person, actor=current_user)
    db.session.commit()
    return json_response(body, headers={
        "Content-Disposition": f'attachment; filename="person-{person.id}.json"'})


@identity_api.delete("/people/<id:person_id>")
@operation(summary="Erase the person's personal data (audit chain kept)", tags=TAGS,
           status=200, errors=(404,))
def erase_person(person_id: int):
    person = _person_in_scope(person_id, "people.erase")
    counts = people.erase_person(person, actor=current_user)
    db.session.commit()
    return json_response({"erased": True, "records": counts})

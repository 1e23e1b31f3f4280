"""Tokens, accounts, organisations, people and consent through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore import audit
from hubcore.db import utcnow
from hubcore.identity.models import Account, ApiToken, Consent, Organisation, Person
from tests.conftest import BOLTON, PASSWORD, WIGAN

PROBLEM = "application/problem+json"


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


# -- Tokens ------------------------------------------------------------------------


def test_token_is_issued_for_right_credentials_and_identifies_the_account(client, make_account):
    account = make_account("coordinator")
    response = client.post("/api/v1/tokens", json={"email": account.email.upper(),
                                                   "password": PASSWORD, "name": "laptop"})
    assert response.status_code == 201
    secret = response.json["token"]
    assert secret.startswith("hc_") and response.json["name"] == "laptop"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json["email"] == account.email
    assert me.json["memberships"][0]["districts"] == [BOLTON]


def test_wrong_password_gets_401_problem_and_issues_nothing(client, db, make_account):
    account = make_account("coordinator")
    before = count(db, ApiToken)
    response = client.post("/api/v1/tokens", json={"email": account.email, "password": "nope"})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.json["detail"] == "Email address or password is not right."
    assert count(db, ApiToken) == before


def test_token_request_missing_fields_gets_422_per_field(client):
    response = client.post("/api/v1/tokens", json={"email": "a@example.org", "extra": 1})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"password", "extra"}


def test_revoked_token_no_longer_works(as_role):
    actor = as_role("coordinator", BOLTON)
    assert actor.client.get("/api/v1/me").status_code == 200
    assert actor.client.delete("/api/v1/tokens/current").status_code == 204
    response = actor.client.get("/api/v1/me")
    assert response.status_code == 401 and response.mimetype == PROBLEM


def test_expired_token_is_refused(as_role, db):
    actor = as_role("coordinator", BOLTON)
    token = db.session.execute(sa.select(ApiToken)).scalars().all()[-1]
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert actor.client.get("/api/v1/me").status_code == 401


def test_a_token_cannot_revoke_someone_elses_token(as_role, db):
    alice, bob = as_role("coordinator", BOLTON), as_role("coordinator", BOLTON)
    bobs = db.session.execute(
        sa.select(ApiToken).where(ApiToken.account_id == bob.account.id)).scalar_one()
    assert alice.client.delete(f"/api/v1/tokens/{bobs.id}").status_code == 404
    assert bob.client.get("/api/v1/me").status_code == 200


def test_token_list_never_shows_secrets(as_role):
    actor = as_role("coordinator", BOLTON)
    listed = actor.client.get("/api/v1/tokens").json
    assert len(listed) == 1 and "token" not in listed[0]


# -- Accounts and organisations -------------------------------------------------------


def test_admin_creates_account_and_duplicate_is_409(admin, db):
    body = {"email": "new@example.org", "name": "New Person", "password": "a long password 1"}
    created = admin.client.post("/api/v1/accounts", json=body)
    assert created.status_code == 201 and created.headers["Location"].endswith(
        f"/accounts/{created.json['id']}")
    again = admin.client.post("/api/v1/accounts", json=body)
    assert again.status_code == 409 and again.mimetype == PROBLEM


def test_short_password_is_refused_and_no_account_created(admin, db):
    before = count(db, Account)
    response = admin.client.post("/api/v1/accounts", json={
        "email": "short@example.org", "name": "Short", "password": "tiny"})
    assert response.status_code == 422 and "password" in response.json["errors"]
    assert count(db, Account) == before


def test_coordinator_cannot_create_accounts_or_organisations(as_role, db):
    actor = as_role("coordinator", BOLTON)
    assert actor.client.post("/api/v1/accounts", json={
        "email": "x@example.org", "name": "X"}).status_code == 403
    before = count(db, Organisation)
    assert actor.client.post("/api/v1/organisations", json={
        "name": "Rogue", "kind": "hub", "districts": [BOLTON]}).status_code == 403
    assert count(db, Organisation) == before


def test_anonymous_gets_401_on_protected_endpoints(client):
    for method, url in (("get", "/api/v1/me"), ("get", "/api/v1/people"),
                        ("post", "/api/v1/organisations"), ("get", "/api/v1/tokens")):
        response = getattr(client, method)(url, json={} if method == "post" else None)
        assert response.status_code == 401, url
        assert response.mimetype == PROBLEM


def test_organisation_with_unknown_district_is_refused(admin, db):
    response = admin.client.post("/api/v1/organisations", json={
        "name": "Nowhere Hub", "kind": "hub", "districts": ["E99999999"]})
    assert response.status_code == 422 and "districts" in response.json["errors"]
    assert db.session.execute(sa.select(Organisation).where(
        Organisation.name == "Nowhere Hub")).first() is None


def test_organisation_update_needs_current_etag(admin):
    created = admin.client.post("/api/v1/organisations", json={
        "name": "Bolton Hub", "kind": "hub", "districts": [BOLTON]})
    etag = created.headers["ETag"]
    url = f"/api/v1/organisations/{created.json['id']}"
    assert admin.client.patch(url, json={"name": "Renamed"}).status_code == 428
    first = admin.client.patch(url, json={"name": "Bolton Community Hub"},
                               headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    stale = admin.client.patch(url, json={"name": "Lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.mimetype == PROBLEM
    assert admin.client.get(url).json["name"] == "Bolton Community Hub"


def test_admin_gives_a_role_and_unknown_role_is_refused(admin, make_account):
    org = admin.client.post("/api/v1/organisations", json={
        "name": "Wigan Hub", "kind": "hub", "districts": [WIGAN]}).json
    account = make_account(None)
    bad = admin.client.post(f"/api/v1/organisations/{org['id']}/members",
                            json={"account_id": account.id, "role": "overlord"})
    assert bad.status_code == 422 and "role" in bad.json["errors"]
    good = admin.client.post(f"/api/v1/organisations/{org['id']}/members",
                             json={"account_id": account.id, "role": "coordinator"})
    assert good.status_code == 201
    assert good.json["memberships"][0]["districts"] == [WIGAN]


# -- People -------------------------------------------------------------------------


def new_person(actor, **overrides):
    body = {"given_name": "Margaret", "family_name": "Holt", "phone": "07700 900123",
            "postcode": "bl1 1aa", "consent": {"purpose": "help_request",
                                               "scope": "Bolton Community Hub",
                                               "method": "verbal"}}
    body.update(overrides)
    return actor.client.post("/api/v1/people", json=body)


def test_coordinator_records_person_whose_postcode_sets_the_district(as_role):
    actor = as_role("coordinator", BOLTON)
    response = new_person(actor)
    assert response.status_code == 201, response.json
    person = response.json
    assert person["district"] == BOLTON
    assert person["postcode"] == "BL1 1AA"
    assert person["phone"] == "+447700900123"
    assert person["consents"][0]["method"] == "verbal"
    assert person["consents"][0]["recorded_by_id"] == actor.account.id
    assert "ETag" in response.headers


def test_bolton_coordinator_cannot_record_a_wigan_resident(as_role, db):
    actor = as_role("coordinator", BOLTON)
    before = count(db, Person)
    response = new_person(actor, postcode="WN1 1AA")
    assert response.status_code == 403
    assert count(db, Person) == before


def test_bolton_coordinator_cannot_read_wigan_person(as_role):
    wigan = as_role("coordinator", WIGAN)
    bolton = as_role("coordinator", BOLTON)
    person_id = new_person(wigan, postcode="WN1 1AA").json["id"]
    assert bolton.client.get(f"/api/v1/people/{person_id}").status_code == 404
    assert wigan.client.get(f"/api/v1/people/{person_id}").status_code == 200
    listed = bolton.client.get("/api/v1/people").json
    assert listed["total"] == 0
    assert bolton.client.get(f"/api/v1/people?district={WIGAN}").status_code == 403


def test_invalid_person_details_get_a_message_per_field_and_nothing_is_stored(as_role, db):
    actor = as_role("coordinator", BOLTON)
    before = count(db, Person)
    response = new_person(actor, phone="12", postcode="not a postcode", email="nobody")
    assert response.status_code == 422
    assert {"phone", "postcode", "email"} <= set(response.json["errors"])
    assert count(db, Person) == before


def test_oversize_and_unknown_fields_are_refused(as_role):
    actor = as_role("coordinator", BOLTON)
    response = new_person(actor, given_name="x" * 101, favourite_colour="blue")
    assert response.status_code == 422
    assert {"given_name", "favourite_colour"} <= set(response.json["errors"])


def test_verbal_consent_needs_nothing_more_but_bad_method_is_refused(as_role):
    actor = as_role("coordinator", BOLTON)
    response = new_person(actor, consent={"purpose": "x", "scope": "y", "method": "telepathy"})
    assert response.status_code == 422 and "consent" in response.json["errors"]


def test_person_update_is_refused_when_stale(as_role):
    actor = as_role("coordinator", BOLTON)
    created = new_person(actor)
    url = f"/api/v1/people/{created.json['id']}"
    etag = created.headers["ETag"]
    ok = actor.client.patch(url, json={"phone": "0161 496 0000"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json["phone"] == "+441614960000"
    stale = actor.client.patch(url, json={"phone": "07700 900999"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert actor.client.get(url).json["phone"] == "+441614960000"


def test_coordinator_cannot_move_a_person_out_of_their_districts(as_role):
    actor = as_role("coordinator", BOLTON)
    created = new_person(actor)
    url = f"/api/v1/people/{created.json['id']}"
    moved = actor.client.patch(url, json={"postcode": "WN1 1AA"},
                               headers={"If-Match": created.headers["ETag"]})
    assert moved.status_code == 403
    assert actor.client.get(url).json["district"] == BOLTON


def test_consent_is_withdrawn_not_deleted(as_role, db):
    actor = as_role("coordinator", BOLTON)
    person = new_person(actor).json
    consent_id = person["consents"][0]["id"]
    response = actor.client.post(
        f"/api/v1/people/{person['id']}/consents/{consent_id}/withdraw")
    assert response.status_code == 200 and response.json["withdrawn_at"]
    assert db.session.get(Consent, consent_id) is not None


def test_idempotent_create_makes_one_person(as_role, db):
    actor = as_role("coordinator", BOLTON)
    headers = {"Idempotency-Key": "person-create-0001"}
    body = {"given_name": "Asha", "postcode": "BL2 1AA"}
    first = actor.client.post("/api/v1/people", json=body, headers=headers)
    second = actor.client.post("/api/v1/people", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(db, Person) == 1
    other = actor.client.post("/api/v1/people", json={**body, "given_name": "Ben"},
                              headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]
    assert count(db, Person) == 1


def test_subject_access_export_holds_details_and_consents(as_role):
    actor = as_role("coordinator", BOLTON)
    person = new_person(actor).json
    export = actor.client.get(f"/api/v1/people/{person['id']}/export")
    assert export.status_code == 200
    core = export.json["sections"][0]
    assert core["source"] == "hubcore"
    assert core["records"][0]["phone"] == "+447700900123"
    assert core["records"][0]["consents"][0]["purpose"] == "help_request"


def test_erasure_removes_personal_data_and_keeps_the_audit_chain(as_role, admin, db):
    actor = as_role("coordinator", BOLTON)
    person = new_person(actor).json
    assert actor.client.delete(f"/api/v1/people/{person['id']}").status_code == 403
    response = admin.client.delete(f"/api/v1/people/{person['id']}")
    assert response.status_code == 200 and response.json["erased"] is True
    stored = db.session.get(Person, person["id"])
    assert stored.phone is None and stored.given_name == "Erased" and stored.postcode is None
    assert stored.district_code == BOLTON  # counts by district still add up
    assert actor.client.get(f"/api/v1/people/{person['id']}").status_code == 404
    assert audit.verify_chain().ok
    dumped = " ".join(e.summary for e in db.session.execute(
        sa.select(audit.AuditEntry)).scalars())
    assert "07700" not in dumped and "Margaret" not in dumped and "+447700900123" not in dumped


@pytest.mark.parametrize("raw, expected", [
    ("07700 900123", "+447700900123"),
    ("+44 (0)161 496 0000", "+441614960000"),
    ("0044 161 496 0000", "+441614960000"),
])
def test_phone_numbers_are_normalised(raw, expected):
    from hubcore.identity.people import normalise_phone

    assert normalise_phone(raw) == expected


def test_name_key_ignores_case_accents_and_punctuation():
    from hubcore.identity.people import name_key

    assert name_key("Seán", "O'Brien") == name_key("sean", "obrien") == "sean obrien"


def test_idempotency_keys_belong_to_the_caller(as_role, db):
    first, second = as_role("coordinator", BOLTON), as_role("coordinator", BOLTON)
    headers = {"Idempotency-Key": "shared-key-0001"}
    body = {"given_name": "Asha", "postcode": "BL2 1AA"}
    mine = first.client.post("/api/v1/people", json=body, headers=headers)
    theirs = second.client.post("/api/v1/people", json=body, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers


@pytest.mark.requires("sqlite")
def test_sqlite_runs_with_write_ahead_logging(app, db):
    if db.engine.dialect.name != "sqlite":
        import pytest

        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

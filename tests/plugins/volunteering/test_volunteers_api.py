"""Sign-up, vetting and district scoping through the API."""

from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa

from hubcore.audit import AuditEntry
from hubcore.notify import OutboxMessage
from plugins.volunteering.models import Volunteer

from .conftest import BOLTON, WIGAN, sign_up_by_api, signup_body


def count_volunteers(db) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)).scalar_one()


# -- Sign-up -------------------------------------------------------------------------------


def test_sign_up_sends_the_volunteer_to_their_districts_team(client, db):
    response = client.post("/api/v1/volunteers", json=signup_body())
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["district"] == BOLTON and body["district_name"] == "Bolton"
    assert body["sent_by"] == "email" and "id" not in body
    assert "We have sent you an email" in body["message"]
    assert "Bolton volunteer team will contact you" in body["message"]
    volunteer = db.session.execute(sa.select(Volunteer)).scalar_one()
    assert volunteer.status == "applied"
    assert volunteer.email == "amira@example.org" and volunteer.phone == "+447700900123"
    assert volunteer.postcode == "BL2 1AA" and volunteer.latitude is not None
    assert volunteer.person_id is not None and volunteer.consent_given_at is not None
    from hubcore.identity.people import has_consent, get_person

    assert has_consent(get_person(volunteer.person_id), "volunteering")
    [thanks] = db.session.execute(sa.select(OutboxMessage)).scalars()
    assert (thanks.channel, thanks.recipient, thanks.person_id) == (
        "email", "amira@example.org", volunteer.person_id)
    assert thanks.subject == "Thank you for offering to volunteer"


def test_sign_up_audit_holds_no_personal_data(client, db):
    client.post("/api/v1/volunteers", json=signup_body())
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "volunteering.volunteer.signed_up")).scalar_one()
    assert "amira" not in entry.summary.lower() and "07700" not in entry.summary
    assert "BL2" not in entry.summary


def test_sign_up_without_consent_is_refused_and_nothing_is_stored(client, db):
    response = client.post("/api/v1/volunteers", json=signup_body(consent=False))
    assert response.status_code == 422
    assert "consent" in response.get_json()["errors"]
    assert count_volunteers(db) == 0


def test_bad_sign_up_names_each_field_and_changes_nothing(client, db):
    response = client.post("/api/v1/volunteers", json=signup_body(
        email="not-an-email", phone="12", postcode="SW1A 1AA", skills=["juggling"],
        availability=["someday"], max_travel_km=500))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {"skills", "availability", "max_travel_km"} <= set(errors)
    response = client.post("/api/v1/volunteers", json=signup_body(
        email="not-an-email", phone="12", postcode="SW1A 1AA"))
    assert response.status_code == 422
    assert {"email", "phone", "postcode"} <= set(response.get_json()["errors"])
    assert "Greater Manchester" in response.get_json()["errors"]["postcode"][0]
    assert count_volunteers(db) == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar_one() == 0


def test_sign_up_needs_an_email_or_a_phone(client, db):
    response = client.post("/api/v1/volunteers", json=signup_body(email=None, phone=None))
    assert response.status_code == 422
    assert "email" in response.get_json()["errors"]


def test_retried_sign_up_with_the_same_idempotency_key_creates_one_volunteer(client, db):
    headers = {"Idempotency-Key": "signup-3f1c2a9e"}
    first = client.post("/api/v1/volunteers", json=signup_body(), headers=headers)
    second = client.post("/api/v1/volunteers", json=signup_body(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json() == second.get_json()
    assert count_volunteers(db) == 1


# -- Coordinators, in their districts only ---------------------------------------------------------


def _sign_up(client, **overrides) -> int:
    return sign_up_by_api(client, **overrides)


def test_coordinators_list_only_their_districts_volunteers(client, as_role):
    bolton = _sign_up(client)
    wigan = _sign_up(client, email="w@example.org", phone="07700 900200", postcode="WN1 1AA")
    bolton_coord = as_role("coordinator", BOLTON)
    listed = bolton_coord.client.get("/api/v1/volunteers").get_json()
    assert [v["id"] for v in listed["items"]] == [bolton] and listed["total"] == 1
    wigan_coord = as_role("coordinator", WIGAN)
    assert [v["id"] for v in wigan_coord.client.get("/api/v1/volunteers").get_json()["items"]] \
        == [wigan]


def test_coordinator_cannot_read_or_change_another_districts_volunteer(client, as_role, db):
    bolton = _sign_up(client)
    wigan_coord = as_role("coordinator", WIGAN)
    assert wigan_coord.client.get(f"/api/v1/volunteers/{bolton}").status_code == 404
    assert wigan_coord.client.patch(f"/api/v1/volunteers/{bolton}", json={"weekly_cap": 5},
                                    headers={"If-Match": "*"}).status_code == 404
    assert wigan_coord.client.post(f"/api/v1/volunteers/{bolton}/activate").status_code == 404
    assert wigan_coord.client.post(f"/api/v1/volunteers/{bolton}/dbs", json={"level": "none"},
                                   headers={"If-Match": "*"}).status_code == 404
    assert db.session.get(Volunteer, bolton).status == "applied"


def test_volunteer_list_needs_sign_in_and_the_right_role(client, as_role):
    assert client.get("/api/v1/volunteers").status_code == 401
    partner = as_role("partner", BOLTON)
    assert partner.client.get("/api/v1/volunteers").status_code == 403


def test_coordinator_cannot_move_a_volunteer_into_a_district_they_do_not_manage(client,
                                                                               as_role, db):
    bolton = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    etag = coord.client.get(f"/api/v1/volunteers/{bolton}").headers["ETag"]
    response = coord.client.patch(f"/api/v1/volunteers/{bolton}", json={"postcode": "WN1 1AA"},
                                  headers={"If-Match": etag})
    assert response.status_code == 403
    assert db.session.get(Volunteer, bolton).district_code == BOLTON


def test_edit_needs_the_current_etag(client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    first = coord.client.get(f"/api/v1/volunteers/{vid}")
    etag = first.headers["ETag"]
    assert coord.client.patch(f"/api/v1/volunteers/{vid}", json={"weekly_cap": 5}) \
        .status_code == 428
    changed = coord.client.patch(f"/api/v1/volunteers/{vid}", json={"weekly_cap": 5},
                                 headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["weekly_cap"] == 5
    assert changed.headers["ETag"] != etag
    stale = coord.client.patch(f"/api/v1/volunteers/{vid}", json={"weekly_cap": 7},
                               headers={"If-Match": etag})
    assert stale.status_code == 412
    db.session.expire_all()
    assert db.session.get(Volunteer, vid).weekly_cap == 5


def test_bad_edit_is_refused_with_fields_and_changes_nothing(client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    etag = coord.client.get(f"/api/v1/volunteers/{vid}").headers["ETag"]
    response = coord.client.patch(f"/api/v1/volunteers/{vid}",
                                  json={"weekly_cap": 0, "skills": ["flying"]},
                                  headers={"If-Match": etag})
    assert response.status_code == 422
    assert {"weekly_cap", "skills"} <= set(response.get_json()["errors"])
    db.session.expire_all()
    assert db.session.get(Volunteer, vid).weekly_cap == 3


def test_activation_gives_the_volunteer_an_account_and_statuses_move_only_forward(
        client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    activated = coord.client.post(f"/api/v1/volunteers/{vid}/activate")
    assert activated.status_code == 200 and activated.get_json()["status"] == "active"
    volunteer = db.session.get(Volunteer, vid)
    assert volunteer.account_id is not None
    from hubcore.identity.models import Account

    account = db.session.get(Account, volunteer.account_id)
    assert account.email == "amira@example.org"
    assert [m.role for m in account.memberships] == ["volunteer"]
    assert coord.client.post(f"/api/v1/volunteers/{vid}/pause").get_json()["status"] == "paused"
    assert coord.client.post(f"/api/v1/volunteers/{vid}/leave",
                             json={"reason": "Moved away"}).get_json()["status"] == "left"
    refused = coord.client.post(f"/api/v1/volunteers/{vid}/activate")
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("illegal-transition")


def test_dbs_verification_records_who_checked_and_refuses_bad_details(client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    etag = coord.client.get(f"/api/v1/volunteers/{vid}").headers["ETag"]
    bad = coord.client.post(f"/api/v1/volunteers/{vid}/dbs", headers={"If-Match": etag}, json={
        "level": "enhanced", "certificate_number": "12AB",
        "issue_date": (date.today() + timedelta(days=3)).isoformat()})
    assert bad.status_code == 422
    assert {"certificate_number", "issue_date"} <= set(bad.get_json()["errors"])
    db.session.expire_all()
    assert db.session.get(Volunteer, vid).dbs_level == "none"
    good = coord.client.post(f"/api/v1/volunteers/{vid}/dbs", headers={"If-Match": etag}, json={
        "level": "enhanced", "certificate_number": "0012 3456 7890",
        "issue_date": (date.today() - timedelta(days=10)).isoformat()})
    assert good.status_code == 200, good.get_json()
    body = good.get_json()
    assert body["dbs_level"] == "enhanced" and body["dbs_certificate_number"] == "001234567890"
    assert body["dbs_verified_by_id"] == coord.account.id


def test_dbs_review_list_shows_checks_about_to_lapse(client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    volunteer = db.session.get(Volunteer, vid)
    volunteer.dbs_level = "enhanced"
    volunteer.dbs_issue_date = date.today() - timedelta(days=3 * 365 - 20)
    from hubcore.db import utcnow

    volunteer.dbs_verified_at = utcnow()
    db.session.commit()
    due = coord.client.get("/api/v1/volunteers/dbs-reviews").get_json()
    assert [d["volunteer_id"] for d in due] == [vid]
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.get("/api/v1/volunteers/dbs-reviews").get_json() == []


def test_openapi_document_covers_the_volunteering_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/volunteers", "/api/v1/volunteers/{volunteer_id}",
                 "/api/v1/volunteering/offers/{offer_id}/accept", "/api/v1/volunteering/hours"):
        assert path in paths
    assert "security" not in paths["/api/v1/volunteers"]["post"]
    json.dumps(paths)


def test_edit_to_a_postcode_outside_the_region_is_invalid_input(client, as_role, db):
    vid = _sign_up(client)
    coord = as_role("coordinator", BOLTON)
    etag = coord.client.get(f"/api/v1/volunteers/{vid}").headers["ETag"]
    response = coord.client.patch(f"/api/v1/volunteers/{vid}", json={"postcode": "SW1A 1AA"},
                                  headers={"If-Match": etag})
    assert response.status_code == 422 and "postcode" in response.get_json()["errors"]


def test_sign_up_places_the_postcode_once(app, db, monkeypatch):
    """The volunteer and their core person share one gazetteer look-up (a
    configured geocoder may be a remote, rate-limited service)."""
    from hubcore.districts import gazetteer
    from plugins.volunteering import signup
    from tests.plugins.volunteering.conftest import signup_body

    calls = []
    real = gazetteer.locate
    monkeypatch.setattr(gazetteer, "locate", lambda postcode: calls.append(postcode)
                        or real(postcode))
    result = signup.sign_up(signup_body(email="once@example.org", phone="07700 900555"))
    assert result.volunteer.district_code == "E08000001"
    assert calls == ["BL2 1AA"]

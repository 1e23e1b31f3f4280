"""An offer uses the owner's own task (``task_details``), never one a form or client describes.

A coordinator's hand-made post cannot lower a hub's DBS level, name another
person, move the place or pick a district they hold: the owner of the record
says what the task is, and the right is checked in the task's own district.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry
from hubcore.hookspecs import hookimpl
from plugins.volunteering import offers
from plugins.volunteering.models import Offer
from tests.conftest import login, submit_form

from .conftest import BOLTON, WIGAN, a_task, offer_body

OFFERS_API = "/api/v1/volunteering/offers"
FAR_AWAY = {"latitude": "53.545", "longitude": "-2.632"}  # Wigan, 13 km from the request


def help_request(api, *, needs=("befriending",), phone="07700 900555") -> int:
    created = api.client.post("/api/v1/help-requests", json={
        "given_name": "Rita", "postcode": "BL2 1AA", "needs": list(needs),
        "urgency": "few_days", "consent": True, "phone": phone})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def offer_rows(db) -> list[Offer]:
    return db.session.execute(sa.select(Offer)).scalars().all()


def offer_audit_count(db) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.like("volunteering.offer.%"))).scalar_one()


def page_token(client, request_id: int) -> str:
    page = client.get(f"/hub-requests/{request_id}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def post_form(client, fields: dict):
    return client.post("/volunteering/offers", data=fields, follow_redirects=True)


# -- Through the form, against a real help request ----------------------------------------


def test_a_forged_lower_dbs_level_on_the_form_does_not_lower_the_hubs_level(
        db, client, as_role, make_volunteer, coordinator_account):
    unchecked = make_volunteer(given_name="Una").volunteer  # no DBS check at all
    request_id = help_request(as_role("coordinator", BOLTON))  # befriending: basic, says the hub
    login(client, coordinator_account.email)
    refused = post_form(client, {
        "csrf_token": page_token(client, request_id), "owner": "hub_requests",
        "owner_id": str(request_id), "needs": "befriending", "dbs_level": "none",
        "regulated_activity": "no", "helper_id": f"volunteering-{unchecked.id}",
        "next": f"/hub-requests/{request_id}"})
    assert refused.request.path == f"/hub-requests/{request_id}"
    html = refused.get_data(as_text=True)
    assert "cannot be offered this task" in html and "verified basic DBS check" in html
    assert offer_rows(db) == []


def test_a_forged_person_place_and_priority_on_the_form_are_not_what_is_offered(
        db, client, as_role, make_volunteer, coordinator_account):
    from plugins.hub_requests.models import HelpRequest

    volunteer = make_volunteer(dbs="basic").volunteer
    api = as_role("coordinator", BOLTON)
    other_person_id = db.session.get(
        HelpRequest, help_request(api, phone="07700 900777", needs=("food",))).person_id
    request_id = help_request(api)
    person_id = db.session.get(HelpRequest, request_id).person_id
    login(client, coordinator_account.email)
    made = post_form(client, {
        "csrf_token": page_token(client, request_id), "owner": "hub_requests",
        "owner_id": str(request_id), "district": WIGAN, "person_id": str(other_person_id),
        "priority": "1", "needs": "food", **FAR_AWAY,
        "helper_id": f"volunteering-{volunteer.id}", "next": f"/hub-requests/{request_id}"})
    assert f"The task is offered to {volunteer.name}" in made.get_data(as_text=True)
    [offer] = offers.offers_for_task("hub_requests", str(request_id))
    assert offer.task["person_id"] == person_id != other_person_id
    assert offer.task["district"] == offer.district_code == BOLTON
    assert offer.task["needs"] == ["befriending"] and offer.task["dbs_level"] == "basic"
    assert offer.task["priority"] != 1 and offer.task["location"]["latitude"] != 53.545


def test_a_coordinator_of_another_district_posting_a_district_they_hold_is_refused(
        db, app, as_role, make_account, make_volunteer):
    make_volunteer(dbs="basic")
    request_id = help_request(as_role("coordinator", BOLTON))
    wigan = make_account("coordinator", (WIGAN,))
    staff = app.test_client()
    login(staff, wigan.email)
    said = []
    for owner_id in (str(request_id), str(request_id + 1000)):  # Bolton's, then none at all
        answer = submit_form(staff, "/volunteering/offers", {
            "owner": "hub_requests", "owner_id": owner_id, "district": WIGAN,
            "next": "/volunteering/volunteers"}, page_url="/volunteering/volunteers")
        assert answer.status_code == 302
        page = staff.get("/volunteering/volunteers").get_data(as_text=True)
        said.append([line for line in page.splitlines() if "no open task" in line])
    # The same answer as for a request that does not exist: nothing tells Wigan what Bolton has.
    assert said[0] and said[0] == said[1]
    assert offer_rows(db) == [] and offer_audit_count(db) == 0


def test_the_form_for_a_finished_request_is_refused_with_a_clear_message(
        db, client, as_role, make_volunteer, coordinator_account):
    make_volunteer(dbs="basic")
    api = as_role("coordinator", BOLTON)
    request_id = help_request(api)
    login(client, coordinator_account.email)
    token = page_token(client, request_id)  # the page was shown while it was open
    cancelled = api.client.post(f"/api/v1/help-requests/{request_id}/transitions",
                                json={"to": "cancelled", "reason": "No longer needed"},
                                headers={"If-Match": api.client.get(
                                    f"/api/v1/help-requests/{request_id}").headers["ETag"]})
    assert cancelled.status_code in (200, 201), cancelled.get_json()
    refused = post_form(client, {"csrf_token": token, "owner": "hub_requests",
                                 "owner_id": str(request_id),
                                 "next": f"/hub-requests/{request_id}"})
    assert refused.request.path == f"/hub-requests/{request_id}"
    assert "There is no open task with this owner and id" in refused.get_data(as_text=True)
    assert offer_rows(db) == [] and offer_audit_count(db) == 0


# -- Through the API ----------------------------------------------------------------------------


def test_api_refuses_a_body_that_describes_the_task_and_nothing_changes(
        db, as_role, make_volunteer, task_owner):
    basic = make_volunteer(dbs="basic").volunteer
    task = task_owner.holds(a_task("21", needs=("befriending",), dbs_level="enhanced"))
    coord = as_role("coordinator", BOLTON)
    for forged in ({"dbs_level": "none"}, {"person_id": 999}, {"district": BOLTON},
                   {"needs": ["food"]}, {"location": {"latitude": 53.5, "longitude": -2.6}},
                   {"task": {"owner": "hub_requests", "owner_id": "21", "district": BOLTON,
                             "needs": ["food"]}}):
        response = coord.client.post(OFFERS_API, json={**offer_body(task), **forged,
                                                       "volunteer_id": basic.id})
        assert response.status_code == 422, forged
        assert set(forged) <= set(response.get_json()["errors"]), response.get_json()
    assert offer_rows(db) == [] and offer_audit_count(db) == 0
    # Named by owner and id alone, the owner's level (enhanced, by the hub's choice) decides.
    honest = coord.client.post(OFFERS_API, json=offer_body(task, volunteer_id=basic.id))
    assert honest.status_code == 422
    assert "verified enhanced DBS check" in " ".join(honest.get_json()["errors"]["volunteer_id"])
    assert offer_rows(db) == []


def test_api_offers_the_task_as_the_owner_has_it_now(db, as_role, make_volunteer, task_owner):
    make_volunteer(dbs="basic")
    task_owner.holds(a_task("22", needs=("food",), person_id=None, priority=4))
    coord = as_role("coordinator", BOLTON)
    # Between the page and the click, the hub changed the request: the offer follows the owner.
    task_owner.holds(a_task("22", needs=("befriending",), dbs_level="basic", priority=1))
    made = coord.client.post(OFFERS_API, json={"owner": "hub_requests", "owner_id": "22"})
    assert made.status_code == 201, made.get_json()
    task = made.get_json()["task"]
    assert task["needs"] == ["befriending"] and task["dbs_level"] == "basic"
    assert task["priority"] == 1
    assert task_owner.asked == [("hub_requests", "22")]


def test_api_refuses_an_unknown_owner_or_id_with_422_and_nothing_changes(
        db, as_role, make_volunteer, task_owner):
    make_volunteer()
    task_owner.holds(a_task("23"))
    coord = as_role("coordinator", BOLTON)
    before = offer_audit_count(db)
    for owner, owner_id in (("hub_requests", "24"), ("nobody", "23"), ("hub_requests", "x"),
                            ("hub_requests", "99999999999999999999")):
        response = coord.client.post(OFFERS_API, json={"owner": owner, "owner_id": owner_id})
        assert response.status_code == 422, (owner, owner_id)
        problem = response.get_json()
        assert problem["type"].endswith("unknown-task") and "owner_id" in problem["errors"]
    assert offer_rows(db) == [] and offer_audit_count(db) == before


def test_api_refuses_a_coordinator_of_another_district_before_anything_is_offered(
        db, as_role, make_volunteer, task_owner):
    make_volunteer()
    task = task_owner.holds(a_task("25"))
    wigan = as_role("coordinator", WIGAN)
    refused = wigan.client.post(OFFERS_API, json=offer_body(task))
    unknown = wigan.client.post(OFFERS_API, json={**offer_body(task), "owner_id": "999"})
    # Refused as if the task did not exist: the answer names nothing of Bolton's.
    assert refused.status_code == unknown.status_code == 422
    assert refused.get_json() == {**unknown.get_json(), "instance": refused.get_json()["instance"]}
    assert wigan.client.post(OFFERS_API, json={**offer_body(task), "district": WIGAN}) \
        .status_code == 422
    resident = as_role("volunteer", BOLTON)
    assert resident.client.post(OFFERS_API, json=offer_body(task)).status_code == 403
    assert offer_rows(db) == [] and offer_audit_count(db) == 0


# -- An owner that fails when asked --------------------------------------------------------


class BrokenOwner:
    """An owner plugin whose task_details fails, as a bug or an outage would."""

    @hookimpl
    def task_details(self, owner, owner_id):
        if owner == "broken":
            raise RuntimeError("the owner's database went away")
        return None


@pytest.fixture
def app_settings(task_owner):
    return {"extra_plugins": (task_owner, BrokenOwner())}


def test_an_owner_that_fails_gives_a_503_naming_no_detail_and_nothing_changes(
        db, as_role, make_volunteer, task_owner, caplog):
    make_volunteer()
    coord = as_role("coordinator", BOLTON)
    before = offer_audit_count(db)
    response = coord.client.post(OFFERS_API, json={"owner": "broken", "owner_id": "1"})
    assert response.status_code == 503
    problem = response.get_json()
    assert problem["type"].endswith("task-owner-unavailable")
    assert "nothing was offered" in problem["detail"] and "database" not in problem["detail"]
    assert offer_rows(db) == [] and offer_audit_count(db) == before
    assert any("task_details failed" in r.getMessage() for r in caplog.records)
    # The next offer, of a task whose owner answers, still goes through.
    task = task_owner.holds(a_task("40"))
    assert coord.client.post(OFFERS_API, json=offer_body(task)).status_code == 201


def test_the_offer_form_explains_a_failing_owner_and_returns_to_the_page(
        db, client, as_role, make_volunteer, coordinator_account):
    make_volunteer()
    request_id = help_request(as_role("coordinator", BOLTON))
    login(client, coordinator_account.email)
    refused = post_form(client, {
        "csrf_token": page_token(client, request_id), "owner": "broken", "owner_id": "1",
        "next": f"/hub-requests/{request_id}"})
    assert refused.status_code == 200 and refused.request.path == f"/hub-requests/{request_id}"
    assert "nothing was offered" in refused.get_data(as_text=True)
    assert offer_rows(db) == []

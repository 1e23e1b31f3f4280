"""The help requests API: public intake, the queue, one request, its lifecycle and access."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore import hookimpl
from hubcore.db import utcnow
from hubcore.identity.models import Person
from hubcore.values import HelperCandidate, ScoreComponent, ServiceSuggestion
from plugins.hub_requests import lifecycle
from plugins.hub_requests.models import CallAttempt, CaseNote, HelpRequest
from tests.conftest import BOLTON, BURY, WIGAN

from .conftest import submission

URL = "/api/v1/help-requests"


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def problem_of(response) -> dict:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def bolton(as_role):
    return as_role("coordinator", BOLTON)


# -- Public intake -----------------------------------------------------------------------


def test_a_resident_asks_for_help_without_an_account_and_gets_a_reference(client, db):
    response = client.post(URL, json=submission(needs=["food", "medication"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["reference"].startswith("BOL-")
    assert body["hub"]["district_name"] == "Bolton"
    assert "contact you" in body["next_steps"] and body["reference"] in body["next_steps"]
    assert "id" not in body  # a resident sees only the confirmation
    stored = db.session.execute(sa.select(HelpRequest)).scalar_one()
    assert (stored.reference, stored.channel) == (body["reference"], "api")


def test_the_district_hub_contact_is_given_when_the_hub_is_known(client, db):
    from hubcore.identity import accounts

    accounts.create_organisation(name="Bolton Community Hub", kind="hub", districts=[BOLTON],
                                 contact_email="hub@bolton.example", contact_phone="01204 333333")
    db.session.commit()
    hub = client.post(URL, json=submission()).get_json()["hub"]
    assert (hub["name"], hub["email"], hub["phone"]) == ("Bolton Community Hub",
                                                         "hub@bolton.example", "01204 333333")


def test_a_double_submit_with_the_same_key_creates_one_request(client, db):
    body, headers = submission(), {"Idempotency-Key": "submit-0001-abcdef"}
    first = client.post(URL, json=body, headers=headers)
    again = client.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(db, HelpRequest) == 1


def test_the_same_key_with_a_different_body_is_refused_and_creates_nothing(client, db):
    headers = {"Idempotency-Key": "submit-0002-abcdef"}
    client.post(URL, json=submission(), headers=headers)
    response = client.post(URL, json=submission(needs=["advice"]), headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in problem_of(response)["errors"]
    assert count(db, HelpRequest) == 1


@pytest.mark.parametrize("change, field", [
    ({"consent": False}, "consent"),
    ({"postcode": "XX99 9XX9"}, "postcode"),
    ({"postcode": "SW1A 1AA"}, "postcode"),
    ({"given_name": "A" * 101}, "given_name"),
    ({"description": "x" * 2001}, "description"),
    ({"needs": ["caviar"]}, "needs"),
    ({"needs": []}, "needs"),
    ({"urgency": "yesterday"}, "urgency"),
    ({"phone": "", "email": ""}, "phone"),
    ({"email": "not-an-email"}, "email"),
    ({"favourite_colour": "blue"}, "favourite_colour"),
])
def test_bad_input_gets_a_clear_error_on_its_field_and_changes_nothing(client, db, change,
                                                                       field):
    response = client.post(URL, json=submission(**change))
    assert response.status_code == 422
    assert field in problem_of(response)["errors"]
    assert count(db, HelpRequest) == count(db, Person) == 0


def test_missing_consent_is_refused(client, db):
    body = submission()
    del body["consent"]
    response = client.post(URL, json=body)
    assert response.status_code == 422 and "consent" in problem_of(response)["errors"]
    assert count(db, HelpRequest) == 0


def test_phone_intake_through_the_api_needs_a_coordinator_of_the_district(client, as_role, db):
    assert client.post(URL, json=submission(channel="phone")).status_code == 401
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.post(URL, json=submission(channel="phone")).status_code == 403
    assert count(db, HelpRequest) == 0
    bolton = as_role("coordinator", BOLTON)
    response = bolton.client.post(URL, json=submission(channel="phone"))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{URL}/{body['id']}")
    stored = db.session.get(HelpRequest, body["id"])
    assert (stored.channel, stored.taken_by_id) == ("phone", bolton.account.id)


# -- The queue ---------------------------------------------------------------------------------


def test_the_queue_lists_my_districts_requests_most_urgent_first(client, bolton, submit):
    low = submit(needs=["practical_task"], circumstances=[], urgency="not_urgent")
    high = submit(needs=["food"], circumstances=["no_food", "children_in_household"])
    submit(postcode="WN1 1XX")
    response = bolton.client.get(URL)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["id"] for i in items] == [high.id, low.id]
    assert items[0]["priority"] == "P1" and items[0]["reason"].startswith("P1")
    assert items[0]["person"]["given_name"].startswith("Edna")


def test_a_long_wait_lifts_a_request_up_the_queue(bolton, submit):
    fresh = submit(needs=["food"], circumstances=[], urgency="few_days")  # 30 points
    waiting = submit(needs=["advice"], circumstances=[], urgency="not_urgent",
                     now=utcnow() - timedelta(days=3))  # 5 points + 36 for waiting
    items = bolton.client.get(URL).get_json()["items"]
    assert [i["id"] for i in items] == [waiting.id, fresh.id]
    assert items[0]["effective_score"] > items[1]["effective_score"]


def test_the_queue_filters_by_overdue_status_and_priority(bolton, submit, db):
    late = submit(now=utcnow() - timedelta(days=10))
    on_time = submit()
    lifecycle.transition(on_time, "triaged", actor=None)
    db.session.commit()
    overdue = bolton.client.get(f"{URL}?overdue=true").get_json()["items"]
    assert [i["id"] for i in overdue] == [late.id] and overdue[0]["overdue"] is True
    triaged = bolton.client.get(f"{URL}?status=triaged").get_json()["items"]
    assert [i["id"] for i in triaged] == [on_time.id]
    assert bolton.client.get(f"{URL}?priority=P1").get_json()["items"] == []
    assert bolton.client.get(f"{URL}?status=lost").status_code == 422


def test_another_districts_queue_is_refused(bolton, submit, db):
    submit(postcode="WN1 1XX")
    response = bolton.client.get(f"{URL}?district={WIGAN}")
    assert response.status_code == 403
    assert problem_of(response)["status"] == 403


def test_a_request_shared_as_overflow_appears_in_the_neighbours_queue(as_role, submit, db):
    request = submit()
    bury = as_role("coordinator", BURY)
    assert bury.client.get(URL).get_json()["items"] == []
    lifecycle.share_overflow(request, BURY, actor=None)
    db.session.commit()
    assert [i["id"] for i in bury.client.get(URL).get_json()["items"]] == [request.id]
    assert bury.client.get(f"{URL}/{request.id}").status_code == 200


# -- One request: read, edit, move ----------------------------------------------------------------


def test_read_then_edit_with_if_match(bolton, submit, db):
    request = submit(needs=["advice"], circumstances=[], urgency="not_urgent")
    read = bolton.client.get(f"{URL}/{request.id}")
    assert read.status_code == 200 and read.headers["ETag"]
    response = bolton.client.patch(
        f"{URL}/{request.id}", headers={"If-Match": read.headers["ETag"]},
        json={"priority": "P2", "priority_reason": "Carer is in hospital"})
    assert response.status_code == 200
    assert response.get_json()["priority"] == "P2"
    assert response.headers["ETag"] != read.headers["ETag"]


def test_a_stale_write_is_refused_and_changes_nothing(bolton, submit, db):
    request = submit()
    etag = bolton.client.get(f"{URL}/{request.id}").headers["ETag"]
    first = bolton.client.patch(f"{URL}/{request.id}", headers={"If-Match": etag},
                                json={"description": "Needs a halal food parcel"})
    assert first.status_code == 200
    second = bolton.client.patch(f"{URL}/{request.id}", headers={"If-Match": etag},
                                 json={"description": "Overwrite"})
    assert second.status_code == 412
    assert problem_of(second)["title"] == "Changed by someone else"
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).description == "Needs a halal food parcel"


def test_a_write_without_if_match_is_refused(bolton, submit):
    request = submit()
    response = bolton.client.patch(f"{URL}/{request.id}", json={"description": "x"})
    assert response.status_code == 428


def test_a_priority_override_without_a_reason_is_refused(bolton, submit):
    request = submit()
    etag = bolton.client.get(f"{URL}/{request.id}").headers["ETag"]
    response = bolton.client.patch(f"{URL}/{request.id}", headers={"If-Match": etag},
                                   json={"priority": "P1"})
    assert response.status_code == 422
    assert "priority_reason" in problem_of(response)["errors"]


def _move(actor, request_id, to, reason=None):
    etag = actor.client.get(f"{URL}/{request_id}").headers["ETag"]
    return actor.client.post(f"{URL}/{request_id}/transitions", headers={"If-Match": etag},
                             json={"to": to, "reason": reason})


def test_transitions_follow_the_lifecycle_and_an_illegal_one_is_409(bolton, submit, db):
    request = submit()
    assert _move(bolton, request.id, "triaged").status_code == 200
    refused = _move(bolton, request.id, "completed")
    assert refused.status_code == 409
    assert "cannot become completed" in problem_of(refused)["detail"]
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == "triaged"
    history = bolton.client.get(f"{URL}/{request.id}/history").get_json()
    assert [h["to_status"] for h in history] == ["new", "triaged"]


def test_closing_without_a_reason_is_refused(bolton, submit):
    request = submit()
    response = _move(bolton, request.id, "closed")
    assert response.status_code == 422 and "reason" in problem_of(response)["errors"]
    assert _move(bolton, request.id, "closed", "Family now helping").status_code == 200


def test_notes_and_calls(bolton, submit, db):
    request = submit()
    note = bolton.client.post(f"{URL}/{request.id}/notes", json={"body": "Prefers mornings"})
    assert note.status_code == 201 and note.get_json()["author"] == bolton.account.name
    call = bolton.client.post(f"{URL}/{request.id}/calls", json={"outcome": "no_answer"})
    assert call.status_code == 201
    assert bolton.client.post(f"{URL}/{request.id}/calls",
                              json={"outcome": "shouted"}).status_code == 422
    assert [n["body"] for n in bolton.client.get(f"{URL}/{request.id}/notes").get_json()] == [
        "Prefers mornings"]
    assert [c["outcome"] for c in bolton.client.get(f"{URL}/{request.id}/calls").get_json()] == [
        "no_answer"]
    assert count(db, CaseNote) == count(db, CallAttempt) == 1


def test_duplicates_are_confirmed_or_dismissed(bolton, submit, db):
    details = {"phone": "07700 900555", "email": "", "given_name": "Joan"}
    original = submit(**details)
    confirmed = submit(**details)
    dismissed = submit(**details)
    body = bolton.client.get(f"{URL}/{confirmed.id}").get_json()
    assert body["duplicate_of"] == {"id": original.id, "reference": original.reference}
    etag = bolton.client.get(f"{URL}/{confirmed.id}").headers["ETag"]
    response = bolton.client.post(f"{URL}/{confirmed.id}/duplicate/confirm",
                                  headers={"If-Match": etag})
    assert response.status_code == 200 and response.get_json()["id"] == original.id
    etag = bolton.client.get(f"{URL}/{dismissed.id}").headers["ETag"]
    response = bolton.client.post(f"{URL}/{dismissed.id}/duplicate/dismiss",
                                  headers={"If-Match": etag}, json={"reason": "Another need"})
    assert response.status_code == 200 and response.get_json()["duplicate_state"] == "dismissed"
    again = bolton.client.post(f"{URL}/{dismissed.id}/duplicate/confirm",
                               headers={"If-Match": response.headers["ETag"]})
    assert again.status_code == 409


# -- Helpers --------------------------------------------------------------------------------------


class Desk:
    def __init__(self, name, score):
        self.name, self.score = name, score
        self.tasks = []

    @hookimpl
    def find_helpers(self, task, limit):
        self.tasks.append(task)
        return [HelperCandidate(f"{self.name}-1", self.name, self.score, 2.0,
                                (ScoreComponent("distance", self.score, "close by"),),
                                source=self.name)]


def test_candidates_come_from_every_plugin_best_first(app, bolton, submit):
    pm = app.extensions["hubcore"].pm
    # Only our test helpers answer (the volunteering plugin is built elsewhere).
    for impl in list(pm.hook.find_helpers.get_hookimpls()):
        pm.unregister(name=impl.plugin_name)
    near, far = Desk("near", 9.0), Desk("far", 3.0)
    pm.register(far, name="far")
    pm.register(near, name="near")
    request = submit(needs=["essential_shopping"])
    response = bolton.client.get(f"{URL}/{request.id}/candidates?limit=5")
    assert response.status_code == 200
    body = response.get_json()
    assert [c["display_name"] for c in body["items"]] == ["near", "far"]
    assert body["items"][0]["breakdown"][0]["reason"] == "close by"
    assert body["note"] is None
    assert near.tasks[0].regulated_activity is True and near.tasks[0].district == BOLTON


class OfferDesk:
    @hookimpl
    def find_helpers(self, task, limit):
        return [HelperCandidate("takes-offers", "Priya", 9.0, 1.0, source="desk",
                                offer_url="/desk/offers"),
                HelperCandidate("no-offers", "Olu", 8.0, 2.0, source="desk")]


def test_candidates_say_where_an_offer_of_the_task_can_be_posted(app, bolton, client, submit):
    pm = app.extensions["hubcore"].pm
    for impl in list(pm.hook.find_helpers.get_hookimpls()):
        pm.unregister(name=impl.plugin_name)
    pm.register(OfferDesk(), name="offer-desk")
    request = submit()
    items = bolton.client.get(f"{URL}/{request.id}/candidates").get_json()["items"]
    assert [(c["helper_id"], c["offer_url"]) for c in items] == [
        ("takes-offers", "/desk/offers"), ("no-offers", None)]
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["HelpRequestHelperOut"]["properties"]["offer_url"] == {
        "type": "string", "nullable": True}


def test_candidates_say_why_when_no_plugin_answers(app, bolton, submit):
    pm = app.extensions["hubcore"].pm
    for impl in list(pm.hook.find_helpers.get_hookimpls()):
        pm.unregister(name=impl.plugin_name)
    request = submit()
    body = bolton.client.get(f"{URL}/{request.id}/candidates").get_json()
    assert body["items"] == [] and "No helper-matching service" in body["note"]


class AdviceLine:
    @hookimpl
    def suggest_services(self, need, person):
        if need.code != "financial_hardship":
            return []
        return [ServiceSuggestion("grant-1", "Hardship grant", "Community Foundation", 2.0,
                                  (f"Open to residents of {person.district}",), "grants"),
                ServiceSuggestion("cab-1", "Debt advice", "Citizens Advice", 5.0, (), "referrals")]


def test_referral_routes_come_from_suggest_services_best_first(app, bolton, submit):
    app.extensions["hubcore"].pm.register(AdviceLine(), name="advice-line")
    request = submit(needs=["food", "financial_hardship"])
    body = bolton.client.get(f"{URL}/{request.id}/services").get_json()
    assert [r["need"] for r in body] == ["financial_hardship"]
    assert [s["service_name"] for s in body[0]["services"]] == ["Debt advice", "Hardship grant"]
    assert body[0]["services"][1]["reasons"] == [f"Open to residents of {BOLTON}"]


# -- Access matrix ---------------------------------------------------------------------------------


ROLES = {
    "anonymous": None,
    "bolton coordinator": ("coordinator", BOLTON),
    "wigan coordinator": ("coordinator", WIGAN),
    "bolton volunteer": ("volunteer", BOLTON),
    "partner": ("partner", BOLTON),
    "funder": ("funder", BOLTON),
    "admin": "admin",
}
# What each may do with a Bolton request: list the queue, read it, add a note.
EXPECTED = {
    "anonymous": (401, 401, 401),
    "bolton coordinator": (200, 200, 201),
    "wigan coordinator": (200, 404, 404),
    "bolton volunteer": (403, 403, 403),
    "partner": (403, 403, 403),
    "funder": (403, 403, 403),
    "admin": (200, 200, 201),
}


@pytest.mark.parametrize("who", list(ROLES))
def test_access_matrix(who, client, as_role, admin, submit, db):
    request = submit()
    if ROLES[who] is None:
        http = client
    elif ROLES[who] == "admin":
        http = admin.client
    else:
        http = as_role(*ROLES[who]).client
    listed = http.get(URL)
    read = http.get(f"{URL}/{request.id}")
    noted = http.post(f"{URL}/{request.id}/notes", json={"body": "Checked in"})
    assert (listed.status_code, read.status_code, noted.status_code) == EXPECTED[who]
    if who == "wigan coordinator":
        assert listed.get_json()["items"] == []
    if noted.status_code != 201:
        assert count(db, CaseNote) == 0


def test_another_districts_coordinator_can_change_nothing(as_role, submit, db):
    request = submit()
    wigan = as_role("coordinator", WIGAN)
    headers = {"If-Match": "*"}
    assert wigan.client.patch(f"{URL}/{request.id}", headers=headers,
                              json={"description": "x"}).status_code == 404
    assert wigan.client.post(f"{URL}/{request.id}/transitions", headers=headers,
                             json={"to": "triaged"}).status_code == 404
    assert wigan.client.post(f"{URL}/{request.id}/calls",
                             json={"outcome": "reached"}).status_code == 404
    db.session.expire_all()
    stored = db.session.get(HelpRequest, request.id)
    assert (stored.status, stored.version, stored.description) == (
        "new", request.version, "Cannot get to the shops.")


def test_an_unknown_request_is_404(bolton):
    assert bolton.client.get(f"{URL}/999999").status_code == 404


def test_every_route_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (URL, f"{URL}/{{request_id}}", f"{URL}/{{request_id}}/transitions",
                 f"{URL}/{{request_id}}/notes", f"{URL}/{{request_id}}/calls",
                 f"{URL}/{{request_id}}/candidates",
                 f"{URL}/{{request_id}}/duplicate/confirm"):
        assert path in paths, path
    assert "security" not in paths[URL]["post"]  # the public submit

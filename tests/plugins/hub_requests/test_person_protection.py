"""An anonymous submission never changes a stored person (issue #8, defects 1, 3 and 9,
and the cross-district duplicate leak).

A resident is found again by name and phone (or email); what the new request
says differently is kept on the request for a coordinator to check, never
written over the record. Concurrent submissions of one person make one record.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from hubcore.audit import AuditEntry
from hubcore.identity.models import Person
from plugins.hub_requests.models import HelpRequest

from ...conftest import BOLTON, MANCHESTER, submit_form
from .conftest import BOLTON_POSTCODE, submission

RONALD = {"given_name": "Ronald", "family_name": "Jones", "phone": "07700 900035",
          "email": "", "postcode": BOLTON_POSTCODE, "address": "12 Deane Road"}
ATTACK = {**RONALD, "postcode": "M1 1AE", "address": "ANYTHING"}


@pytest.fixture
def ronald(client, db):
    """Ronald asked the Bolton hub for food; his record lives in Bolton."""
    answer = client.post("/api/v1/help-requests", json=submission(**RONALD))
    assert answer.status_code == 201
    request = db.session.execute(sa.select(HelpRequest)).scalar_one()
    return request.person_id, request.id


def _person(db, person_id) -> Person:
    db.session.expire_all()
    return db.session.get(Person, person_id)


def test_an_anonymous_submission_does_not_move_an_existing_resident(client, db, ronald, as_role):
    person_id, bolton_request_id = ronald
    answer = client.post("/api/v1/help-requests", json=submission(**ATTACK, needs=["food"],
                                                                  urgency="this_week"))
    assert answer.status_code == 201
    person = _person(db, person_id)
    assert (person.postcode, person.district_code, person.address) == (
        BOLTON_POSTCODE, BOLTON, "12 Deane Road")
    # The Bolton hub still sees Ronald and his request as they were.
    bolton = as_role("coordinator", BOLTON)
    assert bolton.client.get(f"/api/v1/people/{person_id}").status_code == 200
    own = bolton.client.get(f"/api/v1/help-requests/{bolton_request_id}").get_json()
    assert own["person"]["address"] == "12 Deane Road"
    assert own["duplicates_elsewhere"] == [{"district": MANCHESTER,
                                            "district_name": "Manchester"}]
    # The new request is Manchester's, says what differs, and is linked as a duplicate.
    new = db.session.execute(sa.select(HelpRequest).where(
        HelpRequest.id != bolton_request_id)).scalar_one()
    assert new.district_code == MANCHESTER and new.person_id == person_id
    assert new.given_details["postcode"] == "M1 1AE"
    assert new.given_details["address"] == "ANYTHING"
    assert (new.duplicate_of_id, new.duplicate_state) == (bolton_request_id, "suspected")
    # No audit entry of the person's was filed under Manchester.
    assert not db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "person.updated")).first()


def test_the_other_hub_sees_no_data_of_the_record_or_request_it_does_not_hold(
        client, db, ronald, as_role):
    _person_id, bolton_request_id = ronald
    client.post("/api/v1/help-requests", json=submission(**ATTACK))
    manchester = as_role("coordinator", MANCHESTER)
    queue = manchester.client.get("/api/v1/help-requests").get_json()["items"]
    assert len(queue) == 1
    seen = manchester.client.get(f"/api/v1/help-requests/{queue[0]['id']}").get_json()
    text = json.dumps(seen)
    assert "12 Deane Road" not in text and BOLTON_POSTCODE not in text
    assert str(bolton_request_id) not in json.dumps(seen["duplicate_of"])
    assert seen["duplicate_of"] is None
    assert seen["duplicate_elsewhere"] == {"district": BOLTON, "district_name": "Bolton"}
    assert seen["person"]["record_elsewhere"] is True
    assert seen["person"]["address"] == "ANYTHING"
    assert seen["given_details"] == {"postcode": "M1 1AE", "address": "ANYTHING"}
    page = manchester.client.get(f"/hub-requests/{queue[0]['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Details differ from our record" in html and "12 Deane Road" not in html
    assert "held by the Bolton community hub" in html


def test_the_help_form_does_not_move_an_existing_resident_either(client, db, ronald):
    person_id, _ = ronald
    answer = submit_form(client, "/help", {
        **ATTACK, "needs": "food", "urgency": "this_week", "consent": "y"})
    assert answer.status_code in (200, 303)
    assert db.session.execute(sa.select(sa.func.count(HelpRequest.id))).scalar_one() == 2
    person = _person(db, person_id)
    assert (person.postcode, person.address) == (BOLTON_POSTCODE, "12 Deane Road")


def _fresh(client, request_id):
    answer = client.get(f"/api/v1/help-requests/{request_id}")
    return answer.get_json(), answer.headers["ETag"]


def test_a_coordinator_of_the_persons_district_may_apply_the_details_given(
        client, db, ronald, as_role):
    person_id, _ = ronald
    client.post("/api/v1/help-requests", json=submission(
        **{**RONALD, "address": "3 Bradshawgate"}, needs=["befriending"]))
    new_id = db.session.execute(sa.select(sa.func.max(HelpRequest.id))).scalar_one()
    bolton = as_role("coordinator", BOLTON)
    body, etag = _fresh(bolton.client, new_id)
    assert body["given_details"] == {"address": "3 Bradshawgate"}
    bad = bolton.client.post(f"/api/v1/help-requests/{new_id}/given-details",
                             json={"decision": "move"}, headers={"If-Match": etag})
    assert bad.status_code == 422
    answer = bolton.client.post(f"/api/v1/help-requests/{new_id}/given-details",
                                json={"decision": "apply"}, headers={"If-Match": etag})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["given_details"] is None
    assert _person(db, person_id).address == "3 Bradshawgate"
    summaries = " ".join(e.summary for e in db.session.execute(sa.select(AuditEntry)).scalars())
    assert "Bradshawgate" not in summaries


def test_a_coordinator_of_another_district_cannot_change_the_record(client, db, ronald, as_role):
    person_id, _ = ronald
    client.post("/api/v1/help-requests", json=submission(**ATTACK))
    new_id = db.session.execute(sa.select(sa.func.max(HelpRequest.id))).scalar_one()
    manchester = as_role("coordinator", MANCHESTER)
    _, etag = _fresh(manchester.client, new_id)
    refused = manchester.client.post(f"/api/v1/help-requests/{new_id}/given-details",
                                     json={"decision": "apply"}, headers={"If-Match": etag})
    assert refused.status_code == 403
    assert _person(db, person_id).postcode == BOLTON_POSTCODE
    kept = manchester.client.post(f"/api/v1/help-requests/{new_id}/given-details",
                                  json={"decision": "keep_record"}, headers={"If-Match": etag})
    assert kept.status_code == 200 and kept.get_json()["given_details"] is None


def test_a_cross_district_duplicate_is_merged_only_after_agreeing_with_the_other_hub(
        client, db, ronald, as_role):
    _, bolton_request_id = ronald
    client.post("/api/v1/help-requests", json=submission(**ATTACK, needs=["food", "advice"]))
    new_id = db.session.execute(sa.select(sa.func.max(HelpRequest.id))).scalar_one()
    manchester = as_role("coordinator", MANCHESTER)
    _, etag = _fresh(manchester.client, new_id)
    refused = manchester.client.post(f"/api/v1/help-requests/{new_id}/duplicate/confirm",
                                     headers={"If-Match": etag})
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("/other-hub-agreement-needed")
    agreed = manchester.client.post(f"/api/v1/help-requests/{new_id}/duplicate/confirm",
                                    json={"other_hub_agreed": True}, headers={"If-Match": etag})
    assert agreed.status_code == 200, agreed.get_json()
    body = agreed.get_json()
    assert body["id"] == new_id and body["status"] == "closed"
    db.session.expire_all()
    original = db.session.get(HelpRequest, bolton_request_id)
    assert "advice" in original.needs
    assert original.reference not in json.dumps(body)


def test_staff_cannot_record_a_person_outside_their_districts(db, as_role):
    bolton = as_role("coordinator", BOLTON)
    nowhere = bolton.client.post("/api/v1/people", json={"given_name": "Nowhere"})
    assert nowhere.status_code == 422
    assert "postcode" in nowhere.get_json()["errors"]
    elsewhere = bolton.client.post("/api/v1/people", json={"given_name": "Wendy",
                                                           "postcode": "M1 1AE"})
    assert elsewhere.status_code == 403
    assert db.session.execute(sa.select(sa.func.count(Person.id))).scalar_one() == 0
    made = bolton.client.post("/api/v1/people", json={"given_name": "Bea", "phone": "07700900111",
                                                      "postcode": BOLTON_POSTCODE})
    assert made.status_code == 201
    again = bolton.client.post("/api/v1/people", json={"given_name": "Bea",
                                                       "phone": "07700 900 111",
                                                       "postcode": BOLTON_POSTCODE})
    assert again.status_code == 409
    assert db.session.execute(sa.select(sa.func.count(Person.id))).scalar_one() == 1


def test_concurrent_identical_submissions_make_one_person(app, db):
    """Twelve identical anonymous submissions at once, through a real threaded server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/help-requests"
    body = json.dumps(submission(**RONALD)).encode()
    barrier, statuses = threading.Barrier(12), []

    def send():
        barrier.wait()
        call = urllib.request.Request(url, data=body, method="POST",
                                      headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(call, timeout=60) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)

    try:
        senders = [threading.Thread(target=send) for _ in range(12)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert statuses == [201] * 12
    db.session.expire_all()
    people = db.session.execute(sa.select(Person)).scalars().all()
    assert len(people) == 1
    requests = db.session.execute(sa.select(HelpRequest)).scalars().all()
    assert len(requests) == 12 and {r.person_id for r in requests} == {people[0].id}


def test_a_coordinator_merges_two_records_of_one_person(client, db, as_role):
    first = client.post("/api/v1/help-requests", json=submission(
        given_name="Jon", family_name="Smith", phone="07700 900222", email=""))
    second = client.post("/api/v1/help-requests", json=submission(
        given_name="Jonathan", family_name="Smith", phone="07700 900222", email="",
        needs=["befriending"]))
    assert first.status_code == second.status_code == 201
    jon, jonathan = db.session.execute(sa.select(Person).order_by(Person.id)).scalars().all()
    bolton = as_role("coordinator", BOLTON)
    etag = bolton.client.get(f"/api/v1/people/{jon.id}").headers["ETag"]
    assert bolton.client.post(f"/api/v1/people/{jon.id}/merge", json={"duplicate_id": jon.id},
                              headers={"If-Match": etag}).status_code == 422
    wigan = as_role("coordinator", "E08000010")
    assert wigan.client.post(f"/api/v1/people/{jon.id}/merge",
                             json={"duplicate_id": jonathan.id},
                             headers={"If-Match": etag}).status_code == 404
    merged = bolton.client.post(f"/api/v1/people/{jon.id}/merge",
                                json={"duplicate_id": jonathan.id}, headers={"If-Match": etag})
    assert merged.status_code == 200, merged.get_json()
    # Both ids resolve to the survivor, who now has both requests and both consents.
    again = bolton.client.get(f"/api/v1/people/{jonathan.id}").get_json()
    assert again["id"] == jon.id and again["given_name"] == "Jon"
    db.session.expire_all()
    assert {r.person_id for r in db.session.execute(sa.select(HelpRequest)).scalars()} == {jon.id}
    assert len(db.session.get(Person, jon.id).consents) == 2
    gone = db.session.get(Person, jonathan.id)
    assert (gone.phone, gone.given_name, gone.merged_into_id) == (None, "Merged", jon.id)
    export = bolton.client.get(f"/api/v1/people/{jon.id}/export").get_json()
    requests = next(s for s in export["sections"] if s["source"] == "hub_requests")
    assert len(requests["records"]) == 2
    # Every plugin moved everything: asked again, none has anything left to move.
    pm = client.application.extensions["hubcore"].pm
    assert pm.hook.merge_person(survivor=db.session.get(Person, jon.id), duplicate=gone) == [
        0] * len(pm.hook.merge_person.get_hookimpls())
    actions = [e.action for e in db.session.execute(sa.select(AuditEntry)).scalars()]
    assert "person.merged" in actions and "person.merged_into" in actions
    # Merging again is refused and changes nothing.
    etag = bolton.client.get(f"/api/v1/people/{jon.id}").headers["ETag"]
    assert bolton.client.post(f"/api/v1/people/{jon.id}/merge",
                              json={"duplicate_id": jonathan.id},
                              headers={"If-Match": etag}).status_code == 404

"""After a helper reports a task done, the coordinator records whether the need was met
(issue #8: "the coordinator cannot close the request or record an outcome")."""

from __future__ import annotations

from hubcore.db import utcnow
from hubcore.values import HelperCandidate
from plugins.hub_requests import lifecycle

from ...conftest import BOLTON, WIGAN, submit_form


def _done_by_a_helper(submit, db):
    request = submit()
    lifecycle.helper_assigned(request, HelperCandidate("v1", "Val Helper", 1.0, None))
    lifecycle.helper_completed(request, 1.5, now=utcnow())
    db.session.commit()
    assert request.status == "completed"
    return request


def test_coordinator_records_the_outcome_of_a_request_the_helper_completed(submit, db, as_role):
    request = _done_by_a_helper(submit, db)
    bolton = as_role("coordinator", BOLTON)
    seen = bolton.client.get(f"/api/v1/help-requests/{request.id}")
    assert seen.get_json()["outcome"] is None
    etag = seen.headers["ETag"]
    bad = bolton.client.post(f"/api/v1/help-requests/{request.id}/outcome",
                             json={"outcome": "fine"}, headers={"If-Match": etag})
    assert bad.status_code == 422
    answer = bolton.client.post(f"/api/v1/help-requests/{request.id}/outcome",
                                json={"outcome": "partly_met", "note": "Shopping came late."},
                                headers={"If-Match": etag})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outcome"] == "partly_met" and body["outcome_at"]
    notes = bolton.client.get(f"/api/v1/help-requests/{request.id}/notes").get_json()
    assert notes[-1]["body"].startswith("Outcome: The need was partly met.")
    # Someone else's stale copy cannot overwrite it.
    stale = bolton.client.post(f"/api/v1/help-requests/{request.id}/outcome",
                               json={"outcome": "met"}, headers={"If-Match": etag})
    assert stale.status_code == 412


def test_an_open_request_has_no_outcome_yet_and_other_districts_cannot_set_one(
        submit, db, as_role):
    request = submit()
    bolton, wigan = as_role("coordinator", BOLTON), as_role("coordinator", WIGAN)
    etag = bolton.client.get(f"/api/v1/help-requests/{request.id}").headers["ETag"]
    refused = bolton.client.post(f"/api/v1/help-requests/{request.id}/outcome",
                                 json={"outcome": "met"}, headers={"If-Match": etag})
    assert refused.status_code == 409
    assert wigan.client.post(f"/api/v1/help-requests/{request.id}/outcome",
                             json={"outcome": "met"},
                             headers={"If-Match": etag}).status_code == 404


def test_the_request_page_offers_the_outcome_once_the_helper_has_finished(
        app, submit, db, make_account):
    from ...conftest import login

    request = _done_by_a_helper(submit, db)
    account = make_account("coordinator", (BOLTON,))
    client = app.test_client()
    login(client, account.email)
    url = f"/hub-requests/{request.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Record the outcome" in page
    answer = submit_form(client, f"{url}/outcome",
                         {"outcome-outcome": "met", "outcome-version": str(request.version)},
                         page_url=url, follow_redirects=True)
    assert answer.status_code == 200
    assert "The need was met" in answer.get_data(as_text=True)

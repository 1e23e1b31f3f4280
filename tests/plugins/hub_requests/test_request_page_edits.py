"""The request page's "Change the request" and "Share with a neighbouring hub" forms."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry, verify_chain
from plugins.hub_requests import lifecycle
from plugins.hub_requests.models import HelpRequest
from tests.conftest import BOLTON, BURY, MANCHESTER, WIGAN, csrf_token_from, login

@pytest.fixture
def coordinator(client, make_account):
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    return account


def page_of(client, request) -> str:
    return client.get(f"/hub-requests/{request.id}").get_data(as_text=True)


def change_data(request, **overrides) -> dict:
    """The change form as the page shows it for ``request``, with ``overrides`` typed in."""
    data = {"edit-version": str(request.version), "edit-needs": list(request.needs),
            "edit-circumstances": list(request.circumstances),
            "edit-urgency": request.urgency, "edit-description": request.description,
            "edit-recurrence": request.recurrence}
    data.update({f"edit-{k}": v for k, v in overrides.items()})
    return data


def post_change(client, request, **overrides):
    token = csrf_token_from(page_of(client, request))
    return client.post(f"/hub-requests/{request.id}/edit",
                       data={**change_data(request, **overrides), "edit-csrf_token": token})


def post_share(client, request, district: str, *, version: int | None = None):
    token = csrf_token_from(page_of(client, request))
    return client.post(f"/hub-requests/{request.id}/overflow",
                       data={"share-csrf_token": token, "share-overflow_district": district,
                             "share-version": str(request.version if version is None
                                                  else version)})


def fresh(db, request) -> HelpRequest:
    db.session.expire_all()
    return db.session.get(HelpRequest, request.id)


def audited(db, request, action: str) -> list[dict]:
    rows = db.session.execute(
        sa.select(AuditEntry.summary).where(AuditEntry.entity_type == "help_request",
                                            AuditEntry.entity_id == str(request.id),
                                            AuditEntry.action == action)
        .order_by(AuditEntry.seq)).scalars().all()
    return [json.loads(r) for r in rows]


def checked(html: str, name: str) -> set[str]:
    return set(re.findall(rf'name="{name}" value="(\w+)" checked', html))


# -- Change the request -------------------------------------------------------------------


def test_the_change_form_is_prefilled_with_the_request(client, coordinator, submit):
    request = submit(needs=["food", "advice"], circumstances=["lives_alone"],
                     urgency="few_days", description="Cannot get to the shops.",
                     recurrence="weekly")
    html = page_of(client, request)
    assert "<h2 id=\"change-request\">Change the request</h2>" in html
    assert checked(html, "edit-needs") == {"food", "advice"}
    assert checked(html, "edit-circumstances") == {"lives_alone"}
    assert checked(html, "edit-urgency") == {"few_days"}
    assert re.search(r'<option selected value="weekly">|<option value="weekly" selected',
                     html)
    assert re.search(r'<textarea[^>]*name="edit-description"[^>]*>\s*Cannot get to the shops.',
                     html)
    # the public form's words, not a copy of them
    assert '<label for="edit-needs">Food</label>' in html
    assert "Money worries (financial hardship)" in html


def test_changing_circumstances_re_triages_and_audits_only_what_changed(client, coordinator,
                                                                      submit, db):
    request = submit(needs=["food"], circumstances=["lives_alone"], urgency="not_urgent")
    before = (request.priority, request.version)
    response = post_change(client, request,
                           circumstances=["lives_alone", "mental_health_crisis"])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/hub-requests/{request.id}")
    stored = fresh(db, request)
    assert stored.circumstances == ["lives_alone", "mental_health_crisis"]
    assert stored.priority == "P1" and before[0] != "P1"
    assert stored.version > before[1]
    assert "mental-health crisis" in stored.reason
    assert [e["fields"] for e in audited(db, request, "hub_requests.request.updated")] == [
        ["circumstances"]]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{request.reference} is updated. Triage now says P1." in page
    assert verify_chain().ok


def test_description_and_recurrence_change_without_re_triage(client, coordinator, submit, db):
    request = submit(urgency="this_week")
    score, reason = request.score, request.reason
    response = post_change(client, request, description="Needs a weekly shop at Asda.\r\n"
                                                        "Leave it with the neighbour.",
                           recurrence="weekly")
    assert response.status_code == 303
    stored = fresh(db, request)
    assert stored.description == "Needs a weekly shop at Asda.\nLeave it with the neighbour."
    assert stored.recurrence == "weekly"
    assert (stored.score, stored.reason) == (score, reason)
    assert [e["fields"] for e in audited(db, request, "hub_requests.request.updated")] == [
        ["description", "recurrence"]]


def test_submitting_the_form_unchanged_changes_nothing(client, coordinator, submit, db):
    request = submit(needs=["food", "medication"])
    version = request.version
    response = post_change(client, request, needs=["medication", "food"])  # order is no change
    assert response.status_code == 303
    assert "Nothing was changed." in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert fresh(db, request).version == version
    assert audited(db, request, "hub_requests.request.updated") == []


def test_a_change_from_an_out_of_date_page_is_refused_and_changes_nothing(client, coordinator,
                                                                        submit, db):
    request = submit(needs=["food"])
    token = csrf_token_from(page_of(client, request))
    stale = change_data(request, needs=["food", "befriending"])
    lifecycle.add_note(request, "Rang back", actor=None)
    lifecycle.set_escalation(request, True, "Rang twice, no answer", actor=None)  # version + 1
    db.session.commit()
    response = client.post(f"/hub-requests/{request.id}/edit",
                           data={**stale, "edit-csrf_token": token}, follow_redirects=True)
    assert "Someone else changed this request" in response.get_data(as_text=True)
    assert fresh(db, request).needs == ["food"]
    assert audited(db, request, "hub_requests.request.updated") == []


@pytest.mark.parametrize("overrides, field_id, message", [
    ({"needs": []}, "edit-needs", "Choose at least one kind of help"),
    ({"description": "x" * 2001}, "edit-description", "2000 characters or fewer"),
    ({"urgency": "yesterday"}, "edit-urgency", "Choose how soon help is needed"),
    ({"recurrence": "daily"}, "edit-recurrence", "Choose one of"),
])
def test_invalid_changes_are_shown_on_the_form_with_422_and_change_nothing(
        client, coordinator, submit, db, overrides, field_id, message):
    request = submit(needs=["food"], description="Cannot get to the shops.")
    response = post_change(client, request, **overrides)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in html and f'href="#{field_id}"' in html
    assert message in html
    assert 'aria-invalid="true"' in html or f'id="{field_id}-error"' in html
    stored = fresh(db, request)
    assert (stored.needs, stored.description, stored.urgency, stored.recurrence) == (
        ["food"], "Cannot get to the shops.", request.urgency, "none")


def test_what_was_typed_is_kept_when_the_form_comes_back_with_errors(client, coordinator,
                                                                     submit):
    request = submit(needs=["food"])
    html = post_change(client, request, needs=[], description="Typed by the coordinator"
                       ).get_data(as_text=True)
    assert "Typed by the coordinator" in html
    assert checked(html, "edit-needs") == set()


def test_a_finished_request_has_no_change_form_and_refuses_a_direct_post(client, coordinator,
                                                                         submit, db):
    request = submit(needs=["food"])
    token = csrf_token_from(page_of(client, request))
    data = change_data(request, needs=["food", "advice"])
    lifecycle.transition(request, "cancelled", actor=None)
    db.session.commit()
    html = page_of(client, request)
    assert "Change the request" not in html and "Save the sharing" not in html
    data["edit-version"] = str(fresh(db, request).version)
    response = client.post(f"/hub-requests/{request.id}/edit",
                           data={**data, "edit-csrf_token": token}, follow_redirects=True)
    assert "This request is finished and can no longer be changed." in response.get_data(
        as_text=True)
    assert fresh(db, request).needs == ["food"]


def test_another_districts_coordinator_can_neither_change_nor_share(client, make_account,
                                                                    submit, db):
    request = submit(needs=["food"])
    login(client, make_account("coordinator", (WIGAN,)).email)
    assert client.get(f"/hub-requests/{request.id}").status_code == 404
    token = csrf_token_from(client.get("/hub-requests/phone").get_data(as_text=True))
    edit = client.post(f"/hub-requests/{request.id}/edit",
                       data={**change_data(request, needs=["advice"]), "edit-csrf_token": token})
    share = client.post(f"/hub-requests/{request.id}/overflow",
                        data={"share-csrf_token": token, "share-overflow_district": WIGAN,
                              "share-version": str(request.version)})
    assert (edit.status_code, share.status_code) == (404, 404)
    stored = fresh(db, request)
    assert (stored.needs, stored.overflow_district_code) == (["food"], None)


# -- Share with a neighbouring hub ---------------------------------------------------------


def test_the_share_form_offers_the_neighbours_by_name_and_not_shared(client, coordinator,
                                                                     submit):
    html = page_of(client, submit())
    assert "Not shared: only this district's hub sees it." in html
    select = re.search(r'<select[^>]*name="share-overflow_district".*?</select>', html, re.S)
    assert select is not None
    options = re.findall(r'<option[^>]*value="(\w*)"[^>]*>([^<]+)</option>', select.group(0))
    assert options == [("", "Not shared"), (BURY, "Bury"), ("E08000006", "Salford"),
                       (WIGAN, "Wigan")]
    assert f'value="{MANCHESTER}"' not in select.group(0)
    assert '<label class="label" for="share-overflow_district">Share with</label>' in html


def test_sharing_with_a_neighbour_lets_its_hub_work_on_it_but_not_reshare_it(
        client, coordinator, submit, db, app, make_account):
    request = submit()
    response = post_share(client, request, BURY)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{request.reference} is shared with the Bury hub." in page
    assert "Shared with the <strong>Bury</strong> hub." in page
    assert fresh(db, request).overflow_district_code == BURY
    assert audited(db, request, "hub_requests.request.overflow") == [{"from": None, "to": BURY}]

    bury = app.test_client()
    login(bury, make_account("coordinator", (BURY,)).email)
    html = bury.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Change the request" in html  # it may work on it ...
    assert "Save the sharing" not in html  # ... but only Bolton decides who shares it
    assert "Shared with the <strong>Bury</strong> hub." in html
    stored = fresh(db, request)
    refused = post_share(bury, stored, WIGAN)
    assert refused.status_code == 403
    assert fresh(db, request).overflow_district_code == BURY


def test_sharing_can_be_stopped(client, coordinator, submit, db):
    request = submit()
    post_share(client, request, BURY)
    response = post_share(client, fresh(db, request), "")
    assert response.status_code == 303
    assert fresh(db, request).overflow_district_code is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{request.reference} is not shared with another hub." in page


def test_sharing_with_a_district_that_is_not_a_neighbour_is_refused_with_422(client,
                                                                           coordinator,
                                                                           submit, db):
    request = submit()
    response = post_share(client, request, MANCHESTER)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#share-overflow_district"' in html
    assert "Choose a district next to this request&#39;s district." in html
    assert fresh(db, request).overflow_district_code is None


def test_sharing_from_an_out_of_date_page_is_refused(client, coordinator, submit, db):
    request = submit()
    response = post_share(client, request, BURY, version=request.version - 1)
    assert response.status_code == 303
    assert "Someone else changed this request" in client.get(
        response.headers["Location"]).get_data(as_text=True)
    assert fresh(db, request).overflow_district_code is None

"""Pages: the public form and its confirmation, phone intake, the queue, a request's page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubcore.identity.models import Person
from plugins.hub_requests.models import HelpRequest
from tests.conftest import BOLTON, WIGAN, csrf_token_from, login, submit_form

from .conftest import resident


def form_data(**overrides) -> dict:
    data = {**resident(), "needs": ["food", "medication"], "circumstances": ["aged_70_plus"],
            "urgency": "today", "description": "Prescription waiting at Boots",
            "consent": "y"}
    data.update(overrides)
    return data


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def coordinator(client, make_account):
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    return account


def test_the_public_form_has_labelled_fields_and_no_account_is_needed(client):
    page = client.get("/help")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Ask for help</h1>" in html
    for field_id in ("given_name", "phone", "postcode", "needs", "urgency", "consent"):
        assert f'for="{field_id}"' in html, field_id
    assert "<legend" in html and "<script" not in html
    assert 'autocomplete="postal-code"' in html


def test_submitting_the_form_shows_the_reference_on_the_confirmation_page(client, db):
    response = submit_form(client, "/help", form_data())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/help/received")
    page = client.get("/help/received").get_data(as_text=True)
    stored = db.session.execute(sa.select(HelpRequest)).scalar_one()
    assert stored.reference in page and "What happens next" in page
    assert stored.channel == "web" and stored.needs == ["food", "medication"]
    assert "Bolton" in page


def test_the_confirmation_page_without_a_submit_goes_back_to_the_form(client):
    assert client.get("/help/received").headers["Location"].endswith("/help")


def test_form_errors_are_summarised_and_linked_and_nothing_is_stored(client, db):
    response = submit_form(client, "/help", form_data(postcode="SW1A 1AA", consent="",
                                                      needs=[]))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in html
    for anchor in ("#postcode", "#consent", "#needs"):
        assert f'href="{anchor}"' in html
    assert count(db, HelpRequest) == count(db, Person) == 0
    # what was typed is kept
    assert 'value="Prescription waiting at Boots"' not in html  # a textarea, not a value
    assert "Prescription waiting at Boots" in html


def test_a_form_without_its_csrf_token_is_refused(client, db):
    response = client.post("/help", data=form_data())
    assert response.status_code == 400
    assert count(db, HelpRequest) == 0


def test_phone_intake_page_records_the_request_for_the_person(client, coordinator, db):
    response = submit_form(client, "/hub-requests/phone", form_data(recurrence="weekly"))
    assert response.status_code == 303
    stored = db.session.execute(sa.select(HelpRequest)).scalar_one()
    assert (stored.channel, stored.taken_by_id, stored.recurrence) == ("phone", coordinator.id,
                                                                        "weekly")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Request {stored.reference} recorded" in page


def test_phone_intake_for_another_district_is_refused(client, make_account, db):
    login(client, make_account("coordinator", (WIGAN,)).email)
    response = submit_form(client, "/hub-requests/phone", form_data())
    assert response.status_code == 403
    assert count(db, HelpRequest) == 0


def test_the_queue_page_shows_counts_flags_and_most_urgent_first(client, coordinator, submit):
    low = submit(needs=["practical_task"], circumstances=[], urgency="not_urgent")
    high = submit(circumstances=["mental_health_crisis"])
    submit(postcode="WN1 1XX")
    page = client.get("/hub-requests")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index(high.reference) < html.index(low.reference)
    assert "<strong>2</strong> open" in html
    assert "WIG-" not in html
    assert "P1: 1" in html


def test_the_queue_page_for_another_district_is_refused(client, coordinator):
    assert client.get(f"/hub-requests?district={WIGAN}").status_code == 403


def test_the_queue_page_needs_a_sign_in(client):
    response = client.get("/hub-requests?status=new")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/hub-requests?status%3Dnew"
    assert "Sign in to see this page." in client.get(response.headers["Location"]).get_data(
        as_text=True)


def test_the_request_page_moves_the_request_along(client, coordinator, submit, db):
    request = submit()
    page = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert request.reference in page and "Mark as triaged" in page
    token = csrf_token_from(page)
    response = client.post(f"/hub-requests/{request.id}/transition",
                           data={"move-csrf_token": token, "csrf_token": token,
                                 "move-version": str(request.version), "move-to": "triaged"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == "triaged"


def test_an_action_from_an_out_of_date_page_changes_nothing(client, coordinator, submit, db):
    request = submit()
    page = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    token = csrf_token_from(page)
    stale = str(request.version - 1)
    response = client.post(f"/hub-requests/{request.id}/transition",
                           data={"move-csrf_token": token, "csrf_token": token,
                                 "move-version": stale, "move-to": "triaged"},
                           follow_redirects=True)
    assert "Someone else changed this request" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == "new"


def test_an_illegal_move_from_the_page_is_explained_and_changes_nothing(client, coordinator,
                                                                        submit, db):
    request = submit()
    token = csrf_token_from(client.get(f"/hub-requests/{request.id}").get_data(as_text=True))
    response = client.post(f"/hub-requests/{request.id}/transition",
                           data={"move-csrf_token": token, "csrf_token": token,
                                 "move-version": str(request.version), "move-to": "completed"},
                           follow_redirects=True)
    assert "cannot become completed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == "new"


def test_notes_and_calls_from_the_request_page(client, coordinator, submit, db):
    request = submit()
    token = csrf_token_from(client.get(f"/hub-requests/{request.id}").get_data(as_text=True))
    client.post(f"/hub-requests/{request.id}/notes",
                data={"note-csrf_token": token, "note-body": "Has a cat"})
    client.post(f"/hub-requests/{request.id}/calls",
                data={"call-csrf_token": token, "call-outcome": "reached"})
    bad = client.post(f"/hub-requests/{request.id}/notes",
                      data={"note-csrf_token": token, "note-body": ""})
    assert bad.status_code == 422 and "There is a problem" in bad.get_data(as_text=True)
    page = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Has a cat" in page and "Reached" in page


def test_another_districts_request_page_is_not_found(client, make_account, submit):
    request = submit()
    login(client, make_account("coordinator", (WIGAN,)).email)
    assert client.get(f"/hub-requests/{request.id}").status_code == 404


def test_the_request_page_shows_referral_routes_for_its_needs(app, client, coordinator, submit):
    from hubcore import hookimpl
    from hubcore.values import ServiceSuggestion

    class Grants:
        @hookimpl
        def suggest_services(self, need, person):
            return [ServiceSuggestion("g1", "Apply for a hardship grant", "Community Foundation",
                                      1.0, ("Money for essentials",), "grants")
                    ] if need.code == "financial_hardship" else []

    app.extensions["hubcore"].pm.register(Grants(), name="grants-test")
    request = submit(needs=["financial_hardship"])
    html = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Where else the person can get help" in html
    assert "Apply for a hardship grant" in html

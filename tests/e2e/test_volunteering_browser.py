"""Volunteering in a real browser: sign up, activation, a ranked candidate, an offer accepted,
hours logged; the public form without JavaScript; accessibility of each page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa

from tests.conftest import BOLTON, PASSWORD


def fill_sign_up(page, *, email: str) -> None:
    page.goto("/volunteer")
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Last name").fill("Rahman")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Postcode").fill("BL1 1AA")
    page.get_by_label("Befriending (phone or visits)").check()
    page.get_by_role("group", name="Wednesday").get_by_label("Morning").check()
    for day in ("Monday", "Tuesday", "Thursday", "Friday", "Saturday", "Sunday"):
        group = page.get_by_role("group", name=day)
        for part in ("Morning", "Afternoon", "Evening"):
            group.get_by_label(part).check()
    page.get_by_label("How far can you travel, in kilometres?").fill("8")
    page.get_by_label(re.compile("I agree that my details are stored")).check()
    page.get_by_role("button", name="Sign up to volunteer").click()
    page.wait_for_url(re.compile(r"/volunteer/thank-you"))  # before reading the page


def test_sign_up_form_works_without_javascript_and_reports_errors(no_js_page):
    # axe-core runs as JavaScript, so it cannot run in this page: the same server-rendered
    # error summary is checked by test_sign_up_and_my_tasks_pages_are_accessible.
    page = no_js_page
    page.goto("/volunteer")
    page.get_by_role("button", name="Sign up to volunteer").click()
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    assert "Enter your first name." in summary.inner_text()
    fill_sign_up(page, email="nadia.nojs@example.org")
    assert "The Bolton volunteer team will contact you" in page.content()


def test_sign_up_and_my_tasks_pages_are_accessible(page, axe_check):
    page.goto("/volunteer")
    axe_check(page)
    page.get_by_role("button", name="Sign up to volunteer").click()
    page.get_by_role("alert").wait_for()
    axe_check(page)  # with the error summary and messages


def test_volunteer_signs_up_is_activated_ranked_offered_accepts_and_logs_hours(
        page, app, db, as_role, make_account, sign_in, axe_check):
    from hubcore.identity import accounts
    from plugins.volunteering import offers
    from plugins.volunteering.models import Volunteer

    fill_sign_up(page, email="nadia@example.org")
    assert "The Bolton volunteer team will contact you" in page.content()

    coordinator = make_account("coordinator", (BOLTON,), email="coord.bolton@example.org")
    context = page.context
    context.clear_cookies()
    sign_in(page, coordinator.email)
    page.goto("/volunteering/volunteers")
    axe_check(page)
    page.get_by_role("link", name="Nadia Rahman").click()
    page.wait_for_url(re.compile(r"/volunteering/volunteers/\d+$"))
    axe_check(page)
    # The hub's rules ask for a basic check for befriending: the coordinator records one.
    page.get_by_label("DBS check level").select_option("basic")
    page.get_by_label("Certificate number").fill("001234567890")
    page.get_by_label("Date of issue").fill((date.today() - timedelta(days=40)).isoformat())
    page.get_by_role("button", name="Record the DBS check").click()
    page.get_by_role("status").filter(has_text="The DBS check is recorded").wait_for()
    page.get_by_role("button", name="Activate Nadia").click()
    page.get_by_role("status").filter(has_text="is now active").wait_for()

    # A resident asks for help nearby; the request's page ranks Nadia, with reasons.
    api = as_role("coordinator", BOLTON)
    created = api.client.post("/api/v1/help-requests", json={
        "given_name": "Rita", "postcode": "BL1 2AA", "needs": ["befriending"],
        "urgency": "few_days", "consent": True, "phone": "07700 900555"})
    assert created.status_code == 201, created.get_json()
    request_id = created.get_json()["id"]
    etag = api.client.get(f"/api/v1/help-requests/{request_id}").headers["ETag"]
    assert api.client.post(f"/api/v1/help-requests/{request_id}/transitions",
                           json={"to": "triaged"}, headers={"If-Match": etag}).status_code == 200
    page.goto(f"/hub-requests/{request_id}")
    helpers = page.get_by_role("heading", name="Suggested helpers")
    helpers.wait_for()
    body = page.content()
    assert "Nadia R." in body and "km away" in body and "tasks in hand now" in body

    db.session.expire_all()
    volunteer = db.session.execute(sa.select(Volunteer).where(
        Volunteer.email == "nadia@example.org")).scalar_one()
    # Offered through the domain here; test_offer_from_request_page.py offers from the page.
    task = offers.task_from_dict({"owner": "hub_requests", "owner_id": str(request_id),
                                  "district": BOLTON, "needs": ["befriending"],
                                  "dbs_level": "basic"})
    offer = offers.make_offer(task, volunteer_id=volunteer.id, actor=coordinator)
    account = db.session.get(type(coordinator), volunteer.account_id)
    accounts.set_password(account, PASSWORD)
    db.session.commit()
    assert offer.volunteer_id == volunteer.id

    context.clear_cookies()
    sign_in(page, "nadia@example.org")
    page.get_by_role("link", name="My tasks").click()
    page.get_by_role("heading", name="My tasks", exact=True).wait_for()
    axe_check(page)
    page.get_by_role("button", name=re.compile("^Accept")).click()
    page.get_by_role("status").filter(has_text="You have the task").wait_for()
    page.get_by_label("Hours spent").fill("1.5")
    page.get_by_role("button", name="Mark as done and log hours").click()
    page.get_by_role("status").filter(has_text="1.5 hours logged").wait_for()
    axe_check(page)
    assert "done" in page.get_by_role("heading", name="Finished tasks").locator(
        "xpath=following-sibling::ul[1]").inner_text()
    # The hub's request heard of it through task_assigned and task_completed.
    assert api.client.get(f"/api/v1/help-requests/{request_id}").get_json()["status"] \
        == "completed"

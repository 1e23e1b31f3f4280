"""Offering a task from the hub request page in a real browser: keyboard alone, the volunteer
accepts on My tasks, the request page shows them assigned; axe-core on the page with candidates."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.conftest import BOLTON, PASSWORD
from tests.e2e.conftest import tab_to


def active_volunteer(db, coordinator, *, email: str):
    """A Bolton volunteer with a basic DBS check, active, who can sign in."""
    from hubcore.identity import accounts
    from plugins.volunteering import signup, vetting

    volunteer = signup.sign_up({
        "given_name": "Nadia", "family_name": "Rahman", "email": email, "phone": "",
        "postcode": "BL1 1AA", "skills": ["befriending"], "languages": [],
        "availability": [f"{d}_{p}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                         for p in ("morning", "afternoon", "evening")],
        "max_travel_km": 8, "has_car": False, "consent": True}).volunteer
    vetting.verify_dbs(volunteer, level="basic", certificate_number="001234567890",
                       issue_date=date.today() - timedelta(days=40), actor=coordinator)
    vetting.change_status(volunteer, "active", actor=coordinator)
    accounts.set_password(db.session.get(type(coordinator), volunteer.account_id), PASSWORD)
    db.session.commit()
    return volunteer


def test_coordinator_offers_from_the_request_page_with_the_keyboard_and_the_volunteer_accepts(
        page, db, as_role, make_account, sign_in, axe_check):
    coordinator = make_account("coordinator", (BOLTON,), email="coord.offer@example.org")
    active_volunteer(db, coordinator, email="nadia.offer@example.org")
    api = as_role("coordinator", BOLTON)
    created = api.client.post("/api/v1/help-requests", json={
        "given_name": "Rita", "postcode": "BL1 2AA", "needs": ["befriending"],
        "urgency": "few_days", "consent": True, "phone": "07700 900555"})
    assert created.status_code == 201, created.get_json()
    request_id = created.get_json()["id"]

    sign_in(page, coordinator.email)
    page.goto(f"/hub-requests/{request_id}")
    button = page.get_by_role("button", name="Offer this task to Nadia R.")
    button.wait_for()
    axe_check(page)  # the page with its ranked candidates and their offer forms
    reached = tab_to(page, lambda el: el["tag"] == "button"
                     and el["text"].startswith("Offer this task"), limit=80)
    assert reached["indicated"], "the offer button shows no focus indicator"
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="The task is offered to Nadia Rahman").wait_for()
    assert page.url.endswith(f"/hub-requests/{request_id}")
    axe_check(page)
    # Nadia has been asked: she is not suggested (nor offered it) a second time.
    assert page.get_by_role("button", name="Offer this task to Nadia R.").count() == 0

    page.context.clear_cookies()
    sign_in(page, "nadia.offer@example.org")
    page.get_by_role("link", name="My tasks").click()
    page.get_by_role("button", name=re.compile("^Accept")).click()
    page.get_by_role("status").filter(has_text="You have the task").wait_for()

    page.context.clear_cookies()
    sign_in(page, coordinator.email)
    page.goto(f"/hub-requests/{request_id}")
    assert "Assigned" in page.locator("p.lead").inner_text()
    helper = page.get_by_role("term").filter(has_text="Helper").locator(
        "xpath=following-sibling::dd[1]")
    assert helper.inner_text() == "Nadia R."

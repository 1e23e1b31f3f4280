"""Asking for help in a real browser: keyboard alone, no JavaScript, a phone, axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from plugins.hub_requests import lifecycle
from tests.conftest import BOLTON
from tests.e2e.conftest import focused, horizontal_overflow, tab_to
from tests.plugins.hub_requests.conftest import submit  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e


def press_until(page, field_id: str, key: str = "Tab", limit: int = 40) -> dict:
    return tab_to(page, lambda el: el["id"] == field_id, limit=limit)


def test_a_resident_submits_with_the_keyboard_alone_and_lands_top_of_the_queue(
        page, make_account, sign_in, submit, axe_check):
    submit(needs=["practical_task"], circumstances=[], urgency="not_urgent")  # already waiting
    page.goto("/help")
    axe_check(page)

    assert press_until(page, "given_name")["indicated"]
    page.keyboard.type("Doreen")
    page.keyboard.press("Tab")
    page.keyboard.type("Ashworth")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "phone"
    page.keyboard.type("07700 900987")
    press_until(page, "postcode")
    page.keyboard.type("bl1 4ab")
    press_until(page, "needs")  # the first need: food
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # medication
    press_until(page, "circumstances-7")  # no food in the house
    page.keyboard.press("Space")
    press_until(page, "urgency")  # radios: the first is "today"
    page.keyboard.press("Space")
    press_until(page, "consent")
    page.keyboard.press("Space")
    button = tab_to(page, lambda el: el["text"] == "Send my request")
    assert button["indicated"]
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="We have your request").wait_for()
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"BOL-\w{4}", reference)
    axe_check(page)

    page.context.clear_cookies()
    sign_in(page, make_account("coordinator", (BOLTON,)).email)
    page.goto("/hub-requests")
    first_row = page.locator("tbody tr").first
    assert reference in first_row.inner_text()
    assert "P1" in first_row.inner_text() and "no food in the house" in first_row.inner_text()
    axe_check(page)

    first_row.get_by_role("link", name=reference).click()
    page.get_by_role("heading", name=f"Request {reference}").wait_for()
    axe_check(page)


def test_errors_are_summarised_focused_and_accessible(page, axe_check):
    page.goto("/help")
    page.get_by_role("button", name="Send my request").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    assert "Enter a first name" in summary.inner_text()
    # autofocus moves focus once the page is parsed: expect() waits for it
    expect(page.locator("#error-summary")).to_be_focused()
    axe_check(page)
    summary.get_by_role("link", name=re.compile("Tick the box")).click()
    expect(page.locator("#consent")).to_be_focused()


def test_the_form_works_without_javascript(no_js_page, db):
    page = no_js_page
    page.goto("/help")
    page.get_by_label("First name").fill("Albert")
    page.get_by_label("Phone number").fill("07700 900654")
    page.get_by_label("Postcode").fill("WN1 1XX")
    page.get_by_label("Food", exact=True).check()
    page.get_by_label("This week").check()
    page.get_by_label(re.compile("^I agree")).check()
    page.get_by_role("button", name="Send my request").click()
    page.get_by_role("heading", name="We have your request").wait_for()
    assert page.locator(".reference").inner_text().startswith("WIG-")


def test_the_form_fits_a_phone_screen(phone_page, axe_check):
    phone_page.goto("/help")
    assert horizontal_overflow(phone_page) <= 0
    axe_check(phone_page)


def test_a_request_page_with_a_duplicate_is_accessible(page, make_account, sign_in, submit,
                                                       axe_check, db):
    first = submit(phone="07700 900321", email="")
    second = submit(phone="07700 900321", email="")
    lifecycle.add_note(first, "Neighbour has a key", actor=None)
    db.session.commit()
    sign_in(page, make_account("coordinator", (BOLTON,)).email)
    page.goto(f"/hub-requests/{second.id}")
    page.get_by_role("heading", name="Possible duplicate").wait_for()
    axe_check(page)


def test_changing_and_sharing_a_request_on_its_page_with_the_keyboard(page, make_account,
                                                                      sign_in, submit,
                                                                      axe_check):
    request = submit(needs=["food"], circumstances=[], urgency="not_urgent")
    sign_in(page, make_account("coordinator", (BOLTON,)).email)
    page.goto(f"/hub-requests/{request.id}")
    page.get_by_role("group", name="What help is needed?").get_by_label(
        "Food", exact=True).uncheck()
    page.get_by_role("button", name="Save the changes").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    # autofocus moves focus once the page is parsed: expect() waits for it
    expect(page.locator("#error-summary")).to_be_focused()
    axe_check(page)  # the change form with its errors

    summary.get_by_role("link", name=re.compile("Choose at least one")).click()
    expect(page.locator("#edit-needs")).to_be_focused()
    page.keyboard.press("Space")  # food again
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # and medication
    assert tab_to(page, lambda el: el["text"] == "Save the changes")["indicated"]
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text=f"{request.reference} is updated").wait_for()

    share = tab_to(page, lambda el: el["id"] == "share-overflow_district", limit=80)
    assert share["indicated"]
    page.get_by_label("Share with").select_option(label="Bury")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="shared with the Bury hub").wait_for()
    axe_check(page)

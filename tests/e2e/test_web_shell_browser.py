"""The web shell in a real browser: keyboard only, error summary, axe-core, phone, no JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hubcore.db import db
from hubcore.identity import accounts
from tests.e2e.conftest import PHONE, focused, horizontal_overflow, tab_to

pytestmark = pytest.mark.e2e


@pytest.fixture
def partner(make_account):
    """A signed-up partner with an API token in use (so the account page lists one)."""
    account = make_account("partner")
    accounts.issue_token(account, name="reporting script")
    db.session.commit()
    return account


def test_keyboard_alone_signs_in_opens_the_account_page_and_signs_out(page, live_server, partner):
    page.goto("/")
    skip = tab_to(page, lambda el: el["tag"] == "a", limit=1)
    assert skip["text"] == "Skip to main content" and skip["indicated"]

    tab_to(page, lambda el: el["text"] == "Sign in")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Sign in").wait_for()

    email = tab_to(page, lambda el: el["id"] == "email")
    assert email["indicated"]
    page.keyboard.type(partner.email)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text=f"Signed in as {partner.name}.").wait_for()

    menu_item = tab_to(page, lambda el: el["text"] == "Your account")
    assert menu_item["indicated"]
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your account", level=1).wait_for()
    assert page.url == f"{live_server}/account"
    assert page.get_by_role("link", name="Your account").get_attribute("aria-current") == "page"

    sign_out = tab_to(page, lambda el: el["text"] == "Sign out")
    assert sign_out["tag"] == "button" and sign_out["indicated"]
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="You have signed out.").wait_for()
    assert page.get_by_role("navigation").get_by_role("link", name="Sign in").is_visible()


def test_wrong_password_focuses_the_error_summary_which_links_to_the_field(page, partner):
    page.goto("/login")
    page.get_by_label("Email address").fill(partner.email)
    page.get_by_label("Password").fill("this is not the password")
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator("#error-summary")
    summary.wait_for()
    # autofocus moves focus once the page is parsed: expect() waits for it
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.title().startswith("Error: ")
    link = summary.get_by_role("link", name="Email address or password is not right.")
    assert link.get_attribute("href") == "#password"
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Email address or password is not right."
    page.keyboard.press("Enter")
    expect(page.locator("#password")).to_be_focused()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"


def test_home_and_sign_in_pages_have_no_serious_accessibility_problems(page, axe_check):
    page.goto("/")
    axe_check(page)
    page.goto("/login")
    axe_check(page)
    page.get_by_role("button", name="Sign in").click()  # empty: both fields in error
    page.locator("#error-summary").wait_for()
    axe_check(page)


def test_account_pages_have_no_serious_accessibility_problems(page, partner, sign_in, axe_check):
    sign_in(page, partner.email)
    page.goto("/account")
    page.get_by_role("heading", name="reporting script").wait_for()
    axe_check(page)
    page.get_by_role("link", name="Change your password").click()
    page.get_by_role("button", name="Change password").click()
    page.locator("#error-summary").wait_for()
    axe_check(page)


def test_pages_fit_a_phone_screen_without_sideways_scrolling(phone_page, partner, sign_in):
    page = phone_page
    for path in ("/", "/login"):
        page.goto(path)
        assert page.viewport_size == PHONE
        assert horizontal_overflow(page) <= 0, path
    page.get_by_role("button", name="Sign in").click()
    page.locator("#error-summary").wait_for()
    assert horizontal_overflow(page) <= 0, "sign-in errors"

    sign_in(page, partner.email)
    for path in ("/account", "/account/password"):
        page.goto(path)
        assert horizontal_overflow(page) <= 0, path
    page.goto("/account")
    revoke = page.get_by_role("button", name="Revoke the token reporting script")
    box = revoke.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 24  # WCAG 2.2 target size (minimum)


def test_signing_in_changing_password_and_revoking_work_without_javascript(no_js_page, partner,
                                                                          sign_in):
    page = no_js_page
    sign_in(page, partner.email)
    page.goto("/account")
    page.get_by_role("button", name="Revoke the token reporting script").click()
    page.get_by_role("status").filter(has_text="is revoked").wait_for()
    assert page.get_by_text("You have no API tokens in use.").is_visible()

    page.goto("/account/password")
    page.get_by_label("Current password").fill("correct horse battery staple")
    page.get_by_label("New password").fill("four unrelated words here")
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("status").filter(has_text="Your password has been changed.").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("status").filter(has_text="You have signed out.").wait_for()


def test_axe_check_fails_on_a_serious_problem(page, axe_check):
    page.set_content('<!doctype html><html lang="en"><title>t</title>'
                     '<main><h1>Form</h1><input type="text"></main></html>')
    with pytest.raises(pytest.fail.Exception, match="label"):
        axe_check(page)

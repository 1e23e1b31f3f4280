"""Setting a password from an invitation in a real browser: keyboard only, then axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
import sqlalchemy as sa

from hubcore.db import db
from hubcore.identity import accounts
from hubcore.notify import OutboxMessage
from tests.e2e.conftest import focused, tab_to

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "purple otter lantern meadow"


@pytest.fixture
def invited(app, live_server):
    """An account made without a password, invited; links point at the live server."""
    hubcore = app.extensions["hubcore"]
    hubcore.settings = hubcore.settings.with_overrides(public_url=live_server)
    account = accounts.create_account(email="sam@example.org", name="Sam Okafor")
    accounts.invite_account(account, actor=None)
    db.session.commit()
    return account


def emailed_link(email: str) -> str:
    """The link in the latest email to this address, as the person would click it."""
    body = db.session.execute(sa.select(OutboxMessage.body).where(
        OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc()).limit(1)).scalar_one()
    return re.search(r"https?://\S+/password/set/\S+", body).group(0)


def test_invited_person_sets_a_password_with_the_keyboard_then_signs_in(
        page, live_server, invited, sign_in):
    link = emailed_link(invited.email)
    assert link.startswith(f"{live_server}/password/set/")
    page.goto(link)
    page.get_by_role("heading", name="Set your password", level=1).wait_for()

    new = tab_to(page, lambda el: el["id"] == "new_password")
    assert new["indicated"]
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "confirm_password"
    page.keyboard.type("not the same words at all")
    page.keyboard.press("Enter")
    summary = page.get_by_role("alert")
    summary.get_by_role("link", name=re.compile("are not the same")).wait_for()
    # autofocus moves focus once the page is parsed: expect() waits for it
    expect(page.locator("#error-summary")).to_be_focused()

    confirm = tab_to(page, lambda el: el["id"] == "confirm_password")
    assert confirm["indicated"]
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "new_password"
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    sign = tab_to(page, lambda el: el["text"] == "Set password")
    assert sign["tag"] == "button" and sign["indicated"]
    page.keyboard.press("Enter")

    page.get_by_role("status").filter(has_text="Your password is set").wait_for()
    page.get_by_role("heading", name="Sign in").wait_for()
    sign_in(page, invited.email, NEW_PASSWORD)

    page.goto(link)  # a used link says so, and what to do
    page.get_by_role("heading", name="This link has already been used").wait_for()


def test_forgotten_password_and_set_password_pages_pass_axe(page, invited, axe_check):
    page.goto("/login")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_role("heading", name="Forgotten your password?").wait_for()
    axe_check(page)
    page.get_by_role("button", name="Send me a link").click()  # empty: the error summary
    page.get_by_role("alert").wait_for()
    axe_check(page)
    page.get_by_label("Email address").fill(invited.email)
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    axe_check(page)

    page.goto(emailed_link(invited.email))
    page.get_by_role("heading", name="Set your password").wait_for()
    axe_check(page)
    page.get_by_role("button", name="Set password").click()
    page.get_by_role("alert").wait_for()
    axe_check(page)

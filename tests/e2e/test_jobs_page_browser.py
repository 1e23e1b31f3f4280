"""The administrators' jobs page in a real browser: a message that could not be sent is sent again."""

from __future__ import annotations

import pytest

from tests.core.test_outbox_resend import failed_message, status_of

pytestmark = pytest.mark.e2e


def test_administrator_sends_a_failed_message_again_from_the_jobs_page(
        page, db, make_account, sign_in, axe_check):
    message_id = failed_message(db)
    sign_in(page, make_account(None, is_admin=True).email)
    page.goto("/jobs")
    page.get_by_role("heading", name="Messages that could not be sent").wait_for()
    axe_check(page)
    button = page.get_by_role("button", name=f"Send again message {message_id}")
    button.focus()
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="is back in the outbox").wait_for()
    axe_check(page)
    assert "Every message has been sent or is waiting its turn." in page.content()
    assert status_of(db, message_id) == "sent"

"""The request page in a real browser when details differ from the record, and the
outcome form once a helper has finished: readable, keyboard-usable, axe-clean."""

from __future__ import annotations

import pytest

from hubcore.db import db, utcnow
from hubcore.values import HelperCandidate
from plugins.hub_requests import lifecycle
from tests.conftest import BOLTON
from tests.plugins.hub_requests.conftest import submit  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e


def test_details_that_differ_are_shown_and_applied_and_the_outcome_recorded(
        page, make_account, sign_in, submit, axe_check):
    person = dict(given_name="Ronald", family_name="Jones", phone="07700 900035", email="",
                  postcode="BL1 4AB", address="12 Deane Road")
    submit(**person)
    finished = submit(**{**person, "address": "3 Bradshawgate"}, needs=["befriending"])
    sign_in(page, make_account("coordinator", (BOLTON,)).email)
    page.goto(f"/hub-requests/{finished.id}")
    page.get_by_role("heading", name="Details differ from our record").wait_for()
    assert "3 Bradshawgate" in page.locator(".notice").first.inner_text()
    axe_check(page)
    page.get_by_role("button", name="Update the person's record with these details").click()
    page.get_by_text("now has the details given").wait_for()
    assert page.get_by_role("heading", name="Details differ from our record").count() == 0

    db.session.refresh(finished)  # the page changed it
    lifecycle.helper_assigned(finished, HelperCandidate("v1", "Val Helper", 1.0, None))
    lifecycle.helper_completed(finished, 1.0, now=utcnow())
    db.session.commit()
    page.goto(f"/hub-requests/{finished.id}")
    page.get_by_role("heading", name="Outcome").wait_for()
    axe_check(page)
    page.get_by_label("The need was met", exact=True).check()
    page.get_by_role("button", name="Record the outcome").click()
    page.get_by_text("Outcome recorded").wait_for()
    assert "The need was met (recorded" in page.content()

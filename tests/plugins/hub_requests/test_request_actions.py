"""``help_request_actions``: links other plugins offer on a request's page.

The grants plugin does not exist yet; a stand-in defined here answers the hook
the way it will ("Apply for a hardship grant", prefilled for the person), and
is added to the app the way any plugin is (``extra_plugins``).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from hubcore import hookimpl
from hubcore.identity.permissions import can
from hubcore.values import HelpRequestInfo, RequestAction
from plugins.hub_requests import lifecycle
from tests.conftest import BOLTON, BURY, login


class HardshipGrantsOffer:
    """Offers a grant application when money is a worry and the user works in the district."""

    def __init__(self):
        self.asked: list[tuple[HelpRequestInfo, int]] = []

    @hookimpl
    def help_request_actions(self, request, user):
        self.asked.append((request, user.id))
        if ("financial_hardship" not in request.needs
                or not can(user, "help_requests.write", request.district)):
            return []
        query = urlencode({"person": request.person_id, "help_request": request.reference,
                           "district": request.district})
        return [RequestAction("Apply for a hardship grant", f"/grants/apply?{query}",
                              "Up to £150 for essentials, decided within two working days.")]


class BrokenOffer:
    @hookimpl
    def help_request_actions(self, request, user):
        raise RuntimeError("the grants service is misconfigured")


@pytest.fixture
def offered():
    """The plugins the app is built with; a test parametrizes it to change them."""
    return (HardshipGrantsOffer(),)


@pytest.fixture
def app_settings(offered):
    return {"extra_plugins": offered}


@pytest.fixture
def coordinator(client, make_account):
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    return account


def page_of(client, request):
    return client.get(f"/hub-requests/{request.id}")


def test_the_grant_link_is_offered_with_the_requests_values(client, coordinator, submit,
                                                            offered):
    request = submit(needs=["food", "financial_hardship"], circumstances=["no_food"])
    html = page_of(client, request).get_data(as_text=True)
    assert "<h2>Other help you can arrange</h2>" in html
    href = (f"/grants/apply?person={request.person_id}&amp;help_request={request.reference}"
            f"&amp;district={BOLTON}")
    assert (f'<a href="{href}" aria-describedby="request-action-1-hint">'
            "Apply for a hardship grant</a>") in html
    assert ('<p class="hint" id="request-action-1-hint">Up to £150 for essentials, decided '
            "within two working days.</p>") in html
    info, user_id = offered[0].asked[-1]
    assert (info.id, info.reference, info.district, info.person_id) == (
        request.id, request.reference, BOLTON, request.person_id)
    assert info.needs == ("food", "financial_hardship") and info.circumstances == ("no_food",)
    assert (info.priority, info.due_at) == (request.priority, request.due_at)
    assert user_id == coordinator.id


def test_the_plugin_decides_whether_its_action_applies(client, coordinator, submit, offered):
    html = page_of(client, submit(needs=["food"])).get_data(as_text=True)
    assert len(offered[0].asked) == 1  # it was asked ...
    assert "Other help you can arrange" not in html  # ... and said no
    assert "Apply for a hardship grant" not in html


def test_the_plugin_is_told_who_is_looking_and_decides_for_them(client, submit, make_account,
                                                                db):
    request = submit(needs=["financial_hardship"])
    lifecycle.share_overflow(request, BURY, actor=None)
    db.session.commit()
    login(client, make_account("coordinator", (BURY,)).email)
    html = page_of(client, request).get_data(as_text=True)  # Bury sees the shared request
    assert request.reference in html
    assert "Apply for a hardship grant" not in html  # but may not apply in Bolton


@pytest.mark.parametrize("offered", [()])
def test_without_a_plugin_there_is_no_section(app, client, coordinator, submit):
    assert not app.extensions["hubcore"].pm.hook.help_request_actions.get_hookimpls()
    response = page_of(client, submit(needs=["financial_hardship"]))
    assert response.status_code == 200
    assert "Other help you can arrange" not in response.get_data(as_text=True)


def test_a_finished_request_offers_no_actions(client, coordinator, submit, offered, db):
    request = submit(needs=["financial_hardship"])
    lifecycle.transition(request, "closed", actor=None, reason="Referred to Citizens Advice")
    db.session.commit()
    html = page_of(client, request).get_data(as_text=True)
    assert "Apply for a hardship grant" not in html
    assert offered[0].asked == []


@pytest.mark.parametrize("offered", [(BrokenOffer(), HardshipGrantsOffer())])
def test_a_failing_plugin_is_left_out_and_the_others_actions_still_show(client, coordinator,
                                                                        submit, caplog):
    response = page_of(client, submit(needs=["financial_hardship"]))
    assert response.status_code == 200
    assert "Apply for a hardship grant" in response.get_data(as_text=True)
    [failure] = [r for r in caplog.records if r.name == "hubcore.plugins"]
    assert "help_request_actions" in failure.getMessage()
    assert "'BrokenOffer'" in failure.getMessage()
    assert "the grants service is misconfigured" in failure.exc_text

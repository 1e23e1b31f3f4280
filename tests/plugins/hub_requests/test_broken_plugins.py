"""One broken plugin cannot take a request's page or the candidates API down.

Each plugin answering ``find_helpers``, ``suggest_services`` or
``help_request_actions`` is asked on its own: one that raises (or whose SQL
fails) is logged by name and left out, and the others' answers still show.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubcore import hookimpl
from hubcore.values import HelperCandidate, RequestAction, ScoreComponent, ServiceSuggestion
from tests.conftest import BOLTON, login

URL = "/api/v1/help-requests"


class WorkingDesk:
    """A plugin whose every page hook answers."""

    @hookimpl
    def find_helpers(self, task, limit):
        return [HelperCandidate("desk-1", "Dee Desk", 7.0, 1.0,
                                (ScoreComponent("distance", 7.0, "round the corner"),),
                                source="desk", offer_url="/desk/offers")]

    @hookimpl
    def suggest_services(self, need, person):
        return [ServiceSuggestion("pantry", "Community pantry", "Bolton Pantry", 3.0, (),
                                  "desk")]

    @hookimpl
    def help_request_actions(self, request, user):
        return [RequestAction("Book a food parcel", "/desk/parcels")]


class BrokenDesk:
    """A plugin whose every page hook raises."""

    @hookimpl
    def find_helpers(self, task, limit):
        raise RuntimeError("helper index is corrupt")

    @hookimpl
    def suggest_services(self, need, person):
        raise KeyError("directory")

    @hookimpl
    def help_request_actions(self, request, user):
        raise ValueError("grants misconfigured")


class SqlBrokenDesk:
    """A plugin enabled but never migrated: its query fails in the database."""

    @hookimpl
    def find_helpers(self, task, limit):
        from hubcore.db import db

        db.session.execute(sa.text("SELECT id FROM sqlbroken_helpers_never_migrated"))
        return []


@pytest.fixture
def desks(app):
    """Only the desks answer find_helpers (the volunteering plugin is tested elsewhere)."""
    pm = app.extensions["hubcore"].pm
    for impl in list(pm.hook.find_helpers.get_hookimpls()):
        pm.unregister(name=impl.plugin_name)

    def register(*plugins):
        for plugin in plugins:
            pm.register(plugin, name=type(plugin).__name__)

    return register


@pytest.fixture
def coordinator(client, make_account):
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    return account


def failures(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hubcore.plugins"]


def test_the_request_page_shows_the_working_plugins_answers_beside_a_broken_one(
        client, coordinator, desks, submit, caplog):
    desks(BrokenDesk(), WorkingDesk())
    request = submit(needs=["food", "financial_hardship"])
    response = client.get(f"/hub-requests/{request.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Dee Desk" in html  # find_helpers
    assert "Community pantry" in html  # suggest_services
    assert "Book a food parcel" in html  # help_request_actions
    assert "Helpers from BrokenDesk could not be found just now" in html  # beside the list
    logged = failures(caplog)
    for hook in ("find_helpers", "suggest_services", "help_request_actions"):
        assert any(hook in m and "'BrokenDesk'" in m for m in logged), (hook, logged)
    assert not any("WorkingDesk" in m for m in logged)


def test_the_page_says_helpers_are_missing_rather_than_that_none_are_eligible(
        client, coordinator, desks, submit):
    desks(BrokenDesk())
    request = submit()
    html = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Helpers from BrokenDesk could not be found just now" in html
    assert "No eligible helper was found" not in html


def test_the_candidates_api_returns_the_working_plugins_helpers_and_says_one_failed(
        as_role, desks, submit, caplog):
    desks(BrokenDesk(), WorkingDesk())
    request = submit()
    response = as_role("coordinator", BOLTON).client.get(f"{URL}/{request.id}/candidates")
    assert response.status_code == 200
    body = response.get_json()
    assert [c["helper_id"] for c in body["items"]] == ["desk-1"]
    assert "BrokenDesk" in body["note"]
    assert any("find_helpers" in m and "'BrokenDesk'" in m for m in failures(caplog))


def test_the_services_api_returns_the_working_plugins_routes(as_role, desks, submit):
    desks(BrokenDesk(), WorkingDesk())
    request = submit(needs=["food"])
    response = as_role("coordinator", BOLTON).client.get(f"{URL}/{request.id}/services")
    assert response.status_code == 200
    assert response.get_json() == [{"need": "food", "services": [
        {"service_id": "pantry", "service_name": "Community pantry",
         "organisation_name": "Bolton Pantry", "score": 3.0, "reasons": [], "source": "desk"}]}]


def test_a_plugin_whose_sql_fails_does_not_spoil_the_page_after_it(client, coordinator, desks,
                                                                   submit, caplog):
    # On PostgreSQL a failed statement aborts the whole transaction: without a
    # savepoint every later query of the page would fail too.
    desks(SqlBrokenDesk(), WorkingDesk())
    request = submit(needs=["food"])
    response = client.get(f"/hub-requests/{request.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Dee Desk" in html and "Community pantry" in html and "Book a food parcel" in html
    assert any("'SqlBrokenDesk'" in m for m in failures(caplog))

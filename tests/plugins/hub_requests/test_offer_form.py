"""The request page offers the task to a candidate whose helper side takes offers from pages."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from hubcore import hookimpl
from hubcore.values import HelperCandidate, ScoreComponent
from tests.conftest import BOLTON, login

OFFERS = "/stand-in/offers"


class OfferForms(HTMLParser):
    """Every form posting to ``action``: its hidden fields (repeated names kept) and button."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.forms, self._open = action, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("action") == self.action:
            self._open = {"method": a.get("method"), "fields": [], "button": ""}
            self.forms.append(self._open)
        elif self._open is not None and tag == "input" and a.get("type") == "hidden":
            self._open["fields"].append((a["name"], a.get("value", "")))
        elif self._open is not None and tag == "button":
            self._open["in_button"] = True

    def handle_data(self, data):
        if self._open is not None and self._open.get("in_button"):
            self._open["button"] += data

    def handle_endtag(self, tag):
        if tag == "button" and self._open is not None:
            self._open["in_button"] = False
        elif tag == "form":
            self._open = None


def offer_forms(html: str) -> list[dict]:
    parser = OfferForms(OFFERS)
    parser.feed(html)
    return parser.forms


class StandInHelpers:
    """A helper side with two candidates: one takes offers from pages, one does not."""

    def __init__(self):
        self.tasks = []

    @hookimpl
    def find_helpers(self, task, limit):
        self.tasks.append(task)
        why = (ScoreComponent("distance", 5.0, "close by"),)
        return [HelperCandidate("stand-in-1", "Priya P.", 9.0, 1.5, why, source="stand-in",
                                offer_url=OFFERS),
                HelperCandidate("stand-in-2", "Olu O.", 8.0, 2.5, why, source="stand-in")]


@pytest.fixture
def helpers(app):
    pm = app.extensions["hubcore"].pm
    for impl in list(pm.hook.find_helpers.get_hookimpls()):
        pm.unregister(name=impl.plugin_name)
    stand_in = StandInHelpers()
    pm.register(stand_in, name="stand-in-helpers")
    return stand_in


@pytest.fixture
def coordinator(client, make_account):
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    return account


def test_a_candidate_taking_offers_gets_a_form_naming_only_the_task_it_was_ranked_for(
        client, coordinator, helpers, submit):
    request = submit(needs=["essential_shopping", "befriending"])
    html = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Priya P." in html and "Olu O." in html
    [form] = offer_forms(html)  # only the candidate with an offer_url
    task = helpers.tasks[-1]
    values = dict(form["fields"])
    assert form["method"] == "post" and values["csrf_token"]
    # The helper side asks this plugin for the task (task_details): the form names it, no more.
    assert sorted(name for name, _ in form["fields"]) == [
        "csrf_token", "helper_id", "next", "owner", "owner_id"]
    assert values["owner"] == "hub_requests" == task.owner
    assert values["owner_id"] == str(request.id) == task.owner_id
    assert values["helper_id"] == "stand-in-1"
    assert values["next"] == f"/hub-requests/{request.id}"
    assert " ".join(form["button"].split()) == "Offer this task to Priya P."


# -- task_details: the task as this plugin has it, for open requests only -------------------


def test_task_details_gives_the_task_find_helpers_was_asked_for(app, client, coordinator,
                                                                helpers, submit):
    request = submit(needs=["essential_shopping", "befriending"])
    client.get(f"/hub-requests/{request.id}")
    task = app.extensions["hubcore"].pm.hook.task_details(owner="hub_requests",
                                                          owner_id=str(request.id))
    assert task == helpers.tasks[-1]
    assert task.district == BOLTON and task.person_id == request.person_id
    assert task.dbs_level == "enhanced" and task.regulated_activity


def test_task_details_answers_none_for_what_is_not_an_open_request_of_ours(app, db, submit):
    from plugins.hub_requests import lifecycle

    pm = app.extensions["hubcore"].pm
    open_request, cancelled = submit(), submit()
    lifecycle.transition(cancelled, "cancelled", actor=None, reason="Resolved by family")
    db.session.commit()
    ask = lambda owner, owner_id: pm.hook.task_details(owner=owner, owner_id=owner_id)  # noqa: E731
    assert ask("hub_requests", str(open_request.id)) is not None
    assert ask("volunteering", str(open_request.id)) is None
    assert ask("hub_requests", str(cancelled.id)) is None
    for nothing in ("999999", "x", "", "1.0", " 1", "\u0661", "99999999999999999999"):
        assert ask("hub_requests", nothing) is None, nothing


def test_no_offer_form_when_no_candidate_takes_offers_from_pages(app, client, coordinator,
                                                                  helpers, submit):
    pm = app.extensions["hubcore"].pm
    pm.unregister(name="stand-in-helpers")

    class NoOffers:
        @hookimpl
        def find_helpers(self, task, limit):
            return [HelperCandidate("stand-in-2", "Olu O.", 8.0, 2.5, source="stand-in")]

    pm.register(NoOffers(), name="no-offers")
    request = submit()
    html = client.get(f"/hub-requests/{request.id}").get_data(as_text=True)
    assert "Olu O." in html
    assert offer_forms(html) == [] and "Offer this task" not in html

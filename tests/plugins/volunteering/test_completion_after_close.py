"""A volunteer's completion is kept whatever has happened to the task's owner record.

The volunteer did the work: the assignment is completed and the hours
logged even when the hub closed or cancelled the request meanwhile (the
request keeps its outcome and notes the report), or when an owner plugin
fails to hear of it (logged and audited by name).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from hubcore import hookimpl
from hubcore.audit import AuditEntry, verify_chain
from hubcore.db import db as _db
from hubcore.errors import Conflict
from hubcore.identity import accounts
from hubcore.identity.models import Account
from plugins.hub_requests import intake, lifecycle
from plugins.hub_requests.models import HelpRequest
from plugins.volunteering import offers
from plugins.volunteering.models import Assignment

from tests.conftest import PASSWORD, login, submit_form

from .conftest import BOLTON, a_task

HUB = "/api/v1/help-requests"


class RefusingOwner:
    """An owner plugin that refuses a completion of its tasks, after writing."""

    def __init__(self):
        self.told = 0

    @hookimpl
    def task_completed(self, task, hours):
        if task.owner != "refusing":
            return
        self.told += 1
        from hubcore import audit

        audit.record("refusing.task.completed", "refusing_task", task.owner_id)
        raise Conflict("That task is finished here.", code="task-finished")


@pytest.fixture
def refusing():
    return RefusingOwner()


@pytest.fixture
def app_settings(refusing):
    return {"extra_plugins": (refusing,)}


def hub_request(needs=("befriending",)) -> HelpRequest:
    """A resident's request in Bolton, through the hub's own intake."""
    request = intake.submit_request(
        person={"given_name": "Edna", "family_name": "Sharples", "phone": "",
                "email": "edna@example.org", "postcode": "BL1 4AB",
                "address": "1 Chorley New Road"},
        channel="web", needs=list(needs), circumstances=["lives_alone"],
        urgency="few_days", description="Would like a weekly chat.", consent=True)
    _db.session.commit()
    return request


def assign(actor, task, coordinator_account) -> int:
    offer = offers.make_offer(task, volunteer_id=actor.volunteer.id, actor=coordinator_account)
    _db.session.commit()
    accepted = actor.client.post(f"/api/v1/volunteering/offers/{offer.id}/accept")
    assert accepted.status_code == 201, accepted.get_json()
    return accepted.get_json()["id"]


def audited(action: str) -> list[AuditEntry]:
    return list(_db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action))
                .scalars())


@pytest.mark.parametrize("finished, reason", [("cancelled", None),
                                              ("closed", "Her son is home now")])
def test_hours_are_logged_when_the_hub_finished_the_request_meanwhile(
        as_role, make_volunteer, coordinator_account, db, finished, reason):
    actor = make_volunteer(dbs="enhanced")
    request = hub_request()
    assignment_id = assign(actor, lifecycle.task_for(request), coordinator_account)
    db.session.refresh(request)
    assert request.status == "assigned"
    hub = as_role("coordinator", BOLTON)
    etag = hub.client.get(f"{HUB}/{request.id}").headers["ETag"]
    moved = hub.client.post(f"{HUB}/{request.id}/transitions", headers={"If-Match": etag},
                            json={"to": finished, "reason": reason})
    assert moved.status_code == 200, moved.get_json()

    done = actor.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/complete",
                             json={"hours": 1.5})
    assert done.status_code == 200, done.get_json()
    assert (done.get_json()["status"], done.get_json()["hours"]) == ("completed", 1.5)
    report = hub.client.get("/api/v1/volunteering/hours").get_json()
    assert report["districts"] == {BOLTON: 1.5}

    stored = hub.client.get(f"{HUB}/{request.id}").get_json()
    assert (stored["status"], stored["status_reason"]) == (finished, reason)
    history = hub.client.get(f"{HUB}/{request.id}/history").get_json()
    assert history[-1]["to_status"] == finished  # no new status
    [note] = hub.client.get(f"{HUB}/{request.id}/notes").get_json()
    assert f"reported this task done after the request was {finished}" in note["body"]
    assert len(audited("hub_requests.request.helper_completed_after_finish")) == 1
    assert audited("volunteering.assignment.owner_not_told") == []
    assert verify_chain().ok


def test_an_owner_that_fails_to_hear_of_it_does_not_cost_the_volunteer_their_hours(
        as_role, make_volunteer, coordinator_account, db, refusing, caplog):
    actor = make_volunteer()
    assignment_id = assign(actor, replace(a_task("41"), owner="refusing"),
                           coordinator_account)
    done = actor.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/complete",
                             json={"hours": 2})
    assert done.status_code == 200, done.get_json()
    assert refusing.told == 1
    stored = db.session.get(Assignment, assignment_id)
    assert (stored.status, stored.hours, stored.active_key) == ("completed", 2.0, None)
    [entry] = audited("volunteering.assignment.owner_not_told")
    assert json.loads(entry.summary) == {"task": "refusing:41", "plugins": ["RefusingOwner"]}
    assert audited("refusing.task.completed") == []  # its write was undone
    assert any("task_completed" in r.getMessage() and "'RefusingOwner'" in r.getMessage()
               for r in caplog.records)
    assert verify_chain().ok


def test_my_tasks_page_logs_the_hours_of_a_task_whose_request_was_cancelled(
        client, make_volunteer, coordinator_account, db):
    actor = make_volunteer(dbs="enhanced")
    account = db.session.get(Account, actor.volunteer.account_id)
    accounts.set_password(account, PASSWORD)  # revokes the account's tokens: a new one
    _token, secret = accounts.issue_token(account)
    db.session.commit()
    actor.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    request = hub_request()
    assignment_id = assign(actor, lifecycle.task_for(request), coordinator_account)
    db.session.refresh(request)
    lifecycle.transition(request, "cancelled", actor=None)
    db.session.commit()
    login(client, account.email)
    response = submit_form(client, f"/volunteering/my-tasks/{assignment_id}/complete",
                           {f"a{assignment_id}-hours": "1.5"},
                           page_url="/volunteering/my-tasks", follow_redirects=True)
    assert response.status_code == 200
    assert "1.5 hours logged" in response.get_data(as_text=True)
    assert db.session.get(Assignment, assignment_id).status == "completed"
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == "cancelled"

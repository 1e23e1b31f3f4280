"""Fixtures for the volunteering plugin: sign-ups, active volunteers, a task owner."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from hubcore import hookimpl
from hubcore.values import Location, Task

BOLTON, BURY, WIGAN = "E08000001", "E08000002", "E08000010"
BL1 = Location(53.592, -2.445)


class TaskOwner:
    """Stands in for the plugin that owns tasks: records what it is told, and
    answers ``task_details`` for the tasks a test says it holds."""

    def __init__(self):
        self.events: list[tuple] = []
        self.tasks: dict[tuple[str, str], Task] = {}
        self.asked: list[tuple[str, str]] = []

    def holds(self, task: Task) -> Task:
        self.tasks[(task.owner, task.owner_id)] = task
        return task

    @hookimpl
    def task_details(self, owner, owner_id):
        self.asked.append((owner, owner_id))
        return self.tasks.get((owner, owner_id))

    @hookimpl
    def task_assigned(self, task, helper):
        self.events.append(("assigned", task.owner_id, helper.helper_id))

    @hookimpl
    def task_released(self, task, reason):
        self.events.append(("released", task.owner_id, reason))

    @hookimpl
    def task_completed(self, task, hours):
        self.events.append(("completed", task.owner_id, hours))


@pytest.fixture
def task_owner():
    return TaskOwner()


@pytest.fixture
def app_settings(task_owner):
    return {"extra_plugins": (task_owner,)}


def signup_body(**overrides) -> dict:
    body = {"given_name": "Amira", "family_name": "Khan", "email": "amira@example.org",
            "phone": "07700 900123", "postcode": "BL2 1AA",
            "skills": ["befriending", "shopping", "prescription_collection"],
            "languages": ["Urdu"], "availability": ["mon_morning", "wed_evening"],
            "max_travel_km": 8, "has_car": True, "consent": True}
    body.update(overrides)
    return body


def sign_up_by_api(client, **overrides) -> int:
    """Sign up through the public API; return the new volunteer's id.

    The public answer carries no id (it is the same for details already
    signed up), so the volunteer is found by the contact details sent.
    """
    import sqlalchemy as sa

    from hubcore.db import db
    from hubcore.identity import people
    from plugins.volunteering.models import Volunteer

    body = signup_body(**overrides)
    response = client.post("/api/v1/volunteers", json=body)
    assert response.status_code == 202, response.get_json()
    match = (Volunteer.email == people.normalise_email(body["email"]) if body.get("email")
             else Volunteer.phone == people.normalise_phone(body["phone"]))
    return db.session.execute(sa.select(Volunteer.id).where(match)).scalar_one()


def a_task(owner_id="1", *, needs=("befriending",), district=BOLTON, **kwargs) -> Task:
    return Task(owner="hub_requests", owner_id=owner_id, district=district, needs=tuple(needs),
                location=kwargs.pop("location", BL1), **kwargs)


def task_json(owner_id="1", *, needs=("befriending",), district=BOLTON, **kwargs) -> dict:
    """A task as the batch proposals API takes it (the client names every field)."""
    body = {"owner": "hub_requests", "owner_id": owner_id, "district": district,
            "needs": list(needs), "location": {"latitude": BL1.latitude,
                                              "longitude": BL1.longitude}}
    body.update(kwargs)
    return body


def offer_body(task: Task, **extra) -> dict:
    """What a client posts to offer ``task``: its owner and id only (the owner says the rest)."""
    return {"owner": task.owner, "owner_id": task.owner_id, **extra}


@dataclass
class VolunteerActor:
    volunteer: object
    client: object


@pytest.fixture
def coordinator_account(make_account):
    return make_account("coordinator", (BOLTON,))


@pytest.fixture
def make_volunteer(app, db, coordinator_account):
    """An active (or other status) volunteer, with a bearer-token client when active."""
    from hubcore.identity import accounts
    from plugins.volunteering import signup, vetting

    counter = itertools.count(1)

    def factory(*, postcode="BL2 1AA", status="active", dbs=None, skills=None,
                availability=None, max_travel_km=8.0, languages=(), weekly_cap=3,
                given_name=None) -> VolunteerActor:
        n = next(counter)
        result = signup.sign_up(signup_body(
            given_name=given_name or f"Volunteer{n}", email=f"volunteer{n}@example.org",
            phone=f"07700 900{n:03d}", postcode=postcode,
            skills=list(skills or ["befriending", "shopping", "prescription_collection"]),
            availability=list(availability or ["mon_morning", "mon_afternoon", "tue_morning",
                                               "wed_morning", "wed_evening", "thu_afternoon",
                                               "fri_morning", "sat_morning", "sun_evening"]),
            max_travel_km=max_travel_km, languages=list(languages)))
        volunteer = result.volunteer
        volunteer.weekly_cap = weekly_cap
        if dbs:
            vetting.verify_dbs(volunteer, level=dbs, certificate_number="001234567890",
                               issue_date=date.today() - timedelta(days=30),
                               actor=coordinator_account)
        if status in ("active", "paused"):
            vetting.change_status(volunteer, "active", actor=coordinator_account)
        if status in ("paused", "left"):
            vetting.change_status(volunteer, status, actor=coordinator_account)
        db.session.commit()
        client = None
        if volunteer.account_id is not None:
            account = db.session.get(type(coordinator_account), volunteer.account_id)
            _token, secret = accounts.issue_token(account)
            db.session.commit()
            client = app.test_client()
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        return VolunteerActor(volunteer, client)

    return factory


def in_days(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)

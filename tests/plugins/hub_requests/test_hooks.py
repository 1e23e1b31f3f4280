"""The plugin's hooks: registration, menu, demo data, sweep, tasks, data protection."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hubcore.audit import verify_chain
from hubcore.db import utcnow
from hubcore.demo import create_demo
from hubcore.identity import people
from hubcore.jobs import sweep
from hubcore.values import HelperCandidate
from plugins.hub_requests import intake, lifecycle
from plugins.hub_requests.models import HelpRequest
from tests.conftest import BOLTON


def hook(app):
    return app.extensions["hubcore"].pm.hook


def test_the_migrated_tables_match_the_models(app, db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, db.metadata)
                       if "hub_requests_" in repr(d)]
    assert differences == []


def test_permissions_are_scoped_to_coordinators(app):
    perms = {p.name: p for batch in hook(app).hubcore_permissions() for p in batch or ()}
    for name in ("help_requests.read", "help_requests.write"):
        assert perms[name].roles == ("coordinator",) and perms[name].scoped


def test_menu_offers_the_form_to_everyone_and_the_queue_to_coordinators(app, make_account):
    def labels(user):
        return {i.label for batch in hook(app).hubcore_nav(user=user) for i in batch or ()}

    assert "Ask for help" in labels(None) and "Help requests" not in labels(None)
    assert "Help requests" in labels(make_account("coordinator", (BOLTON,)))
    assert "Help requests" not in labels(make_account("volunteer", (BOLTON,)))


def test_demo_data_is_a_realistic_week_across_all_ten_districts_and_runs_twice(app, db):
    create_demo("greater_manchester")
    db.session.commit()
    requests = db.session.execute(sa.select(HelpRequest)).scalars().all()
    assert len(requests) >= 300
    assert len({r.district_code for r in requests}) == 10
    assert set(Counter(r.priority for r in requests)) == {"P1", "P2", "P3", "P4"}
    assert len({r.status for r in requests}) >= 4
    create_demo("greater_manchester")
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(HelpRequest)
                              ).scalar_one() == len(requests)
    assert verify_chain().ok


def test_the_sweep_escalates_overdue_requests_once(app, db, submit):
    submit(now=utcnow() - timedelta(days=8))
    assert sweep(utcnow()).get("help_requests_escalated") == 1
    db.session.commit()
    assert "help_requests_escalated" not in sweep(utcnow())


def test_a_recurring_need_makes_its_next_request_once_when_due(app, db, submit):
    weekly = submit(needs=["essential_shopping"], recurrence="weekly",
                    now=utcnow() - timedelta(days=8))
    for status in ("triaged", "assigned", "completed"):
        lifecycle.transition(weekly, status, actor=None)
    db.session.commit()
    assert sweep(utcnow()).get("help_requests_repeated") == 1
    db.session.commit()
    assert "help_requests_repeated" not in sweep(utcnow())
    following = db.session.execute(sa.select(HelpRequest).where(
        HelpRequest.follows_id == weekly.id)).scalar_one()
    assert (following.status, following.needs, following.recurrence) == (
        "new", ["essential_shopping"], "weekly")


def test_a_recurring_need_stops_when_consent_is_withdrawn(app, db, submit):
    weekly = submit(recurrence="weekly", now=utcnow() - timedelta(days=8))
    for status in ("triaged", "assigned", "completed"):
        lifecycle.transition(weekly, status, actor=None)
    people.withdraw_consent(weekly.person, weekly.person.consents[0].id)
    db.session.commit()
    assert intake.repeat_due(utcnow()) == 0


def test_finished_requests_are_purged_after_the_retention_period(app, db, submit):
    old = submit()
    lifecycle.add_note(old, "Visited", actor=None)
    lifecycle.transition(old, "cancelled", actor=None, now=utcnow() - timedelta(days=400))
    recent = submit()
    lifecycle.transition(recent, "cancelled", actor=None)
    db.session.commit()
    assert sweep(utcnow()).get("help_requests_purged") == 1
    db.session.commit()
    remaining = db.session.execute(sa.select(HelpRequest.id)).scalars().all()
    assert remaining == [recent.id]
    assert verify_chain().ok
    [rule] = [r for batch in hook(app).retention_rules() for r in batch or ()
              if r.record == "help request"]
    assert rule.keep_days == 365


def test_helper_side_hooks_move_only_our_own_tasks(app, db, submit):
    request = submit()
    lifecycle.transition(request, "triaged", actor=None)
    task = lifecycle.task_for(request)
    helper = HelperCandidate("vol-1", "Val", 5.0, 1.0, source="volunteering")
    hook(app).task_assigned(task=task, helper=helper)
    assert request.status == "assigned"
    hook(app).task_released(task=task, reason="Poorly")
    assert request.status == "triaged"
    hook(app).task_assigned(task=task, helper=helper)
    hook(app).task_completed(task=task, hours=2.0)
    assert (request.status, request.hours) == ("completed", 2.0)


def test_subject_access_and_erasure(app, db, submit):
    request = submit(description="My husband died last month")
    lifecycle.add_note(request, "Bereavement support offered", actor=None)
    db.session.commit()
    person = request.person
    export = people.export_person(person)
    [section] = [s for s in export["sections"] if s["source"] == "hub_requests"]
    assert section["records"][0]["reference"] == request.reference
    assert section["records"][0]["notes"][0]["body"] == "Bereavement support offered"
    counts = people.erase_person(person)
    db.session.commit()
    assert counts["hub_requests"] == 2
    assert request.description == "[erased]" and request.notes[0].body == "[erased]"
    assert request.needs == ["food"]  # the counts still add up
    assert verify_chain().ok


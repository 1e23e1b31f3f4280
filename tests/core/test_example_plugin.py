"""The worked example plugin, driven through the core paths that call its hooks.

The suite's database template is migrated without the example plugin, so
these tests build their own: a fresh SQLite file migrated from nothing with
the plugin enabled, or, on PostgreSQL, the session's database with the
plugin's branch applied on top and taken off again afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import timedelta

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from flask.cli import ScriptInfo

from hubcore import audit, schema_migrations
from hubcore.audit import AuditEntry
from hubcore.cli import main as hubcore_cli
from hubcore.db import db as _db
from hubcore.db import utcnow
from hubcore.errors import Conflict
from hubcore.identity import people
from hubcore.identity.permissions import can
from hubcore.values import (
    GrantApplicationInfo,
    HelperCandidate,
    HelpRequestInfo,
    Need,
    PersonDataSection,
    PersonInfo,
    RetentionRule,
    RiskSignal,
    ServiceSuggestion,
    Task,
)
from tests.conftest import BOLTON, PG_URL, WIGAN, login, make_app


@pytest.fixture(scope="module")
def example_plugin():
    """The plugin package, imported only by the tests that enable it."""
    from tests.core import example_plugin as plugin
    from tests.core.example_plugin.models import ExampleNote

    yield plugin
    # The rest of the suite runs without this plugin: leave the shared
    # metadata holding only the tables its migrations create.
    _db.metadata.remove(ExampleNote.__table__)


@pytest.fixture(scope="module")
def example_template(example_plugin, tmp_path_factory):
    """SQLite: a file migrated from nothing with the plugin enabled, once per module."""
    if PG_URL:
        return None
    path = tmp_path_factory.mktemp("example") / "template.sqlite3"
    app = make_app(f"sqlite:///{path}", extra_plugins=(example_plugin,))
    with app.app_context():
        schema_migrations.upgrade()
        _db.engine.dispose()
    return path


@pytest.fixture
def example_db_url(request, example_template, tmp_path):
    if PG_URL:
        return request.getfixturevalue("database_url")
    path = tmp_path / "example.sqlite3"
    shutil.copyfile(example_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_settings():
    """The example alone: the installed plugins' own hooks would answer too."""
    return {"plugins": ()}


@pytest.fixture
def app(example_db_url, example_plugin, app_settings):
    app = make_app(example_db_url, extra_plugins=(example_plugin,), **app_settings)
    with app.app_context():
        schema_migrations.upgrade()
        yield app
        _db.session.remove()
        if PG_URL:
            flask_migrate.downgrade(revision="example@base")  # as the next test expects it
        _db.engine.dispose()


@pytest.fixture
def hook(app):
    return app.extensions["hubcore"].pm.hook


@pytest.fixture
def notes(example_plugin):
    from tests.core.example_plugin import notes

    return notes


@pytest.fixture
def note_model(example_plugin):
    from tests.core.example_plugin.models import ExampleNote

    return ExampleNote


@pytest.fixture
def person(db):
    resident = people.create_person({"given_name": "Ada", "family_name": "Okafor",
                                     "postcode": "BL1 1AA"})
    db.session.commit()
    assert resident.district_code == BOLTON
    return resident


def run_cli(app, *args):
    result = CliRunner().invoke(hubcore_cli, list(args), obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def flat(results):
    return [item for batch in results for item in (batch or ())]


# -- Migrations ----------------------------------------------------------------------


def test_example_branch_migrates_with_the_core(app, db):
    core_head = schema_migrations._script().get_revision("core@head").revision
    assert set(schema_migrations.heads()) >= {core_head, "0001_example"}
    assert not schema_migrations.pending()
    inspector = sa.inspect(db.engine)
    assert {"people", "example_notes"} <= set(inspector.get_table_names())
    indexed = {ix["name"] for ix in inspector.get_indexes("example_notes")}
    assert "ix_example_notes_district_code" in indexed

    branch = schema_migrations._script().get_revision("example@head")
    assert branch.revision == "0001_example"
    assert branch.branch_labels == {"example"}
    assert branch.dependencies == "0001_core"


def test_empty_database_migrates_core_and_example_branch_in_one_upgrade(example_plugin,
                                                                         tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'empty.sqlite3'}", extra_plugins=(example_plugin,))
    with app.app_context():
        assert schema_migrations.pending()
        run_cli(app, "db", "upgrade")
        try:
            assert {"accounts", "people", "example_notes"} <= set(
                sa.inspect(_db.engine).get_table_names())
            assert not schema_migrations.pending()
            # Alembic keeps only the tip it reached: the example's revision stands
            # for the core revision it depends on, and health still says "ok".
            stored = schema_migrations.current_revisions()
            assert "0001_example" in stored and "0001_core" not in stored
            assert app.test_client().get("/healthz").get_json()["migrations"] == "ok"
        finally:
            _db.session.remove()
            _db.engine.dispose()


def test_example_migration_creates_what_its_model_declares(app, db, note_model):
    with db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert [d for d in diffs if "example_notes" in repr(d)] == []


def test_example_branch_downgrades_alone_and_upgrades_again(app, db):
    flask_migrate.downgrade(revision="example@base")
    assert "example_notes" not in sa.inspect(db.engine).get_table_names()
    assert "people" in sa.inspect(db.engine).get_table_names()
    assert schema_migrations.pending()

    schema_migrations.upgrade()
    assert "example_notes" in sa.inspect(db.engine).get_table_names()
    assert not schema_migrations.pending()


# -- Register: routes, permissions, menu ------------------------------------------------


def test_coordinator_writes_a_note_through_the_example_api(as_role, db, note_model):
    coordinator = as_role("coordinator", BOLTON)
    response = coordinator.client.post("/api/v1/example/notes",
                                       json={"district": BOLTON, "body": "Call back at 4pm"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["district"] == BOLTON and body["status"] == "open"
    assert response.headers["ETag"]
    stored = db.session.get(note_model, body["id"])
    assert stored.body == "Call back at 4pm"
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "example.note.created")).scalar_one()
    assert entry.entity_id == str(body["id"]) and entry.district_code == BOLTON
    assert "Call back" not in entry.summary


def test_example_api_refuses_other_districts_and_bad_input_and_changes_nothing(
        as_role, client, db, note_model):
    coordinator = as_role("coordinator", BOLTON)
    url = "/api/v1/example/notes"

    wigan = coordinator.client.post(url, json={"district": WIGAN, "body": "Not ours"})
    assert wigan.status_code == 403
    assert wigan.mimetype == "application/problem+json"

    invalid = coordinator.client.post(url, json={"district": "E99999999", "body": ""})
    assert invalid.status_code == 422
    assert set(invalid.get_json()["errors"]) == {"district", "body"}

    anonymous = client.post(url, json={"district": BOLTON, "body": "Who am I?"})
    assert anonymous.status_code == 401

    assert db.session.execute(sa.select(sa.func.count()).select_from(note_model)).scalar() == 0


def test_example_api_create_is_idempotent(as_role, db, note_model):
    coordinator = as_role("coordinator", BOLTON)
    headers = {"Idempotency-Key": "example-note-0001"}
    payload = {"district": BOLTON, "body": "Deliver the prescription"}
    first = coordinator.client.post("/api/v1/example/notes", json=payload, headers=headers)
    again = coordinator.client.post("/api/v1/example/notes", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert db.session.execute(sa.select(sa.func.count()).select_from(note_model)).scalar() == 1


def test_example_route_is_described_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/example/notes"]["post"]
    assert operation["tags"] == ["example"]
    assert "requestBody" in operation and "201" in operation["responses"]


def test_example_permissions_join_the_registry_with_district_scope(app, make_account):
    registry = app.extensions["hubcore"].permissions
    assert registry.get("example.notes.write").roles == ("coordinator",)
    bolton_coordinator = make_account("coordinator", (BOLTON,))
    volunteer = make_account("volunteer", (BOLTON,))
    assert can(bolton_coordinator, "example.notes.write", BOLTON)
    assert not can(bolton_coordinator, "example.notes.write", WIGAN)
    assert not can(volunteer, "example.notes.read")


def test_menu_offers_the_example_page_to_coordinators_only(app, hook, client, make_account,
                                                           notes):
    coordinator = make_account("coordinator", (BOLTON,))
    volunteer = make_account("volunteer", (BOLTON,))
    ours = [item for item in flat(hook.hubcore_nav(user=coordinator))
            if item.endpoint == "example.notes_page"]
    assert [item.label for item in ours] == ["Notes"]
    assert not [item for item in flat(hook.hubcore_nav(user=volunteer))
                if item.endpoint.startswith("example.")]
    assert not [item for item in flat(hook.hubcore_nav(user=None))
                if item.endpoint.startswith("example.")]

    notes.create_note(district=BOLTON, body="Bolton's note", person_id=None, actor=None)
    notes.create_note(district=WIGAN, body="Wigan's note", person_id=None, actor=None)
    _db.session.commit()
    login(client, coordinator.email)
    page = client.get("/example/notes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/example/notes"' in html  # the menu entry, rendered by the web shell
    assert "Bolton&#39;s note" in html and "Wigan" not in html


# -- The hubcore command: demo and sweep ---------------------------------------------


def test_hubcore_demo_seeds_example_notes_and_is_safe_to_run_twice(app, db, note_model):
    output = run_cli(app, "demo")
    assert "Demo region: greater_manchester" in output
    seeded = db.session.execute(sa.select(note_model)).scalars().all()
    assert sorted(n.district_code for n in seeded) == ["E08000001", "E08000002"]
    assert "Bolton food bank" in seeded[0].body

    run_cli(app, "demo")
    assert db.session.execute(sa.select(sa.func.count()).select_from(note_model)).scalar() == 2


def test_hubcore_sweep_purges_notes_past_their_retention(app, db, notes, note_model):
    now = utcnow()
    old = notes.create_note(district=BOLTON, body="Done long ago", person_id=None, actor=None)
    recent = notes.create_note(district=BOLTON, body="Done last week", person_id=None,
                               actor=None)
    still_open = notes.create_note(district=BOLTON, body="Open", person_id=None, actor=None)
    old.status, old.closed_at = "completed", now - timedelta(days=notes.RETENTION_DAYS + 1)
    recent.status, recent.closed_at = "completed", now - timedelta(days=5)
    db.session.commit()
    kept = {recent.id, still_open.id}

    output = run_cli(app, "sweep")
    assert "example_notes_purged: 1" in output
    db.session.expire_all()
    assert set(db.session.execute(sa.select(note_model.id)).scalars()) == kept

    again = run_cli(app, "sweep")
    assert "example_notes_purged: 1" not in again
    assert set(db.session.execute(sa.select(note_model.id)).scalars()) == kept
    purges = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "example.notes.purged")).scalars().all()
    assert [json.loads(e.summary) for e in purges] == [{"count": 1}]


# -- Jobs and broadcasts ---------------------------------------------------------------


def test_help_request_broadcast_enqueues_the_example_job(app, hook, db, person, note_model):
    created = HelpRequestInfo(id=7, reference="BOL-7K3Q", district=BOLTON,
                              person_id=person.id, needs=("food",))
    assert hook.help_request_created(request=created) == []  # a broadcast: nothing collected

    db.session.remove()  # the job committed its own work
    note = db.session.execute(sa.select(note_model)).scalar_one()
    assert "BOL-7K3Q" in note.body
    assert (note.district_code, note.person_id) == (BOLTON, person.id)


def test_example_job_runs_by_dotted_path_with_an_app_context(app, db, note_model):
    from hubcore import jobs

    job = jobs.enqueue("tests.core.example_plugin.jobs.note_help_request",
                       "WIG-2P4M", WIGAN, None)
    assert job.is_finished  # embedded mode: rq runs it in-process
    note = db.session.get(note_model, job.return_value())
    assert note.district_code == WIGAN and "WIG-2P4M" in note.body


def test_find_helpers_collects_the_example_candidate_for_a_frozen_task(hook):
    task = Task(owner="hub_requests", owner_id="12", district=BOLTON, needs=("food",))
    before = dataclasses.replace(task)

    candidates = [c for c in flat(hook.find_helpers(task=task, limit=5))
                  if c.source == "example"]
    assert len(candidates) == 1
    candidate = candidates[0]
    assert isinstance(candidate, HelperCandidate)
    assert candidate.helper_id == f"example-duty-desk-{BOLTON}"
    assert "food" in candidate.breakdown[0].reason and BOLTON in candidate.breakdown[0].reason
    assert task == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.district = WIGAN  # type: ignore[misc]

    enhanced = dataclasses.replace(task, dbs_level="enhanced", regulated_activity=True)
    assert not [c for c in flat(hook.find_helpers(task=enhanced, limit=5))
                if c.source == "example"]
    assert not [c for c in flat(hook.find_helpers(task=task, limit=0))
                if c.source == "example"]


def test_task_broadcasts_move_the_note_the_example_owns(hook, db, notes):
    note = notes.create_note(district=BOLTON, body="Collect a prescription", person_id=None,
                             actor=None)
    other = notes.create_note(district=BOLTON, body="Someone else's", person_id=None,
                              actor=None)
    task = notes.task_for(note)
    helper = HelperCandidate(helper_id="volunteer-42", display_name="Sam", score=8.5,
                             distance_km=1.2, source="volunteering")

    assert hook.task_assigned(task=task, helper=helper) == []
    assert (note.status, note.helper_id) == ("assigned", "volunteer-42")
    hook.task_released(task=task, reason="Sam is unwell")
    assert (note.status, note.helper_id) == ("open", None)
    hook.task_assigned(task=task, helper=helper)
    hook.task_completed(task=task, hours=1.5)
    assert (note.status, note.hours) == ("completed", 1.5)
    assert note.closed_at is not None

    foreign = Task(owner="hub_requests", owner_id=str(other.id), district=BOLTON,
                   needs=("food",))
    hook.task_assigned(task=foreign, helper=helper)
    assert other.status == "open"  # not the example's task: ignored

    with pytest.raises(Conflict):
        hook.task_completed(task=notes.task_for(other), hours=1.0)  # never assigned


def test_the_example_answers_task_details_for_its_open_notes_only(hook, db, notes):
    note = notes.create_note(district=BOLTON, body="Collect a prescription", person_id=None,
                             actor=None)
    assert hook.task_details(owner="example", owner_id=str(note.id)) == notes.task_for(note)
    assert hook.task_details(owner="example", owner_id="not-a-number") is None
    assert hook.task_details(owner="someone_else", owner_id=str(note.id)) is None
    notes.assign(note, "volunteer-42")
    assert hook.task_details(owner="example", owner_id=str(note.id)) is None  # not open


def test_suggest_services_collects_the_example_route(hook):
    person = PersonInfo(id=1, district=BOLTON, postcode="BL1 1AA")
    suggestions = flat(hook.suggest_services(need=Need("advice", "debts"), person=person))
    ours = [s for s in suggestions if s.source == "example"]
    assert len(ours) == 1 and isinstance(ours[0], ServiceSuggestion)
    assert BOLTON in ours[0].reasons[0]
    assert not [s for s in flat(hook.suggest_services(need=Need("food"), person=person))
                if s.source == "example"]


def test_grant_risk_signals_collects_the_example_signal(hook):
    large = GrantApplicationInfo(id=3, applicant_type="individual", amount_pence=150_000,
                                 district=BOLTON)
    small = dataclasses.replace(large, amount_pence=20_000)
    signals = [s for s in flat(hook.grant_risk_signals(application=large))
               if s.source == "example"]
    assert signals == [RiskSignal("example.large_individual_grant",
                                  "An individual asks for £1,000 or more.", True, "example")]
    assert not [s for s in flat(hook.grant_risk_signals(application=small))
                if s.source == "example"]


# -- Data protection -----------------------------------------------------------------------


def test_subject_access_export_and_erasure_reach_the_example_notes(
        as_role, admin, db, notes, note_model, person):
    stranger = people.create_person({"given_name": "Ben", "family_name": "Hall",
                                     "postcode": "BL1 1AA"})
    for body in ("Needs a lift to the GP", "Shopping on Tuesdays"):
        notes.create_note(district=BOLTON, body=body, person_id=person.id, actor=None)
    db.session.commit()
    coordinator = as_role("coordinator", BOLTON)

    export = coordinator.client.get(f"/api/v1/people/{person.id}/export")
    assert export.status_code == 200
    ours = [s for s in export.get_json()["sections"] if s["source"] == "example"]
    assert [r["body"] for r in ours[0]["records"]] == ["Needs a lift to the GP",
                                                       "Shopping on Tuesdays"]
    theirs = coordinator.client.get(f"/api/v1/people/{stranger.id}/export").get_json()
    assert not [s for s in theirs["sections"] if s["source"] == "example"]

    erased = admin.client.delete(f"/api/v1/people/{person.id}")
    assert erased.status_code == 200
    assert erased.get_json()["records"]["tests.core.example_plugin"] == 2
    db.session.expire_all()
    left = db.session.execute(sa.select(note_model).order_by(note_model.id)).scalars().all()
    assert [(n.body, n.person_id) for n in left] == [(notes.ERASED, None)] * 2
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "example.person.erased")).scalar_one()
    assert json.loads(entry.summary) == {"records": 2}
    assert audit.verify_chain().ok


def test_person_data_hook_returns_nothing_for_a_person_without_notes(hook, person):
    assert not [s for s in hook.person_data(person=person) if s.source == "example"]
    assert all(isinstance(s, PersonDataSection) for s in hook.person_data(person=person))


def test_retention_rules_include_the_example_rule_the_sweep_applies(hook, notes):
    rules = [r for r in flat(hook.retention_rules()) if r.record == "example note"]
    assert rules == [RetentionRule("example note", notes.RETENTION_DAYS, rules[0].reason)]
    assert isinstance(rules[0], RetentionRule) and rules[0].reason

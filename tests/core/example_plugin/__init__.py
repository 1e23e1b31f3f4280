"""A complete, small plugin: the worked example of docs/writing-a-plugin.md.

It keeps notes per district (``example_notes``), serves one API route and
one page, defines two permissions and a menu entry, seeds demo data, purges
old notes in the sweep, enqueues a job by dotted path, owns tasks that
helpers can take, and answers subject access, erasure and retention.
Tests register it with ``make_app(url, extra_plugins=(example_plugin,))``;
an installed plugin is found through its ``hubcore.plugins`` entry point.

Hook implementations live here and only here; they name every argument they
use and give none a default value (pluggy would never pass it).
"""

from __future__ import annotations

import os

from hubcore import hookimpl, jobs
from hubcore.db import utcnow
from hubcore.districts import packs
from hubcore.identity.permissions import can
from hubcore.values import (
    HelperCandidate,
    NavItem,
    Permission,
    PersonDataSection,
    RetentionRule,
    RiskSignal,
    ScoreComponent,
    ServiceSuggestion,
)

from . import notes
from .api import example_api
from .views import example

NAME = "example"
LARGE_INDIVIDUAL_GRANT_PENCE = 100_000


# -- Set-up --------------------------------------------------------------------


@hookimpl
def hubcore_register(app):
    app.register_blueprint(example_api)
    app.register_blueprint(example)


@hookimpl
def hubcore_migrations():
    return os.path.join(os.path.dirname(__file__), "migrations", "versions")


@hookimpl
def hubcore_permissions():
    return [
        Permission("example.notes.read", "Read the notes of your districts", ("coordinator",)),
        Permission("example.notes.write", "Write notes for your districts", ("coordinator",)),
    ]


@hookimpl
def hubcore_nav(user):
    if user is None or not can(user, "example.notes.read"):
        return []
    return [NavItem("Notes", "example.notes_page", order=300)]


@hookimpl
def hubcore_demo_data(region):
    for district in packs.load_pack(region).districts[:2]:
        body = f"Ring the {district.name} food bank about Friday's delivery."
        if notes.find_note(district.code, body) is None:
            notes.create_note(district=district.code, body=body, person_id=None, actor=None)


@hookimpl
def hubcore_sweep(now):
    return {"example_notes_purged": notes.purge_closed(now)}


# -- Help requests and helpers ---------------------------------------------------


@hookimpl
def help_request_created(request):
    jobs.enqueue("tests.core.example_plugin.jobs.note_help_request",
                 request.reference, request.district, request.person_id)


@hookimpl
def find_helpers(task, limit):
    # The duty desk has no DBS check: tasks that need one are not offered to
    # it at all (a safeguarding gate, never a low score).
    if limit < 1 or task.dbs_level != "none" or task.regulated_activity:
        return []
    return [HelperCandidate(
        helper_id=f"{NAME}-duty-desk-{task.district}",
        display_name="Hub duty desk",
        score=10.0,
        distance_km=None,
        breakdown=(ScoreComponent("duty_desk", 10.0,
                                  f"The duty desk takes {', '.join(task.needs)} "
                                  f"in {task.district}"),),
        source=NAME,
    )]


@hookimpl
def task_details(owner, owner_id):
    note = notes.open_note(owner, owner_id)  # None unless owner == "example"
    return notes.task_for(note) if note is not None else None


@hookimpl
def task_assigned(task, helper):
    note = notes.note_for_task(task)
    if note is not None:
        notes.assign(note, helper.helper_id)


@hookimpl
def task_released(task, reason):
    note = notes.note_for_task(task)
    if note is not None:
        notes.release(note, reason)


@hookimpl
def task_completed(task, hours):
    note = notes.note_for_task(task)
    if note is not None:
        notes.complete(note, hours, utcnow())


# -- Referrals and grants ----------------------------------------------------------


@hookimpl
def suggest_services(need, person):
    if need.code != "advice":
        return []
    return [ServiceSuggestion(
        service_id=f"{NAME}-advice-line", service_name="Advice line",
        organisation_name="Example Hub", score=1.0,
        reasons=(f"Takes advice calls from {person.district or 'any district'}",),
        source=NAME,
    )]


@hookimpl
def grant_risk_signals(application):
    if (application.applicant_type == "individual"
            and application.amount_pence >= LARGE_INDIVIDUAL_GRANT_PENCE):
        return [RiskSignal(f"{NAME}.large_individual_grant",
                           "An individual asks for £1,000 or more.", True, NAME)]
    return []


# -- Data protection ----------------------------------------------------------------


@hookimpl
def person_data(person):
    records = notes.export_for_person(person.id)
    return PersonDataSection(NAME, "Notes", records) if records else None


@hookimpl
def erase_person(person):
    return notes.erase_for_person(person.id)


@hookimpl
def retention_rules():
    return [RetentionRule("example note", notes.RETENTION_DAYS,
                          "Kept after completion so the hub can answer questions about it.")]

"""Volunteering: the VolunteerGM front door, vetting, explained matching, offers, hours.

Hook implementations only; the rules live in signup.py, vetting.py,
matching.py, offers.py and hours.py. Tasks come from other plugins as
hubcore.values.Task; their owners hear back through task_assigned,
task_released and task_completed.
"""

from __future__ import annotations

import os
from dataclasses import replace

from hubcore import hookimpl
from hubcore.cli import export_group, import_group
from hubcore.identity.permissions import can
from hubcore.values import NavItem, Permission, PersonDataSection, RetentionRule

from . import commands, demo_data, matching, offers, privacy, vetting, views
from . import models  # noqa: F401  (the tables belong to the metadata)
from .api import volunteering_api
from .views import volunteering

COORDINATOR = ("coordinator",)


@hookimpl
def hubcore_register(app):
    app.register_blueprint(volunteering_api)
    app.register_blueprint(volunteering)
    import_group.add_command(commands.import_volunteers)
    export_group.add_command(commands.export_volunteers)


@hookimpl
def hubcore_nav(user):
    if user is None:
        return [NavItem("Volunteer", "volunteering.sign_up", order=400)]
    items = []
    if can(user, "volunteering.volunteers.read"):
        items.append(NavItem("Volunteers", "volunteering.volunteer_list", order=400))
    if can(user, "volunteering.hours.read"):
        items.append(NavItem("Volunteer hours", "volunteering.hours_page", order=410))
    if vetting.volunteer_for_account(user) is not None:
        items.append(NavItem("My tasks", "volunteering.my_tasks", order=150))
    return items


@hookimpl
def hubcore_migrations():
    return os.path.join(os.path.dirname(__file__), "migrations", "versions")


@hookimpl
def hubcore_permissions():
    return [
        Permission("volunteering.volunteers.read", "See the volunteers of your districts",
                   COORDINATOR),
        Permission("volunteering.volunteers.manage",
                   "Edit, activate, pause and stand down volunteers of your districts",
                   COORDINATOR),
        Permission("volunteering.dbs.verify", "Record DBS checks you have seen", COORDINATOR),
        Permission("volunteering.offers.manage", "Offer tasks to volunteers of your districts",
                   COORDINATOR),
        Permission("volunteering.hours.read", "See volunteer hours in your districts",
                   ("coordinator", "funder")),
    ]


@hookimpl
def hubcore_demo_data(region):
    demo_data.seed(region)


@hookimpl
def hubcore_sweep(now):
    return {"volunteering_offers_expired": offers.expire_due(now), **privacy.purge(now)}


@hookimpl
def help_request_created(request):
    # Candidates are asked for next, on the request's page: have the index ready.
    matching.current_index()


@hookimpl
def find_helpers(task, limit):
    found = matching.find_candidates(task, limit, excluded=offers.offered_before(task))
    url = views.offer_form_url()
    return [replace(c, offer_url=url) for c in found] if url else found


@hookimpl
def person_data(person):
    records = privacy.export_for(person)
    return PersonDataSection("volunteering", "Volunteering", records) if records else None


@hookimpl
def erase_person(person):
    return privacy.erase_for(person)


@hookimpl
def merge_person(survivor, duplicate):
    return privacy.move_to_person(duplicate, survivor)


@hookimpl
def retention_rules():
    return [
        RetentionRule("volunteer who has left", privacy.LEFT_VOLUNTEER_DAYS,
                      "Kept two years after leaving to answer questions about tasks done, "
                      "then anonymised."),
        RetentionRule("finished volunteer task", privacy.FINISHED_ASSIGNMENT_DAYS,
                      "Kept two years as evidence of hours given, then deleted."),
        RetentionRule("answered or expired offer", privacy.ANSWERED_OFFER_DAYS,
                      "Kept six months to review how offers are answered, then deleted."),
    ]

"""Community hub requests: intake, vulnerability triage, duplicates, lifecycle.

Hook implementations live here and only here; they name the arguments they
use and give none a default value (pluggy would never pass it).
"""

from __future__ import annotations

import os

from hubcore import hookimpl
from hubcore.config import ConfigError
from hubcore.identity.permissions import can
from hubcore.values import NavItem, Permission, PersonDataSection, PluginSetting, RetentionRule

from . import data_protection, demo, intake, lifecycle, triage
from .api import help_requests_api
from .views import hub_requests

NAME = "hub_requests"


# -- Set-up --------------------------------------------------------------------


@hookimpl
def hubcore_settings():
    return [PluginSetting(
        data_protection.RETENTION_SETTING, int, data_protection.DEFAULT_RETENTION_DAYS,
        "Days a finished help request is kept before the sweep deletes it.")]


@hookimpl
def hubcore_register(app):
    triage.current_rules()  # bad rules stop the app here, not at a resident's submit
    days = app.extensions["hubcore"].settings.extra[data_protection.RETENTION_SETTING]
    if days < 1:
        raise ConfigError("HUBCORE_HUB_REQUESTS_RETENTION_DAYS must be 1 or more")
    app.config.setdefault("HUB_REQUESTS_RETENTION_DAYS", days)
    app.register_blueprint(help_requests_api)
    app.register_blueprint(hub_requests)


@hookimpl
def hubcore_migrations():
    return os.path.join(os.path.dirname(__file__), "migrations", "versions")


@hookimpl
def hubcore_permissions():
    return [
        Permission("help_requests.read", "See the help requests of your districts",
                   ("coordinator",)),
        Permission("help_requests.write", "Triage and manage the help requests of your "
                   "districts, and take requests by phone", ("coordinator",)),
    ]


@hookimpl
def hubcore_nav(user):
    items = [NavItem("Ask for help", "hub_requests.ask", order=50)]
    if user is not None and can(user, "help_requests.read"):
        items.append(NavItem("Help requests", "hub_requests.queue_page", order=100))
    return items


@hookimpl
def hubcore_demo_data(region):
    demo.seed(region)


@hookimpl
def hubcore_sweep(now):
    return {
        "help_requests_escalated": lifecycle.escalate_overdue(now),
        "help_requests_repeated": intake.repeat_due(now),
        "help_requests_late_duplicates": intake.flag_missed_duplicates(now),
        "help_requests_purged": data_protection.purge_finished(now),
    }


# -- Helpers ask and tell us about our tasks ----------------------------------------------


@hookimpl
def task_details(owner, owner_id):
    found = lifecycle.open_request_for(owner, owner_id)
    return lifecycle.task_for(found) if found is not None else None


@hookimpl
def task_assigned(task, helper):
    found = lifecycle.request_for_task(task)
    if found is not None:
        lifecycle.helper_assigned(found, helper)


@hookimpl
def task_released(task, reason):
    found = lifecycle.request_for_task(task)
    if found is not None:
        lifecycle.helper_released(found, reason)


@hookimpl
def task_completed(task, hours):
    found = lifecycle.request_for_task(task)
    if found is not None:
        lifecycle.helper_completed(found, hours)


# -- Data protection ----------------------------------------------------------------------


@hookimpl
def person_data(person):
    records = data_protection.export_for_person(person.id)
    return PersonDataSection(NAME, "Requests for help", records) if records else None


@hookimpl
def erase_person(person):
    return data_protection.erase_for_person(person.id)


@hookimpl
def merge_person(survivor, duplicate):
    return data_protection.move_to_person(duplicate.id, survivor.id)


@hookimpl
def retention_rules():
    return [RetentionRule("help request", data_protection.retention_days(),
                          "Kept after it is finished so the hub can answer questions about "
                          "the help given, then deleted with its notes and calls.")]

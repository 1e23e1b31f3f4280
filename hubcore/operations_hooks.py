"""The core's own hooks for running the platform (a default plugin).

The audit log, background jobs, notifications and health: their blueprints,
their permissions, their share of the scheduled sweep, and what the outbox
holds about a person.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hubcore import notify
from hubcore.db import db
from hubcore.hookspecs import hookimpl
from hubcore.values import PersonDataSection, Permission

# Imported for their pages: they add routes to the web shell's blueprint,
# which must happen before any app registers it (this module is loaded when
# the plugin manager is built, before ``hubcore_register`` runs).
from hubcore import audit_views, jobs_views  # noqa: E402  isort: skip

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


@hookimpl
def hubcore_register(app):
    from hubcore.health import health

    app.register_blueprint(audit_views.audit_api)
    app.register_blueprint(jobs_views.jobs_api)
    app.register_blueprint(health)


@hookimpl
def hubcore_permissions():
    return [
        Permission("audit.verify", "Check that the audit log has not been tampered with", (),
                   scoped=False),
        Permission("jobs.manage", "Run failed background jobs again", (), scoped=False),
    ]


@hookimpl
def hubcore_sweep(now):
    done = notify.deliver_due(now)
    purged = purge_idempotency_keys(now)
    if purged:
        done["idempotency_keys_purged"] = purged
    return done


def purge_idempotency_keys(now) -> int:
    """Forget stored API responses older than a day: a retry comes within minutes."""
    from hubcore.api import IdempotencyKey

    return db.session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_KEY_TTL)
    ).rowcount


@hookimpl
def person_data(person):
    records = notify.messages_for(person.id)
    if not records:
        return None
    return PersonDataSection(source="hubcore.notify", title="Messages sent to you",
                             records=records)


@hookimpl
def erase_person(person):
    return notify.erase_messages_for(person.id)


@hookimpl
def merge_person(survivor, duplicate):
    return notify.move_messages(duplicate.id, survivor.id)

"""The identity core's own hook implementations (a default plugin)."""

from __future__ import annotations

from hubcore.hookspecs import hookimpl
from hubcore.values import NavItem, Permission


@hookimpl
def hubcore_register(app):
    from hubcore.identity.api import identity_api

    app.register_blueprint(identity_api)


@hookimpl
def hubcore_permissions():
    return [
        Permission("people.read", "Read residents' records", ("coordinator",)),
        Permission("people.write", "Create and change residents' records and consent",
                   ("coordinator",)),
        Permission("people.export", "Export everything held on a resident (subject access)",
                   ("coordinator",)),
        Permission("people.erase", "Erase a resident's personal data", ()),
        Permission("audit.read", "Read the audit log", ("coordinator", "funder")),
        Permission("organisations.manage", "Create and change organisations and memberships",
                   (), scoped=False),
        Permission("accounts.manage", "Create accounts and give roles", (), scoped=False),
        Permission("jobs.read", "See background jobs and failures", (), scoped=False),
    ]


@hookimpl
def hubcore_nav(user):
    if user is None or not user.is_authenticated:
        return []
    from hubcore.identity.permissions import can

    items = [NavItem("Your account", "web.account", order=900)]
    if can(user, "audit.read"):
        items.append(NavItem("Audit log", "web.audit_log", order=800))
    if can(user, "jobs.read"):
        items.append(NavItem("Background jobs", "web.jobs", order=810))
    return items


@hookimpl
def hubcore_sweep(now):
    from hubcore.identity import accounts

    return {"account_sessions_purged": accounts.purge_sessions(now)}

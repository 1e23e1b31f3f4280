"""Every hook of the platform, in one module; each docstring is the contract.

Kinds: *each* hooks are called on every plugin and their results collected
into a list (pluggy's default); *broadcast* hooks tell every plugin something
happened and ignore results; ``firstresult`` hooks stop at the first answer.

Implementations must not give their arguments default values (pluggy does not
pass them) and may accept fewer arguments than the spec names. Hooks grow by
adding arguments, never by changing what one means. ``docs/hooks.md``
documents each with its exact signature; a test checks that it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from flask import Flask

    from hubcore.identity.models import Account, Person
    from hubcore.values import (
        GrantApplicationInfo,
        HelpRequestInfo,
        HelperCandidate,
        NavItem,
        Need,
        Permission,
        PersonDataSection,
        PersonInfo,
        PluginSetting,
        RequestAction,
        RetentionRule,
        RiskSignal,
        ServiceSuggestion,
        Task,
    )

PROJECT = "hubcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- Set-up -----------------------------------------------------------------


@hookspec
def hubcore_register(app: Flask) -> None:
    """Called once by ``create_app`` after the plugin manager is built.

    Register blueprints, CLI commands (``app.cli``) and config defaults
    (``app.config.setdefault``) here. The app is not yet serving requests.
    """


@hookspec
def hubcore_migrations() -> str | None:
    """Return the path of the plugin's Alembic ``versions`` folder, or None.

    Called when the migration environment is built; every returned folder is
    added to Alembic's ``version_locations``, so ``hubcore db upgrade``
    applies the plugin's own branch (``branch_labels``) with the core's.
    """


@hookspec
def hubcore_settings() -> list[PluginSetting]:
    """Return the settings the plugin reads from the environment.

    Called once when the app is built, before ``hubcore_register``. Each
    ``HUBCORE_<NAME>`` variable is converted to the setting's kind (a bad
    value stops the app, naming the variable) and, with the defaults of the
    settings not given, lands in ``settings.extra[name]``. A ``HUBCORE_*``
    variable that neither the core nor an enabled plugin declares stops the
    app, except one named for an installed plugin that is switched off.
    """


@hookspec
def hubcore_permissions() -> list[Permission]:
    """Return the permissions the plugin defines and the roles that hold them.

    Called once when the app is built; the core merges every list into the
    permission registry used by ``hubcore.identity.permissions.can``. A name
    defined twice with different roles is refused at start-up.
    """


@hookspec
def hubcore_nav(user: Account | None) -> list[NavItem]:
    """Return menu entries for the web shell for this user (None: signed out).

    Called on each page render; return only entries the user may use.
    """


@hookspec
def hubcore_demo_data(region: str) -> None:
    """Seed realistic demo data for the region pack named ``region``.

    Called by ``hubcore demo`` after the core has created the demo
    organisations and accounts, inside an app context. Must be safe to run
    twice (check before creating). The caller commits.
    """


@hookspec
def hubcore_sweep(now) -> dict[str, int] | None:
    """Do the plugin's due scheduled work (expire offers, escalate, purge).

    Called by ``hubcore sweep`` and by the scheduled sweep job with the
    current UTC time. Must be idempotent: running it twice at the same
    ``now`` changes nothing the second time. Return counts of what was done,
    e.g. ``{"offers_expired": 3}``. The caller commits.
    """


# -- Help requests and helpers -----------------------------------------------


@hookspec
def help_request_created(request: HelpRequestInfo) -> None:
    """Broadcast after a help request is stored (the transaction is committed).

    Other plugins react: pre-compute helper candidates, suggest referrals or
    grants. Each implementation runs in an app context and transaction of its
    own: the caller commits what it wrote when it returns and rolls it back if
    it raises. Return values are ignored; an exception is logged, not raised.
    Keep it quick (enqueue a job for slow work): it runs after every intake.
    """


@hookspec
def help_request_actions(request: HelpRequestInfo, user: Account) -> list[RequestAction]:
    """Return links the plugin offers on an open help request's page, for ``user``.

    Called by the plugin that owns help requests each time the page of an
    open request is shown (e.g. a grants plugin offers "Apply for a hardship
    grant", prefilled for ``request.person_id``). Return only actions that
    apply to this request and that ``user`` may take in ``request.district``;
    an empty list otherwise. Read only: never change anything here.
    """


@hookspec
def find_helpers(task: Task, limit: int) -> list[HelperCandidate]:
    """Return up to ``limit`` eligible helpers for ``task``, best first.

    Every candidate must be eligible (safeguarding gates are never merely
    ranked low) and carry its score breakdown. Results of all plugins are
    merged by score by the caller.
    """


@hookspec(firstresult=True)
def task_details(owner: str, owner_id: str) -> Task | None:
    """Return the current ``Task`` for one of the plugin's own records, or None.

    Called by the helper side before it offers a task (a form or API call
    names only ``owner`` and ``owner_id``): the owner is the authority on its
    task's needs, DBS level, person, place and district, never the caller.
    Return None when ``owner`` is not this plugin, or the record does not
    exist or is not open for helpers. Read only: never change anything here.
    """


@hookspec
def task_assigned(task: Task, helper: HelperCandidate) -> None:
    """Broadcast by the helper side when a helper accepts ``task``.

    The owner plugin (``task.owner``) moves its record to *assigned*; other
    plugins ignore tasks they do not own.
    """


@hookspec
def task_released(task: Task, reason: str) -> None:
    """Broadcast by the helper side when a helper gives ``task`` back.

    The owner plugin returns the task to its queue, with the reason noted.
    """


@hookspec
def task_completed(task: Task, hours: float) -> None:
    """Broadcast by the helper side when the helper reports ``task`` done.

    The owner plugin moves its record to *completed*; ``hours`` were logged.
    The helper's work is done whatever happened meanwhile, so the owner never
    refuses: a record closed or cancelled since keeps its outcome and notes
    the report (a helper's hours are never lost to a refusal).
    """


# -- Referrals and grants ------------------------------------------------------


@hookspec
def suggest_services(need: Need, person: PersonInfo) -> list[ServiceSuggestion]:
    """Return referral routes for ``need`` for this person, best first.

    Called when a coordinator looks at a case; results are advice for a
    person to act on, never acted on automatically.
    """


@hookspec
def grant_risk_signals(application: GrantApplicationInfo) -> list[RiskSignal]:
    """Return extra risk signals a plugin knows about for a grant application.

    Called while the application's risk tier is chosen. Never return raw
    personal or bank data in a signal: describe it.
    """


# -- Data protection -------------------------------------------------------------


@hookspec
def person_data(person: Person) -> PersonDataSection | None:
    """Return everything the plugin holds about ``person`` (subject access).

    Called by the subject access export; return None when the plugin holds
    nothing. Records are plain JSON-ready dicts.
    """


@hookspec
def erase_person(person: Person) -> int:
    """Erase or anonymise what the plugin holds about ``person``.

    Called, inside the erasure's transaction, before the core anonymises the
    person record itself. Keep what the law requires (e.g. payments),
    anonymised. Return the number of records changed. Never edit the audit
    log: the chain must still verify.
    """


@hookspec
def merge_person(survivor: Person, duplicate: Person) -> int:
    """Point what the plugin holds about ``duplicate`` at ``survivor``.

    Called, inside the merge's transaction, when a coordinator merges two
    records of the same person (``hubcore.identity.people.merge_people``),
    before the core empties the duplicate record and links it to the
    survivor. Move links only; never copy contact details. Return the number
    of records changed.
    """


@hookspec
def retention_rules() -> list[RetentionRule]:
    """Return how long the plugin keeps each kind of closed record.

    Called by the retention view and the purge; the plugin's sweep applies
    its own rules.
    """

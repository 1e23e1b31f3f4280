"""Builds the pluggy plugin manager for one app.

The order (learned from Datasette and pytest): hookspecs, then the core's own
default implementations as internal plugins, then the entry points of group
``hubcore.plugins`` filtered by the configured allow-list, each checked on
its own so that one broken plugin is named and skipped rather than taking
the platform down (unless strict mode says refuse to start).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import ModuleType

import pluggy
from flask import has_app_context

from hubcore import hookspecs
from hubcore.db import db

ENTRY_POINT_GROUP = "hubcore.plugins"

# Core behaviour registered as plugins, so the rest of the platform calls it
# through the same hooks a third-party plugin would implement.
DEFAULT_PLUGINS = (
    "hubcore.identity.hooks",
    "hubcore.districts.hooks",
    "hubcore.web.hooks",
    "hubcore.operations_hooks",
)

log = logging.getLogger(__name__)


class PluginLoadError(Exception):
    """Strict mode: a configured plugin could not be loaded."""


@dataclass
class PluginReport:
    """What the manager loaded, skipped and could not load, for ``hubcore plugins``."""

    loaded: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def build_plugin_manager(enabled: tuple[str, ...] | None, *, strict: bool = False,
                         extra: tuple[object, ...] = ()) -> tuple[pluggy.PluginManager, PluginReport]:
    """Return a fresh manager and a report of what it loaded.

    ``enabled`` is the allow-list of entry-point names (None: all installed).
    ``extra`` are plugin objects registered directly (tests, embedding apps).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    report = PluginReport()
    for dotted in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(dotted), name=dotted)
        _refuse_default_arguments(pm, pm.get_plugin(dotted), dotted)
    pm.check_pending()  # a core default that does not fit its spec is a bug

    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: ep.name):
        if enabled is not None and ep.name not in enabled:
            pm.set_blocked(ep.name)
            report.blocked.append(ep.name)
            continue
        try:
            _register_checked(pm, ep.load(), ep.name)
        except Exception as exc:  # any failure in a plugin's import or hooks
            message = f"{type(exc).__name__}: {exc}"
            if strict:
                raise PluginLoadError(f"plugin {ep.name!r} failed to load: {message}") from exc
            log.error("plugin %r failed to load and is skipped: %s", ep.name, message)
            report.broken[ep.name] = message
            continue
        report.loaded.append(ep.name)

    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        _register_checked(pm, plugin, name)
        report.loaded.append(name)

    if enabled is not None:
        found = set(report.loaded) | set(report.broken)
        report.missing = sorted(set(enabled) - found)
        for name in report.missing:
            message = "enabled in HUBCORE_PLUGINS but not installed"
            if strict:
                raise PluginLoadError(f"plugin {name!r} {message}")
            log.error("plugin %r is %s", name, message)
    return pm, report


def _register_checked(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register one plugin and validate its hooks, or leave no trace of it."""
    pm.register(plugin, name=name)
    try:
        pm.check_pending()
        _refuse_default_arguments(pm, plugin, name)
    except pluggy.PluginValidationError:
        pm.unregister(plugin)
        raise


def _refuse_default_arguments(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """pluggy never passes an argument that has a default: the hook would get the default."""
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and impl.kwargnames:
                raise pluggy.PluginValidationError(
                    plugin, f"plugin {name!r}: hook {caller.name!r} gives "
                            f"{', '.join(impl.kwargnames)} a default value, which pluggy "
                            f"never passes; remove the default")


def plugin_modules(pm: pluggy.PluginManager) -> list[tuple[str, ModuleType | object]]:
    """Non-core plugins as (name, object), in registration order."""
    return [(name, plugin) for name, plugin in pm.list_name_plugin()
            if plugin is not None and name not in DEFAULT_PLUGINS]


# -- Asking every plugin, one at a time ------------------------------------------------


class Answers(list):
    """The flattened answers of the implementations that worked.

    ``answered`` and ``failed`` name the plugins whose implementation returned
    and raised, in the order they were asked, so a page can say that an
    answer is missing rather than that there is none.
    """

    def __init__(self, items=(), answered: tuple[str, ...] = (), failed: tuple[str, ...] = ()):
        super().__init__(items)
        self.answered, self.failed = answered, failed


def _savepoint() -> AbstractContextManager:
    """A failed implementation's SQL must not spoil the caller's transaction.

    On PostgreSQL one failed statement aborts the whole transaction, so the
    page would fail on its next query anyway. The caller's own pending
    changes are flushed first, outside the savepoint, so their errors stay
    the caller's and are never blamed on a plugin. A session that already
    needs a rollback cannot take a savepoint: the implementations then run
    without one (and fail alone if they touch the database).
    """
    if not has_app_context() or not db.session.is_active:
        return nullcontext()
    db.session.flush()
    return db.session.begin_nested()


def collect(pm: pluggy.PluginManager, hook_name: str, /, *,
            run_in: Callable[[], AbstractContextManager] = _savepoint, **kwargs) -> Answers:
    """Call each implementation of an *each* or *broadcast* hook on its own.

    For hooks where one plugin's bug must not cost the caller the others'
    answers: a page or API read (``find_helpers``, ``suggest_services``,
    ``help_request_actions``, ``hubcore_nav``) or a broadcast after the fact
    (``help_request_created``). An implementation that raises is logged with
    its plugin's name and left out; the lists the others return are
    flattened, in pluggy's call order. Each runs inside ``run_in()`` (by
    default a savepoint of the app's session). Never use it for a hook whose
    failure must stop the operation (permissions, migrations, erasure,
    subject access, retention): call those through ``pm.hook``.
    """
    caller = getattr(pm.hook, hook_name)
    if caller.spec is not None:
        if caller.spec.opts.get("firstresult"):
            raise ValueError(f"{hook_name} is a firstresult hook: call it through pm.hook")
        if set(kwargs) != set(caller.spec.argnames):  # the caller's mistake, not a plugin's
            raise TypeError(f"{hook_name} takes {', '.join(caller.spec.argnames) or 'nothing'}, "
                            f"not {', '.join(sorted(kwargs)) or 'nothing'}")
    found: list = []
    answered: list[str] = []
    failed: list[str] = []
    # pluggy calls the last registered first (tryfirst/trylast already
    # ordered); wrappers are for pluggy's own calls and are not run here.
    for impl in reversed(caller.get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            continue
        guard = run_in()  # outside the try: a failure to set it up is the caller's
        try:
            with guard:
                result = impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception:
            log.exception("hook %s of plugin %r failed and is skipped",
                          hook_name, impl.plugin_name)
            failed.append(impl.plugin_name)
            continue
        answered.append(impl.plugin_name)
        found.extend(result or ())
    return Answers(found, tuple(answered), tuple(failed))

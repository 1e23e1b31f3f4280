"""Database schema migrations: the core's Alembic branch and each plugin's.

A fresh database is created by running every migration, never by
``create_all``; each plugin ships its own branch through ``hubcore_migrations``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import flask_migrate
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask, current_app

CORE_BRANCH = "core"


def version_locations(app: Flask) -> list[str]:
    core = os.path.join(app.extensions["migrate"].directory, "versions")
    plugin_dirs = [path for path in app.extensions["hubcore"].pm.hook.hubcore_migrations()
                   if path]
    return [core, *sorted(plugin_dirs), *dormant_locations(app)]


def dormant_locations(app: Flask) -> list[str]:
    """Version folders of installed plugins that configuration disables.

    Their revisions may already be applied (the plugin was enabled once), so
    Alembic must still be able to find them; they are never upgraded while
    disabled. Found without importing the plugin: by convention its package
    holds ``migrations/versions``.
    """
    from hubcore.plugins import ENTRY_POINT_GROUP

    blocked = set(app.extensions["hubcore"].plugins.blocked)
    found = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in blocked:
            continue
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        for root in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(root, "migrations", "versions")
            if os.path.isdir(path):
                found.append(path)
    return sorted(found)


def configure(config: Config) -> Config:
    """Point Alembic at every branch (a Flask-Migrate configure callback)."""
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations(current_app)))
    return config


def upgrade() -> None:
    """Apply the core's and every enabled plugin's branch (``hubcore db upgrade``)."""
    for head in heads():
        flask_migrate.upgrade(revision=head)


def heads() -> list[str]:
    """Heads of the core's and the enabled plugins' branches (not disabled ones)."""
    script = _script()
    dormant = {os.path.realpath(path) for path in dormant_locations(current_app)}
    return sorted(head for head in script.get_heads()
                  if os.path.realpath(os.path.dirname(script.get_revision(head).path))
                  not in dormant)


def _script() -> ScriptDirectory:
    migrate = current_app.extensions["migrate"]
    return ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))


def current_revisions() -> set[str]:
    from alembic.runtime.migration import MigrationContext

    from hubcore.db import db

    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def pending() -> bool:
    """True when the database is behind the code (some head not applied).

    Alembic stores only the tips it reached: a plugin branch that depends on
    the core's revision stands for that revision too, so the stored rows are
    compared through everything they imply, not as they are.
    """
    current = current_revisions()
    applied = ({rev.revision for rev in _script().iterate_revisions(tuple(current), "base")}
               if current else set())
    return not set(heads()) <= applied

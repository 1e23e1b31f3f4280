"""Database schema migrations: the core's Alembic branch and each plugin's.

A fresh database is created by running every migration, never by
``create_all``; each plugin ships its own branch through ``hubcore_migrations``.
"""

from __future__ import annotations

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
    return [core, *sorted(plugin_dirs)]


def configure(config: Config) -> Config:
    """Point Alembic at every enabled branch (a Flask-Migrate configure callback)."""
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations(current_app)))
    return config


def upgrade() -> None:
    """Apply every branch's migrations up to its head (``hubcore db upgrade``)."""
    flask_migrate.upgrade(revision="heads")


def heads() -> list[str]:
    return list(_script().get_heads())


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

"""The application factory: config → extensions → plugin manager → blueprints."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pluggy
import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from hubcore import api, inputs, jobs, schema_migrations
from hubcore.config import Settings
from hubcore.db import db
from hubcore.identity import auth, permissions
from hubcore.plugins import PluginReport, build_plugin_manager
from hubcore.web import security

migrate = Migrate()
migrate.configure(schema_migrations.configure)


@dataclass
class Hubcore:
    """What the platform keeps on ``app.extensions["hubcore"]``."""

    settings: Settings
    pm: pluggy.PluginManager
    plugins: PluginReport
    permissions: permissions.Registry


def create_app(settings: Settings | None = None, *, extra_plugins: tuple[object, ...] = (),
               **overrides) -> Flask:
    """Build an app from ``HUBCORE_*`` (or the given ``settings``).

    ``overrides`` replace individual settings (tests; ``plugins=`` is the
    allow-list setting); ``extra_plugins`` are plugin objects registered after
    the entry points (tests, embedders).
    """
    settings = settings or Settings.from_env()
    if overrides:
        settings = settings.with_overrides(**overrides)
    settings.validate()

    app = Flask("hubcore", instance_relative_config=False,
                template_folder="web/templates", static_folder="web/static")
    os.makedirs(app.instance_path, exist_ok=True)
    inputs.init_app(app)  # before any blueprint: routes use its ``id`` converter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.resolved_database_url(app.instance_path),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings, app.instance_path),
        TESTING=settings.env == "testing",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=settings.session_ttl_hours * 3600,
        WTF_CSRF_TIME_LIMIT=settings.session_ttl_hours * 3600,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    if not app.logger.handlers or settings.production:
        logging.basicConfig(level=logging.INFO)

    if settings.proxy_hops:
        # Behind nginx the client's address (for rate limits) and scheme come
        # from X-Forwarded-*; trust exactly as many hops as there are proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,
                                x_proto=settings.proxy_hops, x_host=settings.proxy_hops)
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", tune_sqlite)
    migrate.init_app(app, db, directory=_core_migrations_dir(), command="alembic")

    pm, report = build_plugin_manager(settings.plugins, strict=settings.strict_plugins,
                                      extra=extra_plugins)
    settings = settings.with_plugin_settings(
        [setting for batch in pm.hook.hubcore_settings() for setting in batch or ()],
        switched_off=(*report.blocked, *report.broken))  # a plugin that failed to load too
    app.extensions["hubcore"] = Hubcore(
        settings=settings, pm=pm, plugins=report,
        permissions=permissions.Registry.from_hooks(pm),
    )

    api.register_error_handlers(app)
    auth.init_app(app, settings)
    security.init_app(app, settings)
    jobs.init_app(app, settings)
    app.register_blueprint(api.core_api)

    pm.hook.hubcore_register(app=app)
    return app


def tune_sqlite(dbapi_connection, _record) -> None:
    """Write-ahead logging: readers never block the writer, and a commit
    syncs the log rather than the whole file (safe against crashes; the last
    commits may be lost only on power loss), so many clients can be served."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Each process's connection pool. A request, a command or a job holds at most one
# pooled connection at a time (in-process jobs run after the commit has given the
# request's back: jobs.enqueue_after_commit), so a process needs as many as it
# serves requests at once: one per gunicorn sync worker (deploy/gunicorn.conf.py
# keeps workers x 15 below PostgreSQL's max_connections); the threaded development
# server's threads queue here for a connection, each held for milliseconds.
POOL_SIZE = 5  # kept open
POOL_MAX_OVERFLOW = 10  # opened when busy, closed again when returned
POOL_TIMEOUT = 30  # seconds to wait for one before the request fails


def engine_options(settings: Settings, instance_path: str) -> dict:
    """SQLAlchemy engine options for the configured database (the benchmarks'
    baselines use them too, so that they compare like with like)."""
    url = settings.resolved_database_url(instance_path)
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_MAX_OVERFLOW,
            "pool_timeout": POOL_TIMEOUT}
    if url.startswith("sqlite"):
        if sa.engine.make_url(url).database in (None, "", ":memory:"):
            pool = {}  # one connection a thread (SQLAlchemy's pool for memory databases)
        # Waiting on a lock beats failing with "database is locked".
        return {**pool, "connect_args": {"timeout": 30}}
    return {**pool, "pool_pre_ping": True}


def _core_migrations_dir() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "migrations")


def hubcore_of(app: Flask) -> Hubcore:
    return app.extensions["hubcore"]

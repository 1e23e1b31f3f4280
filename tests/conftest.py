"""Fixtures shared by the whole suite: ``app``, ``client``, ``db``, ``as_role``.

The database is created by the migrations, once per test session, then
copied (SQLite) or emptied (PostgreSQL, when ``HUBCORE_TEST_DATABASE_URL`` is
set) for each test, so every test starts from an empty, migrated schema.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from hubcore.app import create_app
from hubcore.db import db as _db

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
PG_URL = os.environ.get("HUBCORE_TEST_DATABASE_URL", "")
REDIS_URL_GIVEN = os.environ.get("HUBCORE_TEST_REDIS_URL", "")
BOLTON, BURY, MANCHESTER, WIGAN = "E08000001", "E08000002", "E08000003", "E08000010"


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _worker_redis_url(url: str) -> str:
    """A Redis database per xdist worker (gw0: the given number, gw1: the next, ...), so
    two workers never flush or read each other's queue: under ``-n 2`` the Redis tests
    of two files may run at once."""
    if not url:
        return url
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + index) % 16}"))


# -- Tests that need what a bare machine may lack -----------------------------------------
#
# ``@pytest.mark.requires("redis")`` (or postgresql, sqlite, browser, reference) names
# what a test needs. On a bare machine such a test skips, with its reason. CI says in
# HUBCORE_TEST_REQUIRE=redis,postgresql,... what each run must run: there a skip of such
# a test is a failure, so a lost service or file cannot pass as a green run.

REQUIREMENTS = ("redis", "postgresql", "sqlite", "browser", "reference")


def _required() -> frozenset[str]:
    kinds = {k.strip() for k in os.environ.get("HUBCORE_TEST_REQUIRE", "").split(",")
             if k.strip()}
    if os.environ.get("HUBCORE_TEST_REQUIRE_BROWSER") == "1":  # the older, single switch
        kinds.add("browser")
    return frozenset(kinds)


REQUIRED = _required()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires(*kinds): needs redis, postgresql, sqlite, browser or reference "
                   "data; skipped without it, a failure if HUBCORE_TEST_REQUIRE names it")
    unknown = REQUIRED - set(REQUIREMENTS)
    if unknown:
        raise pytest.UsageError(f"HUBCORE_TEST_REQUIRE names {sorted(unknown)}; "
                                f"known: {', '.join(REQUIREMENTS)}")


def needs(kind: str, available: bool, reason: str):
    """``@needs("redis", bool(REDIS_URL), "needs HUBCORE_TEST_REDIS_URL")``: marks the test
    ``requires(kind)`` and skips it, with ``reason``, where ``kind`` is not available."""
    def decorate(test):
        return pytest.mark.skipif(not available, reason=reason)(
            pytest.mark.requires(kind)(test))
    return decorate


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    needed = {kind for mark in item.iter_markers("requires") for kind in mark.args}
    must = sorted(needed & REQUIRED)
    if not must:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} was skipped ({reason}), but HUBCORE_TEST_REQUIRE="
                       f"{','.join(sorted(REQUIRED))} says tests needing {', '.join(must)} "
                       "must run here")


REDIS_URL = _worker_redis_url(REDIS_URL_GIVEN)


def make_app(database_url: str, **overrides):
    settings = dict(env="testing", database_url=database_url, secret_key=TEST_SECRET,
                    public_rate_limit="10000 per minute", login_rate_limit="10000 per minute",
                    argon2_time_cost=1, argon2_memory_kib=1024)
    settings.update(overrides)
    extra_plugins = settings.pop("extra_plugins", ())
    return create_app(extra_plugins=extra_plugins, **settings)


def _pg_database_url() -> str:
    """A database per xdist worker, so parallel workers never share tables."""
    url = sa.engine.make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
                             if PG_URL.startswith("postgresql://") else PG_URL)
    name = f"{url.database}_{_worker_suffix()}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """Migrate once; return how to get a fresh database for one test."""
    if PG_URL:
        url = _pg_database_url()
        app = make_app(url)
        with app.app_context():
            from hubcore import schema_migrations

            schema_migrations.upgrade()
            tables = [t for t in sa.inspect(_db.engine).get_table_names()
                      if t != "alembic_version"]
            _db.engine.dispose()
        return {"kind": "postgresql", "url": url, "tables": tables}
    template = tmp_path_factory.mktemp("db") / "template.sqlite3"
    app = make_app(f"sqlite:///{template}")
    with app.app_context():
        from hubcore import schema_migrations

        schema_migrations.upgrade()
        _db.engine.dispose()
    return {"kind": "sqlite", "path": template}


@pytest.fixture
def database_url(database_template, tmp_path):
    if database_template["kind"] == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(database_template["path"], path)
        yield f"sqlite:///{path}"
        return
    yield database_template["url"]
    engine = sa.create_engine(database_template["url"])
    with engine.begin() as conn:
        quoted = ", ".join(f'"{t}"' for t in database_template["tables"])
        conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def app_settings():
    """Override to change settings for the tests of one module."""
    return {}


@pytest.fixture
def app(database_url, app_settings):
    app = make_app(database_url, **app_settings)
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def redis_app(database_url, monkeypatch):
    """An app on real Redis (``HUBCORE_TEST_REDIS_URL``), and a worker environment
    pointing at the same database.

    No app context is left pushed: a worker's job must build its own app.
    """
    import signal

    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    for name, value in {"HUBCORE_ENV": "testing", "HUBCORE_DATABASE_URL": database_url,
                        "HUBCORE_REDIS_URL": REDIS_URL, "HUBCORE_SECRET_KEY": TEST_SECRET,
                        "HUBCORE_ARGON2_MEMORY_KIB": "1024"}.items():
        monkeypatch.setenv(name, value)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    app = make_app(database_url, redis_url=REDIS_URL)
    yield app
    for sig, handler in handlers.items():  # the worker installs its own
        signal.signal(sig, handler)
    with app.app_context():
        _db.engine.dispose()
    connection.flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


# -- Accounts and roles ------------------------------------------------------------


PASSWORD = "correct horse battery staple"


@dataclass
class Actor:
    """An account with a role, and a test client that speaks for it."""

    account: object
    client: object
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_account(app):
    from hubcore.identity import accounts
    from hubcore.identity.models import Organisation

    counter = {"n": 0}

    def factory(role: str | None = None, districts: tuple[str, ...] = (BOLTON,), *,
                is_admin: bool = False, kind: str = "hub", email: str | None = None,
                organisation: Organisation | None = None):
        counter["n"] += 1
        n = counter["n"]
        account = accounts.create_account(
            email=email or f"user{n}@example.org", name=f"Test User {n}",
            password=PASSWORD, is_admin=is_admin)
        if role:
            if organisation is None:
                name = f"{role} org {'-'.join(districts)} {n}"
                organisation = accounts.create_organisation(
                    name=name, kind=kind, districts=list(districts))
            accounts.add_membership(account, organisation, role)
        _db.session.commit()
        return account

    return factory


@pytest.fixture
def as_role(app, make_account):
    """``as_role("coordinator", BOLTON)``: an Actor with a bearer-token client."""
    from hubcore.identity import accounts

    def factory(role: str | None, *districts: str, is_admin: bool = False, **kwargs) -> Actor:
        account = make_account(role, districts or (BOLTON,), is_admin=is_admin, **kwargs)
        _token, secret = accounts.issue_token(account)
        _db.session.commit()
        actor_client = app.test_client()
        actor_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        return Actor(account=account, client=actor_client, token=secret)

    return factory


@pytest.fixture
def admin(as_role):
    return as_role(None, is_admin=True)


# -- Forms -------------------------------------------------------------------------


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def submit_form(client, url: str, data: dict, *, page_url: str | None = None,
                follow_redirects: bool = False):
    """Post a form the way a browser does: fetch the page, send its CSRF token."""
    page = client.get(page_url or url)
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(url, data={**data, "csrf_token": token},
                           follow_redirects=follow_redirects)
    return sent(response)


def sent(response):
    """Close a test response as a server does once it has sent it (the test client
    does not), so that work put off until then (``run_after_response``) runs."""
    response.get_data()
    response.close()
    return response


def login(client, email: str, password: str = PASSWORD, *, follow_redirects: bool = True):
    return submit_form(client, "/login", {"email": email, "password": password},
                       follow_redirects=follow_redirects)

"""Production runs its jobs on a worker through Redis, unless told in so many words not to."""

from __future__ import annotations

import pytest

from hubcore import jobs
from hubcore.app import create_app
from hubcore.config import ConfigError, Settings
from hubcore.db import db as _db
from tests.conftest import TEST_SECRET

PRODUCTION = {"HUBCORE_ENV": "production", "HUBCORE_SECRET_KEY": TEST_SECRET,
              "HUBCORE_PUBLIC_URL": "https://hub.example.org",
              "HUBCORE_AUDIT_KEY": "audit-key-for-the-tests-0123456789abcdef"}


def test_production_without_redis_refuses_to_start_and_says_why(tmp_path):
    settings = Settings.from_env({**PRODUCTION,
                                  "HUBCORE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    message = str(refused.value)
    assert "HUBCORE_REDIS_URL must be set in production" in message
    assert "HUBCORE_JOBS_IN_PROCESS=true" in message  # the way out, named


def test_production_runs_jobs_in_process_only_when_the_setting_asks(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "HUBCORE_JOBS_IN_PROCESS": "true",
                                  "HUBCORE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    app = create_app(settings)
    assert jobs.job_queue(app).synchronous
    with app.app_context():
        _db.engine.dispose()


def test_in_process_jobs_and_a_redis_url_together_are_refused():
    with pytest.raises(ConfigError, match="HUBCORE_JOBS_IN_PROCESS"):
        Settings(redis_url="redis://127.0.0.1:6379/0", jobs_in_process=True).validate()
    with pytest.raises(ConfigError, match="HUBCORE_JOBS_IN_PROCESS"):
        Settings.from_env({"HUBCORE_JOBS_IN_PROCESS": "perhaps"})


def test_production_with_redis_starts(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "HUBCORE_REDIS_URL": "redis://127.0.0.1:6379/0",
                                  "HUBCORE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    app = create_app(settings)
    assert not jobs.job_queue(app).synchronous  # nothing is asked of Redis at start-up
    with app.app_context():
        _db.engine.dispose()


def test_the_connection_pool_is_bounded_on_both_databases_and_left_alone_in_memory():
    from hubcore.app import POOL_MAX_OVERFLOW, POOL_SIZE, POOL_TIMEOUT, engine_options

    bounded = {"pool_size": POOL_SIZE, "max_overflow": POOL_MAX_OVERFLOW,
               "pool_timeout": POOL_TIMEOUT}
    for url in ("postgresql://u:p@db/hubcore", "sqlite:////srv/hubcore.sqlite3"):
        options = engine_options(Settings(database_url=url), "/srv")
        assert {k: options[k] for k in bounded} == bounded
    assert "pool_size" not in engine_options(Settings(database_url="sqlite://"), "/srv")
    # workers x (size + overflow) stays below PostgreSQL's default max_connections
    # on the 2 to 5 cores deploy/gunicorn.conf.py is written for (cores + 1 workers).
    assert 6 * (POOL_SIZE + POOL_MAX_OVERFLOW) < 100

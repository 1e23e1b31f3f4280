"""``/healthz``: 200 while the database answers, "degraded" when something else is wrong."""

from __future__ import annotations

import sqlalchemy as sa

from hubcore.db import db as _db
from tests.conftest import make_app


def healthz(app):
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json(), response


def test_embedded_instance_is_healthy(app):
    status, body, response = healthz(app)
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "queue": "in-process",
                    "migrations": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_redis_down_is_degraded_but_still_serving(database_url):
    app = make_app(database_url, redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    with app.app_context():
        status, body, _ = healthz(app)
        _db.engine.dispose()
    assert status == 200
    assert body["status"] == "degraded"
    assert body["queue"] == "error: ConnectionError"
    assert body["database"] == "ok" and body["migrations"] == "ok"


def test_pending_migrations_are_degraded(app, db):
    stored = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    db.session.execute(sa.text("DELETE FROM alembic_version"))
    db.session.commit()
    try:
        status, body, _ = healthz(app)
        assert status == 200
        assert body["migrations"] == "pending" and body["status"] == "degraded"
    finally:
        # PostgreSQL's test database outlives this test: put the versions back.
        for version in stored:
            db.session.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                               {"v": version})
        db.session.commit()


def test_unreachable_database_is_503_without_details(tmp_path):
    missing = tmp_path / "no-such-folder" / "hubcore.sqlite3"
    app = make_app(f"sqlite:///{missing}")
    with app.app_context():
        status, body, response = healthz(app)
        _db.engine.dispose()
    assert status == 503
    assert body == {"status": "degraded", "database": "error: OperationalError",
                    "queue": "in-process", "migrations": "unknown"}
    assert str(tmp_path) not in response.get_data(as_text=True)

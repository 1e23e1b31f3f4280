"""``GET /healthz``: can this instance serve, and is anything degraded?

200 while the database answers (Redis down or migrations pending are
"degraded": work is delayed, nothing is lost); 503 when it does not.
Errors are named by kind only, never with hosts or credentials.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from hubcore import jobs, schema_migrations
from hubcore.db import db

health = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def check() -> tuple[dict[str, str], int]:
    """The health report and its HTTP status."""
    report = {"status": "ok", "database": _database(), "queue": _queue(), "migrations": "unknown"}
    if report["database"] == "ok":
        report["migrations"] = _migrations()
    healthy = (report["database"] == "ok" and report["migrations"] == "ok"
               and report["queue"] in ("ok", "in-process"))
    report["status"] = "ok" if healthy else "degraded"
    return report, 200 if report["database"] == "ok" else 503


def _database() -> str:
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database check failed: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def _queue() -> str:
    jq = jobs.job_queue()
    if jq.synchronous:
        return "in-process"
    try:
        jq.connection.ping()
    except Exception as exc:
        log.warning("health: Redis check failed: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def _migrations() -> str:
    try:
        return "pending" if schema_migrations.pending() else "ok"
    except Exception as exc:
        log.warning("health: migration check failed: %s", exc)
        return f"error: {type(exc).__name__}"


@health.get("/healthz")
def healthz():
    report, status = check()
    response = jsonify(report)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response

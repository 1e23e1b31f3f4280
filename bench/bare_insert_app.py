"""The intake benchmark's baseline: a bare Flask endpoint that inserts one row.

Served by gunicorn with the same settings as the platform in the same run, so
the ratio shows what intake's work (validation, person, consent, triage,
duplicate check, audit, idempotency) costs over the least a web insert costs.
Reads ``BENCH_DATABASE_URL``; the table is created by the benchmark.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from flask import Flask, jsonify, request

from hubcore.app import engine_options, tune_sqlite
from hubcore.config import Settings

TABLE = sa.Table("bench_bare_inserts", sa.MetaData(),
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("body", sa.Text, nullable=False))


def engine_for(url: str) -> sa.Engine:
    """The same driver, connection options and SQLite pragmas as the platform's."""
    settings = Settings(database_url=url)
    resolved = settings.resolved_database_url(".")
    engine = sa.create_engine(resolved, **engine_options(settings, "."))
    if resolved.startswith("sqlite"):
        sa.event.listen(engine, "connect", tune_sqlite)  # WAL, synchronous=NORMAL
    return engine


def create_bare_app() -> Flask:
    engine = engine_for(os.environ["BENCH_DATABASE_URL"])
    app = Flask("bare_insert")

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.post("/insert")
    def insert():
        body = request.get_json()
        with engine.begin() as conn:
            row_id = conn.execute(TABLE.insert().values(body=json.dumps(body))
                                  .returning(TABLE.c.id)).scalar_one()
        return jsonify(id=row_id), 201

    return app

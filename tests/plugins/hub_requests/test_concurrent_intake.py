"""A hundred residents at once on the embedded default: every one accepted, every one announced.

The app is served as ``make run`` serves it (werkzeug's threaded server, jobs
in-process, no Redis), on SQLite or, with ``HUBCORE_TEST_DATABASE_URL``, on
PostgreSQL, and a hundred real threads post to the public intake together
while another asks ``/healthz``. In-process jobs once ran inside the commit,
while the request still held its pooled connection, so each intake needed
two: at sixteen at once the pool was exhausted, a resident got a 500 after
thirty seconds and the announcements landed in the failed jobs.
"""

from __future__ import annotations

import http.client
import json
import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from hubcore import audit, hookimpl, jobs
from hubcore.audit import AuditEntry
from hubcore.db import db as _db
from plugins.hub_requests.models import HelpRequest

from .conftest import submission

SUBMISSIONS = 100
ANSWER_WITHIN = 60  # seconds: generous on a busy two-core machine; the stall took 30 s


class Announced:
    """A plugin that leaves a trace in the database of each announcement it hears."""

    @hookimpl
    def help_request_created(self, request):
        audit.record("test.announced", "help_request", request.id, district=request.district)


@pytest.fixture
def app_settings():
    return {"extra_plugins": (Announced(),)}


@pytest.fixture
def served(app):
    """The test's app (SQLite file or PostgreSQL, jobs in-process) on a loopback port."""
    assert jobs.job_queue(app).synchronous  # the embedded default: no Redis
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="intake-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN)
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data,
                           headers={"Content-Type": "application/json"} if data else {})
        response = connection.getresponse()
        text = response.read()
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"text": text[:200].decode(errors="replace")}
        return response.status, answer
    finally:
        connection.close()


def test_a_hundred_concurrent_public_submissions_are_all_accepted_and_announced(app, served):
    bodies = [submission(given_name=f"Burst{n}", email=f"burst{n}@example.org")
              for n in range(SUBMISSIONS)]
    start = threading.Barrier(SUBMISSIONS + 1)
    answers: list[tuple[int, dict] | BaseException] = [None] * SUBMISSIONS  # type: ignore[list-item]
    burst_over = threading.Event()
    health: list[int] = []

    def submit(n: int) -> None:
        start.wait()
        try:
            answers[n] = _call(served, "POST", "/api/v1/help-requests", bodies[n])
        except BaseException as exc:  # a timeout or a reset: reported below
            answers[n] = exc

    def check_health() -> None:
        start.wait()
        while not burst_over.is_set():
            health.append(_call(served, "GET", "/healthz")[0])

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(SUBMISSIONS)]
    checker = threading.Thread(target=check_health)
    for thread in (*threads, checker):
        thread.start()
    for thread in threads:
        thread.join()
    burst_over.set()
    checker.join()

    statuses = [a[0] if isinstance(a, tuple) else repr(a) for a in answers]
    problems = [a for a in answers if not (isinstance(a, tuple) and a[0] == 201)]
    assert statuses == [201] * SUBMISSIONS, problems[:3]
    assert health and set(health) == {200}  # it answered while the burst ran

    _db.session.rollback()  # a fresh look at what the server's threads committed
    assert jobs.failed_jobs() == []
    stored = set(_db.session.execute(sa.select(HelpRequest.id)).scalars())
    assert len(stored) == SUBMISSIONS
    assert set(_db.session.execute(
        sa.select(HelpRequest.reference)).scalars()) == {a[1]["reference"] for a in answers}
    announced = _db.session.execute(
        sa.select(AuditEntry.entity_id).where(AuditEntry.action == "test.announced")
    ).scalars().all()
    assert sorted(int(i) for i in announced) == sorted(stored)  # each announced, once

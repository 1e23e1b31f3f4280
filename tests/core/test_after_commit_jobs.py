"""``jobs.enqueue_after_commit``: work started by what a transaction wrote, once it commits.

Dropped on rollback (of the transaction or of the savepoint it was recorded
in); enqueued once a commit; in-process, run only after the committing
session has given its connection back to the pool, so that nothing ever
holds two pooled connections at once (the pool stall of issue 8). Commands
and jobs that commit get their follow-up jobs run too.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo
from rq import Queue, Worker
from rq.job import Job

import hubcore.cli
from hubcore import audit, hookimpl, jobs
from hubcore.audit import AuditEntry
from hubcore.db import db as _db
from tests.conftest import REDIS_URL, needs

HERE = __name__
POOL_SEEN: dict[str, int] = {}  # label -> connections checked out while the job ran


# -- Jobs the tests record by dotted path ------------------------------------------------


def record_run(label: str) -> None:
    audit.record("test.job_ran", "job", label)
    _db.session.commit()


def count_connections(label: str) -> None:
    _db.session.execute(sa.select(1))  # the job's own connection, checked out now
    POOL_SEEN[label] = _db.engine.pool.checkedout()
    _db.session.commit()


def write_and_follow_up(label: str) -> None:
    """A job that writes and starts another once its own transaction commits."""
    audit.record("test.job_ran", "job", label)
    jobs.enqueue_after_commit(f"{HERE}.record_run", f"{label}:follow-up")
    _db.session.commit()


def runs(label: str) -> int:
    return _db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "test.job_ran", AuditEntry.entity_id == label)).scalar_one()


def write_something() -> None:
    audit.record("test.written", "job", None)


# -- In process (the embedded default) ----------------------------------------------------


def test_the_job_runs_once_the_transaction_commits_and_not_before(app, db):
    write_something()
    jobs.enqueue_after_commit(f"{HERE}.record_run", "committed")
    db.session.flush()
    assert runs("committed") == 0
    db.session.commit()
    assert runs("committed") == 1
    db.session.commit()  # a later commit does not enqueue it again
    assert runs("committed") == 1


def test_a_rolled_back_transaction_drops_its_jobs(app, db):
    write_something()
    jobs.enqueue_after_commit(f"{HERE}.record_run", "rolled-back")
    db.session.rollback()
    write_something()
    db.session.commit()
    assert runs("rolled-back") == 0


def test_a_savepoint_rolled_back_drops_only_its_own_jobs(app, db):
    write_something()
    jobs.enqueue_after_commit(f"{HERE}.record_run", "outer")
    savepoint = db.session.begin_nested()
    jobs.enqueue_after_commit(f"{HERE}.record_run", "in-savepoint")
    savepoint.rollback()
    db.session.commit()
    assert (runs("outer"), runs("in-savepoint")) == (1, 0)


def test_a_released_savepoint_waits_for_the_outer_commit(app, db):
    write_something()
    with db.session.begin_nested():
        jobs.enqueue_after_commit(f"{HERE}.record_run", "released")
    assert runs("released") == 0  # released, but nothing is committed yet
    db.session.rollback()
    db.session.commit()
    assert runs("released") == 0


def test_a_session_closed_without_a_commit_drops_its_jobs(app, db):
    write_something()
    jobs.enqueue_after_commit(f"{HERE}.record_run", "closed")
    db.session.close()
    write_something()
    db.session.commit()
    assert runs("closed") == 0


def test_the_same_job_is_enqueued_once_a_commit(app, db):
    # The queue as a worker-backed deployment has it (asynchronous), on the app's own
    # fakeredis server, so what was enqueued can be counted before anything runs.
    jq = jobs.job_queue(app)
    jq.synchronous = False
    jq.queue = Queue(jobs.QUEUE_NAME, connection=jq.connection, is_async=True)
    write_something()
    for label in ("same", "same", "other"):
        jobs.enqueue_after_commit(f"{HERE}.record_run", label)
    assert jq.queue.job_ids == []
    db.session.commit()
    enqueued = [Job.fetch(i, connection=jq.connection).args for i in jq.queue.job_ids]
    assert enqueued == [(f"{HERE}.record_run", ("same",), {}),
                        (f"{HERE}.record_run", ("other",), {})]


def test_a_typo_in_the_job_path_fails_at_the_caller(app):
    with pytest.raises(AttributeError):
        jobs.enqueue_after_commit(f"{HERE}.no_such_job")


def test_in_process_the_job_runs_after_the_committing_session_gave_back_its_connection(app, db):
    """The job's connection is the only one checked out: never two at once."""
    POOL_SEEN.clear()
    db.session.execute(sa.select(1))  # the caller's session holds a connection ...
    assert db.engine.pool.checkedout() == 1
    write_something()
    jobs.enqueue_after_commit(f"{HERE}.count_connections", "after-commit")
    db.session.commit()  # ... until the commit: the job runs after it is returned
    assert POOL_SEEN == {"after-commit": 1}


def test_in_a_request_the_job_runs_after_the_commit_with_one_connection(app, db, admin):
    """Through a real view: resending a message commits and delivery runs in-process,
    yet the request never has more than one connection checked out."""
    from hubcore import notify

    message = notify.queue_message("email", "ada@example.org", "Hello", "A volunteer will call.")
    message.status = "failed"
    db.session.commit()
    pool, most = db.engine.pool, []
    listener = lambda *_: most.append(pool.checkedout())  # noqa: E731
    sa.event.listen(pool, "checkout", listener)
    try:
        response = admin.client.post(f"/api/v1/jobs/outbox/{message.id}/resend")
    finally:
        sa.event.remove(pool, "checkout", listener)
    assert response.get_json() == {"id": message.id, "status": "sent"}  # delivered, then read
    assert most and max(most) == 1


def test_a_job_that_commits_gets_its_follow_up_jobs_run(app, db):
    jobs.enqueue(f"{HERE}.write_and_follow_up", "job")
    assert (runs("job"), runs("job:follow-up")) == (1, 1)


class SweepsWithAFollowUp:
    @hookimpl
    def hubcore_sweep(self, now):
        jobs.enqueue_after_commit(f"{HERE}.record_run", "after-sweep")
        return {"test_swept": 1}


@pytest.fixture
def sweeping_plugin(app):
    pm = app.extensions["hubcore"].pm
    pm.register(SweepsWithAFollowUp(), name="test-sweeps")
    yield
    pm.unregister(name="test-sweeps")


def test_the_sweep_command_runs_the_follow_up_jobs_of_what_it_commits(app, db, sweeping_plugin):
    result = CliRunner().invoke(hubcore.cli.main, ["sweep"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "test_swept: 1" in result.output
    assert runs("after-sweep") == 1


def test_the_scheduled_sweep_job_runs_the_follow_up_jobs_of_what_it_commits(
        app, db, sweeping_plugin):
    jobs.enqueue(jobs.SWEEP_JOB)
    assert runs("after-sweep") == 1


# -- On Redis, with a worker ------------------------------------------------------------------


@needs("redis", bool(REDIS_URL), "needs HUBCORE_TEST_REDIS_URL")
def test_on_redis_the_job_is_enqueued_at_the_commit_and_a_worker_runs_it(redis_app):
    with redis_app.app_context():
        write_something()
        jobs.enqueue_after_commit(f"{HERE}.record_run", "on-redis")
        jobs.enqueue_after_commit(f"{HERE}.record_run", "rolled-back-on-redis")
        assert jobs.queue_state().queued == 0
        _db.session.rollback()
        write_something()
        jobs.enqueue_after_commit(f"{HERE}.record_run", "on-redis")
        _db.session.commit()
        assert jobs.queue_state().queued == 1
        _db.session.remove()
    jq = jobs.job_queue(redis_app)
    assert Worker([jq.queue], connection=jq.connection).work(burst=True)
    with redis_app.app_context():
        assert (runs("on-redis"), runs("rolled-back-on-redis")) == (1, 0)
        _db.session.remove()

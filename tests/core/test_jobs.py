"""Background jobs: in-process and on Redis, retries, failures, the sweep and its schedule."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner
from flask import current_app
from flask.cli import ScriptInfo
from rq import Queue, Worker
from rq.job import Job, JobStatus

import hubcore.cli
from hubcore import audit, jobs, notify
from hubcore.api import IdempotencyKey
from hubcore.audit import AuditEntry
from hubcore.db import db as _db
from hubcore.db import utcnow
from hubcore.errors import NotFound
from hubcore.hookspecs import hookimpl
from hubcore.identity import accounts
from tests.conftest import BOLTON, REDIS_URL, login, make_app, needs

HERE = __name__  # dotted path of the job functions below


# -- Jobs the tests enqueue by dotted path -----------------------------------------------


def record_run(label: str) -> dict:
    """Leaves a trace in the database, and says which app and process ran it."""
    audit.record("test.job_ran", "job", label, summary={"pid": os.getpid()})
    _db.session.commit()
    settings = current_app.extensions["hubcore"].settings
    return {"pid": os.getpid(), "redis_url": settings.redis_url}


def fail_until_fixed() -> str:
    """Fails until a "test.fixed" audit entry exists (what an operator would fix)."""
    fixed = _db.session.execute(
        sa.select(AuditEntry.id).where(AuditEntry.action == "test.fixed")).first()
    if fixed is None:
        raise RuntimeError("the thing this job needs is not fixed yet")
    return "done"


def mark_fixed() -> None:
    audit.record("test.fixed", "job", None)
    _db.session.commit()


def job_ran(label: str) -> bool:
    return _db.session.execute(sa.select(AuditEntry.id).where(
        AuditEntry.action == "test.job_ran", AuditEntry.entity_id == label)).first() is not None


# -- In process (no Redis: rq's synchronous mode on fakeredis) ------------------------------


def test_job_enqueued_by_dotted_path_runs_in_process_with_an_app_context(app):
    job = jobs.enqueue(f"{HERE}.record_run", "in-process")
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"pid": os.getpid(), "redis_url": ""}
    assert job_ran("in-process")


def test_a_job_run_inside_a_signed_in_request_records_as_system(app, client, make_account):
    """Embedded, the job runs in the request; the audit log must not blame the person."""
    account = make_account("coordinator", (BOLTON,))
    login(client, account.email)
    with app.test_request_context():
        from flask_login import login_user

        login_user(account)
        audit.record("test.by_person", "job", "person")
        _db.session.commit()  # as views do: commit, then the job (after_commit)
        jobs.enqueue(f"{HERE}.record_run", "as-system")
    labels = dict(_db.session.execute(sa.select(AuditEntry.action, AuditEntry.actor_label)
                                      .where(AuditEntry.entity_type == "job")).all())
    assert labels == {"test.by_person": f"account:{account.id}", "test.job_ran": "system"}


def sees_callers_session() -> bool:
    return "caller" in _db.session.info


def test_job_runs_in_a_session_of_its_own(app, db):
    """Its commit or rollback is never the caller's, as on a worker."""
    db.session.info["caller"] = True
    job = jobs.enqueue(f"{HERE}.sees_callers_session")
    assert job.return_value() is False
    assert db.session.info["caller"] is True


def test_a_typo_in_a_job_path_fails_at_the_caller(app):
    with pytest.raises(AttributeError):
        jobs.enqueue(f"{HERE}.no_such_job")
    with pytest.raises(ValueError):
        jobs.enqueue("not_dotted")


def test_jobs_are_retried_three_times_unless_told_not_to(app):
    job = jobs.enqueue(f"{HERE}.record_run", "retry-config")
    assert job.retries_left == len(jobs.RETRY_INTERVALS) == 3
    assert job.retry_intervals == jobs.RETRY_INTERVALS
    assert jobs.enqueue(f"{HERE}.record_run", "no-retry", retry=False).retries_left is None


def test_failing_job_in_process_is_logged_kept_and_can_be_run_again(app, caplog):
    with caplog.at_level(logging.ERROR, logger="hubcore.jobs"):
        job = jobs.enqueue(f"{HERE}.fail_until_fixed")  # the caller is not interrupted
    assert job.get_status() == JobStatus.FAILED
    assert "not fixed yet" in caplog.text

    [failed] = jobs.failed_jobs()
    assert failed.id == job.id
    assert failed.function == f"{HERE}.fail_until_fixed"
    assert failed.error == "RuntimeError: the thing this job needs is not fixed yet"
    assert failed.failed_at is not None and failed.failed_at <= utcnow()
    assert jobs.queue_state().failed == 1

    mark_fixed()
    again = jobs.requeue_failed(job.id)
    assert again.get_status() == JobStatus.FINISHED
    assert again.return_value() == "done"
    assert jobs.failed_jobs() == []


def test_requeue_of_an_unknown_job_is_not_found(app):
    with pytest.raises(NotFound):
        jobs.requeue_failed("no-such-job")
    finished = jobs.enqueue(f"{HERE}.record_run", "finished")
    with pytest.raises(NotFound):
        jobs.requeue_failed(finished.id)  # it did not fail


def test_each_app_has_a_queue_of_its_own(app, database_url):
    jobs.enqueue(f"{HERE}.fail_until_fixed")
    other = make_app(database_url)
    with other.app_context():
        assert jobs.failed_jobs() == []
        _db.engine.dispose()


# -- The sweep ----------------------------------------------------------------------------


class CountingPlugin:
    def __init__(self, counts):
        self.counts = counts

    @hookimpl
    def hubcore_sweep(self, now):
        return dict(self.counts)


def test_sweep_merges_the_counts_of_every_plugin(app):
    pm = app.extensions["hubcore"].pm
    pm.register(CountingPlugin({"offers_expired": 2, "nothing": 0}), name="one")
    pm.register(CountingPlugin({"offers_expired": 1, "referrals_escalated": 4}), name="two")
    assert jobs.sweep(utcnow()) == {"offers_expired": 3, "referrals_escalated": 4}


def redis_is_down(*args, **kwargs):
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.fixture
def due_work(app, db, monkeypatch):
    """A message queued while Redis was down, and a stale idempotency key."""
    now = utcnow()
    with monkeypatch.context() as patch:
        patch.setattr(jobs, "enqueue", redis_is_down)
        message = notify.queue_message("email", "ada@example.org", "Your request",
                                       "We are on it.")
        db.session.commit()
    db.session.add(IdempotencyKey(scope="POST /api/v1/x", key="k" * 10, request_hash="0" * 64,
                                  status_code=201, response_body="{}",
                                  created_at=now - timedelta(hours=25)))
    db.session.add(IdempotencyKey(scope="POST /api/v1/x", key="fresh-key", request_hash="0" * 64,
                                  status_code=201, response_body="{}",
                                  created_at=now - timedelta(hours=1)))
    db.session.commit()
    return message.id


def test_sweep_does_due_work_once_and_is_idempotent(app, db, due_work):
    now = utcnow()
    assert jobs.sweep(now) == {"notifications_sent": 1, "idempotency_keys_purged": 1}
    db.session.commit()
    assert jobs.sweep(now) == {}
    assert db.session.get(notify.OutboxMessage, due_work).status == "sent"
    assert db.session.execute(sa.select(sa.func.count()).select_from(IdempotencyKey)).scalar() == 1


def test_sweep_command_commits_and_says_what_it_did(app, db, due_work):
    runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)
    result = runner.invoke(hubcore.cli.main, ["sweep"], obj=info)
    assert result.exit_code == 0, result.output
    assert "notifications_sent: 1" in result.output
    assert "idempotency_keys_purged: 1" in result.output
    db.session.rollback()
    assert db.session.get(notify.OutboxMessage, due_work).status == "sent"
    assert "Nothing was due." in runner.invoke(hubcore.cli.main, ["sweep"], obj=info).output


def test_scheduled_sweep_job_sweeps_and_commits(app, db, due_work):
    job = jobs.enqueue(jobs.SWEEP_JOB)
    assert job.return_value() == {"notifications_sent": 1, "idempotency_keys_purged": 1}
    db.session.rollback()
    assert db.session.get(notify.OutboxMessage, due_work).status == "sent"


def test_cron_scheduler_enqueues_the_sweep_every_minute(app, db, due_work):
    connection = jobs.job_queue().connection
    cron = jobs.cron_scheduler(connection)
    [cron_job] = cron.get_jobs()
    assert cron_job.interval == jobs.SWEEP_INTERVAL == 60
    assert cron_job.func_name == "hubcore.jobs.run_job"
    assert cron_job.queue_name == jobs.QUEUE_NAME

    assert cron.enqueue_jobs() == [cron_job]
    assert cron.enqueue_jobs() == []  # not due again for a minute
    queue = Queue(jobs.QUEUE_NAME, connection=connection)
    [job_id] = queue.job_ids
    job = Job.fetch(job_id, connection=connection)
    assert job.args[0] == jobs.SWEEP_JOB
    assert jobs.job_function(job) == jobs.SWEEP_JOB
    assert job.perform() == {"notifications_sent": 1, "idempotency_keys_purged": 1}


def test_worker_and_scheduler_commands_need_redis(app):
    info = ScriptInfo(create_app=lambda: app)
    for command in (["worker", "--burst"], ["scheduler"]):
        result = CliRunner().invoke(hubcore.cli.main, command, obj=info)
        assert result.exit_code == 1 and "HUBCORE_REDIS_URL is not set" in result.output


# -- The failed jobs API and page ---------------------------------------------------------


def test_administrator_lists_and_requeues_failed_jobs_through_the_api(app, db, admin, as_role):
    job = jobs.enqueue(f"{HERE}.fail_until_fixed")
    response = admin.client.get("/api/v1/jobs/failed")
    assert response.status_code == 200
    [listed] = response.get_json()
    assert listed["id"] == job.id and listed["function"] == f"{HERE}.fail_until_fixed"
    assert listed["error"].startswith("RuntimeError")

    coordinator = as_role("coordinator", BOLTON)
    assert coordinator.client.get("/api/v1/jobs/failed").status_code == 403
    assert coordinator.client.post(f"/api/v1/jobs/failed/{job.id}/requeue").status_code == 403
    assert app.test_client().get("/api/v1/jobs/failed").status_code == 401

    mark_fixed()
    response = admin.client.post(f"/api/v1/jobs/failed/{job.id}/requeue")
    assert response.status_code == 200
    assert response.get_json() == {"id": job.id, "status": "finished"}
    assert admin.client.get("/api/v1/jobs/failed").get_json() == []
    assert admin.client.post(f"/api/v1/jobs/failed/{job.id}/requeue").status_code == 404
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "job.requeued")).scalar_one()
    assert entry.entity_id == job.id and entry.actor_id == admin.account.id


def test_jobs_page_shows_failures_and_runs_one_again(app, db, make_account):
    job = jobs.enqueue(f"{HERE}.fail_until_fixed")
    account = make_account(None, is_admin=True)
    client = app.test_client()
    login(client, account.email)
    page = client.get("/jobs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Background jobs</h1>" in html
    assert f"{HERE}.fail_until_fixed" in html and "not fixed yet" in html
    assert "In the web process" in html

    mark_fixed()
    token = html.split('name="csrf_token" value="')[2].split('"')[0]  # the first is sign-out's
    response = client.post(f"/jobs/{job.id}/requeue", data={"csrf_token": token},
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "The job was put back on the queue." in html
    assert "No jobs have failed." in html


def test_requeue_form_without_csrf_token_is_refused(app, make_account):
    job = jobs.enqueue(f"{HERE}.fail_until_fixed")
    account = make_account(None, is_admin=True)
    client = app.test_client()
    login(client, account.email)
    assert client.post(f"/jobs/{job.id}/requeue").status_code == 400
    assert [f.id for f in jobs.failed_jobs()] == [job.id]


def test_jobs_page_is_for_administrators(app, make_account):
    account = make_account("coordinator", (BOLTON,))
    client = app.test_client()
    login(client, account.email)
    assert client.get("/jobs").status_code == 403


def test_jobs_api_says_503_when_redis_is_down(database_url):
    app = make_app(database_url, redis_url="redis://127.0.0.1:1/0")
    with app.app_context():
        account = accounts.create_account(email="ops@example.org", name="Ops",
                                          password="correct horse battery staple",
                                          is_admin=True)
        _token, secret = accounts.issue_token(account)
        _db.session.commit()
        response = app.test_client().get("/api/v1/jobs/failed",
                                         headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 503
        assert response.get_json()["title"] == "The job queue is unavailable"
        _db.session.remove()
        _db.engine.dispose()


# -- On Redis, with a real worker ---------------------------------------------------------


needs_redis = needs("redis", bool(REDIS_URL), "needs HUBCORE_TEST_REDIS_URL")


def work_burst(app) -> bool:
    jq = jobs.job_queue(app)
    return Worker([jq.queue], connection=jq.connection).work(burst=True)


@needs_redis
def test_worker_runs_the_job_in_an_app_it_builds_itself(redis_app):
    with redis_app.app_context():
        job = jobs.enqueue(f"{HERE}.record_run", "on-a-worker")
        assert job.get_status() == JobStatus.QUEUED
    assert work_burst(redis_app)
    with redis_app.app_context():
        job = Job.fetch(job.id, connection=jobs.job_queue().connection)
        assert job.get_status() == JobStatus.FINISHED
        result = job.return_value()
        assert result["redis_url"] == REDIS_URL  # read from the worker's environment
        assert result["pid"] != os.getpid()  # in rq's forked work horse
        assert job_ran("on-a-worker")
        _db.session.remove()


@needs_redis
def test_worker_command_works_the_queue_in_burst_mode(redis_app):
    with redis_app.app_context():
        jobs.enqueue(f"{HERE}.record_run", "worker-command")
    result = CliRunner().invoke(hubcore.cli.main, ["worker", "--burst"],
                                obj=ScriptInfo(create_app=lambda: redis_app))
    assert result.exit_code == 0, result.output
    with redis_app.app_context():
        assert job_ran("worker-command")
        assert jobs.queue_state().queued == 0
        _db.session.remove()


@needs_redis
def test_failing_job_on_a_worker_waits_for_its_retry(redis_app):
    with redis_app.app_context():
        job = jobs.enqueue(f"{HERE}.fail_until_fixed")
    work_burst(redis_app)
    with redis_app.app_context():
        job = Job.fetch(job.id, connection=jobs.job_queue().connection)
        assert job.get_status() == JobStatus.SCHEDULED
        assert job.retries_left == len(jobs.RETRY_INTERVALS) - 1
        assert jobs.queue_state().scheduled == 1
        assert jobs.failed_jobs() == []
        _db.session.remove()


@needs_redis
def test_failed_job_on_redis_is_listed_and_requeued(redis_app):
    with redis_app.app_context():
        job = jobs.enqueue(f"{HERE}.fail_until_fixed", retry=False)
    work_burst(redis_app)
    with redis_app.app_context():
        [failed] = jobs.failed_jobs()
        assert failed.id == job.id and "not fixed yet" in failed.error
        mark_fixed()
        jobs.requeue_failed(job.id)
        assert jobs.queue_state().queued == 1
        _db.session.remove()
    work_burst(redis_app)
    with redis_app.app_context():
        assert Job.fetch(job.id, connection=jobs.job_queue().connection).return_value() == "done"
        assert jobs.failed_jobs() == []
        _db.session.remove()


@needs_redis
def test_healthz_reports_a_reachable_queue(redis_app):
    with redis_app.app_context():
        body = redis_app.test_client().get("/healthz").get_json()
        assert body["queue"] == "ok" and body["status"] == "ok"
        _db.session.remove()

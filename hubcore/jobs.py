"""The one way to run work in the background: rq, with an app context.

Jobs are enqueued by dotted path (``"plugins.volunteering.jobs.expire_offers"``)
and run through ``run_job``, which gives them an app context: the worker
builds its own app with ``create_app()`` so plugins load there too. With no
Redis configured (the embedded default) jobs run in-process, synchronously,
through rq on fakeredis: the same code path, no server needed.

Code that writes starts work on what it wrote with ``enqueue_after_commit``:
enqueued once the transaction commits, dropped if it rolls back. In-process,
such a job runs only after the committing session has given its connection
back to the pool, so nothing holds two pooled connections at once.

Scheduled work is one periodic job, ``scheduled_sweep``, which calls every
plugin's ``hubcore_sweep``. In production ``hubcore scheduler`` runs rq's
cron scheduler to enqueue it every minute (one scheduler process; any number
of ``hubcore worker`` processes run it); ``hubcore sweep`` does the same work
by hand, and both are safe to run at any time.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import datetime

import fakeredis
import redis
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry, Worker
from rq.cron import CronScheduler
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JOB_ID_PATTERN, Job
from rq.registry import FailedJobRegistry

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.errors import HubcoreError, NotFound

log = logging.getLogger(__name__)

QUEUE_NAME = "hubcore"
RETRY_INTERVALS = [10, 60, 300]  # seconds: three tries over about six minutes
SWEEP_INTERVAL = 60  # seconds between scheduled sweeps
SWEEP_JOB = "hubcore.jobs.scheduled_sweep"
SWEEP_TIMEOUT = 300  # seconds: a sweep that takes longer is stuck


class QueueUnavailable(HubcoreError):
    """Redis cannot be reached: work is delayed, never lost (the sweep catches up)."""

    status = 503
    code = "queue-unavailable"
    title = "The job queue is unavailable"


class JobQueue:
    """The app's rq queue and its Redis connection."""

    def __init__(self, redis_url: str):
        self.synchronous = not redis_url
        if self.synchronous:
            # A server of its own: two apps in one process never share jobs.
            self.connection = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        else:
            # Fail fast when Redis is down: callers fall back on the sweep.
            self.connection = redis.Redis.from_url(
                redis_url, socket_connect_timeout=5,
                retry=RedisRetry(ExponentialBackoff(cap=1, base=0.1), 2))
        self.queue = Queue(QUEUE_NAME, connection=self.connection,
                           is_async=not self.synchronous)


def init_app(app: Flask, settings) -> None:
    app.extensions["hubcore.jobs"] = JobQueue(settings.redis_url)


def job_queue(app: Flask | None = None) -> JobQueue:
    return (app or current_app).extensions["hubcore.jobs"]


def enqueue(dotted: str, *args, retry: bool = True, **kwargs):
    """Enqueue ``dotted(*args, **kwargs)`` to run with an app context.

    Call it after committing what the job reads, outside a transaction; code
    that writes what the job reads calls ``enqueue_after_commit`` instead.
    Arguments must be plain values (ids, strings), never models. In
    synchronous mode the job runs before this returns, on a connection of its
    own; if it fails it is logged and kept in the failed jobs.
    """
    _resolve(dotted)  # fail now, at the caller, on a typo
    jq = job_queue()
    job = jq.queue.enqueue(
        run_job, dotted, args, kwargs,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS) if retry else None,
        description=dotted,
    )
    if jq.synchronous and job.is_failed:
        result = job.latest_result()
        log.error("job %s (%s) failed; it is listed under failed jobs: %s", job.id, dotted,
                  _last_line(result.exc_string if result else ""))
    return job


# -- After the commit ---------------------------------------------------------------

_AFTER_COMMIT = "hubcore.jobs.after_commit"  # session.info: (transaction, dotted, args, kwargs)
_COMMITTED = "hubcore.jobs.committed"  # session.info: those of the transaction just committed


def enqueue_after_commit(dotted: str, *args, **kwargs) -> None:
    """Enqueue ``dotted(*args, **kwargs)`` once the current transaction commits.

    The way for code that writes to start work on what it wrote (the idea of
    Django's ``transaction.on_commit``): the job is recorded on the session and
    enqueued when the transaction commits, after the session has given its
    connection back to the pool; if the transaction (or the savepoint it was
    recorded in) is rolled back, or the session closed without a commit, it
    is dropped. The same job with the same arguments is enqueued once per
    commit. In synchronous mode (no Redis) it runs there and then, on a
    connection of its own, before ``commit()`` returns: a request, a command
    or a job never holds two pooled connections at once, so a burst of
    requests cannot exhaust the pool. A queue that cannot be reached is
    logged, never raised: what was committed stands.
    """
    _resolve(dotted)  # fail now, at the caller, on a typo
    session = db.session()
    transaction = (session.get_nested_transaction() or session.get_transaction()
                   or session.begin())
    session.info.setdefault(_AFTER_COMMIT, []).append((transaction, dotted, args, kwargs))


def _within(transaction, ended) -> bool:
    """Whether ``transaction`` is ``ended`` or began inside it (a savepoint of it)."""
    while transaction is not None and transaction is not ended:
        transaction = transaction.parent
    return transaction is not None


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _drop_rolled_back(session, previous_transaction) -> None:
    pending = session.info.get(_AFTER_COMMIT)
    if pending:
        session.info[_AFTER_COMMIT] = [entry for entry in pending
                                       if not _within(entry[0], previous_transaction)]


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _take_committed(session) -> None:
    """The outermost commit (not a savepoint's release): its jobs are due once it ends."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_AFTER_COMMIT, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@sa.event.listens_for(sa.orm.Session, "after_transaction_end")
def _enqueue_committed(session, transaction) -> None:
    """Once the outermost transaction has ended, its connection is back in the pool:
    enqueue what it committed; drop what was recorded in it and never committed."""
    if transaction.parent is not None:
        return
    pending = session.info.get(_AFTER_COMMIT)
    if pending:
        session.info[_AFTER_COMMIT] = [entry for entry in pending
                                       if not _within(entry[0], transaction)]
    committed = session.info.pop(_COMMITTED, None)
    if not committed:
        return
    due: list[tuple[str, tuple, dict]] = []
    for _transaction, dotted, args, kwargs in committed:
        if (dotted, args, kwargs) not in due:
            due.append((dotted, args, kwargs))
    for dotted, args, kwargs in due:
        try:
            enqueue(dotted, *args, **kwargs)
        except Exception as exc:  # Redis down: the commit stands; never raised to the caller
            log.warning("could not enqueue %s after the commit (%s: %s); what was committed "
                        "stands, and the scheduled sweep catches up on work it finds due",
                        dotted, type(exc).__name__, exc)


def run_job(dotted: str, args: tuple, kwargs: dict):
    """Entry point of every job: resolve the function and call it in an app context.

    A job always gets an app context of its own, so its database session
    (and its commit or rollback) is never the caller's: in synchronous mode
    that is a fresh context of the running app; in a worker, an app built by
    ``create_app()`` from the worker's ``HUBCORE_*`` environment. What it
    records in the audit log is recorded as "system", as on a worker, even
    when it runs inside a signed-in person's request.
    """
    func = _resolve(dotted)
    if has_app_context():
        app = current_app._get_current_object()
    else:
        from hubcore.app import create_app

        app = create_app()
    with app.app_context(), audit.as_system():
        return func(*args, **kwargs)


def _resolve(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"job {dotted!r} must be a dotted path module.function")
    return getattr(importlib.import_module(module_name), attr)


# -- Scheduled work ---------------------------------------------------------------


def sweep(now: datetime) -> dict[str, int]:
    """Run every plugin's due scheduled work; return the merged counts of what was done.

    Idempotent (each ``hubcore_sweep`` must be); the caller commits.
    """
    pm = current_app.extensions["hubcore"].pm
    done: dict[str, int] = {}
    for counts in pm.hook.hubcore_sweep(now=now):
        for name, count in (counts or {}).items():
            if count:
                done[name] = done.get(name, 0) + count
    return done


def scheduled_sweep() -> dict[str, int]:
    """The periodic job: sweep at the current time and commit."""
    done = sweep(utcnow())
    db.session.commit()
    if done:
        log.info("scheduled sweep: %s", ", ".join(f"{k}={v}" for k, v in sorted(done.items())))
    return done


def cron_scheduler(connection) -> CronScheduler:
    """rq's cron scheduler with the platform's periodic jobs registered."""
    cron = CronScheduler(connection=connection)
    cron.register(run_job, QUEUE_NAME, args=(SWEEP_JOB, (), {}), interval=SWEEP_INTERVAL,
                  job_timeout=SWEEP_TIMEOUT, result_ttl=SWEEP_INTERVAL * 10,
                  name="hubcore-sweep")
    return cron


def run_scheduler() -> None:
    """Enqueue the scheduled sweep every minute until stopped (``hubcore scheduler``).

    Run exactly one: rq's cron scheduler takes no lock, and a second one
    only doubles the (idempotent) sweeps.
    """
    jq = job_queue()
    cron_scheduler(jq.connection).start()


def run_worker(burst: bool = False, with_scheduler: bool = True) -> bool:
    """Work the platform's queue (``hubcore worker``); True when any job ran.

    ``with_scheduler`` also runs rq's scheduler, which enqueues delayed jobs
    and retries when they are due (several workers elect one between them).
    """
    jq = job_queue()
    # Work horses are forked: they must not inherit open database connections.
    db.engine.dispose()
    worker = Worker([jq.queue], connection=jq.connection)
    return worker.work(burst=burst, with_scheduler=with_scheduler)


# -- Failed jobs ------------------------------------------------------------------


@dataclass(frozen=True)
class FailedJob:
    id: str
    function: str
    error: str
    failed_at: datetime | None


@dataclass(frozen=True)
class QueueState:
    mode: str  # "redis" or "in-process"
    queued: int
    scheduled: int  # waiting for a retry or a start time
    failed: int


def queue_state() -> QueueState:
    jq = job_queue()
    try:
        return QueueState(
            mode="in-process" if jq.synchronous else "redis",
            queued=jq.queue.count,
            scheduled=jq.queue.scheduled_job_registry.count,
            failed=jq.queue.failed_job_registry.count,
        )
    except redis.RedisError as exc:
        raise _unavailable(exc) from None


def failed_jobs(limit: int = 200) -> list[FailedJob]:
    """The failed jobs, most recent first: what ran, why it failed, when."""
    jq = job_queue()
    try:
        registry = FailedJobRegistry(queue=jq.queue)
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        jobs = [job for job in Job.fetch_many(ids, connection=jq.connection) if job]
        failed = []
        for job in jobs:
            result = job.latest_result()
            failed.append(FailedJob(
                id=job.id,
                function=job_function(job),
                error=_last_line(result.exc_string if result else ""),
                failed_at=(result.created_at if result else None) or job.ended_at,
            ))
    except redis.RedisError as exc:
        raise _unavailable(exc) from None
    return failed


def requeue_failed(job_id: str) -> Job:
    """Put a failed job back on the queue (in synchronous mode: run it again now)."""
    if not JOB_ID_PATTERN.fullmatch(job_id):  # rq raises ValueError on such an id
        raise NotFound("No failed job has that id.")
    jq = job_queue()
    registry = FailedJobRegistry(queue=jq.queue)
    try:
        if jq.synchronous:
            job = Job.fetch(job_id, connection=jq.connection)
            if job_id not in registry:
                raise NotFound("No failed job has that id.")
            registry.remove(job)
            return jq.queue.enqueue_job(job)
        return registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        raise NotFound("No failed job has that id.") from None
    except redis.RedisError as exc:
        raise _unavailable(exc) from None


def job_function(job: Job) -> str:
    """The dotted job a ``run_job`` wrapper runs, else rq's description."""
    try:
        if job.func_name == f"{__name__}.run_job" and job.args:
            return str(job.args[0])
    except Exception:  # an unreadable payload still gets listed
        pass
    return job.description or job.func_name or job.id


def _last_line(exc_string: str) -> str:
    lines = [line for line in (exc_string or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "No error recorded"


def _unavailable(exc: Exception) -> QueueUnavailable:
    log.warning("job queue unavailable: %s", exc)
    return QueueUnavailable("The job queue cannot be reached just now. Nothing is lost: "
                            "scheduled work catches up when it is back.")

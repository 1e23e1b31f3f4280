"""The one way to run work in the background: rq, with an app context.

Jobs are enqueued by dotted path (``"plugins.volunteering.jobs.expire_offers"``)
and run through ``run_job``, which gives them an app context: the worker
builds its own app with ``create_app()`` so plugins load there too. With no
Redis configured (the embedded default) jobs run in-process, synchronously,
through rq on fakeredis: the same code path, no server needed.
"""

from __future__ import annotations

import importlib
import logging

import fakeredis
import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry

log = logging.getLogger(__name__)

QUEUE_NAME = "hubcore"
RETRY_INTERVALS = [10, 60, 300]  # seconds: three tries over about six minutes


class JobQueue:
    """The app's rq queue and its Redis connection."""

    def __init__(self, redis_url: str):
        self.synchronous = not redis_url
        if self.synchronous:
            self.connection = fakeredis.FakeStrictRedis()
        else:
            self.connection = redis.Redis.from_url(redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection,
                           is_async=not self.synchronous)


def init_app(app: Flask, settings) -> None:
    app.extensions["hubcore.jobs"] = JobQueue(settings.redis_url)


def job_queue(app: Flask | None = None) -> JobQueue:
    return (app or current_app).extensions["hubcore.jobs"]


def enqueue(dotted: str, *args, retry: bool = True, **kwargs):
    """Enqueue ``dotted(*args, **kwargs)`` to run with an app context.

    Call it after committing what the job reads. Arguments must be plain
    values (ids, strings), never models.
    """
    _resolve(dotted)  # fail now, at the caller, on a typo
    jq = job_queue()
    return jq.queue.enqueue(
        run_job, dotted, args, kwargs,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS) if retry else None,
        description=dotted,
    )


def run_job(dotted: str, args: tuple, kwargs: dict):
    """Entry point of every job: resolve the function and call it in an app context."""
    func = _resolve(dotted)
    if has_app_context():
        return func(*args, **kwargs)
    from hubcore.app import create_app

    with create_app().app_context():
        return func(*args, **kwargs)


def _resolve(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"job {dotted!r} must be a dotted path module.function")
    return getattr(importlib.import_module(module_name), attr)

"""Other plugins hear of a new request through one job, off the request path."""

from __future__ import annotations

from rq import Queue
from rq.job import Job

from hubcore import hookimpl, jobs
from hubcore.db import db as _db
from plugins.hub_requests import intake
from plugins.hub_requests.jobs import announce_created

from .conftest import submission


class Listener:
    def __init__(self):
        self.heard = []

    @hookimpl
    def help_request_created(self, request):
        self.heard.append(request.reference)


def submit_one():
    body = submission()
    person = {k: body.pop(k) for k in ("given_name", "family_name", "phone", "email",
                                       "postcode", "address")}
    request = intake.submit_request(person=person, channel="web", **body)
    _db.session.commit()
    return request.id, request.reference


def test_a_job_for_a_request_no_longer_there_tells_no_one(app):
    listener = Listener()
    app.extensions["hubcore"].pm.register(listener, name="test-listener")
    try:
        assert announce_created(987654) == 0
    finally:
        app.extensions["hubcore"].pm.unregister(name="test-listener")
    assert listener.heard == []


def test_with_a_worker_the_request_only_enqueues_the_announcement(app):
    # The queue as a worker-backed deployment has it (asynchronous), on the app's
    # own fakeredis server: nothing runs until a worker takes the job.
    jq = jobs.job_queue(app)
    jq.synchronous = False
    jq.queue = Queue(jobs.QUEUE_NAME, connection=jq.connection, is_async=True)
    listener = Listener()
    app.extensions["hubcore"].pm.register(listener, name="test-listener")
    try:
        request_id, reference = submit_one()
        [job_id] = jq.queue.job_ids
        job = Job.fetch(job_id, connection=jq.connection)
        assert jobs.job_function(job) == intake.ANNOUNCE_JOB
        assert job.args[1] == (request_id,)
        assert listener.heard == []  # not run on the request path
        listening = app.extensions["hubcore"].pm.hook.help_request_created.get_hookimpls()
        assert jobs.run_job(*job.args) == len(listening)  # what the worker runs
        assert listener.heard == [reference]
    finally:
        app.extensions["hubcore"].pm.unregister(name="test-listener")

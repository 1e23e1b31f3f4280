"""Background jobs for administrators: ``/api/v1/jobs/...`` and the ``/jobs`` page.

Shows the queue, the failed jobs with why they failed, and the outbox with the
messages that could not be sent; puts a failed job back on the queue and a
failed message back in the outbox (both audited).
"""

from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from hubcore import audit, jobs, notify
from hubcore.api import json_response, operation
from hubcore.db import db
from hubcore.errors import Conflict, NotFound
from hubcore.identity.permissions import can, require
from hubcore.notify import OutboxMessage
from hubcore.web.pages import web

jobs_api = Blueprint("jobs_api", __name__, url_prefix="/api/v1/jobs")
TAGS = ("jobs",)


class FailedJobSchema(ma.Schema):
    id = ma.fields.String()
    function = ma.fields.String(metadata={"description": "The dotted job that failed"})
    error = ma.fields.String(metadata={"description": "The last line of the error"})
    failed_at = ma.fields.AwareDateTime(allow_none=True)


class FailedMessageSchema(ma.Schema):
    id = ma.fields.Integer()
    channel = ma.fields.String(metadata={"description": "email, sms or letter"})
    recipient = ma.fields.String(metadata={"description": "Masked: enough to tell them apart"})
    attempts = ma.fields.Integer()
    error = ma.fields.String(metadata={"description": "Why the last attempt failed"})
    created_at = ma.fields.AwareDateTime()


class ResentSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()


class RequeuedSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()


def requeue(job_id: str, actor) -> str:
    """Requeue a failed job for ``actor`` and audit it; the caller commits."""
    job = jobs.requeue_failed(job_id)
    audit.record("job.requeued", "job", job_id[:60], actor=actor,
                 summary={"function": jobs.job_function(job)})
    status = job.get_status(refresh=False)
    return getattr(status, "value", status) or "queued"


@jobs_api.get("/failed")
@operation(summary="List failed background jobs, most recent first", tags=TAGS,
           response=FailedJobSchema, many=True, errors=(503,))
def list_failed():
    require(current_user, "jobs.read")
    return json_response(FailedJobSchema(many=True).dump(jobs.failed_jobs()))


@jobs_api.post("/failed/<job_id>/requeue")
@operation(summary="Put a failed job back on the queue", tags=TAGS, response=RequeuedSchema,
           errors=(404, 503))
def requeue_job(job_id: str):
    require(current_user, "jobs.manage")
    status = requeue(job_id, current_user._get_current_object())
    db.session.commit()
    return json_response({"id": job_id, "status": status})


@jobs_api.get("/outbox/failed")
@operation(summary="List the latest messages that could not be sent (recipients masked)",
           tags=TAGS, response=FailedMessageSchema, many=True)
def list_failed_messages():
    require(current_user, "jobs.read")
    return json_response(FailedMessageSchema(many=True).dump(notify.failed_messages()))


@jobs_api.post("/outbox/<id:message_id>/resend")
@operation(summary="Put a message that could not be sent back in the outbox", tags=TAGS,
           response=ResentSchema, errors=(404, 409))
def resend_message(message_id: int):
    require(current_user, "jobs.manage")
    message = notify.resend(message_id, actor=current_user._get_current_object())
    db.session.commit()
    return json_response({"id": message.id, "status": message.status})


# -- Page, on the web shell's blueprint (endpoints web.jobs, web.requeue_failed_job) ---------


@web.get("/jobs", endpoint="jobs")
@login_required
def jobs_page():
    require(current_user, "jobs.read")
    outbox = dict(db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)).all())
    try:
        state, failed, unavailable = jobs.queue_state(), jobs.failed_jobs(), None
    except jobs.QueueUnavailable as exc:
        state, failed, unavailable = None, [], exc.message
    return render_template("jobs.html", state=state, failed=failed, unavailable=unavailable,
                           outbox=outbox, failed_messages=notify.failed_messages(),
                           can_requeue=can(current_user, "jobs.manage"))


@web.post("/jobs/<job_id>/requeue")
@login_required
def requeue_failed_job(job_id: str):
    require(current_user, "jobs.manage")
    try:
        requeue(job_id, current_user._get_current_object())
    except NotFound:
        flash("That job is no longer in the failed jobs: someone may have requeued it already.",
              "error")
        return redirect(url_for("web.jobs"))
    db.session.commit()
    flash("The job was put back on the queue.", "success")
    return redirect(url_for("web.jobs"))


@web.post("/jobs/outbox/<id:message_id>/resend")
@login_required
def resend_failed_message(message_id: int):
    require(current_user, "jobs.manage")
    try:
        notify.resend(message_id, actor=current_user._get_current_object())
    except (NotFound, Conflict) as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.jobs"))
    db.session.commit()
    flash(f"Message {message_id} is back in the outbox and will be sent again.", "success")
    return redirect(url_for("web.jobs"))

"""The notifications outbox and its delivery adapters.

Messages are written to the outbox in the caller's transaction, so nothing is
lost if delivery is down. When that transaction commits, a job is enqueued
(``jobs.enqueue_after_commit``, once a commit however many were queued) to
deliver them through the configured adapter (log by default, SMTP, or
GOV.UK Notify's HTTP API). A failed attempt is retried with exponential
backoff; the scheduled sweep delivers whatever is due, so a message queued
while Redis was down still goes out.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jwt
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from hubcore import audit, jobs
from hubcore.db import UTCDateTime, db, utcnow
from hubcore.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "letter")
STATUSES = ("pending", "sent", "failed")
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(minutes=1)  # 1, 2, 4 ... minutes between attempts
BACKOFF_CAP = timedelta(hours=1)  # ... then hourly: about four hours in all
BATCH_SIZE = 50
SEND_TIMEOUT = 10  # seconds for one SMTP or HTTP delivery
NOTIFY_DEFAULT_API_URL = "https://api.notifications.service.gov.uk"
LETTER_MIN_LINES, LETTER_MAX_LINES = 3, 7  # Notify's address lines, the last a postcode
ERROR_BODY_LIMIT = 10_000  # bytes of an error answer worth reading
DELIVERY_JOB = "hubcore.notify.deliver_pending"
ERASED = "[erased]"  # what erase_messages_for leaves in place of the details


class OutboxMessage(db.Model):
    __tablename__ = "notification_outbox"
    __table_args__ = (sa.Index("ix_notification_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    recipient: Mapped[str] = mapped_column(sa.String(300))
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- Queueing ---------------------------------------------------------------------


def queue_message(channel: str, recipient: str, subject: str, body: str, *,
                  person_id: int | None = None) -> OutboxMessage:
    """Put a message in the outbox, in the caller's transaction (flushed, not committed).

    Delivery is enqueued when that transaction commits (nothing is sent for
    a change that is rolled back); if it cannot be enqueued, the sweep sends it.
    """
    recipient = _valid_recipient(channel, recipient)
    subject = (subject or "").strip()
    errors: dict[str, list[str]] = {}
    if len(subject) > 200:
        errors["subject"] = ["Keep the subject to 200 characters or fewer."]
    if channel == "email" and not subject:
        errors["subject"] = ["An email needs a subject."]
    if not (body or "").strip():
        errors["body"] = ["Write the message."]
    if errors:
        raise InvalidInput("The message cannot be sent as it is.", fields=errors)
    message = OutboxMessage(channel=channel, recipient=recipient, subject=subject, body=body,
                            person_id=person_id, status="pending", attempts=0,
                            next_attempt_at=utcnow())
    db.session.add(message)
    db.session.flush()
    jobs.enqueue_after_commit(DELIVERY_JOB)
    audit.record("notification.queued", "notification", message.id,
                 district=_district_of(person_id),
                 summary={"channel": channel, "person_id": person_id})
    return message


def _valid_recipient(channel: str, recipient: str) -> str:
    from hubcore.identity.people import normalise_email, normalise_phone

    if channel not in CHANNELS:
        raise InvalidInput("Choose how to send the message.",
                           fields={"channel": [f"Choose one of: {', '.join(CHANNELS)}."]})
    recipient = (recipient or "").strip()
    try:
        if channel == "email":
            return normalise_email(recipient)
        if channel == "sms":
            return normalise_phone(recipient)
    except InvalidInput as exc:
        messages = [m for msgs in exc.fields.values() for m in msgs] or [exc.message]
        raise InvalidInput(exc.message, fields={"recipient": messages}) from None
    if not recipient or len(recipient) > 300:
        raise InvalidInput("Enter the postal address for the letter.",
                           fields={"recipient": ["Enter the postal address, one line each, "
                                                 "up to 300 characters."]})
    return recipient


def _district_of(person_id: int | None) -> str | None:
    if person_id is None:
        return None
    from hubcore.identity.models import Person

    return db.session.execute(
        sa.select(Person.district_code).where(Person.id == person_id)).scalar_one_or_none()


# -- Delivery ---------------------------------------------------------------------


class DeliveryError(Exception):
    """One attempt failed; ``permanent`` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def deliver_due(now: datetime, *, limit: int = BATCH_SIZE) -> dict[str, int]:
    """Try each message that is due (up to ``limit``); flush, never commit.

    A message is claimed before it is sent (its attempt is counted with a
    conditional update), so two deliverers running at once never both send
    it. Audit entries are written after the sends, so the audit log's append
    lock is not held while waiting on a mail server.
    """
    due = sa.select(OutboxMessage.id, OutboxMessage.attempts).where(
        OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
    ).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    adapter = adapter_for(current_app.extensions["hubcore"].settings)
    counts = {"notifications_sent": 0, "notifications_retrying": 0, "notifications_failed": 0}
    outcomes: list[tuple[OutboxMessage, str, bool]] = []
    for message_id, attempts in db.session.execute(due).all():
        if not _claim(message_id, attempts, now):
            continue  # another deliverer has it
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        try:
            adapter.send(message)
        except DeliveryError as exc:
            outcome = _record_failure(message, exc, now)
        except Exception as exc:  # an adapter bug must not stop the others
            log.exception("notification %s: unexpected delivery error", message.id)
            outcome = _record_failure(message, DeliveryError(type(exc).__name__), now)
        else:
            message.status, message.sent_at, message.last_error = "sent", now, None
            outcome = "notifications_sent"
        counts[outcome] += 1
        outcomes.append((message, outcome, message.status == "failed"))
        db.session.flush()
    for message, outcome, failed in outcomes:
        if outcome == "notifications_retrying":
            continue  # still pending: nothing an auditor needs
        audit.record("notification.failed" if failed else "notification.sent", "notification",
                     message.id, district=_district_of(message.person_id),
                     summary={"channel": message.channel, "attempts": message.attempts,
                              "adapter": adapter.name})
    return {name: count for name, count in counts.items() if count}


def deliver_pending(now: datetime | None = None) -> dict[str, int]:
    """The delivery job: send every due message, committing after each one."""
    done: dict[str, int] = {}
    while True:
        counts = deliver_due(now or utcnow(), limit=1)
        db.session.commit()
        if not counts:
            return done
        for name, count in counts.items():
            done[name] = done.get(name, 0) + count


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _claim(message_id: int, attempts: int, now: datetime) -> bool:
    table = OutboxMessage.__table__
    result = db.session.execute(
        table.update()
        .where(table.c.id == message_id, table.c.status == "pending",
               table.c.attempts == attempts, table.c.next_attempt_at <= now)
        .values(attempts=attempts + 1)
    )
    return result.rowcount == 1


def _record_failure(message: OutboxMessage, exc: DeliveryError, now: datetime) -> str:
    message.last_error = str(exc)[:1000]
    if exc.permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        log.error("notification %s failed for good after %s attempt(s): %s",
                  message.id, message.attempts, exc)
        return "notifications_failed"
    message.next_attempt_at = now + backoff(message.attempts)
    log.warning("notification %s: attempt %s failed (%s); next try at %s",
                message.id, message.attempts, exc, message.next_attempt_at.isoformat())
    return "notifications_retrying"


# -- Adapters ---------------------------------------------------------------------


class LogAdapter:
    """Writes a line to the log and counts the message as sent (the embedded default)."""

    name = "log"

    def __init__(self, settings):
        self.settings = settings

    def send(self, message: OutboxMessage) -> None:
        log.info("notification %s by %s to %s: %s", message.id, message.channel,
                 mask(message.channel, message.recipient), message.subject or "(no subject)")


class SmtpAdapter:
    """Sends email through the SMTP server at ``smtp_host:smtp_port``."""

    name = "smtp"

    def __init__(self, settings):
        self.settings = settings

    def send(self, message: OutboxMessage) -> None:
        if message.channel != "email":
            raise DeliveryError(f"the smtp adapter cannot send {message.channel} messages",
                                permanent=True)
        email = EmailMessage()
        email["From"] = self.settings.smtp_sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(idstring=f"hubcore-{message.id}")
        email.set_content(message.body)
        try:
            with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port,
                              timeout=SEND_TIMEOUT) as smtp:
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise DeliveryError(f"recipient refused ({codes})",
                                permanent=all(500 <= c < 600 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}",
                                permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unavailable: {type(exc).__name__}: {exc}") from None


class NotifyAdapter:
    """Sends through GOV.UK Notify's REST API (or a compatible one), one generic template a channel.

    Notify sends only templates: the service keeps one email template with
    ((subject)) and ((body)), one text message template with ((body)) and, if
    it sends post, one letter template with ((subject)) and ((body)); the
    outbox fills them in (a letter without a letter template fails, unsent).
    Each request carries a fresh JWT, because Notify refuses one issued more
    than 30 seconds ago. The outbox id is the ``reference``, to trace a
    message in Notify's dashboard.
    """

    name = "notify"

    def __init__(self, settings):
        self.settings = settings
        self.service_id, self.secret = settings.notify_credentials()
        self.url = (settings.notify_api_url or NOTIFY_DEFAULT_API_URL).rstrip("/")

    def token(self) -> str:
        """The bearer token: HS256, signed with the key's secret, ``iss`` the service id."""
        return jwt.encode({"iss": self.service_id, "iat": int(time.time())}, self.secret,
                          algorithm="HS256")

    def payload(self, message: OutboxMessage) -> dict:
        template_id = getattr(self.settings, f"notify_{message.channel}_template_id")
        if not template_id:  # letters only: the others are required at start-up
            raise DeliveryError(f"no {message.channel} template is set "
                                f"(HUBCORE_NOTIFY_{message.channel.upper()}_TEMPLATE_ID)",
                                permanent=True)
        body: dict = {"template_id": template_id, "reference": f"hubcore-{message.id}"}
        if message.channel == "email":
            body["email_address"] = message.recipient
            body["personalisation"] = {"subject": message.subject, "body": message.body}
        elif message.channel == "sms":
            body["phone_number"] = message.recipient
            body["personalisation"] = {"body": message.body}
        else:
            lines = letter_address_lines(message.recipient)
            body["personalisation"] = {
                "subject": message.subject, "body": message.body,
                **{f"address_line_{n}": line for n, line in enumerate(lines, start=1)}}
        return body

    def send(self, message: OutboxMessage) -> None:
        request = urllib.request.Request(
            f"{self.url}/v2/notifications/{message.channel}",
            data=json.dumps(self.payload(message)).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.token()}",
                     "User-Agent": "hubcore"})
        try:
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            # 400 is about this message: it fails again however often it is sent.
            # 403 is about the key or the server's clock, so about every message
            # alike: retried with the backoff (hours) while someone mends it, as
            # are 429 (rate limit) and 5xx (Notify's trouble).
            retryable = exc.code in (403, 429) or exc.code >= 500
            detail = notify_error_text(exc, message)
            if exc.code == 403:
                log.error("GOV.UK Notify refused the API key (%s): check "
                          "HUBCORE_NOTIFY_API_KEY and that the server's clock is right; "
                          "messages wait in the outbox meanwhile", detail)
            raise DeliveryError(f"Notify API answered {exc.code}: {detail}",
                                permanent=not retryable) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"Notify API unavailable: {exc}") from None


def letter_address_lines(address: str) -> list[str]:
    """The postal address as Notify's 3 to 7 address lines (the last a postcode or country).

    Lines are taken one a line, or split at commas when the address was
    written on fewer lines ("10 High Street, Bolton, BL1 1AA"). An address
    that does not fit is refused for good rather than cut short.
    """
    lines = [line.strip() for line in address.splitlines() if line.strip()]
    parts = [part.strip() for line in lines for part in line.split(",") if part.strip()]
    if len(parts) <= LETTER_MAX_LINES:
        lines = parts
    if not LETTER_MIN_LINES <= len(lines) <= LETTER_MAX_LINES:
        raise DeliveryError(f"the postal address has {len(lines)} line(s); GOV.UK Notify needs "
                            f"{LETTER_MIN_LINES} to {LETTER_MAX_LINES}, the last a postcode "
                            "or a country", permanent=True)
    return lines


def notify_error_text(exc: urllib.error.HTTPError, message: OutboxMessage) -> str:
    """Notify's own words for a refusal (its ``errors`` list), without the recipient.

    The text goes to the log and ``last_error``, so the recipient is blanked
    out should Notify's message ever quote it.
    """
    try:
        answer = json.loads(exc.read(ERROR_BODY_LIMIT) or b"{}")
        errors = [f"{e.get('error', 'Error')}: {e.get('message', '')}".rstrip(": ")
                  for e in answer.get("errors", []) if isinstance(e, dict)]
    except (ValueError, AttributeError, OSError):
        errors = []
    text = "; ".join(errors) or str(exc.reason or "no explanation")
    personal = [message.recipient, *message.recipient.replace(",", "\n").splitlines()]
    for value in sorted({v.strip() for v in personal if len(v.strip()) > 2}, key=len, reverse=True):
        text = text.replace(value, "[recipient]")
    return text[:500]


ADAPTERS = {"log": LogAdapter, "smtp": SmtpAdapter, "notify": NotifyAdapter}


def adapter_for(settings):
    return ADAPTERS[settings.notify_adapter](settings)


def mask(channel: str, recipient: str) -> str:
    """Enough of the recipient to tell messages apart in a log, no more."""
    if channel == "email" and "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel == "sms":
        return f"***{recipient[-3:]}"
    return "(postal address)"


# -- Messages that could not be sent ----------------------------------------------

def failed_messages(limit: int = 50) -> list[dict]:
    """The latest messages that could not be sent, for an administrator to look
    into: the recipient masked, never the text. Messages of an erased person are
    left out: there is nothing left to send."""
    rows = db.session.execute(
        sa.select(OutboxMessage).where(OutboxMessage.status == "failed",
                                       OutboxMessage.recipient != ERASED)
        .order_by(OutboxMessage.id.desc()).limit(limit)).scalars()
    return [{"id": m.id, "channel": m.channel, "recipient": mask(m.channel, m.recipient),
             "attempts": m.attempts, "error": m.last_error or "", "created_at": m.created_at}
            for m in rows]


def resend(message_id: int, *, actor, now: datetime | None = None) -> OutboxMessage:
    """Put a message that could not be sent back in the outbox, as new (audited).

    For when the cause is mended (a Notify template, a key, an address): it is
    tried again from the first attempt as soon as the caller commits. Refused
    for a message that is not failed, and for one whose person was erased.
    """
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("There is no such message in the outbox.")
    if message.recipient == ERASED:
        raise Conflict("This message cannot be sent again: the person's details were erased.",
                       code="message-erased")
    if message.status != "failed":
        raise Conflict(f"Only a message that could not be sent can be sent again; this one "
                       f"is {'sent' if message.status == 'sent' else 'waiting to be sent'}.",
                       code="message-not-failed")
    message.status, message.attempts, message.last_error = "pending", 0, None
    message.next_attempt_at = now or utcnow()
    db.session.flush()
    jobs.enqueue_after_commit(DELIVERY_JOB)
    audit.record("notification.resent", "notification", message.id, actor=actor,
                 district=_district_of(message.person_id),
                 summary={"channel": message.channel, "person_id": message.person_id})
    return message


# -- Data protection --------------------------------------------------------------


def messages_for(person_id: int) -> list[dict]:
    """What the outbox holds about a person, for a subject access export."""
    rows = db.session.execute(
        sa.select(OutboxMessage).where(OutboxMessage.person_id == person_id)
        .order_by(OutboxMessage.id)).scalars()
    return [{"id": m.id, "channel": m.channel, "recipient": m.recipient, "subject": m.subject,
             "body": m.body, "status": m.status, "created_at": m.created_at.isoformat(),
             "sent_at": m.sent_at.isoformat() if m.sent_at else None} for m in rows]


def move_messages(from_person_id: int, to_person_id: int) -> int:
    """Point the messages of a merged record at the surviving one."""
    moved = db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.person_id == from_person_id)
        .values(person_id=to_person_id).execution_options(synchronize_session=False))
    return moved.rowcount or 0


def erase_messages_for(person_id: int) -> int:
    """Blank the contact details and text of a person's messages; cancel unsent ones."""
    table = OutboxMessage.__table__
    pending = db.session.execute(
        table.update().where(table.c.person_id == person_id, table.c.status == "pending")
        .values(status="failed", last_error="cancelled: the person's data was erased")
    ).rowcount
    changed = db.session.execute(
        table.update().where(table.c.person_id == person_id)
        .values(recipient=ERASED, subject="", body=ERASED)
    ).rowcount
    if pending:
        log.info("cancelled %s unsent notification(s) of an erased person", pending)
    return changed

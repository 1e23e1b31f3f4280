"""The notifications outbox: queued with the change, delivered after commit, never lost."""

from __future__ import annotations

import email
import http.server
import json
import logging
import socket
import socketserver
import threading
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa

from hubcore import jobs, notify
from hubcore.audit import AuditEntry
from hubcore.db import utcnow
from hubcore.errors import InvalidInput
from hubcore.identity import people
from hubcore.identity.models import Person
from hubcore.notify import OutboxMessage
from tests.conftest import BOLTON


def use_settings(app, **overrides) -> None:
    """Switch delivery settings on the running app (adapters read them per delivery)."""
    hub = app.extensions["hubcore"]
    hub.settings = hub.settings.with_overrides(**overrides)


def reload(db, message_id: int) -> OutboxMessage:
    db.session.rollback()  # see what the delivery committed
    return db.session.get(OutboxMessage, message_id)


def queue_and_commit(db, channel="email", recipient="ada@example.org", subject="Your request",
                     body="A volunteer will call you tomorrow.", **kwargs) -> int:
    message = notify.queue_message(channel, recipient, subject, body, **kwargs)
    db.session.commit()
    return message.id


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- A tiny SMTP server on loopback ------------------------------------------------------------


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpSession)
        self.messages: list[dict] = []
        self.refuse_recipients = False

    @property
    def port(self) -> int:
        return self.server_address[1]


class SmtpSession(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        envelope: dict = {"from": None, "to": []}
        self.reply("220 sink.test ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].decode("ascii", "replace").upper()
            argument = line[5:].decode().strip()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink.test")
            elif verb == "MAIL":
                envelope = {"from": argument, "to": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                if self.server.refuse_recipients:
                    self.reply("550 5.1.1 No such mailbox")
                else:
                    envelope["to"].append(argument)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                for raw in iter(self.rfile.readline, b""):
                    if raw in (b".\r\n", b".\n"):
                        break
                    data.append(raw[1:] if raw.startswith(b"..") else raw)
                self.server.messages.append({**envelope, "data": b"".join(data)})
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            else:
                self.reply("502 Command not implemented")


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield sink
    sink.shutdown()
    sink.server_close()


# -- A tiny Notify-style HTTP API on loopback ----------------------------------------------------


class NotifyApi(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), NotifyHandler)
        self.requests: list[dict] = []
        self.answer = 201

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class NotifyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "json": json.loads(body)})
        answer = json.dumps({"id": "9d1c"} if self.server.answer < 300
                            else {"errors": [{"error": "oops"}]}).encode()
        self.send_response(self.server.answer)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def notify_api(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    api = NotifyApi()
    thread = threading.Thread(target=api.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()


# -- Queueing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel, recipient, field", [
    ("pigeon", "ada@example.org", "channel"),
    ("email", "not an email", "recipient"),
    ("sms", "12", "recipient"),
    ("letter", "   ", "recipient"),
])
def test_message_with_a_bad_channel_or_recipient_is_refused(app, db, channel, recipient, field):
    with pytest.raises(InvalidInput) as caught:
        notify.queue_message(channel, recipient, "Subject", "Body")
    assert field in caught.value.fields
    db.session.rollback()
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar() == 0


def test_message_without_a_body_is_refused(app):
    with pytest.raises(InvalidInput) as caught:
        notify.queue_message("email", "ada@example.org", "Subject", "  ")
    assert "body" in caught.value.fields


def test_recipients_are_stored_normalised(app, db):
    message = notify.queue_message("sms", "07700 900982", "", "Your volunteer is on the way.")
    assert message.recipient == "+447700900982"
    assert notify.queue_message("email", " Ada@Example.org ", "Hi", "Hello").recipient \
        == "ada@example.org"


def test_nothing_is_delivered_before_the_change_commits(app, db, monkeypatch):
    enqueued = []
    monkeypatch.setattr(jobs, "enqueue", lambda dotted, *a, **k: enqueued.append(dotted))
    message = notify.queue_message("email", "ada@example.org", "Your request", "Noted.")
    db.session.flush()
    assert enqueued == [] and message.status == "pending"
    db.session.commit()
    assert enqueued == [notify.DELIVERY_JOB]
    db.session.commit()  # a later commit with nothing new queues nothing more
    assert enqueued == [notify.DELIVERY_JOB]


def test_rolled_back_message_is_never_sent(app, db, monkeypatch):
    enqueued = []
    monkeypatch.setattr(jobs, "enqueue", lambda dotted, *a, **k: enqueued.append(dotted))
    notify.queue_message("email", "ada@example.org", "Your request", "Noted.")
    db.session.rollback()
    db.session.commit()
    assert enqueued == []
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar() == 0


# -- Adapters ----------------------------------------------------------------------------------


def test_log_adapter_delivers_after_commit_without_logging_the_text(app, db, caplog):
    with caplog.at_level(logging.INFO, logger="hubcore.notify"):
        message_id = queue_and_commit(db)
    message = reload(db, message_id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 1, None)
    assert message.sent_at is not None
    assert "a***@example.org" in caplog.text and "Your request" in caplog.text
    assert "ada@example.org" not in caplog.text and "tomorrow" not in caplog.text
    actions = db.session.execute(sa.select(AuditEntry.action, AuditEntry.summary).where(
        AuditEntry.entity_type == "notification")).all()
    assert [a for a, _ in actions] == ["notification.queued", "notification.sent"]
    assert all("ada@" not in summary for _, summary in actions)


def test_smtp_adapter_sends_through_an_smtp_server(app, db, smtp_sink):
    use_settings(app, notify_adapter="smtp", smtp_host="127.0.0.1", smtp_port=smtp_sink.port,
                 smtp_sender="hub@bolton.example.org")
    message_id = queue_and_commit(db)
    assert reload(db, message_id).status == "sent"
    [sent] = smtp_sink.messages
    assert sent["from"] == "FROM:<hub@bolton.example.org>"
    assert sent["to"] == ["TO:<ada@example.org>"]
    parsed = email.message_from_bytes(sent["data"])
    assert parsed["Subject"] == "Your request" and parsed["To"] == "ada@example.org"
    assert "A volunteer will call you tomorrow." in parsed.get_payload()


def test_smtp_server_refusing_the_recipient_fails_the_message_for_good(app, db, smtp_sink):
    use_settings(app, notify_adapter="smtp", smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    smtp_sink.refuse_recipients = True
    message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("failed", 1)
    assert "recipient refused" in message.last_error


def test_smtp_adapter_cannot_send_text_messages(app, db, smtp_sink):
    use_settings(app, notify_adapter="smtp", smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    message = reload(db, queue_and_commit(db, "sms", "07700 900982", ""))
    assert message.status == "failed" and "cannot send sms" in message.last_error
    assert smtp_sink.messages == []


def test_notify_adapter_posts_each_channel_as_json(app, db, notify_api):
    use_settings(app, notify_adapter="notify", notify_api_url=notify_api.url + "/",
                 notify_api_key="test-key-123")
    sms_id = queue_and_commit(db, "sms", "07700 900982", "", "Your volunteer is on the way.")
    email_id = queue_and_commit(db)
    letter_id = queue_and_commit(db, "letter", "Flat 2, 10 High Street\nBolton\nBL1 1AA",
                                 "Your grant", "Your grant was approved.")
    assert {reload(db, i).status for i in (sms_id, email_id, letter_id)} == {"sent"}
    sms, mail, letter = notify_api.requests
    assert sms["path"] == "/v2/notifications/sms"
    assert sms["headers"]["Authorization"] == "Bearer test-key-123"
    assert sms["json"] == {"phone_number": "+447700900982", "reference": f"hubcore-{sms_id}",
                           "personalisation": {"subject": "",
                                               "body": "Your volunteer is on the way."}}
    assert mail["path"] == "/v2/notifications/email"
    assert mail["json"]["email_address"] == "ada@example.org"
    assert letter["path"] == "/v2/notifications/letter"
    lines = {k: v for k, v in letter["json"]["personalisation"].items()
             if k.startswith("address_line_")}
    assert lines == {"address_line_1": "Flat 2", "address_line_2": "10 High Street",
                     "address_line_3": "Bolton", "address_line_4": "BL1 1AA"}


def test_notify_client_error_fails_the_message_for_good(app, db, notify_api):
    use_settings(app, notify_adapter="notify", notify_api_url=notify_api.url)
    notify_api.answer = 400
    message = reload(db, queue_and_commit(db))
    assert (message.status, message.last_error) == ("failed", "Notify API answered 400")


# -- Failure, backoff and the sweep --------------------------------------------------------------


def test_failure_keeps_the_message_pending_with_backoff_and_a_later_sweep_delivers_it(
        app, db, smtp_sink):
    use_settings(app, notify_adapter="smtp", smtp_host="127.0.0.1", smtp_port=closed_port())
    before = utcnow()
    message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("pending", 1)
    assert "SMTP unavailable" in message.last_error
    assert before + notify.backoff(1) <= message.next_attempt_at <= utcnow() + notify.backoff(1)

    use_settings(app, smtp_port=smtp_sink.port)  # the mail server is back
    assert jobs.sweep(utcnow()) == {}  # not due yet: nothing is hammered
    assert jobs.sweep(message.next_attempt_at) == {"notifications_sent": 1}
    db.session.commit()
    message = reload(db, message.id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)
    assert len(smtp_sink.messages) == 1


def test_server_errors_are_retried_with_growing_waits_then_given_up(app, db, notify_api):
    use_settings(app, notify_adapter="notify", notify_api_url=notify_api.url)
    notify_api.answer = 503
    message_id = queue_and_commit(db)
    waits = []
    for _ in range(notify.MAX_ATTEMPTS - 1):
        message = reload(db, message_id)
        assert message.status == "pending"
        waits.append(message.next_attempt_at)
        assert jobs.sweep(message.next_attempt_at) in (
            {"notifications_retrying": 1}, {"notifications_failed": 1})
        db.session.commit()
    message = reload(db, message_id)
    assert (message.status, message.attempts) == ("failed", notify.MAX_ATTEMPTS)
    assert len(notify_api.requests) == notify.MAX_ATTEMPTS
    gaps = [later - earlier for earlier, later in zip(waits, waits[1:])]
    assert gaps[:4] == [timedelta(minutes=m) for m in (2, 4, 8, 16)]
    assert max(gaps) == notify.BACKOFF_CAP
    assert db.session.execute(sa.select(AuditEntry.id).where(
        AuditEntry.action == "notification.failed")).first() is not None


def test_message_queued_while_redis_is_down_is_sent_by_the_sweep(app, db, caplog):
    app.extensions["hubcore.jobs"] = jobs.JobQueue(f"redis://127.0.0.1:{closed_port()}/0")
    with caplog.at_level(logging.WARNING, logger="hubcore.notify"):
        message_id = queue_and_commit(db)  # the commit itself does not fail
    assert "the sweep will send it" in caplog.text
    assert reload(db, message_id).status == "pending"
    assert jobs.sweep(utcnow()) == {"notifications_sent": 1}
    db.session.commit()
    assert reload(db, message_id).status == "sent"


def test_a_message_claimed_by_another_deliverer_is_not_sent_twice(app, db, monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda *a, **k: None)
    message_id = queue_and_commit(db)
    now = utcnow()
    assert notify._claim(message_id, 0, now) is True
    assert notify._claim(message_id, 0, now) is False  # the second deliverer's view is stale


def test_delivery_job_sends_everything_due(app, db, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(jobs, "enqueue", lambda *a, **k: (_ for _ in ()).throw(
            redis.ConnectionError("down")))
        ids = [queue_and_commit(db, recipient=f"person{n}@example.org") for n in range(3)]
    assert notify.deliver_pending() == {"notifications_sent": 3}
    assert {reload(db, i).status for i in ids} == {"sent"}


# -- Data protection ---------------------------------------------------------------------------


def test_erasing_a_person_blanks_their_messages_and_cancels_unsent_ones(app, db, monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda *a, **k: None)  # delivery is down
    person = Person(given_name="Ada", family_name="Lovelace", district_code=BOLTON)
    db.session.add(person)
    db.session.flush()
    message_id = queue_and_commit(db, person_id=person.id)
    queued = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "notification.queued")).scalar_one()
    assert queued.district_code == BOLTON

    export = people.export_person(person)
    [section] = [s for s in export["sections"] if s["source"] == "hubcore.notify"]
    assert section["records"][0]["recipient"] == "ada@example.org"

    people.erase_person(person)
    db.session.commit()
    message = reload(db, message_id)
    assert (message.recipient, message.body, message.status) == ("[erased]", "[erased]", "failed")
    assert jobs.sweep(utcnow()) == {}

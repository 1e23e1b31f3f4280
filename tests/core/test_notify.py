"""The notifications outbox: queued with the change, delivered after commit, never lost."""

from __future__ import annotations

import email
import http.server
import json
import logging
import socket
import socketserver
import threading
import time
from datetime import timedelta

import jwt
import pytest
import redis
import sqlalchemy as sa

from hubcore import jobs, notify
from hubcore.app import create_app
from hubcore.audit import AuditEntry
from hubcore.config import ConfigError, Settings
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


# -- A tiny GOV.UK Notify API on loopback ------------------------------------------------------

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"bolton-hub-live-{SERVICE_ID}-{SECRET}"  # a key name may have hyphens
EMAIL_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
SMS_TEMPLATE = "8e7f1a5c-0d4b-4a8e-9c3f-2b6d7e9a1c40"
LETTER_TEMPLATE = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"


class NotifyApi(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), NotifyHandler)
        self.requests: list[dict] = []
        self.answer = 201
        self.error = {"error": "BadRequestError",
                      "message": "Can't send to this recipient using a team-only API key"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class NotifyHandler(http.server.BaseHTTPRequestHandler):
    """Answers as Notify does: 201 with the notification, or an ``errors`` list."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "json": json.loads(body)})
        status = self.server.answer
        answer = json.dumps({"id": "740e5834-3a29-46b4-9a6f-16142fde533a"} if status < 300
                            else {"status_code": status, "errors": [self.server.error]}).encode()
        self.send_response(status)
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


def use_notify(app, api: NotifyApi) -> None:
    """Deliver through the loopback Notify API, with settings that pass start-up checks."""
    use_settings(app, notify_adapter="notify", notify_api_url=api.url + "/",
                 notify_api_key=API_KEY, notify_email_template_id=EMAIL_TEMPLATE,
                 notify_sms_template_id=SMS_TEMPLATE, notify_letter_template_id=LETTER_TEMPLATE)
    app.extensions["hubcore"].settings.validate()


def bearer_claims(request: dict, secret: str = SECRET) -> dict:
    scheme, _, token = request["headers"]["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    return jwt.decode(token, secret, algorithms=["HS256"])


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


def test_notify_email_is_sent_with_the_generic_template_and_a_token_signed_with_the_secret(
        app, db, notify_api):
    use_notify(app, notify_api)
    before = int(time.time())
    message_id = queue_and_commit(db)
    assert reload(db, message_id).status == "sent"
    [request] = notify_api.requests
    assert request["path"] == "/v2/notifications/email"
    claims = bearer_claims(request)
    assert claims["iss"] == SERVICE_ID
    assert before <= claims["iat"] <= int(time.time())
    with pytest.raises(jwt.InvalidSignatureError):
        bearer_claims(request, secret="0" * 8 + SECRET[8:])
    assert request["json"] == {
        "email_address": "ada@example.org", "template_id": EMAIL_TEMPLATE,
        "personalisation": {"subject": "Your request",
                            "body": "A volunteer will call you tomorrow."},
        "reference": f"hubcore-{message_id}"}


def test_notify_text_message_is_sent_with_the_sms_template(app, db, notify_api):
    use_notify(app, notify_api)
    message_id = queue_and_commit(db, "sms", "07700 900982", "", "Your volunteer is on the way.")
    assert reload(db, message_id).status == "sent"
    [request] = notify_api.requests
    assert request["path"] == "/v2/notifications/sms"
    assert bearer_claims(request)["iss"] == SERVICE_ID
    assert request["json"] == {
        "phone_number": "+447700900982", "template_id": SMS_TEMPLATE,
        "personalisation": {"body": "Your volunteer is on the way."},
        "reference": f"hubcore-{message_id}"}


def test_notify_letter_is_sent_with_the_letter_template_and_the_address_lines(
        app, db, notify_api):
    use_notify(app, notify_api)
    message_id = queue_and_commit(db, "letter", "Ada Lovelace\nFlat 2, 10 High Street\nBolton\n"
                                  "BL1 1AA", "Your grant", "Your grant was approved.")
    assert reload(db, message_id).status == "sent"
    [request] = notify_api.requests
    assert request["path"] == "/v2/notifications/letter"
    assert request["json"] == {
        "template_id": LETTER_TEMPLATE, "reference": f"hubcore-{message_id}",
        "personalisation": {"subject": "Your grant", "body": "Your grant was approved.",
                            "address_line_1": "Ada Lovelace", "address_line_2": "Flat 2",
                            "address_line_3": "10 High Street", "address_line_4": "Bolton",
                            "address_line_5": "BL1 1AA"}}


def test_without_a_letter_template_a_letter_fails_unsent_and_the_app_starts(
        app, db, notify_api):
    use_notify(app, notify_api)
    use_settings(app, notify_letter_template_id="")
    app.extensions["hubcore"].settings.validate()  # starts without one
    Settings.from_env({**NOTIFY_ENV, "HUBCORE_NOTIFY_LETTER_TEMPLATE_ID": ""}).validate()
    message_id = queue_and_commit(db, "letter", "Ada Lovelace\n10 High Street\nBolton BL1 1AA",
                                  "Your grant", "Your grant was approved.")
    message = reload(db, message_id)
    assert message.status == "failed"
    assert "HUBCORE_NOTIFY_LETTER_TEMPLATE_ID" in message.last_error
    assert notify_api.requests == []


def test_letter_address_written_on_one_line_is_split_at_commas():
    assert notify.letter_address_lines("Ada Lovelace, 10 High Street, Bolton BL1 1AA") == [
        "Ada Lovelace", "10 High Street", "Bolton BL1 1AA"]


def test_letter_address_with_commas_on_seven_lines_keeps_its_lines():
    address = "\n".join(["Ada Lovelace", "Flat 2, Mill House", "10 High Street", "Farnworth",
                         "Bolton", "Greater Manchester", "BL1 1AA"])
    assert len(notify.letter_address_lines(address)) == 7


@pytest.mark.parametrize("address", [
    "10 High Street\nBL1 1AA",
    "\n".join(f"Line {n}" for n in range(1, 9)),
])
def test_letter_address_notify_cannot_take_fails_for_good_without_a_request(
        app, db, notify_api, address):
    use_notify(app, notify_api)
    message = reload(db, queue_and_commit(db, "letter", address, "Your grant", "Approved."))
    assert message.status == "failed"
    assert "GOV.UK Notify needs 3 to 7" in message.last_error
    assert notify_api.requests == []


def test_a_refused_key_keeps_every_message_waiting_and_says_so_loudly(
        app, db, notify_api, caplog):
    """403 is the key or the clock, not the message: mending it must lose nothing."""
    use_notify(app, notify_api)
    notify_api.answer = 403
    notify_api.error = {"error": "AuthError", "message": "Invalid token: API key not found"}
    with caplog.at_level(logging.INFO, logger="hubcore.notify"):
        message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("pending", 1)
    assert any(r.levelno == logging.ERROR and "HUBCORE_NOTIFY_API_KEY" in r.getMessage()
               for r in caplog.records)
    assert "ada@example.org" not in caplog.text


@pytest.mark.parametrize("status, error", [
    (400, {"error": "BadRequestError",
           "message": "Can't send to this recipient using a team-only API key"}),
])
def test_notify_refusal_fails_the_message_for_good_with_notifys_words(
        app, db, notify_api, caplog, status, error):
    use_notify(app, notify_api)
    notify_api.answer, notify_api.error = status, error
    with caplog.at_level(logging.INFO, logger="hubcore.notify"):
        message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("failed", 1)
    assert message.last_error == \
        f"Notify API answered {status}: {error['error']}: {error['message']}"
    assert error["message"] in caplog.text
    assert "ada@example.org" not in caplog.text and "tomorrow" not in caplog.text


def test_notify_error_text_never_repeats_the_recipient(app, db, notify_api, caplog):
    use_notify(app, notify_api)
    notify_api.answer = 400
    notify_api.error = {"error": "ValidationError",
                        "message": "phone_number +447700900982 is not a UK mobile number"}
    with caplog.at_level(logging.INFO, logger="hubcore.notify"):
        message = reload(db, queue_and_commit(db, "sms", "07700 900982", "", "On the way."))
    assert message.status == "failed"
    assert message.last_error == ("Notify API answered 400: ValidationError: "
                                  "phone_number [recipient] is not a UK mobile number")
    assert "900982" not in caplog.text


@pytest.mark.parametrize("status", [429, 500])
def test_notify_rate_limit_or_server_error_is_retried_later(app, db, notify_api, status):
    use_notify(app, notify_api)
    notify_api.answer = status
    notify_api.error = {"error": "Exception", "message": "Internal server error"}
    message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.startswith(f"Notify API answered {status}")
    assert message.next_attempt_at > utcnow()

    notify_api.answer = 201  # Notify is back
    assert jobs.sweep(message.next_attempt_at) == {"notifications_sent": 1}
    db.session.commit()
    message = reload(db, message.id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)
    assert len(notify_api.requests) == 2


def test_notify_unreachable_is_retried_later(app, db):
    use_settings(app, notify_adapter="notify", notify_api_url=f"http://127.0.0.1:{closed_port()}",
                 notify_api_key=API_KEY, notify_email_template_id=EMAIL_TEMPLATE)
    message = reload(db, queue_and_commit(db))
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.startswith("Notify API unavailable")


def test_notify_adapter_defaults_to_gov_uk_notify():
    settings = Settings(notify_adapter="notify", notify_api_key=API_KEY)
    assert notify.NotifyAdapter(settings).url == "https://api.notifications.service.gov.uk"


# -- Notify settings, checked at start-up ------------------------------------------------------


NOTIFY_ENV = {"HUBCORE_NOTIFY_ADAPTER": "notify", "HUBCORE_NOTIFY_API_KEY": API_KEY,
              "HUBCORE_NOTIFY_EMAIL_TEMPLATE_ID": EMAIL_TEMPLATE,
              "HUBCORE_NOTIFY_SMS_TEMPLATE_ID": SMS_TEMPLATE,
              "HUBCORE_NOTIFY_LETTER_TEMPLATE_ID": LETTER_TEMPLATE}


def test_notify_settings_are_read_and_the_key_is_split_into_service_id_and_secret():
    settings = Settings.from_env(NOTIFY_ENV)
    settings.validate()
    assert settings.notify_credentials() == (SERVICE_ID, SECRET)
    assert (settings.notify_email_template_id, settings.notify_sms_template_id,
            settings.notify_letter_template_id) == (EMAIL_TEMPLATE, SMS_TEMPLATE, LETTER_TEMPLATE)


@pytest.mark.parametrize("name, value", [
    ("HUBCORE_NOTIFY_API_KEY", ""),
    ("HUBCORE_NOTIFY_API_KEY", "not-a-notify-key"),
    ("HUBCORE_NOTIFY_API_KEY", f"{SERVICE_ID}-{SECRET}"),  # no key name
    ("HUBCORE_NOTIFY_API_KEY", f"live-{SERVICE_ID}-{SECRET[:-1]}x"),
    ("HUBCORE_NOTIFY_EMAIL_TEMPLATE_ID", ""),
    ("HUBCORE_NOTIFY_EMAIL_TEMPLATE_ID", "welcome-email"),
    ("HUBCORE_NOTIFY_SMS_TEMPLATE_ID", ""),
    ("HUBCORE_NOTIFY_LETTER_TEMPLATE_ID", "letter"),
    ("HUBCORE_NOTIFY_API_URL", "api.notifications.service.gov.uk"),
])
def test_notify_adapter_with_a_missing_or_malformed_setting_is_refused_by_name(name, value):
    settings = Settings.from_env({**NOTIFY_ENV, name: value})
    with pytest.raises(ConfigError, match=name):
        settings.validate()


def test_app_with_a_malformed_notify_key_does_not_start_and_does_not_show_the_key(tmp_path):
    key = f"live-{SERVICE_ID}-{SECRET[:30]}"  # cut short when pasted
    settings = Settings.from_env({**NOTIFY_ENV, "HUBCORE_NOTIFY_API_KEY": key})
    with pytest.raises(ConfigError, match="HUBCORE_NOTIFY_API_KEY") as caught:
        create_app(settings, env="testing", plugins=(),
                   database_url=f"sqlite:///{tmp_path}/a.db")
    assert SECRET[:30] not in str(caught.value)


@pytest.mark.parametrize(("adapter", "kind"), [("log", notify.LogAdapter),
                                               ("smtp", notify.SmtpAdapter)])
def test_other_adapters_need_no_notify_settings(adapter, kind, tmp_path):
    # The same empty Notify settings are refused for the notify adapter...
    with pytest.raises(ConfigError, match="HUBCORE_NOTIFY_API_KEY"):
        Settings(notify_adapter="notify").validate()
    # ...and accepted for the others, whose app then starts and sends with them.
    settings = Settings(notify_adapter=adapter)
    assert settings.validate() is None
    app = create_app(settings, env="testing", plugins=(),
                     database_url=f"sqlite:///{tmp_path}/a.db")
    assert isinstance(notify.adapter_for(app.extensions["hubcore"].settings), kind)


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
    use_notify(app, notify_api)
    notify_api.answer = 503
    message_id = queue_and_commit(db)
    waits = []
    for attempt in range(2, notify.MAX_ATTEMPTS + 1):  # the first was made when queued
        message = reload(db, message_id)
        assert message.status == "pending"
        waits.append(message.next_attempt_at)
        last = attempt == notify.MAX_ATTEMPTS
        assert jobs.sweep(message.next_attempt_at) == (
            {"notifications_failed": 1} if last else {"notifications_retrying": 1}), attempt
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
    with caplog.at_level(logging.WARNING, logger="hubcore.jobs"):
        message_id = queue_and_commit(db)  # the commit itself does not fail
    assert f"could not enqueue {notify.DELIVERY_JOB} after the commit" in caplog.text
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

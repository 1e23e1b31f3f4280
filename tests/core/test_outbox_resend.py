"""Messages that could not be sent: administrators see them (masked) and send them again."""

from __future__ import annotations

import sqlalchemy as sa

from hubcore import notify
from hubcore.audit import AuditEntry
from hubcore.db import utcnow
from hubcore.identity import people
from hubcore.notify import OutboxMessage
from tests.conftest import BOLTON, csrf_token_from, login

FAILED_API = "/api/v1/jobs/outbox/failed"


def failed_message(db, *, recipient="ada@example.org", person_id=None) -> int:
    """A message that failed for good, the way delivery records it (a 400 from Notify)."""
    message = notify.queue_message("email", recipient, "Your request", "A volunteer will call.",
                                   person_id=person_id)
    db.session.flush()
    message.attempts = 1
    notify._record_failure(message, notify.DeliveryError(
        "Notify refused the message: template not found", permanent=True), utcnow())
    db.session.commit()
    return message.id


def status_of(db, message_id: int) -> str:
    db.session.rollback()
    return db.session.get(OutboxMessage, message_id).status


def test_administrator_sees_failed_messages_masked_and_never_their_text(app, db, admin):
    message_id = failed_message(db)
    listed = admin.client.get(FAILED_API)
    assert listed.status_code == 200
    (row,) = listed.get_json()
    assert row["id"] == message_id and row["channel"] == "email"
    assert row["recipient"] == "a***@example.org" and "template not found" in row["error"]
    assert "A volunteer will call." not in listed.get_data(as_text=True)


def test_sending_again_puts_it_back_in_the_outbox_delivers_it_and_is_audited(app, db, admin):
    message_id = failed_message(db)
    response = admin.client.post(f"/api/v1/jobs/outbox/{message_id}/resend")
    assert response.status_code == 200, response.get_json()
    # Delivery was enqueued at the commit; embedded, it ran at once with the log
    # adapter, so the answer (read after the commit) says sent.
    assert response.get_json() == {"id": message_id, "status": "sent"}
    assert status_of(db, message_id) == "sent"
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "notification.resent")).scalar_one()
    assert entry.entity_id == str(message_id) and entry.actor_id == admin.account.id
    assert "ada@example.org" not in entry.summary
    assert admin.client.get(FAILED_API).get_json() == []


def test_a_message_that_did_not_fail_or_does_not_exist_is_refused_and_nothing_changes(
        app, db, admin):
    sent = notify.queue_message("email", "bo@example.org", "Hello", "Sent already.")
    db.session.commit()
    assert status_of(db, sent.id) == "sent"
    refused = admin.client.post(f"/api/v1/jobs/outbox/{sent.id}/resend")
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("message-not-failed")
    assert admin.client.post("/api/v1/jobs/outbox/999999/resend").status_code == 404
    assert status_of(db, sent.id) == "sent"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "notification.resent")) == 0


def test_an_erased_persons_message_is_neither_listed_nor_sent_again(app, db, admin):
    person = people.create_person({"given_name": "Ada", "email": "ada@example.org",
                                   "postcode": "BL1 1AA"})
    db.session.commit()
    message_id = failed_message(db, person_id=person.id)
    notify.erase_messages_for(person.id)
    db.session.commit()
    assert admin.client.get(FAILED_API).get_json() == []
    refused = admin.client.post(f"/api/v1/jobs/outbox/{message_id}/resend")
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("message-erased")
    assert status_of(db, message_id) == "failed"


def test_only_administrators_see_or_resend_messages(app, db, as_role):
    message_id = failed_message(db)
    coordinator = as_role("coordinator", BOLTON)
    assert coordinator.client.get(FAILED_API).status_code == 403
    assert coordinator.client.post(f"/api/v1/jobs/outbox/{message_id}/resend").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get(FAILED_API).status_code == 401
    assert anonymous.post(f"/api/v1/jobs/outbox/{message_id}/resend").status_code == 401
    assert status_of(db, message_id) == "failed"


def test_the_jobs_page_lists_them_and_its_button_sends_one_again(app, db, make_account):
    message_id = failed_message(db)
    client = app.test_client()
    login(client, make_account(None, is_admin=True).email)
    html = client.get("/jobs").get_data(as_text=True)
    assert "Messages that could not be sent" in html and "a***@example.org" in html
    assert "template not found" in html and "A volunteer will call." not in html
    action = f"/jobs/outbox/{message_id}/resend"
    assert client.post(action).status_code == 400  # no CSRF token: refused
    assert status_of(db, message_id) == "failed"
    done = client.post(action, data={"csrf_token": csrf_token_from(html)}, follow_redirects=True)
    assert f"Message {message_id} is back in the outbox" in done.get_data(as_text=True)
    assert status_of(db, message_id) == "sent"
    again = client.post(action, data={"csrf_token": csrf_token_from(html)}, follow_redirects=True)
    assert "Only a message that could not be sent can be sent again" in again.get_data(
        as_text=True)

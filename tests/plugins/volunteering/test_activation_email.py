"""Activation sends a volunteer one message: the welcome, carrying the link to set a password."""

from __future__ import annotations

import re

import sqlalchemy as sa

from hubcore.identity.models import Account
from hubcore.notify import OutboxMessage
from plugins.volunteering import signup, vetting
from plugins.volunteering.models import Volunteer
from tests.conftest import PASSWORD, login, submit_form

from .conftest import BOLTON, sign_up_by_api

LINK = re.compile(r"https?://[^\s/]+(/password/set/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "purple otter lantern meadow"


def outbox_for(db, volunteer_id: int) -> list[OutboxMessage]:
    """Every message to the volunteer after the thank-you for signing up: by their
    person record or their address."""
    volunteer = db.session.get(Volunteer, volunteer_id)
    return db.session.execute(sa.select(OutboxMessage).where(sa.or_(
        OutboxMessage.person_id == volunteer.person_id,
        OutboxMessage.recipient.in_([r for r in (volunteer.email, volunteer.phone) if r])),
        OutboxMessage.subject != signup.THANKS_SUBJECT)
        .order_by(OutboxMessage.id)).scalars().all()


def signed_up(client, **overrides) -> int:
    return sign_up_by_api(client, **overrides)


def activate(coordinator, volunteer_id: int):
    response = coordinator.client.post(f"/api/v1/volunteers/{volunteer_id}/activate")
    assert response.status_code == 200, response.get_json()
    return response


def test_activation_puts_exactly_one_message_in_the_outbox_with_the_set_password_link(
        client, as_role, db):
    volunteer_id = signed_up(client)
    assert outbox_for(db, volunteer_id) == []
    activate(as_role("coordinator", BOLTON), volunteer_id)
    [message] = outbox_for(db, volunteer_id)
    volunteer = db.session.get(Volunteer, volunteer_id)
    assert (message.channel, message.recipient) == ("email", "amira@example.org")
    assert message.person_id == volunteer.person_id  # found by a subject access request
    assert message.subject == "You are now a volunteer: set your Hubcore password"
    assert "you are now an active volunteer" in message.body
    path = LINK.search(message.body).group(1)
    assert submit_form(client, path, {"new_password": NEW_PASSWORD,
                                      "confirm_password": NEW_PASSWORD}).status_code == 302
    assert "Signed in as" in login(client, "amira@example.org", NEW_PASSWORD).get_data(
        as_text=True)


def test_a_volunteer_who_already_has_a_password_gets_the_welcome_without_a_link(
        client, as_role, db, make_account):
    make_account(email="amira@example.org")
    volunteer_id = signed_up(client)
    activate(as_role("coordinator", BOLTON), volunteer_id)
    [message] = outbox_for(db, volunteer_id)
    assert message.subject == "You are now a volunteer"
    assert "/password/set/" not in message.body
    assert "Signed in as" in login(client, "amira@example.org", PASSWORD).get_data(as_text=True)


def test_a_volunteer_with_only_a_phone_gets_one_text_and_no_account(client, as_role, db):
    volunteer_id = signed_up(client, email=None)
    activate(as_role("coordinator", BOLTON), volunteer_id)
    [message] = outbox_for(db, volunteer_id)
    assert message.channel == "sms" and "you are now an active volunteer" in message.body
    assert db.session.get(Volunteer, volunteer_id).account_id is None


def test_reactivating_a_paused_volunteer_sends_nothing_more(client, as_role, db):
    volunteer_id = signed_up(client)
    coordinator = as_role("coordinator", BOLTON)
    activate(coordinator, volunteer_id)
    volunteer = db.session.get(Volunteer, volunteer_id)
    vetting.change_status(volunteer, "paused", actor=coordinator.account)
    vetting.change_status(volunteer, "active", actor=coordinator.account)
    db.session.commit()
    assert len(outbox_for(db, volunteer_id)) == 1


def test_a_volunteer_given_an_email_while_paused_is_invited_on_reactivation(
        client, as_role, db):
    volunteer_id = signed_up(client, email=None)
    coordinator = as_role("coordinator", BOLTON)
    activate(coordinator, volunteer_id)
    volunteer = db.session.get(Volunteer, volunteer_id)
    vetting.change_status(volunteer, "paused", actor=coordinator.account)
    vetting.update_volunteer(volunteer, {"email": "amira@example.org"},
                             actor=coordinator.account)
    vetting.change_status(volunteer, "active", actor=coordinator.account)
    db.session.commit()
    sms, invitation = outbox_for(db, volunteer_id)
    assert sms.channel == "sms"
    assert invitation.subject == "Set your password for Hubcore"
    assert LINK.search(invitation.body)
    account = db.session.get(Account, volunteer.account_id)
    assert account.email == "amira@example.org" and account.password_hash is None

"""The public sign-up never tells anyone whether an email or phone is signed up.

A repeated sign-up gets exactly the answer a new one gets (status, body,
headers), stores nothing new, and tells the volunteer already signed up, on
their own email or phone, that someone tried.
"""

from __future__ import annotations

import sqlalchemy as sa

from hubcore.audit import AuditEntry
from hubcore.identity.models import Person
from hubcore.notify import OutboxMessage
from plugins.volunteering import signup
from plugins.volunteering.models import Volunteer
from tests.conftest import submit_form

from .conftest import signup_body

HEADERS = ("Content-Type", "Location", "ETag", "Cache-Control")


def answer(response) -> tuple:
    return (response.status_code, response.get_data(as_text=True),
            tuple(response.headers.get(h) for h in HEADERS))


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def messages(db, recipient: str) -> list[OutboxMessage]:
    return db.session.execute(sa.select(OutboxMessage).where(
        OutboxMessage.recipient == recipient).order_by(OutboxMessage.id)).scalars().all()


def test_a_repeated_sign_up_gets_the_answer_a_new_one_gets(client, db):
    client.post("/api/v1/volunteers", json=signup_body())  # Amira, already signed up
    new = client.post("/api/v1/volunteers", json=signup_body(
        given_name="Nadia", email="nadia@example.org", phone="07700 900777"))
    state = (count(db, Volunteer), count(db, Person))
    repeat = client.post("/api/v1/volunteers", json=signup_body(
        given_name="Someone", email="AMIRA@example.org ", phone="07700 900888"))
    assert new.status_code == 202
    assert answer(repeat) == answer(new)
    assert (count(db, Volunteer), count(db, Person)) == state  # nothing new stored


def test_the_volunteer_already_signed_up_is_told_by_email_and_nothing_else_changes(
        client, db):
    client.post("/api/v1/volunteers", json=signup_body())
    amira = db.session.execute(sa.select(Volunteer)).scalar_one()
    version = amira.version if hasattr(amira, "version") else None
    client.post("/api/v1/volunteers", json=signup_body(
        given_name="Mallory", family_name="X", postcode="WN1 1AA", phone=None))
    thanks, notice = messages(db, "amira@example.org")
    assert thanks.subject == signup.THANKS_SUBJECT
    assert notice.subject == signup.REPEAT_SUBJECT and notice.person_id == amira.person_id
    assert "Hello Amira" in notice.body and "already signed up" in notice.body
    assert "Mallory" not in notice.body
    db.session.expire_all()
    amira = db.session.get(Volunteer, amira.id)
    assert (amira.given_name, amira.postcode) == ("Amira", "BL2 1AA")
    if version is not None:
        assert amira.version == version
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "volunteering.volunteer.sign_up_repeated")).scalar_one()
    assert entry.entity_id == str(amira.id) and '"matched": ["email"]' in entry.summary
    assert "amira" not in entry.summary.lower()


def test_someone_elses_phone_with_your_own_email_tells_you_nothing(client, db):
    """The address given gets what a new volunteer gets; the phone's owner gets a text."""
    client.post("/api/v1/volunteers", json=signup_body())
    fresh = client.post("/api/v1/volunteers", json=signup_body(
        email="prober@example.org", phone="07700 900999"))
    probe = client.post("/api/v1/volunteers", json=signup_body(
        email="prober2@example.org", phone="07700 900123"))  # Amira's phone
    assert answer(probe) == answer(fresh)
    [to_fresh], [to_probe] = messages(db, "prober@example.org"), messages(db, "prober2@example.org")
    assert (to_probe.subject, to_probe.body) == (to_fresh.subject, to_fresh.body)
    [text] = messages(db, "+447700900123")
    assert text.channel == "sms" and text.subject == signup.REPEAT_SUBJECT
    assert count(db, Volunteer) == 2


def test_a_repeat_by_phone_only_is_answered_and_texted_like_a_new_one(client, db):
    client.post("/api/v1/volunteers", json=signup_body(email=None))
    new = client.post("/api/v1/volunteers", json=signup_body(email=None, phone="07700 900456"))
    repeat = client.post("/api/v1/volunteers", json=signup_body(email=None))
    assert answer(repeat) == answer(new) and new.get_json()["sent_by"] == "sms"
    thanks, notice = messages(db, "+447700900123")
    assert (thanks.channel, notice.channel) == ("sms", "sms")
    assert notice.subject == signup.REPEAT_SUBJECT


def test_a_bad_repeat_is_refused_like_any_bad_sign_up_and_sends_nothing(client, db):
    client.post("/api/v1/volunteers", json=signup_body())
    before = count(db, OutboxMessage)
    refused = client.post("/api/v1/volunteers", json=signup_body(consent=False))
    assert refused.status_code == 422 and "consent" in refused.get_json()["errors"]
    assert count(db, OutboxMessage) == before


def test_the_sign_up_form_answers_a_repeat_as_a_new_one(client, db):
    form = {"given_name": "Sam", "family_name": "Okafor", "email": "sam@example.org",
            "phone": "", "postcode": "BL2 1AA", "skills": ["befriending"],
            "languages": "", "availability": ["mon_morning"], "max_travel_km": "5",
            "consent": "y"}
    first = submit_form(client, "/volunteer", form)
    new = submit_form(client, "/volunteer", {**form, "email": "sam2@example.org"})
    repeat = submit_form(client, "/volunteer", form)
    assert first.status_code == 302 and answer(repeat) == answer(new)
    page = client.get(repeat.headers["Location"]).get_data(as_text=True)
    assert "Check your email" in page and "Bolton volunteer team will contact you" in page
    assert count(db, Volunteer) == 2
    assert [m.subject for m in messages(db, "sam@example.org")] == [
        signup.THANKS_SUBJECT, signup.REPEAT_SUBJECT]


def test_the_openapi_document_gives_the_one_answer(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"][
        "/api/v1/volunteers"]["post"]
    assert "202" in operation["responses"] and "409" not in operation["responses"]

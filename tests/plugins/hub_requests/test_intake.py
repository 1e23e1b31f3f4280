"""Intake: one domain function for every channel; duplicates flagged, never dropped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore import hookimpl
from hubcore.audit import AuditEntry
from hubcore.db import utcnow
from hubcore.errors import Forbidden, InvalidInput
from hubcore.identity.models import Consent, Person
from plugins.hub_requests import intake, lifecycle
from plugins.hub_requests.models import HelpRequest, StatusChange
from tests.conftest import BOLTON, BURY, WIGAN

from .conftest import BURY_POSTCODE, resident, submission


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_a_request_gets_a_readable_reference_its_district_and_a_triage(submit, db):
    request = submit(needs=["food", "medication"], circumstances=["no_food", "lives_alone"],
                     urgency="today")
    assert re.fullmatch(r"BOL-[2-9A-HJKMNP-TV-Z]{4}", request.reference)
    assert request.district_code == BOLTON
    assert (request.status, request.channel, request.priority) == ("new", "web", "P1")
    assert "no food in the house" in request.reason
    assert request.rules_version == "2026.11-1"
    assert [h.to_status for h in request.history] == ["new"]
    consent = db.session.execute(sa.select(Consent)).scalar_one()
    assert (consent.purpose, consent.method, consent.recorded_by_id) == (
        "help_request", "online", None)


def test_the_postcode_sets_the_district(submit):
    assert submit(postcode=BURY_POSTCODE).district_code == BURY
    assert submit(postcode="wn1 1xx").reference.startswith("WIG-")


def test_the_same_person_asking_again_is_found_not_created_twice(submit, db):
    details = resident(phone="07700 900123", email="")
    submit(**details, needs=["food"])
    submit(**details, needs=["advice"])
    assert count(db, Person) == 1
    assert count(db, HelpRequest) == 2


def test_phone_intake_records_who_took_it_and_the_verbal_consent(submit, make_account, db):
    coordinator = make_account("coordinator", (BOLTON,))
    request = submit(channel="phone", actor=coordinator)
    assert (request.taken_by_id, request.created_by_id) == (coordinator.id, coordinator.id)
    consent = db.session.execute(sa.select(Consent)).scalar_one()
    assert (consent.method, consent.recorded_by_id) == ("verbal", coordinator.id)


def test_phone_intake_for_another_district_is_refused_and_stores_nothing(submit, make_account,
                                                                          db):
    wigan = make_account("coordinator", (WIGAN,))
    with pytest.raises(Forbidden):
        submit(channel="phone", actor=wigan, commit=False)
    db.session.rollback()
    assert count(db, HelpRequest) == count(db, Person) == 0


def test_missing_consent_is_refused_and_nothing_is_stored(submit, db):
    with pytest.raises(InvalidInput) as caught:
        submit(consent=False, commit=False)
    assert "consent" in caught.value.fields
    assert count(db, Person) == count(db, HelpRequest) == count(db, AuditEntry) == 0


@pytest.mark.parametrize("postcode, words", [
    ("NOT A POSTCODE", "postcode"),
    ("SW1A 1AA", "Greater Manchester"),
    ("", "Enter a postcode"),
])
def test_a_postcode_that_is_invalid_or_outside_the_region_is_refused(submit, db, postcode,
                                                                      words):
    with pytest.raises(InvalidInput) as caught:
        submit(postcode=postcode, commit=False)
    assert words in " ".join(caught.value.fields["postcode"])
    assert count(db, HelpRequest) == 0


def test_every_problem_is_reported_at_once(submit):
    with pytest.raises(InvalidInput) as caught:
        submit(given_name="", phone="", email="", postcode="", needs=[], urgency="later",
               consent=False, description="x" * 2001, commit=False)
    assert set(caught.value.fields) >= {"given_name", "phone", "postcode", "needs", "urgency",
                                        "consent", "description"}


def test_oversize_names_are_refused_before_anything_is_written(submit, db):
    with pytest.raises(InvalidInput) as caught:
        submit(given_name="A" * 101, address="B" * 301, commit=False)
    assert {"given_name", "address"} <= set(caught.value.fields)
    assert count(db, Person) == 0


# -- Duplicates -----------------------------------------------------------------------


def test_same_phone_with_an_overlapping_need_is_flagged_and_linked_not_dropped(submit, db):
    first = submit(given_name="Joan", family_name="Walsh", phone="07700 900456", email="",
                   needs=["food", "befriending"])
    second = submit(given_name="Fred", family_name="Walsh", phone="07700900456", email="",
                    needs=["food"])
    assert second.duplicate_of_id == first.id
    assert (second.duplicate_state, second.duplicate_reason) == ("suspected",
                                                                 "same phone number")
    assert count(db, HelpRequest) == 2


def test_a_similar_name_at_the_same_postcode_is_flagged(submit):
    first = submit(given_name="Seán", family_name="O'Brien", email="a@example.org",
                   needs=["medication"])
    second = submit(given_name="Sean", family_name="OBrien", email="b@example.org",
                    needs=["medication"])
    assert second.duplicate_of_id == first.id
    assert second.duplicate_reason == "similar name at the same postcode"


def test_a_household_member_at_the_same_postcode_is_flagged(submit):
    first = submit(given_name="Mary", family_name="Hughes", needs=["food"])
    second = submit(given_name="Tom", family_name="Hughes", needs=["food"])
    assert second.duplicate_reason == "same family name at the same postcode"
    assert second.duplicate_of_id == first.id


def test_different_needs_are_not_duplicates(submit):
    details = resident(phone="07700 900789", email="")
    submit(**details, needs=["food"])
    assert submit(**details, needs=["advice"]).duplicate_of_id is None


def test_a_request_older_than_14_days_or_finished_is_not_a_duplicate(submit, db):
    details = resident(phone="07700 900111", email="")
    submit(**details, needs=["food"], now=utcnow() - timedelta(days=15))
    finished = submit(**details, needs=["food"])
    lifecycle.transition(finished, "cancelled", actor=None)
    db.session.commit()
    assert submit(**details, needs=["food"]).duplicate_of_id is None


def test_a_different_person_elsewhere_is_not_a_duplicate(submit):
    submit(given_name="Mary", family_name="Hughes", needs=["food"])
    assert submit(given_name="Mary", family_name="Hughes", postcode=BURY_POSTCODE,
                  needs=["food"]).duplicate_of_id is None


# -- Telling other plugins --------------------------------------------------------------


class Listener:
    def __init__(self, fail: bool = False):
        self.heard, self.fail = [], fail

    @hookimpl
    def help_request_created(self, request):
        self.heard.append(request)
        if self.fail:
            raise RuntimeError("listener broke")


@pytest.fixture
def listener(app):
    heard = Listener()
    app.extensions["hubcore"].pm.register(heard, name="test-listener")
    yield heard
    app.extensions["hubcore"].pm.unregister(name="test-listener")


def test_other_plugins_hear_of_a_request_only_after_it_is_committed(submit, listener, db):
    request = submit(commit=False)
    assert listener.heard == []
    db.session.commit()
    [info] = listener.heard
    assert (info.id, info.reference, info.district) == (request.id, request.reference, BOLTON)
    assert info.needs == ("food",) and info.priority == request.priority
    assert info.location is not None


def test_a_rolled_back_request_is_never_announced(submit, listener, db):
    submit(commit=False)
    db.session.rollback()
    db.session.commit()
    assert listener.heard == []


def test_a_failing_listener_does_not_lose_the_request(submit, app, db, caplog):
    broken = Listener(fail=True)
    app.extensions["hubcore"].pm.register(broken, name="broken-listener")
    try:
        request = submit()
    finally:
        app.extensions["hubcore"].pm.unregister(name="broken-listener")
    assert broken.heard and "listener broke" in caplog.text
    assert db.session.get(HelpRequest, request.id) is not None
    assert count(db, StatusChange) == 1


def test_an_api_submit_is_announced_once_and_a_refused_one_never(client, listener):
    headers = {"Idempotency-Key": "announce-0001-abcdef"}
    body = submission()
    assert client.post("/api/v1/help-requests", json=body, headers=headers).status_code == 201
    assert client.post("/api/v1/help-requests", json=body, headers=headers).status_code == 201
    assert client.post("/api/v1/help-requests",
                       json=submission(consent=False)).status_code == 422
    assert [info.reference[:4] for info in listener.heard] == ["BOL-"]


def test_a_reference_drawn_twice_is_drawn_again_not_an_error(app, db, submit, monkeypatch):
    """Two intakes may draw the same random code; the insert finds out, and draws again."""
    first = submit()
    draws = iter([first.reference, "BOL-2222"])
    monkeypatch.setattr(intake, "new_reference", lambda district, attempt=0: next(draws))
    second = submit()
    assert second.reference == "BOL-2222" != first.reference

"""Hostile text at the front door for help: the API, the public form, the queue filter.

A NUL byte (PostgreSQL cannot store it), an invisible or direction-changing
character in a name, a lone surrogate: each is refused with a 4xx naming the
field, and nothing is created. A postcode typed with odd spacing and case is
tidied before its length is checked.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubcore.identity.models import Person
from plugins.hub_requests.models import HelpRequest
from tests.conftest import BOLTON, submit_form

from .conftest import submission
from .test_views import form_data

PROBLEM = "application/problem+json"
TEXT_FIELDS = ("given_name", "family_name", "phone", "email", "postcode", "address",
               "description")


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_nul_in_any_field_of_the_public_intake_is_a_422_and_creates_nothing(client, db, field):
    body = submission()
    body[field] = (body[field] or "x") + "\x00"
    response = client.post("/api/v1/help-requests", json=body)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in response.json["errors"]
    assert count(db, HelpRequest) == 0 and count(db, Person) == 0


@pytest.mark.parametrize("text", ["Ann\u200b", "\u202eAnn", "Ann\nLee", "\ud800"])
def test_a_name_with_hidden_characters_is_refused_by_the_public_intake(client, db, text):
    response = client.post("/api/v1/help-requests", json=submission(given_name=text))
    assert response.status_code == 422 and "given_name" in response.json["errors"]
    assert count(db, Person) == 0


def test_a_description_keeps_its_lines(client, db):
    response = client.post("/api/v1/help-requests", json=submission(
        description="Shopping on Tuesday.\r\nKey is with the neighbour.\tThanks"))
    assert response.status_code == 201, response.json
    request = db.session.execute(sa.select(HelpRequest)).scalar_one()
    assert request.description == "Shopping on Tuesday.\r\nKey is with the neighbour.\tThanks"


def test_a_spaced_out_postcode_is_accepted_by_the_public_intake(client, db):
    response = client.post("/api/v1/help-requests", json=submission(postcode="  bL1   4aB "))
    assert response.status_code == 201, response.json
    assert db.session.execute(sa.select(Person.postcode)).scalar_one() == "BL1 4AB"


def test_a_spaced_out_postcode_is_accepted_by_the_public_form(client, db):
    response = submit_form(client, "/help", form_data(postcode="  bL1   4aB "))
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    assert db.session.execute(sa.select(Person.postcode)).scalar_one() == "BL1 4AB"


def test_a_nul_in_the_public_form_is_refused_and_creates_nothing(client, db):
    response = submit_form(client, "/help", form_data(given_name="Ann\x00"))
    assert response.status_code == 422
    assert count(db, HelpRequest) == 0 and count(db, Person) == 0


def test_an_invisible_character_in_the_public_form_is_named_on_its_field(client, db):
    response = submit_form(client, "/help", form_data(family_name="Lee\u202e"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#family_name"' in html and "invisible formatting" in html
    assert count(db, HelpRequest) == 0


def test_the_domain_refuses_hidden_characters_from_any_channel(app, db):
    from hubcore.errors import InvalidInput
    from plugins.hub_requests import intake

    body = submission(given_name="Ann\u200b")
    person = {k: body.pop(k) for k in ("given_name", "family_name", "phone", "email",
                                       "postcode", "address")}
    with pytest.raises(InvalidInput) as refused:
        intake.submit_request(person=person, channel="web", **body)
    assert "given_name" in refused.value.fields


def test_a_nul_in_the_reference_filter_is_a_422(as_role):
    actor = as_role("coordinator", BOLTON)
    response = actor.client.get("/api/v1/help-requests?reference=HR%00")
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "reference" in response.json["errors"]

"""Hostile input at the volunteering front door: sign-up (API and form), the CSV
import, and ids in bodies past what the database holds."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from plugins.volunteering import volunteer_csv
from plugins.volunteering.models import Volunteer
from tests.conftest import submit_form

from .conftest import BOLTON, signup_body, task_json
from .test_pages import FORM

PROBLEM = "application/problem+json"


def count(db) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)).scalar_one()


@pytest.mark.parametrize("field", ["given_name", "family_name", "email", "phone", "postcode"])
def test_a_nul_in_a_sign_up_field_is_a_422_and_signs_nobody_up(client, db, field):
    response = client.post("/api/v1/volunteers", json=signup_body(**{field: "x\x00"}))
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in response.json["errors"]
    assert count(db) == 0


@pytest.mark.parametrize("name", ["Amira\u202e", "\u200bAmira", "Am\u00adira", "Amira\tK"])
def test_a_name_with_hidden_characters_is_refused_at_sign_up(client, db, name):
    response = client.post("/api/v1/volunteers", json=signup_body(given_name=name))
    assert response.status_code == 422 and "given_name" in response.json["errors"]
    assert count(db) == 0


def test_a_spaced_out_postcode_signs_up_through_the_api(client, db):
    response = client.post("/api/v1/volunteers", json=signup_body(postcode="  bL2   1aA "))
    assert response.status_code == 202, response.json
    assert db.session.execute(sa.select(Volunteer.postcode)).scalar_one() == "BL2 1AA"


def test_a_spaced_out_postcode_signs_up_through_the_form(client, db):
    response = submit_form(client, "/volunteer", {**FORM, "postcode": "  bL1   1aA "})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    assert db.session.execute(sa.select(Volunteer.postcode)).scalar_one() == "BL1 1AA"


def test_the_sign_up_form_names_an_invisible_character_and_stores_nothing(client, db):
    response = submit_form(client, "/volunteer", {**FORM, "given_name": "Sam\u200b"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#given_name"' in html and "invisible formatting" in html
    assert count(db) == 0


def test_a_nul_in_the_sign_up_form_is_refused(client, db):
    response = submit_form(client, "/volunteer", {**FORM, "email": "sam@example.org\x00"})
    assert response.status_code == 422
    assert count(db) == 0


HEADER = ("given_name,family_name,email,phone,postcode,skills,languages,availability,"
          "max_travel_km,has_car,weekly_cap,consent\n")


def test_the_csv_import_tidies_postcodes_and_refuses_hidden_characters_in_names(app, db):
    text = (HEADER
            + "Ann,Lee,ann@example.org,,  bL1   1aA ,befriending,,mon_morning,5,yes,3,yes\n"
            + "Bo\u202e,Ng,bo@example.org,,BL1 1AA,befriending,,mon_morning,5,yes,3,yes\n")
    report = volunteer_csv.import_volunteers(io.StringIO(text))
    db.session.commit()
    assert report.imported == 1 and report.rejected == 1
    [problem] = report.problems
    assert problem.line == 3 and "given_name" in " ".join(problem.messages)
    assert db.session.execute(sa.select(Volunteer.postcode)).scalar_one() == "BL1 1AA"


def test_ids_in_bodies_past_what_the_database_holds_are_refused(as_role):
    actor = as_role("coordinator", BOLTON)
    response = actor.client.post("/api/v1/volunteering/offers", json={
        "owner": "hub_requests", "owner_id": "1", "volunteer_id": 2**31})
    assert response.status_code == 422 and "volunteer_id" in response.json["errors"]
    response = actor.client.post("/api/v1/volunteering/batch-proposals", json={
        "tasks": [task_json(person_id=2**63)]})
    assert response.status_code == 422 and response.mimetype == PROBLEM

"""The rules of ``hubcore.inputs``, one at a time, on the core's own routes.

Each bad value gets a 4xx that says what is wrong (problem+json on the API)
and changes nothing. ``test_hostile_input.py`` walks every route; these
check the answers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_wtf import FlaskForm

from hubcore import inputs
from hubcore.audit import AuditEntry
from hubcore.db import utcnow
from hubcore.identity.models import ApiToken, Consent, Person
from tests.conftest import BOLTON, PASSWORD, csrf_token_from, login

PROBLEM = "application/problem+json"
HIDDEN = {"NUL": "Bob\x00by", "zero-width space": "Bo\u200bb",
          "right-to-left override": "Bob\u202etxt.exe", "escape": "Bob\x1b[2J",
          "newline": "Bob\nSmith", "tab": "Bob\tSmith", "byte order mark": "\ufeffBob"}


def count(db, model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


# -- The rule ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HIDDEN))
def test_single_line_text_refuses_controls_breaks_and_format_characters(name):
    assert inputs.text_problem(HIDDEN[name], inputs.SINGLE_LINE)


@pytest.mark.parametrize("value", ["Seán O'Brien", "Zoë-Ann", "Łukasz", "محمد", "李小龍",
                                   "Jean\u00a0Pierre", "😀"])
def test_single_line_text_accepts_real_names(value):
    assert inputs.text_problem(value, inputs.SINGLE_LINE) is None


def test_multiline_text_keeps_newlines_and_tabs_but_not_the_rest():
    assert inputs.text_problem("Line one\r\nLine two\tend", inputs.MULTILINE) is None
    for bad in ("a\x00b", "a\u202eb", "a\u200bb", "a\x85b", "\ud800"):
        assert inputs.text_problem(bad, inputs.MULTILINE), repr(bad)


def test_postcode_is_tidied_before_anything_measures_it():
    assert inputs.tidy_postcode("  bL1   1aA ") == "BL1 1AA"
    assert inputs.tidy_postcode("m1\t1ae") == "M1 1AE"


# -- Ids and pages ---------------------------------------------------------------------


@pytest.mark.parametrize("huge", ["2147483648", "9223372036854775808", "9" * 30])
def test_an_id_past_what_the_database_holds_is_not_found(admin, huge):
    for url in (f"/api/v1/people/{huge}", f"/api/v1/organisations/{huge}",
                f"/api/v1/accounts/{huge}", f"/api/v1/people/1/consents/{huge}/withdraw"):
        method = "post" if url.endswith("withdraw") else "get"
        response = getattr(admin.client, method)(url)
        assert response.status_code == 404, url
        assert response.mimetype == PROBLEM


def test_the_largest_id_both_databases_hold_is_looked_up(admin):
    response = admin.client.get(f"/api/v1/people/{2**31 - 1}")
    assert response.status_code == 404 and response.json["detail"] == "No such person."


@pytest.mark.parametrize("query", ["page=200000000000000000", "page=10000001",
                                   "per_page=201", "page=0"])
def test_page_numbers_past_the_maximum_are_refused(admin, query):
    response = admin.client.get(f"/api/v1/people?{query}")
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert set(response.json["errors"]) <= {"page", "per_page"}


def test_the_last_allowed_page_is_an_empty_page(admin):
    response = admin.client.get("/api/v1/people?page=10000000&per_page=200")
    assert response.status_code == 200 and response.json["items"] == []


def test_an_id_in_a_body_past_the_maximum_is_refused(admin, db):
    organisation = admin.client.post("/api/v1/organisations", json={
        "name": "Bolton Hub", "kind": "hub", "districts": [BOLTON]}).json
    response = admin.client.post(f"/api/v1/organisations/{organisation['id']}/members",
                                 json={"account_id": 2**31, "role": "coordinator"})
    assert response.status_code == 422 and "account_id" in response.json["errors"]
    response = admin.client.post(f"/api/v1/organisations/{organisation['id']}/members",
                                 json={"account_id": 1e30, "role": "coordinator"})
    assert response.status_code == 422 and "account_id" in response.json["errors"]


def test_the_openapi_document_gives_the_bounds_of_ids_and_pages(client):
    document = client.get("/api/v1/openapi.json").json
    person = document["paths"]["/api/v1/people/{person_id}"]["get"]["parameters"][0]
    assert person["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    page = next(p for p in document["paths"]["/api/v1/organisations"]["get"]["parameters"]
                if p["name"] == "page")
    assert page["schema"]["maximum"] == 10_000_000


# -- Text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HIDDEN))
def test_a_person_named_with_hidden_characters_is_refused(as_role, db, name):
    actor = as_role("coordinator", BOLTON)
    before = count(db, Person)
    response = actor.client.post("/api/v1/people", json={
        "given_name": HIDDEN[name], "postcode": "BL1 4AB"})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "given_name" in response.json["errors"]
    assert count(db, Person) == before


def test_the_domain_refuses_hidden_characters_whoever_calls_it(app, db):
    from hubcore.errors import InvalidInput
    from hubcore.identity import people

    with pytest.raises(InvalidInput) as refused:
        people.create_person({"given_name": "Ann", "family_name": "Lee\u202e",
                              "postcode": "BL1 4AB"})
    assert set(refused.value.fields) == {"family_name"}
    assert count(db, Person) == 0


def test_an_address_may_run_over_lines_but_not_hold_controls(as_role):
    actor = as_role("coordinator", BOLTON)
    ok = actor.client.post("/api/v1/people", json={
        "given_name": "Ann", "postcode": "BL1 4AB", "address": "1 Chorley New Road\nBolton"})
    assert ok.status_code == 201, ok.json
    bad = actor.client.post("/api/v1/people", json={
        "given_name": "Ann", "postcode": "BL1 4AB", "address": "1 Chorley\x00 New Road"})
    assert bad.status_code == 422 and "address" in bad.json["errors"]


def test_a_nul_in_the_token_email_is_refused_before_any_lookup(client, db, make_account):
    account = make_account("coordinator")
    for body in ({"email": account.email + "\x00", "password": PASSWORD},
                 {"email": account.email, "password": PASSWORD + "\x00"}):
        response = client.post("/api/v1/tokens", json=body)
        assert response.status_code == 422 and response.mimetype == PROBLEM
    assert count(db, ApiToken) == 0


def test_a_password_may_hold_any_printable_text(client, db, make_account):
    from hubcore.identity import accounts

    account = make_account("coordinator")
    accounts.set_password(account, "pass\u200bphrase with a zero-width space")
    db.session.commit()
    response = client.post("/api/v1/tokens", json={
        "email": account.email, "password": "pass\u200bphrase with a zero-width space"})
    assert response.status_code == 201


@pytest.mark.parametrize("url", ["/api/v1/audit?action=a%00b", "/api/v1/audit?entity_id=%00",
                                 "/api/v1/people?q=a%00", "/api/v1/organisations?page=1%00"])
def test_a_nul_in_a_query_argument_is_a_422_naming_it(admin, url):
    response = admin.client.get(url)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert response.json["errors"], response.json


def test_a_nul_in_a_query_argument_of_a_page_is_a_422_page(admin):
    response = admin.client.get("/audit?action=a%00b")
    assert response.status_code == 422
    assert "text/html" in response.content_type


# -- JSON bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_too_deep_is_a_422_problem(admin, db, depth):
    body = '{"given_name": ' + "[" * depth + "]" * depth + "}"
    response = admin.client.post("/api/v1/people", data=body, content_type="application/json")
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert response.json["type"].endswith("/json-too-deep")
    assert count(db, Person) == 0


def test_json_at_the_depth_limit_is_parsed_and_checked_as_usual(admin):
    body = '{"given_name": ' + "[" * 31 + "]" * 31 + "}"  # 32 levels with the object
    response = admin.client.post("/api/v1/people", data=body, content_type="application/json")
    assert response.status_code == 422 and response.json["type"].endswith("/invalid-input")
    assert "given_name" in response.json["errors"]


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"\\u001b"'])
def test_lone_surrogates_and_controls_in_json_are_a_422_problem(admin, db, text):
    body = '{"given_name": ' + text + ', "postcode": "BL1 4AB"}'
    response = admin.client.post("/api/v1/people", data=body, content_type="application/json")
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert response.json["type"].endswith("/invalid-characters")
    assert count(db, Person) == 0


def test_a_surrogate_pair_is_one_real_character(admin):
    body = '{"given_name": "Ann \\ud83d\\ude00", "postcode": "BL1 4AB"}'
    response = admin.client.post("/api/v1/people", data=body, content_type="application/json")
    assert response.status_code == 201 and response.json["given_name"] == "Ann 😀"


# -- Consent, postcodes ---------------------------------------------------------------------


def _person(actor) -> int:
    return actor.client.post("/api/v1/people", json={
        "given_name": "Ann", "postcode": "BL1 4AB"}).json["id"]


def test_consent_given_in_the_future_is_refused(as_role, db):
    actor = as_role("coordinator", BOLTON)
    person_id = _person(actor)
    before = count(db, Consent)
    for when in ("2099-01-01T00:00:00+00:00", (utcnow() + timedelta(hours=1)).isoformat()):
        response = actor.client.post(f"/api/v1/people/{person_id}/consents", json={
            "purpose": "help", "scope": "Bolton hub", "method": "verbal", "given_at": when})
        assert response.status_code == 422 and "given_at" in response.json["errors"]
    assert count(db, Consent) == before
    # A clock a minute fast is not the future.
    response = actor.client.post(f"/api/v1/people/{person_id}/consents", json={
        "purpose": "help", "scope": "Bolton hub", "method": "verbal",
        "given_at": (utcnow() + timedelta(minutes=1)).isoformat()})
    assert response.status_code == 201


def test_a_spaced_out_postcode_is_tidied_before_its_length_is_checked(as_role):
    actor = as_role("coordinator", BOLTON)
    response = actor.client.post("/api/v1/people", json={
        "given_name": "Ann", "postcode": "  bL1         4aB    "})  # 22 characters
    assert response.status_code == 201, response.json
    assert response.json["postcode"] == "BL1 4AB"


# -- Organisations, jobs ---------------------------------------------------------------------


def test_renaming_an_organisation_to_a_taken_name_is_a_409_and_changes_nothing(admin, db):
    first = admin.client.post("/api/v1/organisations", json={
        "name": "Bolton Hub", "kind": "hub", "districts": [BOLTON]})
    second = admin.client.post("/api/v1/organisations", json={
        "name": "Bury Hub", "kind": "hub", "districts": [BOLTON]})
    url = f"/api/v1/organisations/{second.json['id']}"
    audited = count(db, AuditEntry)
    for taken in ("Bolton Hub", "  Bolton Hub "):
        response = admin.client.patch(url, json={"name": taken},
                                      headers={"If-Match": second.headers["ETag"]})
        assert response.status_code == 409 and response.mimetype == PROBLEM
        assert response.json["type"].endswith("/organisation-exists")
    assert admin.client.get(url).json["name"] == "Bury Hub"
    assert count(db, AuditEntry) == audited
    same = admin.client.patch(url, json={"name": "Bury Hub"},
                              headers={"If-Match": second.headers["ETag"]})
    assert same.status_code == 200  # keeping its own name is no clash
    assert first.status_code == 201


@pytest.mark.parametrize("job_id", ["a:b", "a b", "..", "a\u00e9", "x" * 10 + "%2Fy"])
def test_requeueing_a_job_id_rq_would_refuse_is_not_found(admin, job_id):
    response = admin.client.post(f"/api/v1/jobs/failed/{job_id}/requeue")
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_requeueing_a_strange_job_id_from_the_page_says_it_is_gone(app, admin):
    client = app.test_client()
    login(client, admin.account.email, PASSWORD)
    token = csrf_token_from(client.get("/jobs").get_data(as_text=True))
    response = client.post("/jobs/a:b/requeue", data={"csrf_token": token},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "no longer in the failed jobs" in response.get_data(as_text=True)


# -- Forms ---------------------------------------------------------------------------------


def test_every_form_follows_the_text_rule(app):
    """Every FlaskForm of the core and the plugins derives from ``hubcore.web.forms.Form``."""
    from hubcore.web.forms import Form

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    forms = [f for f in subclasses(FlaskForm) if not f.__module__.startswith("flask_wtf")]
    assert len(forms) > 10
    assert [f"{f.__module__}.{f.__name__}" for f in forms if not issubclass(f, Form)] == []


def test_a_form_shows_hidden_characters_as_a_field_error(app, make_account):
    """The sign-in form: a zero-width space in the email is named on the field."""
    account = make_account("coordinator")
    client = app.test_client()
    response = login(client, account.email + "\u200b", follow_redirects=False)
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 422) and "invisible formatting" in page



@pytest.mark.parametrize("bad_id", ["0", "007", "2147483648", "99999999999"])
@pytest.mark.parametrize("method", ["patch", "delete", "post"])
def test_an_id_out_of_range_is_not_found_for_every_method_never_405(admin, bad_id, method):
    """Found by the contract run: a refused id must match no rule at all, or another
    method's rule for the same path makes it a 405 the document does not list."""
    path = (f"/api/v1/people/{bad_id}" if method != "post"
            else f"/api/v1/help-requests/{bad_id}/notes")
    answer = getattr(admin.client, method)(path, json={"body": "x"}, headers={"If-Match": "0"})
    assert answer.status_code == 404

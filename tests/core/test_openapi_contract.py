"""The OpenAPI document says what the API does: If-Match, Idempotency-Key and
optional bodies are described from the same declaration that the views enforce."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import jsonschema
import pytest

from hubcore.api import build_openapi
from tests.conftest import BOLTON
from tests.plugins.hub_requests.conftest import submission
from tests.plugins.volunteering.conftest import signup_body


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def _innermost(view):
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    return view


def _parameter(operation: dict, name: str) -> dict | None:
    return next((p for p in operation["parameters"] if p.get("name") == name), None)


def test_if_match_is_declared_exactly_where_the_view_checks_it(app):
    """A view that calls check_if_match declares it, and only such a view does, so the
    document cannot drift from what is enforced."""
    with app.test_request_context():
        doc = build_openapi(app)
    mismatched = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "__openapi__", None)
        if meta is None:
            continue
        checks = "check_if_match" in _innermost(view).__code__.co_names
        if checks != bool(meta["if_match"]):
            mismatched.append(rule.rule)
    assert mismatched == []
    declared = {(path, method): _parameter(op, "If-Match")
                for path, ops in doc["paths"].items() for method, op in ops.items()}
    required = sorted(f"{m.upper()} {p}" for (p, m), param in declared.items()
                      if param and param["required"])
    assert "PATCH /api/v1/people/{person_id}" in required
    assert "PATCH /api/v1/help-requests/{request_id}" in required
    assert "POST /api/v1/volunteers/{volunteer_id}/dbs" in required
    assert "POST /api/v1/volunteers/{volunteer_id}/pause" not in required


def test_a_change_without_if_match_is_refused_and_the_document_says_it_is_required(
        document, as_role, db):
    coord = as_role("coordinator", BOLTON)
    created = coord.client.post("/api/v1/people", json={
        "given_name": "Ida", "family_name": "Holt", "postcode": "BL1 4AB"})
    assert created.status_code == 201
    person = created.get_json()
    patch = document["paths"]["/api/v1/people/{person_id}"]["patch"]
    assert _parameter(patch, "If-Match")["required"] is True
    assert {"412", "428"} <= set(patch["responses"])
    refused = coord.client.patch(f"/api/v1/people/{person['id']}", json={"given_name": "X"})
    assert refused.status_code == 428
    assert coord.client.get(f"/api/v1/people/{person['id']}").get_json()["given_name"] == "Ida"


def test_an_optional_if_match_is_checked_when_sent(document, as_role, db):
    from plugins.volunteering import signup

    coord = as_role("coordinator", BOLTON)
    volunteer = signup.sign_up(signup_body()).volunteer
    db.session.commit()
    pause = document["paths"]["/api/v1/volunteers/{volunteer_id}/activate"]["post"]
    assert _parameter(pause, "If-Match")["required"] is False
    assert "428" not in pause["responses"] and "412" in pause["responses"]
    stale = coord.client.post(f"/api/v1/volunteers/{volunteer.id}/activate",
                              headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    assert coord.client.post(f"/api/v1/volunteers/{volunteer.id}/activate").status_code == 200


@pytest.mark.parametrize("path, method", [
    ("/api/v1/volunteers/{volunteer_id}/pause", "post"),
    ("/api/v1/help-requests/{request_id}/duplicate/dismiss", "post"),
])
def test_bodies_the_view_does_not_need_are_not_marked_required(document, path, method):
    assert document["paths"][path][method]["requestBody"]["required"] is False


def test_a_status_change_needs_no_body(as_role, db):
    from plugins.volunteering import signup

    coord = as_role("coordinator", BOLTON)
    volunteer = signup.sign_up(signup_body()).volunteer
    db.session.commit()
    response = coord.client.post(f"/api/v1/volunteers/{volunteer.id}/activate")
    assert response.status_code == 200 and response.get_json()["status"] == "active"


def test_idempotency_key_format_is_documented_as_enforced(document, client):
    operation = document["paths"]["/api/v1/help-requests"]["post"]
    key = _parameter(operation, "Idempotency-Key")
    schema = key["schema"]
    assert (schema["minLength"], schema["maxLength"]) == (8, 200)
    assert "422" in operation["responses"]
    for bad in ("short", "x" * 201, "has space!"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        refused = client.post("/api/v1/help-requests", json=submission(),
                              headers={"Idempotency-Key": bad})
        assert refused.status_code == 422, bad
        assert "Idempotency-Key" in refused.get_json()["errors"]
    good = str(uuid.uuid4())
    jsonschema.validate(good, schema)
    assert client.post("/api/v1/help-requests", json=submission(),
                       headers={"Idempotency-Key": good}).status_code == 201
    # Every create that honours the header says so, from @idempotent alone.
    for path in ("/api/v1/people", "/api/v1/volunteers"):
        assert _parameter(document["paths"][path]["post"], "Idempotency-Key") is not None


def test_dbs_certificate_and_issue_date_are_required_unless_level_none(document, as_role, db):
    from plugins.volunteering import signup

    schema = document["components"]["schemas"]["DbsIn"]
    jsonschema.validate({"level": "none"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"level": "basic"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"level": "enhanced", "certificate_number": "001234567890"}, schema)
    issued = (date.today() - timedelta(days=30)).isoformat()
    good = {"level": "basic", "certificate_number": "001234567890", "issue_date": issued}
    jsonschema.validate(good, schema)

    coord = as_role("coordinator", BOLTON)
    volunteer = signup.sign_up(signup_body()).volunteer
    db.session.commit()
    url = f"/api/v1/volunteers/{volunteer.id}"
    etag = coord.client.get(url).headers["ETag"]
    refused = coord.client.post(f"{url}/dbs", json={"level": "basic"},
                                headers={"If-Match": etag})
    assert refused.status_code == 422
    assert {"certificate_number", "issue_date"} <= set(refused.get_json()["errors"])
    accepted = coord.client.post(f"{url}/dbs", json=good, headers={"If-Match": etag})
    assert accepted.status_code == 200 and accepted.get_json()["dbs_level"] == "basic"


def test_an_anonymous_intake_answer_is_a_reference_and_no_id(document, client):
    operation = document["paths"]["/api/v1/help-requests"]["post"]
    assert "reference" in operation["description"]
    response = client.post("/api/v1/help-requests", json=submission())
    assert response.status_code == 201
    body = response.get_json()
    assert body["reference"] and "id" not in body and "Location" not in response.headers

"""API conventions: problem+json, pagination bounds, OpenAPI document, config."""

from __future__ import annotations

import pytest

from hubcore.app import create_app
from hubcore.config import ConfigError, Settings
from tests.conftest import BOLTON

PROBLEM = "application/problem+json"


def test_unknown_api_route_is_a_404_problem(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.mimetype == PROBLEM
    assert response.json["status"] == 404 and response.json["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_a_405_problem(client):
    response = client.put("/api/v1/tokens", json={})
    assert response.status_code == 405 and response.mimetype == PROBLEM


def test_body_that_is_not_json_gets_422(client):
    response = client.post("/api/v1/tokens", data="email=a", content_type="text/plain")
    assert response.status_code == 422 and "_body" in response.json["errors"]
    broken = client.post("/api/v1/tokens", data="{not json", content_type="application/json")
    assert broken.status_code == 422


def test_json_that_is_not_an_object_gets_422(client):
    response = client.post("/api/v1/tokens", json=["a", "b"])
    assert response.status_code == 422


@pytest.mark.parametrize("query", ["per_page=0", "per_page=201", "page=0", "page=x"])
def test_pagination_out_of_bounds_is_refused(as_role, query):
    actor = as_role("coordinator", BOLTON)
    response = actor.client.get(f"/api/v1/people?{query}")
    assert response.status_code == 422 and response.mimetype == PROBLEM


def test_pagination_reports_totals(as_role, db):
    from hubcore.identity import people

    actor = as_role("coordinator", BOLTON)
    for n in range(5):
        people.create_person({"given_name": f"Person {n}", "district_code": BOLTON})
    db.session.commit()
    body = actor.client.get("/api/v1/people?per_page=2&page=3").json
    assert (body["total"], body["pages"], body["page"], len(body["items"])) == (5, 3, 3, 1)


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"].startswith("3.")
    people = doc["paths"]["/api/v1/people/{person_id}"]
    assert {"get", "patch", "delete"} <= set(people)
    patch = people["patch"]
    assert "412" in patch["responses"] and "422" in patch["responses"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in patch["parameters"])
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].startswith(
        "#/components/schemas/")
    assert "Problem" in doc["components"]["schemas"]
    tokens = doc["paths"]["/api/v1/tokens"]["post"]
    assert "security" not in tokens  # public
    assert doc["paths"]["/api/v1/people"]["get"]["security"] == [{"bearer": []}]


def test_every_api_route_is_in_the_openapi_document(app, client):
    doc = client.get("/api/v1/openapi.json").json
    import re

    undocumented = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in doc["paths"].get(path, {}):
                undocumented.append(f"{method} {path}")
    assert undocumented == []


def test_settings_are_read_from_hubcore_variables():
    settings = Settings.from_env({"HUBCORE_REGION": "norfolk", "HUBCORE_PLUGINS": "a, b",
                                  "HUBCORE_STRICT_PLUGINS": "yes", "HUBCORE_TOKEN_TTL_HOURS": "2",
                                  "HUBCORE_TEST_DATABASE_URL": "ignored", "PATH": "/bin"})
    assert settings.region == "norfolk" and settings.plugins == ("a", "b")
    assert settings.strict_plugins is True and settings.token_ttl_hours == 2


def test_an_unknown_setting_stops_the_app_naming_it(tmp_path):
    settings = Settings.from_env({"HUBCORE_COLOUR": "blue"})
    with pytest.raises(ConfigError, match="HUBCORE_COLOUR is not a Hubcore setting"):
        create_app(settings, env="testing", plugins=(),
                   database_url=f"sqlite:///{tmp_path}/a.db")


@pytest.mark.parametrize("env, message", [
    ({"HUBCORE_STRICT_PLUGINS": "maybe"}, "HUBCORE_STRICT_PLUGINS"),
    ({"HUBCORE_SMTP_PORT": "twenty"}, "HUBCORE_SMTP_PORT"),
])
def test_bad_settings_are_refused_by_name(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigError, match="HUBCORE_SECRET_KEY"):
        Settings(env="production").validate()
    Settings(env="production", secret_key="x" * 40, audit_key="y" * 40,
             public_url="https://hub.example.org", redis_url="redis://127.0.0.1:6379/0").validate()


def test_postgres_urls_use_the_psycopg_driver():
    settings = Settings(database_url="postgres://u:p@db/hubcore")
    assert settings.resolved_database_url("/tmp") == "postgresql+psycopg://u:p@db/hubcore"


def test_each_app_has_its_own_plugin_manager(database_url):
    from tests.conftest import make_app

    first, second = make_app(database_url), make_app(database_url)
    assert first.extensions["hubcore"].pm is not second.extensions["hubcore"].pm


def test_behind_a_proxy_rate_limits_see_the_client_address(database_url):
    from tests.conftest import make_app

    app = make_app(database_url, proxy_hops=1)
    client = app.test_client()
    seen = {}

    @app.get("/_whoami")
    def whoami():
        from flask import request

        seen["addr"] = request.remote_addr
        return "ok"

    client.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen["addr"] == "203.0.113.9"

"""The public districts API: the region's districts, and postcode lookups."""

from __future__ import annotations

import io

import pytest

from hubcore.districts import gazetteer
from tests.conftest import BOLTON, MANCHESTER

PROBLEM = "application/problem+json"


def test_districts_lists_the_configured_region_without_signing_in(client):
    response = client.get("/api/v1/districts")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["title"]) == ("greater_manchester", "Greater Manchester")
    assert len(body["districts"]) == 10
    bolton = body["districts"][0]
    assert bolton == {"code": BOLTON, "name": "Bolton", "short": "BOL",
                      "neighbours": ["E08000002", "E08000006", "E08000010"]}


@pytest.mark.parametrize("app_settings", [{"region": "norfolk"}])
def test_districts_lists_norfolk_when_norfolk_is_configured(client):
    body = client.get("/api/v1/districts").get_json()
    assert body["title"] == "Norfolk"
    assert [d["code"] for d in body["districts"]] == [f"E0700014{n}" for n in range(3, 10)]


def test_one_district_by_code_and_a_404_for_another_regions(client):
    assert client.get(f"/api/v1/districts/{MANCHESTER}").get_json()["name"] == "Manchester"
    response = client.get("/api/v1/districts/E07000148")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.get_json()["detail"] == "There is no district E07000148 in Greater Manchester."


def test_lookup_normalises_the_postcode_and_names_the_district(client):
    response = client.get("/api/v1/districts/lookup?postcode=bl1+1ru")
    assert response.status_code == 200
    body = response.get_json()
    assert body["postcode"] == "BL1 1RU"
    assert body["outward_code"] == "BL1"
    assert body["district"] == {"code": BOLTON, "name": "Bolton", "short": "BOL"}
    assert body["precision"] == "district"
    assert body["source"] == "embedded:greater_manchester"
    # A postcode district's centroid is shown to about a kilometre, no finer.
    assert body["latitude"] == round(body["latitude"], 2)
    assert body["longitude"] == round(body["longitude"], 2)


def test_lookup_gives_the_directorys_location_to_about_ten_metres(app, client, db):
    gazetteer.import_onspd(io.StringIO(
        "pcds,oslaua,lat,long\nM1 1AE,E08000003,53.477131,-2.231414\n"))
    db.session.commit()
    body = client.get("/api/v1/districts/lookup?postcode=M11AE").get_json()
    assert (body["precision"], body["source"]) == ("postcode", "onspd")
    assert (body["latitude"], body["longitude"]) == (53.4771, -2.2314)
    assert body["district"]["name"] == "Manchester"


def test_lookup_accepts_a_postcode_district_alone(client):
    body = client.get("/api/v1/districts/lookup?postcode=ol16").get_json()
    assert (body["postcode"], body["outward_code"]) == ("OL16", "OL16")
    assert body["district"]["name"] == "Rochdale"


@pytest.mark.parametrize(("query", "message"), [
    ("?postcode=M1+1CE", "Enter a UK postcode, like M1 1AE, or its first part, like M1."),
    ("?postcode=", "Enter a postcode."),
    ("", "Enter a postcode."),
    ("?postcde=M1+1AE", "Enter a postcode."),
    ("?postcode=" + "M" * 50, "Longer than maximum length 40."),
])
def test_lookup_of_an_invalid_postcode_is_a_422_with_a_field_message(client, query, message):
    response = client.get("/api/v1/districts/lookup" + query)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 422
    assert body["errors"] == {"postcode": [message]}


def test_lookup_of_a_postcode_outside_the_region_is_a_404_problem(client):
    response = client.get("/api/v1/districts/lookup?postcode=SW1A+1AA")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["title"] == "Postcode not in this region"
    assert body["detail"] == "SW1A 1AA is not a postcode in Greater Manchester."
    assert body["errors"] == {"postcode": [
        "Enter a postcode in Greater Manchester: this service covers Greater Manchester only."]}


@pytest.mark.parametrize("app_settings", [{"region": "norfolk"}])
def test_lookup_in_norfolk(client):
    body = client.get("/api/v1/districts/lookup?postcode=NR30+1AA").get_json()
    assert body["district"]["name"] == "Great Yarmouth"
    assert client.get("/api/v1/districts/lookup?postcode=M1+1AE").status_code == 404


@pytest.mark.parametrize("app_settings", [{"public_rate_limit": "3 per minute"}])
def test_lookup_is_rate_limited(client):
    statuses = [client.get("/api/v1/districts/lookup?postcode=M1+1AE").status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/v1/districts").status_code == 200  # the list is not limited


def test_the_openapi_document_describes_the_districts_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    lookup = spec["paths"]["/api/v1/districts/lookup"]["get"]
    assert "security" not in lookup
    assert {"200", "404", "422", "429"} <= set(lookup["responses"])
    assert any(p.get("name") == "postcode" and p["in"] == "query" for p in lookup["parameters"])
    assert "/api/v1/districts" in spec["paths"]
    assert "/api/v1/districts/{code}" in spec["paths"]

"""Hostile input never gets a server error, on any route.

Every rule of the app's URL map is tried, anonymously and as an administrator
(a bearer token for the API, a signed-in session with its CSRF token for the
pages), with what an attacker sends first: ids past what the database holds,
page numbers that overflow OFFSET, NUL and other control characters in query
arguments, form fields and path segments, JSON nested thousands deep, lone
surrogates. The answer may be 4xx; a 5xx is a bug. Several of these broke only
on PostgreSQL: run this module there too (``HUBCORE_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.conftest import PASSWORD, csrf_token_from, login
from tests.plugins.hub_requests.conftest import submission

# Past int32 (PostgreSQL's integer), past int64 (SQLite's), far past, and past
# the digits Python will turn into an int at all.
HUGE_IDS = ("2147483648", "9223372036854775808", "1" + "0" * 40, "9" * 5000)
HUGE_NUMBER = "200000000000000000"
NUL = "a\x00b"
CONTROLS = (NUL, "\x1b[2J", "\x7f", "\x85")
# The query arguments and form fields the routes read (core and plugins); those
# that are ids or numbers also get a huge number.
NUMBER_ARGS = ("page", "per_page", "days", "limit", "person_id", "volunteer_id", "account_id",
               "entity_id", "owner_id")
ARG_NAMES = ("page", "per_page", "reference", "action", "entity_type", "entity_id",
             "district", "status", "priority", "overdue", "q", "owner", "owner_id", "days",
             "limit", "next", "postcode", "person_id", "volunteer_id", "account_id")
FORM_NAMES = ("given_name", "family_name", "phone", "email", "postcode", "address", "needs",
              "circumstances", "urgency", "description", "consent", "password",
              "current_password", "new_password", "confirm_password", "name", "reason",
              "body", "notes", "outcome", "to", "priority", "escalated", "overflow_district",
              "skills", "languages", "availability", "max_travel_km", "level",
              "certificate_number", "issue_date", "hours", "owner", "owner_id", "helper_id",
              "volunteer_id", "next", "recurrence", "has_car", "channel")
_ARGUMENT = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<spec>[^)]*)\))?:)?(?P<name>\w+)>")
UNSAFE = ("POST", "PATCH", "PUT", "DELETE")


def _rules(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _path(rule, id_value: str, text: str = "x") -> str:
    """The rule's path with every id argument ``id_value`` and other arguments ``text``."""

    def fill(match):
        conv = match["conv"]
        if conv in ("int", "id"):
            return id_value
        if conv == "any":
            return match["spec"].split(",")[0].strip()
        return quote(text, safe="")

    return _ARGUMENT.sub(fill, rule.rule)


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _has_id(rule) -> bool:
    return any(m["conv"] in ("int", "id") for m in _ARGUMENT.finditer(rule.rule))


def _call(client, method, url, headers=None, **kwargs):
    return client.open(url, method=method, headers=headers or {}, **kwargs)


class Failures:
    """Collects every 5xx, so one run names them all."""

    def __init__(self):
        self.seen: list[str] = []

    def check(self, response, what: str) -> None:
        if response.status_code >= 500:
            self.seen.append(f"{response.status_code} {what}")

    def assert_none(self):
        assert not self.seen, f"{len(self.seen)} server errors:\n" + "\n".join(self.seen[:80])


@pytest.fixture
def world(app, db, admin):
    """A little of everything, so id 1 exists for the main records and a body gets
    past the lookup to the code that reads it."""
    from plugins.hub_requests import intake
    from plugins.volunteering import signup
    from tests.plugins.volunteering.conftest import signup_body

    body = submission()
    person = {k: body.pop(k) for k in ("given_name", "family_name", "phone", "email",
                                       "postcode", "address")}
    intake.submit_request(person=person, channel="web", **body)
    signup.sign_up(signup_body())
    db.session.commit()
    return admin


@pytest.fixture
def clients(app, world):
    """(label, client, headers) for the anonymous caller and the administrator:
    the administrator's pages come with a session and its CSRF token."""
    anonymous = app.test_client()
    anonymous_token = csrf_token_from(anonymous.get("/login").get_data(as_text=True))
    session = app.test_client()
    login(session, world.account.email, PASSWORD)
    session_token = csrf_token_from(session.get("/account").get_data(as_text=True))
    return {
        "anonymous": (anonymous, {"X-CSRFToken": anonymous_token}),
        "admin": (session, {"X-CSRFToken": session_token, **world.headers}),
    }


def _for_each_caller(clients):
    return [(label, *value) for label, value in clients.items()]


def test_huge_ids_in_every_path_are_not_found(app, clients):
    failures = Failures()
    checked = 0
    for rule in _rules(app):
        if not _has_id(rule):
            continue
        for label, client, headers in _for_each_caller(clients):
            for huge in HUGE_IDS:
                for method in _methods(rule):
                    url = _path(rule, huge)
                    response = _call(client, method, url, headers,
                                     json={} if method in UNSAFE else None)
                    failures.check(response, f"{label} {method} {url[:80]}")
                    checked += 1
                    if label == "admin" and method == "GET":
                        assert response.status_code == 404, (url[:80], response.status_code)
    assert checked > 100  # the walk found the routes
    failures.assert_none()


def test_no_route_uses_the_unbounded_int_converter(app):
    """Ids go through the ``id`` converter, bounded by what both databases hold."""
    bare = [rule.rule for rule in app.url_map.iter_rules()
            if any(m["conv"] == "int" for m in _ARGUMENT.finditer(rule.rule))]
    assert bare == []


def test_huge_page_numbers_and_ids_in_query_arguments(app, clients):
    failures = Failures()
    for rule in _rules(app):
        if "GET" not in rule.methods:
            continue
        url = _path(rule, "1")
        for label, client, headers in _for_each_caller(clients):
            for query in (f"page={HUGE_NUMBER}&per_page=200", "page=-1", "page=1e400",
                          f"page={HUGE_IDS[-1]}",
                          *(f"{name}={HUGE_IDS[1]}" for name in NUMBER_ARGS)):
                response = _call(client, "GET", f"{url}?{query}", headers)
                failures.check(response, f"{label} GET {url}?{query}")
    failures.assert_none()


def test_control_characters_in_query_arguments_and_paths(app, clients):
    failures = Failures()
    for rule in _rules(app):
        for label, client, headers in _for_each_caller(clients):
            for method in _methods(rule):
                url = _path(rule, "1")
                for text in CONTROLS:
                    hostile = _path(rule, "1", text)
                    if hostile != url:  # a text segment in the path
                        response = _call(client, method, hostile, headers)
                        failures.check(response, f"{label} {method} {hostile!r}")
                if method != "GET":
                    continue
                # NUL (what PostgreSQL refuses) in each argument alone, so that no
                # other argument's check stops it early; the other controls at once.
                queries = [f"{name}={quote(NUL)}" for name in ARG_NAMES]
                queries += ["&".join(f"{name}={quote(text)}" for name in ARG_NAMES)
                            for text in CONTROLS[1:]]
                for query in queries:
                    response = _call(client, method, f"{url}?{query}", headers)
                    failures.check(response, f"{label} GET {url}?{query!r}")
    failures.assert_none()


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


HOSTILE_BODIES = {
    "arrays 1000 deep": b"[" * 1000 + b"]" * 1000,
    "objects 1000 deep": _deep(1000),
    "arrays 100000 deep": b"[" * 100000 + b"]" * 100000,
    "objects 50 deep": _deep(50),
    "a lone surrogate": b'{"given_name": "\\ud800", "name": "\\udfff", "email": "\\ud800"}',
    "a NUL": b'{"given_name": "a\\u0000b", "name": "a\\u0000b", "email": "a\\u0000b@x.org"}',
    "a huge number": b'{"account_id": 9223372036854775808, "volunteer_id": 1e400}',
    "not UTF-8": b'{"given_name": "\xff\xfe"}',
}


def test_hostile_json_bodies_on_every_api_write(app, clients):
    failures = Failures()
    for rule in _rules(app):
        if not rule.rule.startswith("/api/"):
            continue
        url = _path(rule, "1")
        for label, client, headers in _for_each_caller(clients):
            for method in _methods(rule):
                if method not in UNSAFE:
                    continue
                for name, body in HOSTILE_BODIES.items():
                    response = _call(client, method, url, {**headers, "If-Match": "*"},
                                     data=body, content_type="application/json")
                    failures.check(response, f"{label} {method} {url} with {name}")
                    if label == "admin" and response.status_code in (400, 422):
                        assert response.mimetype == "application/problem+json", url
    failures.assert_none()


def test_control_characters_in_every_form_field(app, clients):
    failures = Failures()
    for rule in _rules(app):
        if rule.rule.startswith("/api/"):
            continue
        url = _path(rule, "1")
        for label, client, headers in _for_each_caller(clients):
            for method in _methods(rule):
                if method not in UNSAFE:
                    continue
                for text in CONTROLS:
                    data = {name: text for name in FORM_NAMES}
                    response = _call(client, method, url, headers, data=data)
                    failures.check(response, f"{label} {method} {url} with {text!r}")
    failures.assert_none()


def test_the_public_intake_walk_reaches_the_database(app, db, clients):
    """The walk is not refused before it matters: a good body to the same route is created."""
    client, headers = clients["anonymous"]
    response = client.post("/api/v1/help-requests", json=submission(), headers=headers)
    assert response.status_code == 201, response.get_json()

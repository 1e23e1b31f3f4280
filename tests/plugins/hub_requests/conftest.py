"""Factories for the hub requests tests: a resident's details and a submitted request."""

from __future__ import annotations

import itertools

import pytest

from hubcore.db import db

from plugins.hub_requests import intake

_counter = itertools.count(1)

# Postcodes in the districts the suite names (tests/conftest.py).
BOLTON_POSTCODE, BURY_POSTCODE, WIGAN_POSTCODE = "BL1 4AB", "BL9 0AA", "WN1 1XX"


def resident(**overrides) -> dict:
    """A resident's details, unique per call unless told otherwise."""
    n = next(_counter)
    details = {"given_name": f"Edna{n}", "family_name": "Sharples", "phone": "",
               "email": f"resident{n}@example.org", "postcode": BOLTON_POSTCODE,
               "address": "1 Chorley New Road"}
    details.update(overrides)
    return details


def submission(**overrides) -> dict:
    """A public API body for a request for help."""
    person = resident(**{k: overrides.pop(k) for k in list(overrides)
                         if k in ("given_name", "family_name", "phone", "email", "postcode",
                                  "address")})
    body = {**person, "needs": ["food"], "circumstances": ["lives_alone"],
            "urgency": "few_days", "description": "Cannot get to the shops.", "consent": True}
    body.update(overrides)
    return body


@pytest.fixture
def submit(app):
    """Submit a request through the domain function and commit, like a view does."""

    def factory(*, commit: bool = True, channel: str = "web", actor=None, now=None, **fields):
        body = submission(**fields)
        person = {k: body.pop(k) for k in ("given_name", "family_name", "phone", "email",
                                           "postcode", "address")}
        request = intake.submit_request(person=person, channel=channel, actor=actor, now=now,
                                        **body)
        if commit:
            db.session.commit()
        return request

    return factory

"""Who may do what, where: role × district × action, for a Bolton resident.

Reads outside one's districts answer 404 (the resident's existence is not
revealed); actions a role never holds answer 403; no credentials answer 401.
"""

from __future__ import annotations

import pytest

from hubcore.identity import people
from hubcore.identity.permissions import ALL_DISTRICTS, can, districts_for
from tests.conftest import BOLTON, BURY, WIGAN

ROLES = {
    # name: (role, districts, is_admin)
    "admin": (None, (), True),
    "bolton_coordinator": ("coordinator", (BOLTON,), False),
    "bolton_bury_coordinator": ("coordinator", (BOLTON, BURY), False),
    "wigan_coordinator": ("coordinator", (WIGAN,), False),
    "bolton_partner": ("partner", (BOLTON,), False),
    "bolton_volunteer": ("volunteer", (BOLTON,), False),
    "funder": ("funder", (BOLTON, WIGAN), False),
    "anonymous": (None, (), False),
}

ACTIONS = ("read", "list", "update", "export", "erase")

EXPECTED = {
    "admin": dict(read=200, list=1, update=200, export=200, erase=200),
    "bolton_coordinator": dict(read=200, list=1, update=200, export=200, erase=403),
    "bolton_bury_coordinator": dict(read=200, list=1, update=200, export=200, erase=403),
    "wigan_coordinator": dict(read=404, list=0, update=404, export=404, erase=403),
    "bolton_partner": dict(read=403, list=403, update=403, export=403, erase=403),
    "bolton_volunteer": dict(read=403, list=403, update=403, export=403, erase=403),
    "funder": dict(read=403, list=403, update=403, export=403, erase=403),
    "anonymous": dict(read=401, list=401, update=401, export=401, erase=401),
}


@pytest.fixture
def bolton_resident(app, db):
    person = people.create_person({"given_name": "Joan", "family_name": "Ashworth",
                                   "postcode": "BL3 5AA", "phone": "01204 333 444"})
    db.session.commit()
    return person


def actor_client(name, as_role, client):
    role, districts, is_admin = ROLES[name]
    if name == "anonymous":
        return client
    return as_role(role, *districts, is_admin=is_admin).client


def perform(http, action: str, person_id: int):
    url = f"/api/v1/people/{person_id}"
    if action == "read":
        return http.get(url)
    if action == "list":
        return http.get("/api/v1/people")
    if action == "update":
        current = http.get(url)
        etag = current.headers.get("ETag", '"none"')
        return http.patch(url, json={"address": "1 New Street"}, headers={"If-Match": etag})
    if action == "export":
        return http.get(f"{url}/export")
    if action == "erase":
        return http.delete(url)
    raise AssertionError(action)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role_name", list(ROLES))
def test_access_matrix_for_a_bolton_resident(role_name, action, as_role, client,
                                             bolton_resident, db):
    http = actor_client(role_name, as_role, client)
    response = perform(http, action, bolton_resident.id)
    expected = EXPECTED[role_name][action]
    if action == "list" and expected in (0, 1):
        assert response.status_code == 200
        assert response.json["total"] == expected
        return
    assert response.status_code == expected, response.get_json()
    if expected >= 400:
        assert response.mimetype == "application/problem+json"
        db.session.expire_all()
        assert bolton_resident.address is None and bolton_resident.erased_at is None


def test_districts_come_from_the_organisations_through_which_a_role_is_held(make_account):
    account = make_account("coordinator", (BOLTON, BURY))
    assert districts_for(account, "people.read") == {BOLTON, BURY}
    assert can(account, "people.read", BOLTON) and not can(account, "people.read", WIGAN)
    assert not can(account, "people.erase", BOLTON)


def test_administrators_hold_every_permission_everywhere(make_account):
    admin = make_account(None, is_admin=True)
    assert districts_for(admin, "people.erase") is ALL_DISTRICTS
    assert can(admin, "organisations.manage") and can(admin, "people.read", WIGAN)


def test_a_deactivated_account_holds_nothing(make_account, db):
    account = make_account("coordinator", (BOLTON,))
    account.active = False
    db.session.commit()
    assert not can(account, "people.read", BOLTON)


def test_unknown_permission_is_a_programming_error(make_account):
    account = make_account("coordinator", (BOLTON,))
    with pytest.raises(LookupError):
        can(account, "people.teleport", BOLTON)

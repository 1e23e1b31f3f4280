"""CSRF exemption follows how a request authenticated, not which headers it carries.

An API call authenticated by a valid bearer token needs no CSRF token (a
browser never adds one on its own) and never uses the session cookie sent
with it; any other call that rides on a session needs the CSRF token.
"""

from __future__ import annotations

import pytest

from hubcore.identity import accounts
from hubcore.identity.models import ApiToken
from tests.conftest import login


def _signed_in(app, make_account):
    account = make_account("partner")
    client = app.test_client()
    assert "Signed in as" in login(client, account.email).get_data(as_text=True)
    return account, client


def _token_count(db) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(ApiToken)).scalar_one()


@pytest.mark.parametrize("header", [
    "Bearer junk", "Bearer hc_not-a-real-token", "bearer  ", "Bearer", "BEARER x y"])
def test_a_session_post_with_a_bogus_bearer_header_is_not_exempt_from_csrf(
        app, db, make_account, header):
    account, client = _signed_in(app, make_account)
    [token] = accounts.tokens_of(account) or [accounts.issue_token(account)[0]]
    db.session.commit()
    before = _token_count(db)
    response = client.delete(f"/api/v1/tokens/{token.id}", headers={"Authorization": header})
    assert response.status_code in (400, 401), response.get_json()
    assert response.content_type == "application/problem+json"
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None  # nothing changed
    assert _token_count(db) == before


def test_a_bogus_bearer_header_never_borrows_the_session(app, make_account):
    _account, client = _signed_in(app, make_account)
    assert client.get("/api/v1/me").status_code == 200
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 401


def test_a_valid_bearer_token_is_exempt_and_acts_as_the_tokens_account(
        app, db, make_account):
    """With a session cookie of one account and a token of another, the token decides."""
    _session_account, client = _signed_in(app, make_account)
    other = make_account("partner")
    _token, secret = accounts.issue_token(other)
    db.session.commit()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["id"] == other.id
    response = client.post("/api/v1/tokens", json={"email": other.email, "password": "x"},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401  # reached the view: no CSRF refusal
    assert response.get_json()["type"].endswith("bad-credentials")


def test_a_session_post_with_a_csrf_token_still_works(app, db, make_account):
    from tests.conftest import csrf_token_from

    account, client = _signed_in(app, make_account)
    token, _secret = accounts.issue_token(account)
    db.session.commit()
    csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.delete(f"/api/v1/tokens/{token.id}", headers={"X-CSRFToken": csrf})
    assert response.status_code == 204

"""Signing out, changing or resetting a password and switching an account off
revoke on the server: a cookie or token captured before stops working at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry
from hubcore.db import utcnow
from hubcore.identity import accounts
from hubcore.identity.models import AccountSession, ApiToken
from tests.conftest import PASSWORD, csrf_token_from, login, submit_form

NEW_PASSWORD = "quiet harbour lamplight violin"


def _signed_in(app, account):
    client = app.test_client()
    assert "Signed in as" in login(client, account.email).get_data(as_text=True)
    return client


def _replay(app, cookie: str):
    """A fresh client holding only a copy of a session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def _works(client, headers=None) -> bool:
    """Whether the client is still someone: /api/v1/me answers 200 and /account 200."""
    me = client.get("/api/v1/me", headers=headers or {})
    page = client.get("/account", headers=headers or {})
    assert me.status_code in (200, 401), me.status_code
    assert (me.status_code == 200) == (page.status_code == 200), (me, page)
    return me.status_code == 200


def _token(db, account) -> dict:
    _token, secret = accounts.issue_token(account)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


# -- Signing out ---------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_no_longer_works(app, db, make_account):
    account = make_account("partner")
    client = _signed_in(app, account)
    copied = client.get_cookie("session").value
    assert _works(_replay(app, copied))

    home = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token_from(home)}).status_code == 302

    assert not _works(client)
    assert not _works(_replay(app, copied))
    assert db.session.execute(sa.select(AccountSession.ended_at)).scalar_one() is not None


def test_signing_out_ends_only_that_session(app, db, make_account):
    account = make_account("partner")
    laptop, phone = _signed_in(app, account), _signed_in(app, account)
    home = laptop.get("/").get_data(as_text=True)
    laptop.post("/logout", data={"csrf_token": csrf_token_from(home)})
    assert not _works(laptop)
    assert _works(phone)


def test_signing_in_again_ends_the_browsers_previous_session(app, db, make_account):
    account = make_account("partner")
    client = _signed_in(app, account)
    before = client.get_cookie("session").value
    login(client, account.email)
    assert _works(client)
    assert not _works(_replay(app, before))


def test_a_cookie_naming_an_account_but_no_server_session_is_refused(app, db, make_account):
    """A signed cookie alone is not enough: the session must be live on the server."""
    account = make_account("partner")
    client = app.test_client()
    client.get("/")
    with client.session_transaction() as session:
        session["_user_id"] = account.get_id()
        session["_fresh"] = True
        session["signed_in_at"] = 2_000_000_000
    assert not _works(client)
    with client.session_transaction() as session:
        session["sid"] = "made-up-secret"
    assert not _works(client)


def test_a_session_past_its_lifetime_on_the_server_is_refused(app, db, make_account):
    account = make_account("partner")
    client = _signed_in(app, account)
    db.session.execute(sa.update(AccountSession).values(expires_at=utcnow()
                                                        - timedelta(seconds=1)))
    db.session.commit()
    assert not _works(client)


def test_a_session_lasts_the_configured_hours_on_the_server(app, db, make_account):
    account = make_account("partner")
    _signed_in(app, account)
    row = db.session.execute(sa.select(AccountSession)).scalar_one()
    assert row.expires_at - row.created_at == timedelta(hours=8)
    assert row.secret_hash not in str(_signed_in(app, account).get_cookie("session").value)


# -- Password change and reset --------------------------------------------------------


def test_changing_the_password_ends_every_other_session_and_every_token(app, db, make_account):
    account = make_account("partner")
    client, other = _signed_in(app, account), _signed_in(app, account)
    copied = client.get_cookie("session").value
    bearer = _token(db, account)
    assert _works(app.test_client(), bearer)

    response = submit_form(client, "/account/password",
                           {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302

    assert _works(client)  # the browser that changed it carries on, on a new session
    assert not _works(other)
    assert not _works(_replay(app, copied))
    assert not _works(app.test_client(), bearer)
    assert all(t.revoked_at is not None for t in accounts.tokens_of(account))
    [entry] = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "account.signed_out_everywhere")).scalars()
    assert '"reason_code": "password-changed"' in entry.summary and '"tokens": 1' in entry.summary


def test_a_refused_password_change_ends_nothing(app, db, make_account):
    account = make_account("partner")
    client, other = _signed_in(app, account), _signed_in(app, account)
    bearer = _token(db, account)
    response = submit_form(client, "/account/password",
                           {"current_password": PASSWORD, "new_password": "password1234"})
    assert response.status_code == 422
    assert _works(client) and _works(other) and _works(app.test_client(), bearer)


def test_a_password_reset_ends_every_session_and_token(app, db, make_account):
    account = make_account("partner")
    client = _signed_in(app, account)
    bearer = _token(db, account)
    token = accounts.password_link_token(account, "reset")
    db.session.commit()
    stranger = app.test_client()
    response = submit_form(stranger, f"/password/set/{token}",
                           {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert not _works(client)
    assert not _works(app.test_client(), bearer)
    assert "Signed in as" in login(app.test_client(), account.email,
                                   NEW_PASSWORD).get_data(as_text=True)


# -- Switching an account off ------------------------------------------------------------


def test_switching_an_account_off_ends_its_sessions_and_tokens_for_good(
        app, db, admin, make_account):
    account = make_account("partner")
    client = _signed_in(app, account)
    bearer = _token(db, account)

    response = admin.client.post(f"/api/v1/accounts/{account.id}/disable")
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert not _works(client) and not _works(app.test_client(), bearer)
    assert login(app.test_client(), account.email).status_code == 422

    response = admin.client.post(f"/api/v1/accounts/{account.id}/enable")
    assert response.status_code == 200 and response.get_json()["active"] is True
    assert not _works(client) and not _works(app.test_client(), bearer)  # nothing revives
    assert _works(_signed_in(app, account))
    actions = db.session.execute(sa.select(AuditEntry.action).where(
        AuditEntry.entity_type == "account", AuditEntry.entity_id == str(account.id))
        .order_by(AuditEntry.seq)).scalars().all()
    assert actions[-3:] == ["account.switched_off", "account.signed_out_everywhere",
                            "account.switched_on"]


def test_switching_accounts_off_is_for_administrators_and_refuses_mistakes(
        app, db, admin, as_role, make_account):
    account = make_account("partner")
    bearer = _token(db, account)
    coordinator = as_role("coordinator")
    assert coordinator.client.post(
        f"/api/v1/accounts/{account.id}/disable").status_code == 403
    assert admin.client.post("/api/v1/accounts/999999/disable").status_code == 404
    own = admin.client.post(f"/api/v1/accounts/{admin.account.id}/disable")
    assert own.status_code == 409 and own.get_json()["type"].endswith("own-account")
    assert app.test_client().post(f"/api/v1/accounts/{account.id}/disable").status_code == 401
    assert _works(app.test_client(), bearer) and _works(admin.client)


# -- Housekeeping -------------------------------------------------------------------------


def test_the_sweep_forgets_sessions_ended_or_expired_a_month_ago(app, db, make_account):
    from hubcore import jobs

    account = make_account("partner")
    live = _signed_in(app, account)
    _signed_in(app, account)
    old = db.session.execute(sa.select(AccountSession).order_by(AccountSession.id)).scalars()
    first, second = old
    second.ended_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert jobs.sweep(utcnow()).get("account_sessions_purged") == 1
    db.session.commit()
    assert [s.id for s in db.session.execute(sa.select(AccountSession)).scalars()] == [first.id]
    assert _works(live)


@pytest.mark.parametrize("secret", ["", None, "x" * 500, 12345])
def test_odd_session_secrets_are_simply_not_signed_in(app, db, make_account, secret):
    account = make_account("partner")
    assert accounts.account_for_session(account.id, secret) is None
    assert db.session.execute(sa.select(sa.func.count()).select_from(ApiToken)).scalar_one() == 0

"""The web shell: security headers, CSRF, rate limits, sign-in and out, the menu, the account page."""

from __future__ import annotations

import re
import time

import pytest
from flask import Blueprint

from hubcore.hookspecs import hookimpl
from hubcore.identity import accounts
from hubcore.identity.models import Account
from hubcore.values import NavItem
from tests.conftest import PASSWORD, csrf_token_from, login, make_app, submit_form

NEW_PASSWORD = "a brand new password for today"


def _signed_in(app, make_account, role="partner"):
    account = make_account(role)
    client = app.test_client()
    response = login(client, account.email)
    assert "Signed in as" in response.get_data(as_text=True)
    return account, client


def _reload(db, account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


# -- Security headers and CSRF ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login", "/no-such-page"])
def test_every_page_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_signed_in_pages_are_not_cached(app, make_account):
    _account, client = _signed_in(app, make_account)
    assert client.get("/account").headers["Cache-Control"] == "no-store"


def test_form_post_without_csrf_token_is_refused_and_changes_nothing(app, db, make_account):
    account, client = _signed_in(app, make_account)
    epoch = account.session_epoch
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This form has expired" in page and "Nothing was saved" in page
    account = _reload(db, account)
    assert account.session_epoch == epoch
    assert accounts.authenticate(account.email, PASSWORD).id == account.id


def test_sign_in_without_csrf_token_is_refused(client, make_account):
    account = make_account("partner")
    response = client.post("/login", data={"email": account.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Signed in as" not in client.get("/").get_data(as_text=True)


def test_api_call_riding_on_a_session_cookie_needs_a_csrf_token(app, make_account):
    _account, client = _signed_in(app, make_account)
    response = client.post("/api/v1/tokens", json={"email": "x@example.org", "password": "x"})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"].endswith("/csrf-failed")


# -- Signing in and out ----------------------------------------------------------------


@pytest.mark.parametrize("app_settings", [{"login_rate_limit": "3 per minute"}])
def test_fourth_sign_in_attempt_in_a_minute_is_refused_with_429(client, make_account):
    account = make_account("partner")
    for _ in range(3):
        assert login(client, account.email, "wrong password, again").status_code == 422
    response = login(client, account.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert "Signed in as" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("app_settings", [{"login_rate_limit": "3 per minute"}])
def test_showing_the_sign_in_form_does_not_use_up_attempts(client, make_account):
    account = make_account("partner")
    for _ in range(5):
        assert client.get("/login").status_code == 200
    assert login(client, account.email).status_code == 200


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)",
    "https:/evil.example", " //evil.example", "/\t/evil.example"])
def test_sign_in_refuses_to_send_people_to_another_site(client, make_account, target):
    account = make_account("partner")
    response = submit_form(client, "/login?" + _query(next=target),
                           {"email": account.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(client, make_account):
    account = make_account("partner")
    first = client.get("/account")
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    response = submit_form(client, first.headers["Location"],
                           {"email": account.email, "password": PASSWORD})
    assert response.headers["Location"] == "/account"


def test_sign_in_starts_a_new_session(app, make_account):
    account = make_account("partner")
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, account.email)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_needs_a_post(app, make_account):
    _account, client = _signed_in(app, make_account)
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200  # still signed in
    home = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token_from(home)},
                           follow_redirects=True)
    assert "You have signed out." in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_session_lifetime_comes_from_settings(app):
    assert app.permanent_session_lifetime.total_seconds() == 8 * 3600


def test_session_ends_after_the_session_lifetime_even_when_busy(app, make_account):
    _account, client = _signed_in(app, make_account)
    with client.session_transaction() as session:
        session["signed_in_at"] -= 8 * 3600 + 1
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_session_within_its_lifetime_carries_on(app, make_account):
    _account, client = _signed_in(app, make_account)
    with client.session_transaction() as session:
        session["signed_in_at"] = int(time.time()) - 7 * 3600
    assert client.get("/account").status_code == 200


# -- Accessible pages -------------------------------------------------------------------


def test_pages_start_with_a_skip_link_to_the_main_content(client):
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<body>\s*<a class="skip-link" href="#main">Skip to main content</a>', page)
    assert '<main id="main"' in page
    assert 'lang="en-GB"' in page and 'name="viewport"' in page


def test_sign_in_errors_are_summarised_with_links_to_each_field(client):
    response = submit_form(client, "/login", {"email": "", "password": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<title>Error: Sign in" in page
    start = page.index('<div class="error-summary"')
    summary = page[start:page.index("</div>", start)]
    assert "autofocus" in summary[:summary.index(">")]
    assert '<a href="#email">Enter your email address.</a>' in summary
    assert '<a href="#password">Enter your password.</a>' in summary
    assert re.search(r'<input[^>]*aria-describedby="email-error"[^>]*aria-invalid="true"'
                     r'|<input[^>]*aria-invalid="true"[^>]*aria-describedby="email-error"', page)
    assert '<label class="label" for="email">Email address</label>' in page


def test_wrong_password_error_links_to_the_password_field(client, make_account):
    account = make_account("partner")
    page = login(client, account.email, "not the password").get_data(as_text=True)
    assert '<a href="#password">Email address or password is not right.</a>' in page


# -- The menu ----------------------------------------------------------------------------


class ShelfPlugin:
    """A tiny plugin: one page and a menu entry for signed-in people."""

    def __init__(self):
        self.blueprint = Blueprint("shelf", __name__)
        self.blueprint.add_url_rule("/shelf", "page", lambda: "the shelf")

    @hookimpl
    def hubcore_register(self, app):
        app.register_blueprint(self.blueprint)

    @hookimpl
    def hubcore_nav(self, user):
        if user is None:
            return []
        return [NavItem("Shelf", "shelf.page", order=10), NavItem("Ghost", "ghost.page")]


@pytest.fixture
def shelf_app(database_url):
    app = make_app(database_url, extra_plugins=(ShelfPlugin(),))
    with app.app_context():
        yield app
        from hubcore.db import db

        db.session.remove()
        db.engine.dispose()


def test_menu_shows_entries_that_plugins_contribute(shelf_app):
    account = accounts.create_account(email="shelf@example.org", name="Shelf User",
                                      password=PASSWORD)
    from hubcore.db import db

    db.session.commit()
    client = shelf_app.test_client()
    assert "Shelf" not in client.get("/").get_data(as_text=True)
    login(client, account.email)
    page = client.get("/account").get_data(as_text=True)
    nav = page[page.index('<nav aria-label="Main menu">'):page.index("</nav>")]
    assert '<a href="/shelf">Shelf</a>' in nav
    assert nav.index("Shelf") < nav.index("Your account")  # ordered by NavItem.order
    assert 'href="/account" aria-current="page"' in nav
    assert "Ghost" not in nav  # an entry for a page that does not exist is left out


# -- Changing the password ---------------------------------------------------------------


def test_changing_password_signs_out_every_other_session(app, db, make_account):
    account, client = _signed_in(app, make_account)
    other_device = app.test_client()
    login(other_device, account.email)
    old_cookie = client.get_cookie("session").value

    response = submit_form(client, "/account/password",
                           {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "Your password has been changed" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 200  # this session carries on

    assert other_device.get("/account").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.get("/account").status_code == 302  # an old cookie no longer works

    fresh = app.test_client()
    assert login(fresh, account.email, PASSWORD).status_code == 422
    assert login(fresh, account.email, NEW_PASSWORD).status_code == 200


def test_changing_password_is_audited_without_the_password(app, db, make_account):
    from hubcore.audit import AuditEntry

    account, client = _signed_in(app, make_account)
    submit_form(client, "/account/password",
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    entries = db.session.execute(
        db.select(AuditEntry).where(AuditEntry.action == "account.password_changed")
    ).scalars().all()
    assert [e.entity_id for e in entries] == [str(account.id)]
    assert NEW_PASSWORD not in repr(entries[0].summary)


def test_wrong_current_password_changes_nothing(app, db, make_account):
    account, client = _signed_in(app, make_account)
    epoch = account.session_epoch
    response = submit_form(client, "/account/password",
                           {"current_password": "not it at all", "new_password": NEW_PASSWORD})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<a href="#current_password">Your current password is not right.</a>' in page
    assert _reload(db, account).session_epoch == epoch
    assert accounts.authenticate(account.email, PASSWORD)


def test_too_short_new_password_is_refused_with_the_rule(app, db, make_account):
    account, client = _signed_in(app, make_account)
    response = submit_form(client, "/account/password",
                           {"current_password": PASSWORD, "new_password": "short"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<a href="#new_password">Use at least 12 characters.</a>' in page
    assert accounts.authenticate(account.email, PASSWORD)


@pytest.mark.parametrize("app_settings", [{"login_rate_limit": "2 per minute"}])
def test_guessing_the_current_password_is_rate_limited(app, make_account):
    _account, client = _signed_in(app, make_account)  # signing in was one attempt
    data = {"current_password": "guess", "new_password": NEW_PASSWORD}
    assert submit_form(client, "/account/password", data).status_code == 422
    assert submit_form(client, "/account/password", data).status_code == 429


def test_change_password_page_needs_sign_in(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert "/login?next=/account/password" in response.headers["Location"]


# -- API tokens on the account page ------------------------------------------------------


def test_account_page_lists_only_your_tokens_in_use(app, db, make_account):
    account, client = _signed_in(app, make_account)
    accounts.issue_token(account, name="laptop script")
    revoked, _ = accounts.issue_token(account, name="old phone")
    accounts.revoke_token(account, revoked.id)
    someone_else = make_account("partner")
    accounts.issue_token(someone_else, name="not yours")
    db.session.commit()

    page = client.get("/account").get_data(as_text=True)
    assert "laptop script" in page
    assert "old phone" not in page and "not yours" not in page
    assert "Revoke<span class=\"visually-hidden\"> the token laptop script</span>" in page


def test_revoking_a_token_stops_it_working(app, db, make_account):
    account, client = _signed_in(app, make_account)
    token, secret = accounts.issue_token(account, name="laptop script")
    db.session.commit()
    assert accounts.account_for_token(secret) is not None

    response = submit_form(client, f"/account/tokens/{token.id}/revoke", {},
                           page_url="/account", follow_redirects=True)
    assert "is revoked" in response.get_data(as_text=True)
    db.session.expire_all()
    assert accounts.account_for_token(secret) is None
    assert "laptop script" not in client.get("/account").get_data(as_text=True)


def test_someone_elses_token_cannot_be_revoked(app, db, make_account):
    _account, client = _signed_in(app, make_account)
    owner = make_account("partner")
    token, secret = accounts.issue_token(owner, name="theirs")
    db.session.commit()
    response = submit_form(client, f"/account/tokens/{token.id}/revoke", {}, page_url="/account")
    assert response.status_code == 404
    db.session.expire_all()
    assert accounts.account_for_token(secret) is not None


def test_revoking_without_csrf_token_changes_nothing(app, db, make_account):
    account, client = _signed_in(app, make_account)
    token, secret = accounts.issue_token(account, name="laptop script")
    db.session.commit()
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 400
    db.session.expire_all()
    assert accounts.account_for_token(secret) is not None


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)

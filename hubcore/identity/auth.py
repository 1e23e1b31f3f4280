"""Who is asking: web sessions (Flask-Login) and API bearer tokens.

A request that carries ``Authorization: Bearer ...`` is authenticated by that
token alone: valid, it acts as the token's account; not valid, it is
anonymous. It never falls back on a session cookie sent with it, so a
request is exempt from CSRF checks only when a real token authenticated it
(``bearer_authenticated``).

Any other request is authenticated by its session: the signed cookie names
the account and carries the secret of a session recorded on the server
(``accounts.start_session``), which signing out, a password change or
switching the account off ends, so a copied cookie stops working at once.
"""

from __future__ import annotations

from flask import Flask, g, request, session
from flask_login import LoginManager

from hubcore.identity import accounts
from hubcore.identity.models import Account

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = "Sign in to see this page."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

SESSION_SECRET = "sid"  # the session cookie's key for the server-side session's secret
_HOW = "hubcore_authenticated_by"  # on g: "bearer" or "session", when someone is


@login_manager.user_loader
def load_user(user_id: str) -> Account | None:
    if bearer_header() is not None:
        return None  # the token alone decides (see load_user_from_bearer)
    try:
        account_id, epoch = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    account = accounts.account_for_session(account_id, session.get(SESSION_SECRET))
    if account is None or account.session_epoch != epoch:
        return None
    g.setdefault(_HOW, "session")
    return account


@login_manager.request_loader
def load_user_from_bearer(req) -> Account | None:
    secret = bearer_header()
    if not secret:
        return None
    account = accounts.account_for_token(secret)
    if account is not None:
        g.setdefault(_HOW, "bearer")
    return account


def bearer_header() -> str | None:
    """The credentials of an ``Authorization: Bearer`` header ("" when empty), or None."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, secret = header.strip().partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


@login_manager.unauthorized_handler
def unauthorised():
    from hubcore.errors import Unauthorised

    if request.path.startswith("/api/"):
        raise Unauthorised("Sign in, or send a bearer token from POST /api/v1/tokens.")
    from flask import flash, redirect, url_for

    flash(login_manager.login_message, "info")
    return redirect(url_for("web.login", next=request.full_path.rstrip("?")))


def bearer_authenticated() -> bool:
    """True when a valid bearer token authenticated this request (not merely sent one)."""
    from flask_login import current_user

    return bool(current_user.is_authenticated) and g.get(_HOW) == "bearer"


def init_app(app: Flask, settings) -> None:
    login_manager.init_app(app)

    @app.before_request
    def forget_previous_user():
        # Flask-Login caches the user on ``g``, which lives as long as the app
        # context; when one outlives a request (tests, embedding), the next
        # request must still identify its own caller.
        g.pop("_login_user", None)
        g.pop(_HOW, None)

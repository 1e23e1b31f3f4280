"""Who is asking: web sessions (Flask-Login) and API bearer tokens.

Sessions carry the account's ``session_epoch``, so bumping it signs the
account out everywhere; bearer tokens are looked up by hash on each request.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_login import LoginManager

from hubcore.db import db
from hubcore.identity import accounts
from hubcore.identity.models import Account

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = "Sign in to see this page."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> Account | None:
    try:
        account_id, epoch = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    account = db.session.get(Account, account_id)
    if account is None or account.session_epoch != epoch or not account.active:
        return None
    return account


@login_manager.request_loader
def load_user_from_bearer(req) -> Account | None:
    header = req.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return None
    return accounts.account_for_token(secret.strip())


@login_manager.unauthorized_handler
def unauthorised():
    from hubcore.errors import Unauthorised

    if request.path.startswith("/api/"):
        raise Unauthorised("Sign in, or send a bearer token from POST /api/v1/tokens.")
    from flask import flash, redirect, url_for

    flash(login_manager.login_message, "info")
    return redirect(url_for("web.login", next=request.full_path.rstrip("?")))


def bearer_authenticated() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def init_app(app: Flask, settings) -> None:
    login_manager.init_app(app)

    @app.before_request
    def forget_previous_user():
        # Flask-Login caches the user on ``g``, which lives as long as the app
        # context; when one outlives a request (tests, embedding), the next
        # request must still identify its own caller.
        g.pop("_login_user", None)

"""Pages of the web shell: home, sign in and out, account, error pages."""

from __future__ import annotations

import logging
from datetime import datetime
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hubcore.db import LONDON, db
from hubcore.errors import InvalidInput, Unauthorised
from hubcore.identity import accounts
from hubcore.plugins import collect
from hubcore.web import sessions
from hubcore.web.forms import ChangePasswordForm, LoginForm, show_domain_errors
from hubcore.web.redirects import safe_next
from hubcore.web.security import login_limit

web = Blueprint("web", __name__)
web.before_app_request(sessions.expire_if_old)
log = logging.getLogger(__name__)


@web.app_context_processor
def shell_context():
    pm = current_app.extensions["hubcore"].pm
    user = current_user if current_user.is_authenticated else None
    items = list(collect(pm, "hubcore_nav", user=user))  # a failing plugin's are left out
    missing = [item for item in items if item.endpoint not in current_app.view_functions]
    for item in missing:  # one bad menu entry must not break every page
        log.warning("menu entry %r points at unknown endpoint %r", item.label, item.endpoint)
        items.remove(item)
    items.sort(key=lambda item: (item.order, item.label))
    return {"nav_items": items, "service_name": "Hubcore"}


@web.app_template_filter("london")
def london_time(value: datetime | None) -> str:
    """Show a stored UTC time as people here read it: "2 November 2025 at 14:05"."""
    if value is None:
        return ""
    local = value.astimezone(LONDON)
    return f"{local.day} {local:%B %Y at %H:%M}"


def render_error_page(status: int, title: str, message: str):
    return render_template("error.html", title=title, message=message, status=status), status


@web.get("/")
def home():
    return render_template("home.html")


@web.route("/login", methods=["GET", "POST"])
@login_limit()
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            account = accounts.authenticate(form.email.data, form.password.data)
        except Unauthorised as exc:
            form.password.errors = list(form.password.errors) + [exc.message]
        else:
            sessions.start(account)
            db.session.commit()
            flash(f"Signed in as {account.name}.", "success")
            return redirect(_safe_next(request.args.get("next")))
    status = 200 if not form.errors else 422
    return render_template("login.html", form=form), status


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    return safe_next(target, url_for("web.home"))


@web.post("/logout")
@login_required
def logout():
    sessions.end()  # on the server too: a copy of the cookie no longer works
    db.session.commit()
    flash("You have signed out.", "success")
    return redirect(url_for("web.home"))


@web.get("/account")
@login_required
def account():
    tokens = accounts.tokens_of(current_user, active_only=True)
    return render_template("account.html", account=current_user, tokens=tokens)


@web.route("/account/password", methods=["GET", "POST"])
@login_required
@login_limit()  # it checks a password, so it is guarded like sign-in
def change_password():
    """Change the password; every other session of the account is signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        me = current_user._get_current_object()
        try:
            accounts.authenticate(me.email, form.current_password.data)
            accounts.set_password(me, form.new_password.data, actor=me)
        except Unauthorised:
            db.session.rollback()
            form.current_password.errors = ["Your current password is not right."]
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc, {"password": "new_password"})
        else:
            sessions.start(me)  # every session was ended: this browser gets a new one
            db.session.commit()
            flash("Your password has been changed. Any other devices have been signed out, "
                  "and your API tokens no longer work.",
                  "success")
            return redirect(url_for("web.account"))
    status = 200 if not form.errors else 422
    return render_template("change_password.html", form=form), status


@web.post("/account/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = accounts.revoke_token(current_user._get_current_object(), token_id)
    db.session.commit()
    flash(f"The token “{token.name}” is revoked: it no longer works.", "success")
    return redirect(url_for("web.account"))

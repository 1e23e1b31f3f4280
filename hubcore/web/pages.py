"""Pages of the web shell: home, sign in and out, account, error pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_required, login_user, logout_user

from hubcore.db import db
from hubcore.errors import Unauthorised
from hubcore.identity import accounts
from hubcore.web.forms import LoginForm
from hubcore.web.security import login_limit

web = Blueprint("web", __name__)


@web.app_context_processor
def shell_context():
    pm = current_app.extensions["hubcore"].pm
    user = current_user if current_user.is_authenticated else None
    items = [item for batch in pm.hook.hubcore_nav(user=user) for item in (batch or ())]
    items.sort(key=lambda item: (item.order, item.label))
    return {"nav_items": items, "service_name": "Hubcore"}


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
            db.session.commit()
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(account)
            session.permanent = True
            flash(f"Signed in as {account.name}.", "success")
            return redirect(_safe_next(request.args.get("next")))
    status = 200 if not form.errors else 422
    return render_template("login.html", form=form), status


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("web.home")


@web.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("web.home"))


@web.get("/account")
@login_required
def account():
    return render_template("account.html", account=current_user)

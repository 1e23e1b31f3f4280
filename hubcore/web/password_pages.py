"""Pages for setting a password from an emailed link: invitations and resets.

"Forgotten your password?" asks for an email address and always gives the
same answer, so the page cannot tell anyone which addresses have accounts;
the work that only a real account costs (the email, its audit, the hourly
limit per account) is done by a job enqueued once the answer has been sent,
so neither can the time it takes.
The link leads to a form for the new password; a link that is expired, used
or not right gets a page that says what to do instead.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for

from hubcore.db import db
from hubcore.errors import InvalidInput
from hubcore.identity import accounts
from hubcore.web.forms import ForgottenPasswordForm, SetPasswordForm, show_domain_errors
from hubcore.web.pages import web
from hubcore.web.security import login_limit, public_limit

LINK_PROBLEMS = {
    "link-invalid": (404, "This link does not work",
                     "The link is not right: it may not have been copied in full. Try "
                     "following it from the email again, or ask for a new link."),
    "link-expired": (410, "This link has expired",
                     "Links to set a password only work for a short time. Ask for a new "
                     "link below, and use it soon after it arrives."),
    "link-used": (410, "This link has already been used",
                  "Each link works only once, and a newer password or link replaces it. "
                  "If you have set your password, sign in. If not, ask for a new link below."),
}


@web.route("/password/forgotten", methods=["GET", "POST"])
@login_limit()  # it can send email to an address: guarded like a password check
def forgotten_password():
    form = ForgottenPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        db.session.commit()
        return redirect(url_for("web.forgotten_password_sent"))
    status = 200 if not form.errors else 422
    return render_template("password_forgotten.html", form=form), status


@web.get("/password/forgotten/sent")
def forgotten_password_sent():
    return render_template("password_forgotten_sent.html")


@web.route("/password/set/<token>", methods=["GET", "POST"])
@public_limit()
def set_password_from_link(token: str):
    try:
        account, purpose = accounts.check_password_link(token)
    except accounts.PasswordLinkError as exc:
        status, title, message = LINK_PROBLEMS.get(exc.code, LINK_PROBLEMS["link-invalid"])
        return _private(render_template("password_link_problem.html", title=title,
                                        message=message), status)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password_with_token(token, form.new_password.data)
        except accounts.PasswordLinkError:  # used in another tab a moment ago
            db.session.rollback()
            return redirect(url_for("web.set_password_from_link", token=token))
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc, {"password": "new_password"})
        else:
            db.session.commit()
            flash("Your password is set. Sign in with your email address and new password.",
                  "success")
            return redirect(url_for("web.login"))
    status = 200 if not form.errors else 422
    return _private(render_template("password_set.html", form=form, account=account,
                                    purpose=purpose), status)


def _private(body: str, status: int):
    """The token is in this page's URL: keep it out of caches and Referer headers."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

"""Web sign-in sessions: started fresh, recorded on the server, ended there.

Signing in records a session on the server (``accounts.start_session``) and
puts its secret in Flask's signed cookie; every request checks that session
is still live, so signing out (here), a password change, a reset or an
administrator switching the account off (``accounts.sign_out_everywhere``)
ends it at once: a copy of the cookie taken earlier no longer works.

A session lasts ``HUBCORE_SESSION_TTL_HOURS`` from sign-in however busy it
is (the server-side record's ``expires_at``, and the start time kept in the
cookie); the cookie also lapses when idle that long.
"""

from __future__ import annotations

import time

from flask import current_app, g, session
from flask_login import login_user, logout_user

from hubcore.db import db
from hubcore.identity import accounts
from hubcore.identity.auth import SESSION_SECRET

STARTED_AT = "signed_in_at"


def start(account) -> None:
    """Sign ``account`` in on a brand-new session (no fixation of an old one).

    Ends the session this browser had before, if any. Flushes the new
    session's record: the caller commits.
    """
    accounts.end_session(session.get(SESSION_SECRET))
    _clear()
    secret = accounts.start_session(account)
    login_user(account)
    session.permanent = True
    session[SESSION_SECRET] = secret
    session[STARTED_AT] = int(time.time())


def end() -> None:
    """Sign out: end this session on the server, then forget it in the cookie.

    The caller commits.
    """
    accounts.end_session(session.get(SESSION_SECRET))
    logout_user()
    _clear()


def _clear() -> None:
    session.clear()
    # A CSRF token made earlier for the old session (Flask-WTF keeps it on g) is void.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def expire_if_old() -> None:
    """Before each request: end a signed-in session older than the session lifetime."""
    if "_user_id" not in session:
        return
    started = session.get(STARTED_AT)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if isinstance(started, int) and time.time() - started < lifetime:
        return
    end()
    db.session.commit()

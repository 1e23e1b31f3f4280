"""Web sign-in sessions: started fresh, ended on request, expired after a fixed time.

Flask's signed cookie already expires when idle for ``HUBCORE_SESSION_TTL_HOURS``
(``PERMANENT_SESSION_LIFETIME``); the start time kept here also ends a busy
session that many hours after sign-in, so a stolen cookie cannot be kept
alive for ever. Bumping the account's ``session_epoch`` ends all of them.
"""

from __future__ import annotations

import time

from flask import current_app, g, session
from flask_login import login_user, logout_user

STARTED_AT = "signed_in_at"


def start(account) -> None:
    """Sign ``account`` in on a brand-new session (no fixation of an old one)."""
    _clear()
    login_user(account)
    session.permanent = True
    session[STARTED_AT] = int(time.time())


def end() -> None:
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

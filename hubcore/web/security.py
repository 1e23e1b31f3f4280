"""CSRF, rate limits and security headers for every response.

Forms are CSRF-protected (Flask-WTF). API calls authenticated by a valid
bearer token carry no ambient credentials (and then the session cookie is
not used at all), so they need no CSRF token; an API call that rides on a
browser session cookie does.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
])


def public_limit():
    """Rate limit for public forms and public creates (``HUBCORE_PUBLIC_RATE_LIMIT``)."""
    from flask import current_app

    return limiter.limit(lambda: current_app.extensions["hubcore"].settings.public_rate_limit)


def login_limit():
    """Rate limit for anything that checks a password (``HUBCORE_LOGIN_RATE_LIMIT``).

    One allowance per client address, shared by every route that checks a
    password (sign-in page, token API, change of password), so guesses cannot
    be spread over them. Only attempts count: showing a form (GET) does not.
    """
    from flask import current_app

    return limiter.shared_limit(
        lambda: current_app.extensions["hubcore"].settings.login_rate_limit,
        scope="password-checks", methods=["POST"])


def init_app(app: Flask, settings) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    storage = settings.rate_limit_storage_url or settings.redis_url or "memory://"
    app.config["RATELIMIT_STORAGE_URI"] = storage
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)

    @app.before_request
    def protect_against_csrf():
        # Flask-WTF caches the token on g, which lives as long as the app
        # context; when one outlives a request (tests, embedding), each request
        # must still get the token of its own session.
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
        if request.method not in UNSAFE_METHODS:
            return
        if request.path.startswith("/api/"):
            from hubcore.identity.auth import bearer_authenticated

            # Exempt: a call a real bearer token authenticated (such a call
            # never uses the session cookie), or one that uses no credentials.
            # A mere Authorization header proves nothing.
            if bearer_authenticated() or not current_user.is_authenticated:
                return
        csrf.protect()

    @app.errorhandler(CSRFError)
    def refuse_forged_form(exc: CSRFError):
        return _refusal(exc, "This form has expired",
                        "Nothing was saved. Go back, reload the page and try again.",
                        code="csrf-failed")

    @app.errorhandler(RateLimitExceeded)
    def refuse_too_many(exc: RateLimitExceeded):
        return _refusal(exc, "Too many attempts",
                        "You have tried too many times. Wait a minute, then try again.",
                        code="rate-limited")

    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if settings.production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/") or (
                current_user and getattr(current_user, "is_authenticated", False)):
            headers.setdefault("Cache-Control", "no-store")
        return response


def _refusal(exc: HTTPException, title: str, message: str, *, code: str):
    """A refused request: problem+json for the API, a plain-English page otherwise."""
    from hubcore.api import is_api_request, problem

    if is_api_request():
        return problem(exc.code, exc.name, exc.description or exc.name, code=code)
    from hubcore.web.pages import render_error_page

    return render_error_page(exc.code, title, message)

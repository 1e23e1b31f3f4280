"""Accounts, organisations, memberships and API tokens: the domain functions.

Shared by the API, the pages and the CLI. They flush, never commit: the
caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import redis
import sqlalchemy as sa
from flask import current_app, has_request_context, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import lazyload

from hubcore import audit, jobs, notify
from hubcore.audit import AuditEntry
from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.errors import Conflict, InvalidInput, NotFound, Unauthorised
from hubcore.identity import passwords
from hubcore.identity.models import (
    ORGANISATION_KINDS,
    Account,
    AccountSession,
    ApiToken,
    Membership,
    Organisation,
    OrganisationDistrict,
)
from hubcore.identity.permissions import registry

log = logging.getLogger(__name__)

TOKEN_PREFIX = "hc_"


def _settings():
    return current_app.extensions["hubcore"].settings


def _hasher():
    ext = current_app.extensions["hubcore"]
    if not hasattr(ext, "_hasher"):
        hasher = passwords.hasher_for(ext.settings)
        # Made once, with the app's own parameters, to check passwords against
        # when there is no real hash: an unknown address then costs what a
        # wrong password does (and never a fresh hash on top).
        ext._dummy_hash = hasher.hash(secrets.token_urlsafe(16))
        ext._hasher = hasher
    return ext._hasher


def _dummy_hash() -> str:
    _hasher()
    return current_app.extensions["hubcore"]._dummy_hash


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_account_by_email(email: str) -> Account | None:
    return db.session.execute(
        sa.select(Account).where(Account.email == normalise_email(email))
    ).scalar_one_or_none()


def create_account(*, email: str, name: str, password: str | None = None,
                   is_admin: bool = False, actor: Account | None = None) -> Account:
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise InvalidInput("Enter a valid email address.",
                           fields={"email": ["Enter an email address like name@example.org."]})
    if not name.strip():
        raise InvalidInput("Enter a name.", fields={"name": ["Enter a name."]})
    if find_account_by_email(email) is not None:
        raise Conflict("An account with this email address already exists.",
                       code="account-exists")
    account = Account(email=email, name=name.strip(), is_admin=is_admin,
                      password_hash=passwords.hash_password(_hasher(), password,
                                                            email=email, name=name)
                      if password else None)
    db.session.add(account)
    db.session.flush()
    audit.record("account.created", "account", account.id, actor=actor,
                 summary={"is_admin": is_admin})
    return account


def set_password(account: Account, password: str, *, actor: Account | None = None) -> None:
    """Set a new password; every session and API token of the account stops working.

    Used by a change of password, a reset and an invitation link alike. The
    caller starts a new session afterwards if the person should stay signed in.
    """
    account.password_hash = passwords.hash_password(
        _hasher(), password, email=account.email, name=account.name)
    audit.record("account.password_changed", "account", account.id, actor=actor or account)
    sign_out_everywhere(account, actor=actor or account, reason="password-changed")


def sign_out_everywhere(account: Account, *, actor: Account | None, reason: str) -> dict:
    """End every web session and revoke every API token of the account; audited.

    Also bumps ``session_epoch``, which voids outstanding password links and
    any session cookie made before server-side sessions. Returns the counts.
    """
    now = utcnow()
    account.session_epoch += 1
    sessions = db.session.execute(
        sa.update(AccountSession)
        .where(AccountSession.account_id == account.id, AccountSession.ended_at.is_(None))
        .values(ended_at=now).execution_options(synchronize_session=False)).rowcount
    tokens = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    audit.record("account.signed_out_everywhere", "account", account.id, actor=actor,
                 summary={"reason_code": reason, "sessions": sessions, "tokens": tokens})
    return {"sessions": sessions, "tokens": tokens}


def set_active(account: Account, active: bool, *, actor: Account) -> Account:
    """Switch an account off (every session and token ends at once) or on again.

    Switched on again, it signs in afresh: nothing that was ended comes back.
    Nobody may switch their own account off (that would lock the last
    administrator out).
    """
    if account.active == active:
        return account
    if not active and account.id == actor.id:
        raise Conflict("You cannot switch off your own account.", code="own-account")
    account.active = active
    db.session.flush()
    audit.record("account.switched_off" if not active else "account.switched_on",
                 "account", account.id, actor=actor)
    if not active:
        sign_out_everywhere(account, actor=actor, reason="switched-off")
    return account


# -- Web sessions, kept on the server -----------------------------------------------


def start_session(account: Account, *, now: datetime | None = None) -> str:
    """Record a new web session; return its secret, for the (signed) session cookie."""
    secret = secrets.token_urlsafe(32)
    now = now or utcnow()
    db.session.add(AccountSession(
        account_id=account.id, secret_hash=hash_token(secret), created_at=now,
        expires_at=now + timedelta(hours=_settings().session_ttl_hours)))
    db.session.flush()
    return secret


def account_for_session(account_id: int, secret: str | None,
                        now: datetime | None = None) -> Account | None:
    """The account of a live session: not ended, not expired, the account active."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return None
    now = now or utcnow()
    row = db.session.execute(
        sa.select(AccountSession).where(AccountSession.secret_hash == hash_token(secret))
    ).scalar_one_or_none()
    if (row is None or row.account_id != account_id or row.ended_at is not None
            or row.expires_at <= now):
        return None
    account = db.session.get(Account, account_id)
    return account if account is not None and account.active else None


def end_session(secret: str | None) -> None:
    """End one web session (signing out); unknown or ended sessions are left alone."""
    if not secret or not isinstance(secret, str):
        return
    db.session.execute(
        sa.update(AccountSession)
        .where(AccountSession.secret_hash == hash_token(secret),
               AccountSession.ended_at.is_(None))
        .values(ended_at=utcnow()).execution_options(synchronize_session=False))


def purge_sessions(now: datetime, keep: timedelta = timedelta(days=30)) -> int:
    """Delete session records ended or expired more than ``keep`` ago (the sweep)."""
    cutoff = now - keep
    return db.session.execute(
        sa.delete(AccountSession).where(sa.or_(AccountSession.expires_at < cutoff,
                                               AccountSession.ended_at < cutoff))
        .execution_options(synchronize_session=False)).rowcount


def authenticate(email: str, password: str) -> Account:
    """Return the account for these credentials or raise Unauthorised.

    Every failure costs the same one argon2 verification, whether the address
    is unknown, the account switched off or without a password yet, or the
    password wrong, so the time taken says nothing about which it was.
    """
    account = db.session.execute(
        sa.select(Account).where(Account.email == normalise_email(email or ""))
        .options(lazyload(Account.memberships))  # one query, found or not
    ).scalar_one_or_none()
    hasher = _hasher()
    usable = account is not None and account.active and bool(account.password_hash)
    stored = account.password_hash if usable else _dummy_hash()
    if not passwords.verify_password(hasher, stored, password or "") or not usable:
        raise Unauthorised("Email address or password is not right.", code="bad-credentials")
    if hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hasher.hash(password)
    account.last_login_at = utcnow()
    return account


def issue_token(account: Account, *, name: str = "api",
                ttl: timedelta | None = None) -> tuple[ApiToken, str]:
    """Create a bearer token; the secret is returned once and only its hash kept."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ttl = ttl or timedelta(hours=_settings().token_ttl_hours)
    token = ApiToken(account_id=account.id, name=name[:100] or "api",
                     token_hash=hash_token(secret), expires_at=utcnow() + ttl)
    db.session.add(token)
    db.session.flush()
    audit.record("token.issued", "api_token", token.id, actor=account,
                 summary={"name": token.name, "expires_at": token.expires_at.isoformat()})
    return token, secret


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_of(account: Account, *, active_only: bool = False) -> list[ApiToken]:
    """The account's tokens, newest first; ``active_only`` drops revoked and expired ones."""
    statement = sa.select(ApiToken).where(ApiToken.account_id == account.id)
    if active_only:
        statement = statement.where(ApiToken.revoked_at.is_(None),
                                    ApiToken.expires_at > utcnow())
    return list(db.session.execute(
        statement.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).scalars())


def account_for_token(secret: str, now: datetime | None = None) -> Account | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = now or utcnow()
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    if not token.account.active:
        return None
    return token.account


def revoke_token(account: Account, token_id: int) -> ApiToken:
    """Revoke one of the account's own tokens (administrators: anyone's)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.account_id != account.id and not account.is_admin):
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token.revoked", "api_token", token.id, actor=account)
    return token


def revoke_token_by_secret(secret: str, actor: Account) -> ApiToken:
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).scalar_one_or_none()
    if token is None:
        raise NotFound("No such token.")
    return revoke_token(actor, token.id)


# -- Password links: invitations and resets ---------------------------------------
#
# A link carries a signed token (itsdangerous, the app's secret key, a salt per
# purpose) naming the account, its session epoch and a fingerprint of its
# password hash. Nothing is stored: setting a password bumps the epoch and
# changes the hash, so a used link (and every other link issued before it)
# stops working, and so does one issued before a sign-out-everywhere.

PASSWORD_LINKS = {"invite": timedelta(hours=72), "reset": timedelta(hours=1)}
PASSWORD_LINK_ENDPOINT = "web.set_password_from_link"


class PasswordLinkError(InvalidInput):
    """A password link that cannot be used; ``code`` says why (invalid, expired, used)."""


def _link_serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"],
                                  salt=f"hubcore.password-link.{purpose}")


def _password_fingerprint(account: Account) -> str:
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()[:16]


def password_link_token(account: Account, purpose: str) -> str:
    """A token for a password link: valid until used, or for ``PASSWORD_LINKS[purpose]``."""
    return _link_serializer(purpose).dumps(
        {"a": account.id, "e": account.session_epoch, "p": _password_fingerprint(account)})


def password_link(account: Account, purpose: str) -> str:
    """The absolute URL of a fresh password link, on ``HUBCORE_PUBLIC_URL`` when set.

    Never built from a request's Host header in production (settings refuse to
    start without the public URL there), so a forged Host cannot redirect a link.
    """
    values = {"token": password_link_token(account, purpose)}
    base = _settings().public_url.rstrip("/")
    if not base and has_request_context():
        return url_for(PASSWORD_LINK_ENDPOINT, _external=True, **values)
    parts = urlsplit(base or "http://localhost:5000")
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/",
                                       url_scheme=parts.scheme)
    return adapter.build(PASSWORD_LINK_ENDPOINT, values, force_external=True)


def check_password_link(token: str, *, now: datetime | None = None) -> tuple[Account, str]:
    """Return the account and purpose of a usable link, or raise PasswordLinkError."""
    now = now or utcnow()
    for purpose, lifetime in PASSWORD_LINKS.items():
        try:
            payload, issued_at = _link_serializer(purpose).loads(
                token or "", return_timestamp=True)
        except BadSignature:
            continue
        break
    else:
        raise PasswordLinkError("This link is not right. It may not have been copied in full.",
                                code="link-invalid")
    if not isinstance(payload, dict) or not isinstance(payload.get("a"), int):
        raise PasswordLinkError("This link is not right.", code="link-invalid")
    if now - issued_at > lifetime:
        raise PasswordLinkError("This link has expired.", code="link-expired")
    account = db.session.get(Account, payload["a"])
    if (account is None or not account.active
            or payload.get("e") != account.session_epoch
            or payload.get("p") != _password_fingerprint(account)):
        raise PasswordLinkError("This link has already been used, or a newer one replaced it.",
                                code="link-used")
    return account, purpose


def invite_account(account: Account, *, actor: Account | None,
                   now: datetime | None = None, subject: str | None = None,
                   welcome: str | None = None, person_id: int | None = None) -> datetime:
    """Email a person an invitation to set the password of their new account.

    For accounts made without a password (by an administrator, or when a
    volunteer is activated). ``subject`` and ``welcome`` (the opening paragraph)
    let the caller make the invitation its one message to that person, rather
    than a second email; ``person_id`` ties the message to the person's record.
    Returns when the link expires.
    """
    if not account.active:
        raise Conflict("This account is switched off, so it cannot be invited.",
                       code="account-inactive")
    if account.password_hash:
        raise Conflict("This account already has a password. If it is forgotten, they can "
                       "use “Forgotten your password?” on the sign-in page.",
                       code="account-has-password")
    lifetime = PASSWORD_LINKS["invite"]
    expires_at = (now or utcnow()) + lifetime
    notify.queue_message(
        "email", account.email, subject or "Set your password for Hubcore",
        f"Hello {account.name},\n\n"
        f"{welcome or 'An account has been made for you on Hubcore.'} To start using it, set "
        f"your password by following this link:\n\n{password_link(account, 'invite')}\n\n"
        f"The link works once, for {int(lifetime.total_seconds() // 3600)} hours. If it has "
        "expired, use “Forgotten your password?” on the sign-in page to get a new one.\n\n"
        "If you were not expecting this email, you can ignore it.\n",
        person_id=person_id)
    audit.record("account.invited", "account", account.id, actor=actor,
                 summary={"expires_at": expires_at.isoformat()})
    return expires_at


RESET_SUBJECT = "Reset your Hubcore password"
RESET_JOB = "hubcore.identity.accounts.password_reset_job"
RESET_WINDOW = timedelta(hours=1)  # HUBCORE_RESET_EMAILS_PER_HOUR counts over this


def request_password_reset(email: str) -> None:
    """Start a reset for this address, doing the same work whether it has an account or not.

    The request only looks the address up (one query, whatever the answer);
    once the response has been sent, ``password_reset_job`` is enqueued with
    the account's id or None: the link, the outbox, the audit entries and the
    per-account limit, which only a real account costs, happen in the job.
    So the response takes the same time either way, with a worker
    (``HUBCORE_REDIS_URL``) and in the embedded mode too, where jobs run
    in-process (there the job then holds that process a moment longer; a
    worker removes even that). If the queue cannot be reached the reset is
    done in-process instead, so it is not lost. The caller answers the same
    way either way.
    """
    from hubcore.web.after_response import run_after_response

    account_id = db.session.execute(
        sa.select(Account.id).where(Account.email == normalise_email(email or ""),
                                    Account.active.is_(True))).scalar_one_or_none()
    run_after_response(lambda: _enqueue_password_reset(account_id))


def _enqueue_password_reset(account_id: int | None) -> None:
    try:
        jobs.enqueue(RESET_JOB, account_id)
    except redis.RedisError as exc:
        log.warning("could not enqueue a password reset (%s); sending it in-process",
                    type(exc).__name__)
        send_password_reset(account_id)
        db.session.commit()


def password_reset_job(account_id: int | None) -> str:
    """The job behind “Forgotten your password?”: send the link (or not), then commit."""
    outcome = send_password_reset(account_id)
    db.session.commit()
    return outcome


def send_password_reset(account_id: int | None, *, now: datetime | None = None) -> str:
    """Email a reset link to an active account, at most ``reset_emails_per_hour`` an hour.

    Returns "sent", "limited" (nothing sent, the refusal audited) or
    "no-account". The count is of this account's ``account.password_reset_sent``
    audit entries in the last hour: kept in the database, so it holds across
    processes and restarts. The account's row is locked first, so two requests
    at once cannot both take the last email of the hour.
    """
    if account_id is None:
        return "no-account"
    _lock_account_row(account_id)
    account = db.session.get(Account, account_id)
    if account is None or not account.active:
        return "no-account"
    now = now or utcnow()
    limit = _settings().reset_emails_per_hour
    sent = resets_sent_since(account, now - RESET_WINDOW)
    if sent >= limit:
        audit.record("account.password_reset_limited", "account", account.id, actor=None,
                     summary={"sent_in_window": sent, "limit": limit,
                              "window_minutes": int(RESET_WINDOW.total_seconds() // 60)})
        return "limited"
    lifetime = PASSWORD_LINKS["reset"]
    notify.queue_message(
        "email", account.email, RESET_SUBJECT,
        f"Hello {account.name},\n\n"
        "Someone asked to reset the password of your Hubcore account. To choose a new "
        f"password, follow this link:\n\n{password_link(account, 'reset')}\n\n"
        f"The link works once, for {int(lifetime.total_seconds() // 60)} minutes.\n\n"
        "If you did not ask for this, ignore this email: your password has not changed.\n")
    audit.record("account.password_reset_sent", "account", account.id, actor=None)
    return "sent"


def resets_sent_since(account: Account, since: datetime) -> int:
    """How many reset emails the account has been sent after ``since``."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_type == "account", AuditEntry.entity_id == str(account.id),
            AuditEntry.action == "account.password_reset_sent", AuditEntry.at > since)
    ).scalar_one()


def _lock_account_row(account_id: int) -> None:
    """Hold the account's row (SQLite: the write lock) until this transaction ends."""
    if db.session.get_bind().dialect.name == "sqlite":
        # pysqlite begins a transaction only for a write, and that takes the lock.
        db.session.execute(Account.__table__.update().where(sa.false())
                           .values(id=Account.__table__.c.id))
    else:
        db.session.execute(sa.select(Account.id).where(Account.id == account_id)
                           .with_for_update())


def set_password_with_token(token: str, password: str, *,
                            now: datetime | None = None) -> Account:
    """Set the password through a link; the link (and any older one) then stops working."""
    account, purpose = check_password_link(token, now=now)
    set_password(account, password, actor=account)
    audit.record("account.password_link_used", "account", account.id, actor=account,
                 summary={"purpose": purpose})
    return account


def create_organisation(*, name: str, kind: str, districts: list[str],
                        contact_email: str | None = None, contact_phone: str | None = None,
                        actor: Account | None = None) -> Organisation:
    problems: dict[str, list[str]] = {}
    if not name.strip():
        problems["name"] = ["Enter the organisation's name."]
    if kind not in ORGANISATION_KINDS:
        problems["kind"] = [f"Choose one of: {', '.join(ORGANISATION_KINDS)}."]
    unknown = [code for code in districts if packs.district(code) is None]
    if unknown:
        problems["districts"] = [f"Unknown district code: {', '.join(unknown)}."]
    if problems:
        raise InvalidInput("Check the organisation's details.", fields=problems)
    exists = db.session.execute(
        sa.select(Organisation.id).where(Organisation.name == name.strip())
    ).first()
    if exists:
        raise _name_taken()
    organisation = Organisation(
        name=name.strip(), kind=kind, contact_email=contact_email, contact_phone=contact_phone,
        districts=[OrganisationDistrict(district_code=code) for code in sorted(set(districts))],
    )
    db.session.add(organisation)
    db.session.flush()
    audit.record("organisation.created", "organisation", organisation.id, actor=actor,
                 summary={"kind": kind, "districts": sorted(set(districts))})
    return organisation


def update_organisation(organisation: Organisation, changes: dict, *,
                        actor: Account | None = None) -> Organisation:
    """Change an organisation; a name another organisation has is a Conflict (409)."""
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise InvalidInput("Check the organisation's details.",
                               fields={"name": ["Enter the organisation's name."]})
        taken = db.session.execute(sa.select(Organisation.id).where(
            Organisation.name == name, Organisation.id != organisation.id)).first()
        if taken:
            raise _name_taken()
        changes = {**changes, "name": name}
    if "districts" in changes:
        unknown = [code for code in changes["districts"] if packs.district(code) is None]
        if unknown:
            raise InvalidInput("Check the organisation's districts.",
                               fields={"districts": [f"Unknown district code: {', '.join(unknown)}."]})
        wanted = set(changes["districts"])
        organisation.districts = [d for d in organisation.districts if d.district_code in wanted]
        have = {d.district_code for d in organisation.districts}
        organisation.districts.extend(
            OrganisationDistrict(district_code=code) for code in sorted(wanted - have))
    for attr in ("name", "contact_email", "contact_phone"):
        if attr in changes:
            setattr(organisation, attr, changes[attr])
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # renamed at the same moment to the same name
        raise _name_taken() from None
    audit.record("organisation.updated", "organisation", organisation.id, actor=actor,
                 summary={"fields": sorted(changes)})
    return organisation


def _name_taken() -> Conflict:
    return Conflict("An organisation with this name already exists.", code="organisation-exists")


def add_membership(account: Account, organisation: Organisation, role: str, *,
                   actor: Account | None = None) -> Membership:
    if role not in registry().roles:
        raise InvalidInput("Unknown role.",
                           fields={"role": [f"Choose one of: {', '.join(registry().roles)}."]})
    for existing in account.memberships:
        if existing.organisation_id == organisation.id and existing.role == role:
            return existing
    membership = Membership(account=account, organisation=organisation, role=role)
    db.session.add(membership)
    db.session.flush()
    audit.record("membership.added", "account", account.id, actor=actor,
                 summary={"organisation_id": organisation.id, "role": role})
    return membership


def get_organisation(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("No such organisation.")
    return organisation

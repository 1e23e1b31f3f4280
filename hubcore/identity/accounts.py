"""Accounts, organisations, memberships and API tokens: the domain functions.

Shared by the API, the pages and the CLI. They flush, never commit: the
caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.errors import Conflict, InvalidInput, NotFound, Unauthorised
from hubcore.identity import passwords
from hubcore.identity.models import (
    ORGANISATION_KINDS,
    Account,
    ApiToken,
    Membership,
    Organisation,
    OrganisationDistrict,
)
from hubcore.identity.permissions import registry

TOKEN_PREFIX = "hc_"


def _settings():
    return current_app.extensions["hubcore"].settings


def _hasher():
    ext = current_app.extensions["hubcore"]
    if not hasattr(ext, "_hasher"):
        ext._hasher = passwords.hasher_for(ext.settings)
    return ext._hasher


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
                      password_hash=passwords.hash_password(_hasher(), password)
                      if password else None)
    db.session.add(account)
    db.session.flush()
    audit.record("account.created", "account", account.id, actor=actor,
                 summary={"is_admin": is_admin})
    return account


def set_password(account: Account, password: str, *, actor: Account | None = None) -> None:
    account.password_hash = passwords.hash_password(_hasher(), password)
    account.session_epoch += 1  # signs the account out of every other session
    audit.record("account.password_changed", "account", account.id, actor=actor or account)


# One dummy hash so an unknown email costs as much as a wrong password.
_DUMMY_HASH: dict[str, str] = {}


def authenticate(email: str, password: str) -> Account:
    """Return the account for these credentials or raise Unauthorised."""
    account = find_account_by_email(email or "")
    hasher = _hasher()
    if account is None or not account.active:
        dummy = _DUMMY_HASH.setdefault("hash", hasher.hash("not-a-real-password"))
        passwords.verify_password(hasher, dummy, password or "")
        raise Unauthorised("Email address or password is not right.", code="bad-credentials")
    if not passwords.verify_password(hasher, account.password_hash, password or ""):
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
        raise Conflict("An organisation with this name already exists.",
                       code="organisation-exists")
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
    db.session.flush()
    audit.record("organisation.updated", "organisation", organisation.id, actor=actor,
                 summary={"fields": sorted(changes)})
    return organisation


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

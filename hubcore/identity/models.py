"""Accounts, organisations, memberships, API tokens, people and consent."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hubcore.db import UTCDateTime, db, utcnow

ORGANISATION_KINDS = (
    "hub",
    "vcse",
    "faith_group",
    "council_team",
    "community_foundation",
    "funder",
)

CONSENT_METHODS = ("online", "verbal", "written")


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    districts: Mapped[list[OrganisationDistrict]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )
    memberships: Mapped[list[Membership]] = relationship(back_populates="organisation")

    __mapper_args__ = {"version_id_col": version}

    @property
    def district_codes(self) -> list[str]:
        return sorted(d.district_code for d in self.districts)


class OrganisationDistrict(db.Model):
    """A district an organisation serves; it gives its members their scope."""

    __tablename__ = "organisation_districts"

    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    district_code: Mapped[str] = mapped_column(sa.String(9), primary_key=True)

    organisation: Mapped[Organisation] = relationship(back_populates="districts")


class Account(UserMixin, db.Model):
    """Someone who signs in: staff, partners, volunteers. Residents need none."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped to sign the account out everywhere (password change, revocation).
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: the epoch revokes old sessions
        return f"{self.id}:{self.session_epoch}"


class Membership(db.Model):
    """An account holds a role through an organisation (and its districts)."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("account_id", "organisation_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(
        back_populates="memberships", lazy="joined"
    )


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a leaked table is useless."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(lazy="joined")


class AccountSession(db.Model):
    """A signed-in web session, known on the server so that it can be ended there.

    The browser's (signed) cookie carries a random secret; only its SHA-256 is
    kept. A session works while it is not ended and not past ``expires_at``:
    signing out ends it, and a password change, a reset or switching the
    account off ends every session of the account, so a copied cookie stops
    working at once rather than when it would have expired.
    """

    __tablename__ = "account_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Person(db.Model):
    """A resident a case is about: one record shared by every plugin.

    Contact details are stored normalised, and the ``*_key`` columns hold the
    forms used to spot the same person or household (never to merge silently).
    """

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    address: Mapped[str | None] = mapped_column(sa.String(300))
    postcode: Mapped[str | None] = mapped_column(sa.String(8), index=True)
    district_code: Mapped[str | None] = mapped_column(sa.String(9), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    date_of_birth: Mapped[date | None]
    name_key: Mapped[str] = mapped_column(sa.String(200), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a coordinator merged this record into another (the survivor):
    # the row stays so that its id still resolves, emptied of personal data.
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    version: Mapped[int] = mapped_column(default=1)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Consent.id"
    )

    __table_args__ = (
        # One person per normalised name and phone, and per name and email: two
        # intakes of the same person at the same moment find one record (the
        # second INSERT does nothing and finds the first). Erased and merged
        # records hold no phone or email, so they never collide.
        sa.Index("uq_people_name_phone", "name_key", "phone", unique=True,
                 sqlite_where=sa.text("phone IS NOT NULL"),
                 postgresql_where=sa.text("phone IS NOT NULL")),
        sa.Index("uq_people_name_email", "name_key", "email", unique=True,
                 sqlite_where=sa.text("email IS NOT NULL"),
                 postgresql_where=sa.text("email IS NOT NULL")),
    )
    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Consent(db.Model):
    """What a person agreed to: purpose, who may see, how and when given.

    Consent is withdrawn by setting ``withdrawn_at``, never by deleting the
    record, so the history of what was allowed when is kept.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(100))
    scope: Mapped[str] = mapped_column(sa.String(300))  # who may see it
    method: Mapped[str] = mapped_column(sa.String(20))  # online | verbal | written
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL")
    )
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL")
    )

    person: Mapped[Person] = relationship(back_populates="consents")
    recorded_by: Mapped[Account | None] = relationship(foreign_keys=[recorded_by_id])

    def active_at(self, when: datetime) -> bool:
        if self.withdrawn_at is not None and self.withdrawn_at <= when:
            return False
        return self.expires_at is None or self.expires_at > when

"""The volunteering plugin's tables: volunteers, offers, assignments (with hours).

Names carry the plugin's prefix. Mutable records have a ``version`` column
for optimistic concurrency (ETag / If-Match, and lost updates refused).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hubcore.db import UTCDateTime, db, utcnow

SKILLS = ("driving", "shopping", "prescription_collection", "befriending", "dog_walking",
          "practical_tasks", "admin", "languages")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PARTS = ("morning", "afternoon", "evening")
SLOTS = tuple(f"{day}_{part}" for day in DAYS for part in PARTS)
DBS_LEVELS = ("none", "basic", "enhanced")  # enhanced: with the adults' barred list
STATUSES = ("applied", "active", "paused", "left")
OFFER_STATUSES = ("offered", "accepted", "declined", "expired", "withdrawn")
ASSIGNMENT_STATUSES = ("active", "completed", "released")
DEFAULT_WEEKLY_CAP = 3


class Volunteer(db.Model):
    """Someone who signed up to help; their postcode sends them to a district.

    ``account_id`` links the sign-in account made when a coordinator activates
    them; ``person_id`` the core person record that holds their consent.
    ``updated_at`` moves on every change: the matching index refreshes from it.
    """

    __tablename__ = "volunteering_volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100), default="")
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    postcode: Mapped[str | None] = mapped_column(sa.String(8))
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    skills: Mapped[list] = mapped_column(sa.JSON, default=list)
    languages: Mapped[list] = mapped_column(sa.JSON, default=list)
    availability: Mapped[list] = mapped_column(sa.JSON, default=list)
    max_travel_km: Mapped[float] = mapped_column(default=5.0)
    has_car: Mapped[bool] = mapped_column(default=False)
    dbs_level: Mapped[str] = mapped_column(sa.String(10), default="none")
    dbs_certificate_number: Mapped[str | None] = mapped_column(sa.String(20))
    dbs_issue_date: Mapped[date | None]
    dbs_verified_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    dbs_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default="applied", index=True)
    weekly_cap: Mapped[int] = mapped_column(default=DEFAULT_WEEKLY_CAP)
    account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"), unique=True)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    consent_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 index=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Offer(db.Model):
    """A task offered to one volunteer until it is answered or expires.

    ``task`` is the snapshot of the hubcore.values.Task it was made for, so
    that the next candidate can be found and the owner told, without reading
    another plugin's tables.
    """

    __tablename__ = "volunteering_offers"
    __table_args__ = (sa.Index("ix_volunteering_offers_task", "task_owner", "task_owner_id"),
                      sa.Index("ix_volunteering_offers_due", "status", "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_owner: Mapped[str] = mapped_column(sa.String(40))
    task_owner_id: Mapped[str] = mapped_column(sa.String(60))
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)
    task: Mapped[dict] = mapped_column(sa.JSON)
    volunteer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("volunteering_volunteers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="offered")
    score: Mapped[float] = mapped_column(default=0.0)
    overflow: Mapped[bool] = mapped_column(default=False)
    offered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    volunteer: Mapped[Volunteer] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class Assignment(db.Model):
    """A task a volunteer took, and the hours they logged on completing it.

    ``active_key`` ("owner:id") is set while the assignment is active and is
    unique: a task can be held by one volunteer only, whoever clicks first.
    """

    __tablename__ = "volunteering_assignments"
    __table_args__ = (sa.Index("ix_volunteering_assignments_task", "task_owner",
                               "task_owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    active_key: Mapped[str | None] = mapped_column(sa.String(110), unique=True)
    task_owner: Mapped[str] = mapped_column(sa.String(40))
    task_owner_id: Mapped[str] = mapped_column(sa.String(60))
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)
    task: Mapped[dict] = mapped_column(sa.JSON)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    volunteer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("volunteering_volunteers.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("volunteering_offers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(10), default="active")
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    hours: Mapped[float | None]
    release_reason: Mapped[str | None] = mapped_column(sa.String(500))
    version: Mapped[int] = mapped_column(default=1)

    volunteer: Mapped[Volunteer] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

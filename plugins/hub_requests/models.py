"""The hub requests plugin's tables: requests, case notes, calls, status history.

A request points at the core's shared person (``people.id``) and never copies
contact details; the postcode of that person set its district. Mutable
records carry a ``version`` (optimistic concurrency, the API's ETag).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hubcore.db import UTCDateTime, db, utcnow

# The vocabulary of a request: code -> words a resident reads.
NEEDS = {
    "food": "Food",
    "medication": "Medication or prescription collection",
    "essential_shopping": "Essential shopping",
    "befriending": "Someone to talk to (befriending)",
    "practical_task": "A practical task",
    "advice": "Advice",
    "financial_hardship": "Money worries (financial hardship)",
    "other": "Something else",
}
CIRCUMSTANCES = {
    "shielding": "Shielding or clinically vulnerable",
    "lives_alone": "Lives alone",
    "no_one_else": "No one else can help",
    "disability": "Has a disability",
    "mental_health_crisis": "In a mental-health crisis",
    "aged_70_plus": "Aged 70 or over",
    "children_in_household": "Children in the household",
    "no_food": "No food in the house",
}
URGENCIES = {
    "today": "Today",
    "few_days": "In the next few days",
    "this_week": "This week",
    "not_urgent": "It is not urgent",
}
CHANNELS = ("web", "api", "phone")
RECURRENCES = {"none": 0, "weekly": 7, "fortnightly": 14}  # days between occurrences
PRIORITIES = ("P1", "P2", "P3", "P4")

STATUSES = ("new", "triaged", "matched", "assigned", "in_progress", "completed", "closed",
            "cancelled")
FINISHED = frozenset({"completed", "closed", "cancelled"})
OPEN = tuple(s for s in STATUSES if s not in FINISHED)
# Open and not yet taken on by a helper: these can be overdue (and are escalated).
AWAITING = ("new", "triaged", "matched")
DUPLICATE_STATES = ("suspected", "confirmed", "dismissed")
CALL_OUTCOMES = {
    "reached": "Reached",
    "voicemail": "Left a voicemail",
    "no_answer": "No answer",
    "wrong_number": "Wrong number",
    "refused": "Refused help",
}

# What came of it, recorded by the coordinator once a request is finished.
OUTCOMES = {
    "met": "The need was met",
    "partly_met": "The need was partly met",
    "not_met": "The need was not met",
    "resolved_elsewhere": "Resolved elsewhere (referred or helped by someone else)",
}

DESCRIPTION_MAX = 2000
REASON_MAX = 500
NOTE_MAX = 4000


class HelpRequest(db.Model):
    """One person's request for help, from intake to its end.

    ``priority``/``score``/``due_at``/``reason`` come from the triage rules
    named by ``rules_version``; a coordinator's override keeps its reason in
    ``priority_override_reason``. ``closed_at`` (set when the request is
    completed, closed or cancelled) starts the retention clock.
    """

    __tablename__ = "hub_requests_requests"
    __table_args__ = (
        # The queue's filter, order and counts, read from the index alone.
        sa.Index("ix_hub_requests_requests_queue", "district_code", "status", "priority",
                 "due_at", "escalated", "duplicate_state", "score", "created_at"),
        # Few requests are shared as overflow: index only those.
        sa.Index("ix_hub_requests_requests_overflow", "overflow_district_code", "status",
                 sqlite_where=sa.text("overflow_district_code IS NOT NULL"),
                 postgresql_where=sa.text("overflow_district_code IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(12), unique=True)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    district_code: Mapped[str] = mapped_column(sa.String(9))  # first in the queue index
    # A neighbouring district explicitly given a share of this request (overflow).
    overflow_district_code: Mapped[str | None] = mapped_column(sa.String(9))
    needs: Mapped[list] = mapped_column(sa.JSON)
    circumstances: Mapped[list] = mapped_column(sa.JSON)
    urgency: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    recurrence: Mapped[str] = mapped_column(sa.String(20), default="none")
    follows_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hub_requests_requests.id", ondelete="SET NULL"), unique=True)

    priority: Mapped[str] = mapped_column(sa.String(2))
    score: Mapped[int]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX))
    rules_version: Mapped[str] = mapped_column(sa.String(40))
    priority_override_reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))

    status: Mapped[str] = mapped_column(sa.String(20), default="new", index=True)
    status_reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))
    escalated: Mapped[bool] = mapped_column(default=False)
    escalation_reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))

    duplicate_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hub_requests_requests.id", ondelete="SET NULL"), index=True)
    duplicate_state: Mapped[str | None] = mapped_column(sa.String(20))
    duplicate_reason: Mapped[str | None] = mapped_column(sa.String(200))

    # Contact details given with this request that differ from the person's
    # record (postcode, address, phone, email; with the place of the postcode).
    # Intake never changes a stored person; a coordinator checks and applies them.
    given_details: Mapped[dict | None] = mapped_column(sa.JSON)

    channel: Mapped[str] = mapped_column(sa.String(10))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    taken_by_id: Mapped[int | None] = mapped_column(  # who took the phone call
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    helper_id: Mapped[str | None] = mapped_column(sa.String(60))
    helper_name: Mapped[str | None] = mapped_column(sa.String(200))
    hours: Mapped[float | None]

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    person = relationship("Person", lazy="joined")
    duplicate_of: Mapped[HelpRequest | None] = relationship(
        remote_side=[id], foreign_keys=[duplicate_of_id])
    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
        order_by="CaseNote.id")
    calls: Mapped[list[CallAttempt]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
        order_by="CallAttempt.id")
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
        order_by="StatusChange.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED

    def is_overdue(self, now: datetime) -> bool:
        """Past its due time and nobody has taken it on yet."""
        return self.status in AWAITING and self.due_at < now

    def visible_districts(self) -> tuple[str, ...]:
        """Its own district, and the neighbour it was shared with as overflow."""
        return tuple(d for d in (self.district_code, self.overflow_district_code) if d)


class CaseNote(db.Model):
    """What a coordinator wrote down about a request; never edited."""

    __tablename__ = "hub_requests_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hub_requests_requests.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[HelpRequest] = relationship(back_populates="notes")
    author = relationship("Account", lazy="joined")


class CallAttempt(db.Model):
    """One call to or from the person, and how it went."""

    __tablename__ = "hub_requests_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hub_requests_requests.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[HelpRequest] = relationship(back_populates="calls")
    caller = relationship("Account", lazy="joined")


class StatusChange(db.Model):
    """One step of a request's lifecycle: from, to, why, who, when."""

    __tablename__ = "hub_requests_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hub_requests_requests.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[HelpRequest] = relationship(back_populates="history")
    actor = relationship("Account", lazy="joined")

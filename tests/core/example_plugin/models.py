"""The example plugin's one table; its name carries the plugin's prefix."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hubcore.db import UTCDateTime, db, utcnow

STATUSES = ("open", "assigned", "completed")


class ExampleNote(db.Model):
    """A piece of work a hub notes down; it is also a task helpers can take.

    ``person_id`` links the core person it is about (subject access and
    erasure find it there); ``closed_at`` starts the retention clock.
    """

    __tablename__ = "example_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    helper_id: Mapped[str | None] = mapped_column(sa.String(60))
    hours: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

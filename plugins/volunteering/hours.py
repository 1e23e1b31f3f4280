"""Hours: what volunteers gave, by district and volunteer, and who is over- or under-used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from hubcore.db import db

from .models import Assignment, Volunteer
from .vetting import volunteers_in


@dataclass(frozen=True)
class VolunteerHours:
    volunteer_id: int
    name: str
    district: str
    status: str
    tasks: int
    hours: float
    tasks_this_week: int
    weekly_cap: int

    @property
    def use(self) -> str:
        """over: at their weekly limit; under: active with nothing in the period."""
        if self.tasks_this_week >= self.weekly_cap:
            return "over"
        if self.status == "active" and self.tasks == 0:
            return "under"
        return "usual"


@dataclass(frozen=True)
class HoursReport:
    since: datetime
    districts: dict[str, float]
    volunteers: list[VolunteerHours]


def hours_report(districts, *, since: datetime, now: datetime) -> HoursReport:
    """Hours logged on tasks completed since ``since`` in ``districts``."""
    week_ago = now - timedelta(days=7)
    in_scope = volunteers_in(districts).where(Volunteer.status.in_(("active", "paused")))
    volunteers = db.session.execute(in_scope).scalars().all()
    ids = [v.id for v in volunteers]
    done: dict[int, tuple[int, float]] = {}
    week: dict[int, int] = {}
    if ids:
        for vid, tasks, hours in db.session.execute(
                sa.select(Assignment.volunteer_id, sa.func.count(),
                          sa.func.coalesce(sa.func.sum(Assignment.hours), 0.0))
                .where(Assignment.volunteer_id.in_(ids), Assignment.status == "completed",
                       Assignment.finished_at >= since)
                .group_by(Assignment.volunteer_id)):
            done[vid] = (tasks, float(hours))
        for vid, tasks in db.session.execute(
                sa.select(Assignment.volunteer_id, sa.func.count())
                .where(Assignment.volunteer_id.in_(ids), Assignment.status != "released",
                       Assignment.assigned_at >= week_ago)
                .group_by(Assignment.volunteer_id)):
            week[vid] = tasks
    rows = [VolunteerHours(v.id, v.name, v.district_code, v.status, done.get(v.id, (0, 0.0))[0],
                           round(done.get(v.id, (0, 0.0))[1], 2), week.get(v.id, 0),
                           v.weekly_cap) for v in volunteers]
    by_district: dict[str, float] = {}
    for row in rows:
        by_district[row.district] = round(by_district.get(row.district, 0.0) + row.hours, 2)
    rows.sort(key=lambda r: (-r.hours, r.volunteer_id))
    return HoursReport(since=since, districts=by_district, volunteers=rows)

"""The triage queue of a district: open requests, most urgent first.

The order is the effective score (triage score + points for waiting, capped,
+ points when escalated), computed by the database at query time from
``created_at``, so the order is always current and nothing starves.

A district's queue is its own requests plus those a neighbour shared with it
as overflow. The two are read as two branches of a ``UNION ALL`` (never one
``OR``), so each uses its index and the queue index covers the filter, the
order and the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hubcore.api import Page, paginate
from hubcore.db import db
from hubcore.identity.permissions import ALL_DISTRICTS

from . import triage
from .models import AWAITING, OPEN, PRIORITIES, HelpRequest


def effective_score_expression(now: datetime, rules: triage.TriageRules | None = None):
    """SQL for ``triage.effective_score``: the same sum, on SQLite and PostgreSQL."""
    rules = rules or triage.current_rules()
    age_hours = (sa.literal(now.timestamp(), sa.Float)
                 - sa.cast(sa.extract("epoch", HelpRequest.created_at), sa.Float)) / 3600.0
    earned = age_hours * rules.waiting_points_per_hour
    waiting = sa.case((earned > rules.waiting_max_points, rules.waiting_max_points),
                      (earned < 0, 0.0), else_=earned)
    escalation = sa.case((HelpRequest.escalated.is_(True), rules.escalated_points), else_=0)
    return HelpRequest.score + waiting + escalation


def _scopes(districts, district: str | None) -> list:
    """One WHERE clause per branch: own requests, then overflow shared with the districts."""
    codes = [district] if district else (None if districts is ALL_DISTRICTS
                                         else sorted(districts))
    if codes is None:
        return [sa.true()]
    return [HelpRequest.district_code.in_(codes),
            sa.and_(HelpRequest.overflow_district_code.in_(codes),
                    HelpRequest.district_code.not_in(codes))]


def _filters(now: datetime, *, status: str | None, overdue: bool | None,
             priority: str | None, reference: str | None) -> list:
    """Without a ``status`` only open requests are listed (the working queue)."""
    where = [HelpRequest.status == status if status else HelpRequest.status.in_(OPEN)]
    if overdue is True:
        where += [HelpRequest.due_at < now, HelpRequest.status.in_(AWAITING)]
    elif overdue is False:
        where.append(sa.or_(HelpRequest.due_at >= now, HelpRequest.status.not_in(AWAITING)))
    if priority:
        where.append(HelpRequest.priority == priority)
    if reference:
        where.append(HelpRequest.reference == reference.strip().upper())
    return where


def queue_statement(districts, *, now: datetime, district: str | None = None,
                    status: str | None = None, overdue: bool | None = None,
                    priority: str | None = None, reference: str | None = None) -> sa.Select:
    """Ids of the requests visible in ``districts``, filtered, most urgent first.

    The caller has checked that ``district`` (if given) is one it may see.
    """
    where = _filters(now, status=status, overdue=overdue, priority=priority,
                     reference=reference)
    score = effective_score_expression(now)
    branches = [sa.select(HelpRequest.id.label("id"), score.label("effective_score"),
                          HelpRequest.created_at.label("created_at")).where(scope, *where)
                for scope in _scopes(districts, district)]
    rows = (branches[0] if len(branches) == 1 else sa.union_all(*branches)).subquery("queue")
    return sa.select(rows.c.id).order_by(rows.c.effective_score.desc(), rows.c.created_at,
                                         rows.c.id)


def queue_page(statement: sa.Select, *, page: int, per_page: int) -> Page:
    """One page of a queue: the order is found on ids, then only the page's rows are loaded."""
    return paginate(statement, {"page": page, "per_page": per_page}, rows=_requests_in_order)


def _requests_in_order(ids: list[int]) -> list[HelpRequest]:
    loaded = {r.id: r for r in db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.id.in_(ids))).scalars()}
    return [loaded[i] for i in ids if i in loaded]


@dataclass(frozen=True)
class QueueCounts:
    open: int
    overdue: int
    escalated: int
    duplicates: int
    by_priority: dict[str, int]


def queue_counts(districts, *, now: datetime, district: str | None = None) -> QueueCounts:
    """How many open requests, overdue, escalated, suspected duplicates, per priority."""
    by_priority = dict.fromkeys(PRIORITIES, 0)
    overdue = escalated = duplicates = 0
    for scope in _scopes(districts, district):
        rows = db.session.execute(
            sa.select(
                HelpRequest.priority,
                sa.func.count(),
                sa.func.count().filter(HelpRequest.due_at < now,
                                       HelpRequest.status.in_(AWAITING)),
                sa.func.count().filter(HelpRequest.escalated.is_(True)),
                sa.func.count().filter(HelpRequest.duplicate_state == "suspected"),
            ).where(scope, HelpRequest.status.in_(OPEN)).group_by(HelpRequest.priority)
        ).all()
        for priority, total, late, raised, doubled in rows:
            by_priority[priority] = by_priority.get(priority, 0) + total
            overdue, escalated, duplicates = (overdue + late, escalated + raised,
                                              duplicates + doubled)
    return QueueCounts(open=sum(by_priority.values()), overdue=overdue, escalated=escalated,
                       duplicates=duplicates, by_priority=by_priority)

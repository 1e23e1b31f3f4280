"""Two submits of one household at the same moment: the sweep flags the later one."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry, verify_chain
from hubcore.db import utcnow
from hubcore.jobs import sweep
from plugins.hub_requests import intake, lifecycle
from plugins.hub_requests.models import HelpRequest


@pytest.fixture
def simultaneous(monkeypatch, submit):
    """Submit as if each intake ran before the other committed: neither sees the other."""

    def factory(**fields):
        with monkeypatch.context() as patch:
            patch.setattr(intake, "find_duplicate", lambda *args, **kwargs: None)
            return submit(**fields)

    return factory


def test_the_later_of_two_simultaneous_requests_is_flagged_by_the_sweep(app, db, simultaneous):
    now = utcnow()
    edna = {"given_name": "Edna", "family_name": "Sharples", "email": "edna@example.org"}
    first = simultaneous(now=now - timedelta(seconds=2), **edna)
    second = simultaneous(now=now - timedelta(seconds=1), **edna)
    assert first.duplicate_state is None and second.duplicate_state is None

    assert sweep(now).get("help_requests_late_duplicates") == 1
    db.session.commit()
    assert (second.duplicate_of_id, second.duplicate_state) == (first.id, "suspected")
    assert second.duplicate_reason == "same person"
    assert first.duplicate_state is None  # the earlier stays the original
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "hub_requests.request.duplicate_flagged")).scalar_one()
    assert entry.entity_id == str(second.id)
    assert verify_chain().ok


def test_a_second_sweep_flags_nothing_more(app, db, simultaneous):
    now = utcnow()
    simultaneous(now=now - timedelta(seconds=2))
    simultaneous(now=now - timedelta(seconds=1))
    assert sweep(now).get("help_requests_late_duplicates") == 1
    db.session.commit()
    assert "help_requests_late_duplicates" not in sweep(now)


def test_a_dismissed_duplicate_is_not_flagged_again(app, db, simultaneous, submit):
    now = utcnow()
    first = submit(now=now - timedelta(seconds=3))
    second = submit(now=now - timedelta(seconds=2))  # flagged at intake
    assert second.duplicate_of_id == first.id
    lifecycle.dismiss_duplicate(second, actor=None, reason="A different need this time.")
    db.session.commit()
    assert "help_requests_late_duplicates" not in sweep(now)
    assert second.duplicate_state == "dismissed"


def test_other_needs_or_other_households_are_left_alone(app, db, simultaneous):
    now = utcnow()
    simultaneous(now=now - timedelta(seconds=3), needs=["food"])
    simultaneous(now=now - timedelta(seconds=2), needs=["befriending"])
    simultaneous(now=now - timedelta(seconds=1), given_name="Someone", family_name="Else",
                 email="someone.else@example.org", phone="", postcode="WN1 1AA")
    assert "help_requests_late_duplicates" not in sweep(now)


def test_requests_older_than_the_window_are_not_looked_at_again(app, db, simultaneous):
    now = utcnow()
    simultaneous(now=now - intake.LATE_DUPLICATE_WINDOW - timedelta(minutes=2))
    simultaneous(now=now - intake.LATE_DUPLICATE_WINDOW - timedelta(minutes=1))
    assert "help_requests_late_duplicates" not in sweep(now)


def test_the_next_occurrence_of_a_recurring_need_is_not_taken_for_a_duplicate(
        app, db, submit):
    """A weekly shop made again by the sweep is the same need on purpose."""
    now = utcnow()
    edna = {"given_name": "Edna", "family_name": "Sharples", "email": "edna@example.org"}
    weekly = submit(now=now - timedelta(days=8), needs=["food"], recurrence="weekly", **edna)
    for status in ("triaged", "assigned", "completed"):
        lifecycle.transition(weekly, status, actor=None)
    other = submit(now=now - timedelta(minutes=1), needs=["food"], **edna)
    db.session.commit()
    done = sweep(now)
    db.session.commit()
    assert done.get("help_requests_repeated") == 1
    following = db.session.execute(sa.select(HelpRequest).where(
        HelpRequest.follows_id == weekly.id)).scalar_one()
    assert following.duplicate_state is None
    assert "help_requests_late_duplicates" not in done
    assert other.id  # the other request is there, and was checked at its own intake

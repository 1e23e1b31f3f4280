"""The retention period comes from the settings (``extra["hub_requests_retention_days"]``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore.db import utcnow
from plugins.hub_requests import data_protection, lifecycle
from plugins.hub_requests.models import HelpRequest


@pytest.fixture
def app_settings():
    return {"extra": {"hub_requests_retention_days": 30}}


def test_a_shorter_retention_period_purges_sooner(app, db, submit):
    request = submit()
    lifecycle.transition(request, "cancelled", actor=None)
    db.session.commit()
    [rule] = [r for batch in app.extensions["hubcore"].pm.hook.retention_rules()
              for r in batch or () if r.record == "help request"]
    assert rule.keep_days == 30
    assert data_protection.purge_finished(utcnow() + timedelta(days=29)) == 0
    assert data_protection.purge_finished(utcnow() + timedelta(days=31)) == 1
    assert db.session.execute(sa.select(HelpRequest)).first() is None

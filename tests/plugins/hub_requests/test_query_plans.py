"""Intake's lookups stay index lookups as the queue grows (SQLite's plan, checked).

One OR across the person's phone, email and postcode once made SQLite walk
every open request on each intake: a cost that grows with the queue and that
a small test database never shows. These read the plan SQLite chooses.
"""

from __future__ import annotations

import re

import pytest

from hubcore.identity import people
from plugins.hub_requests import intake


pytestmark = pytest.mark.requires("sqlite")

def plan(db, statement) -> list[str]:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plan")
    sql = str(statement.compile(db.engine))
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "('new', 'triaged')", sql)
    cursor = db.session.connection().connection.driver_connection.cursor()
    return [row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql,
                                             ("x",) * sql.count("?"))]


def test_the_duplicate_check_reads_the_households_requests_only(app, db):
    steps = plan(db, intake._OPEN_OF_HOUSEHOLD)
    assert any("hub_requests_requests USING INDEX ix_hub_requests_requests_person_id" in s
               for s in steps), steps
    assert not any(s.startswith(("SCAN hub_requests_requests", "SCAN people")) for s in steps)
    assert not any("ix_hub_requests_requests_status" in s for s in steps), steps


def test_finding_the_person_uses_the_contact_indexes(app, db):
    steps = plan(db, people._FIND_PERSON)
    assert any("ix_people_phone" in s for s in steps) and any("ix_people_email" in s
                                                              for s in steps), steps
    assert not any(s.startswith("SCAN people") for s in steps), steps

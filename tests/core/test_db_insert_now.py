"""db.insert_now: one Core INSERT, and the object is persistent and loaded after it."""

from __future__ import annotations

import sqlalchemy as sa

from hubcore.db import insert_now
from hubcore.identity.models import Person
from tests.conftest import BOLTON


def _count_statements(engine):
    seen = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: seen.append(statement))
    return seen


def test_the_row_is_written_with_its_defaults_and_the_object_is_persistent(app, db):
    person = Person(given_name="Ada", district_code=BOLTON)
    seen = _count_statements(db.engine)
    insert_now(person)
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("INSERT")
    assert person.id is not None
    assert sa.inspect(person).persistent
    # Column defaults were applied here, so reading them asks the database nothing.
    assert (person.version, person.family_name, person.name_key) == (1, "", "")
    assert person.created_at.tzinfo is not None
    assert len(seen) == 1
    db.session.commit()
    row = db.session.execute(sa.select(Person.__table__).where(Person.id == person.id)).one()
    assert (row.given_name, row.version, row.district_code) == ("Ada", 1, BOLTON)


def test_a_later_change_is_saved_by_the_orm_as_usual(app, db):
    person = insert_now(Person(given_name="Ada", district_code=BOLTON))
    person.family_name = "Lovelace"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Person, person.id).family_name == "Lovelace"


def test_nothing_is_inserted_twice_at_the_commit(app, db):
    person = insert_now(Person(given_name="Ada", district_code=BOLTON))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)
                             .where(Person.id == person.id)) == 1


def test_a_rolled_back_insert_leaves_nothing(app, db):
    insert_now(Person(given_name="Ada", district_code=BOLTON))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0


def test_unless_taken_writes_nothing_and_returns_none_when_the_value_is_taken(app, db):
    from hubcore.identity.models import Organisation

    first = insert_now(Organisation(name="Bolton Hub", kind="hub"), unless_taken="name")
    assert first is not None and first.id is not None
    second = Organisation(name="Bolton Hub", kind="hub")
    assert insert_now(second, unless_taken="name") is None
    assert not sa.inspect(second).persistent
    db.session.commit()  # the transaction is intact: the conflict was no error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 1


def test_after_a_rollback_the_object_is_gone_and_the_next_insert_works(app, db):
    """The rolled-back row's id comes round again on SQLite: no stale object may hold it."""
    gone = insert_now(Person(given_name="Ada", district_code=BOLTON))
    db.session.rollback()
    assert gone not in db.session
    again = insert_now(Person(given_name="Grace", district_code=BOLTON))
    db.session.commit()
    assert db.session.get(Person, again.id).given_name == "Grace"


def test_a_rolled_back_savepoint_forgets_only_its_own_objects(app, db):
    kept = insert_now(Person(given_name="Ada", district_code=BOLTON))
    savepoint = db.session.begin_nested()
    dropped = insert_now(Person(given_name="Grace", district_code=BOLTON))
    savepoint.rollback()
    assert kept in db.session and dropped not in db.session
    db.session.commit()
    assert db.session.scalars(sa.select(Person.given_name)).all() == ["Ada"]

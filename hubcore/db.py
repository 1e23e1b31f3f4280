"""The one SQLAlchemy object, its naming convention and shared column types.

Every table, core or plugin, is declared on ``db.Model`` so that Alembic sees
one metadata with one constraint naming convention.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


# Times are stored in UTC and shown to people in UK time.
LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset, so values are stored as naive UTC and given their
    UTC zone back on the way out; a naive value going in is refused, because
    guessing its zone is how times drift by an hour.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name != "sqlite"))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def insert_now(obj, *, unless_taken: str | None = None):
    """INSERT a new model object with one Core statement; it stays in the session,
    persistent and loaded. Returns it, with its primary key.

    For the busiest write path (public intake), where the ORM's unit of work
    costs more than the rows it writes. Only columns are written: set foreign
    keys, not relationships. Column defaults are applied here, so that reading
    the object afterwards never goes back to the database.

    ``unless_taken``: a column with a unique constraint; when its value is
    taken already nothing is written and None is returned (``ON CONFLICT DO
    NOTHING``), so the caller can choose another value without a query first.
    ``ANY_UNIQUE`` does the same for every unique index of the table.
    """
    state = sa.inspect(obj)
    insert, key, columns = _insert_plan(state.mapper, unless_taken)
    values, loaded = {}, {}
    for column, attribute, default in columns:
        value = state.dict.get(attribute)
        if value is None and default is not None:
            value = default.arg(None) if default.is_callable else default.arg
        values[column] = loaded[attribute] = value
    session = db.session()
    new_id = session.connection().execute(insert, values).scalar()
    if new_id is None:
        return None
    loaded[key] = new_id
    # Written as loaded values: nothing is left for the session to save or load.
    state.dict.update(loaded)
    sa.orm.make_transient_to_detached(obj)
    session.add(obj)
    # Added as if it had always been there, so a rollback would not take it out
    # of the session as it does a new object: _forget_rolled_back does.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_INSERTED_NOW, []).append((transaction, obj))
    return obj


_INSERTED_NOW = "hubcore.db.inserted_now"
ANY_UNIQUE = "*"  # insert_now(..., unless_taken=ANY_UNIQUE): any unique index decides


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    """Take the objects ``insert_now`` wrote in the rolled-back transaction (or a
    savepoint within it) out of the session: their rows are gone."""
    inserted = session.info.get(_INSERTED_NOW)
    if not inserted:
        return
    kept = []
    for transaction, obj in inserted:
        ancestor = transaction
        while ancestor is not None and ancestor is not previous_transaction:
            ancestor = ancestor.parent
        if ancestor is None:
            kept.append((transaction, obj))
        elif obj in session:
            session.expunge(obj)
    session.info[_INSERTED_NOW] = kept


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _forget_committed(session) -> None:
    session.info.pop(_INSERTED_NOW, None)


_PLANS: dict = {}


def _insert_plan(mapper, unless_taken: str | None) -> tuple:
    """The INSERT, the primary key's attribute and (column, attribute, default) of the rest."""
    dialect = db.session().get_bind().dialect.name
    plan_key = (mapper, unless_taken, dialect)
    if plan_key not in _PLANS:
        table = mapper.local_table
        (key,) = table.primary_key.columns
        if unless_taken is None:
            insert = table.insert()
        else:  # the dialects' own INSERT: ON CONFLICT is not standard SQL
            dialect_insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
            insert = dialect_insert(table).on_conflict_do_nothing(
                index_elements=None if unless_taken == ANY_UNIQUE else [table.c[unless_taken]])
        _PLANS[plan_key] = (insert.returning(key), mapper.get_property_by_column(key).key,
                            [(c.key, mapper.get_property_by_column(c).key, c.default)
                             for c in table.columns if c is not key])
    return _PLANS[plan_key]

"""The migrations create exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hubcore import schema_migrations


def test_migrated_database_matches_the_models(app, db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], "write a migration for: " + repr(differences)


def test_fresh_database_is_at_every_head(app):
    assert not schema_migrations.pending()
    assert schema_migrations.current_revisions()  # something was applied

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
    assert not schema_migrations.pending(), (
        f"heads {schema_migrations.heads()} vs stored {schema_migrations.current_revisions()}")
    assert schema_migrations.current_revisions()  # something was applied


def test_disabling_a_plugin_keeps_upgrade_and_health_working(tmp_path):
    """A plugin's applied branch stays locatable when configuration disables it."""
    import importlib.metadata

    from hubcore.plugins import ENTRY_POINT_GROUP
    from tests.conftest import make_app

    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if not installed:
        import pytest

        pytest.skip("no plugin is installed")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    everything = make_app(url)
    with everything.app_context():
        schema_migrations.upgrade()
    disabled = installed[0]
    fewer = make_app(url, plugins=tuple(installed[1:]))
    with fewer.app_context():
        assert disabled in fewer.extensions["hubcore"].plugins.blocked
        schema_migrations.upgrade()  # must not fail on the disabled branch's revision
        assert not schema_migrations.pending()
        assert fewer.test_client().get("/healthz").json["migrations"] == "ok"


def test_a_disabled_plugin_gets_no_tables_on_a_fresh_database(tmp_path):
    import importlib.metadata

    import sqlalchemy as sa

    from hubcore.db import db
    from hubcore.plugins import ENTRY_POINT_GROUP
    from tests.conftest import make_app

    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if not installed:
        import pytest

        pytest.skip("no plugin is installed")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = make_app(url, plugins=())
    with app.app_context():
        schema_migrations.upgrade()
        tables = sa.inspect(db.engine).get_table_names()
        assert "accounts" in tables
        assert not [t for t in tables if t.startswith(tuple(f"{name}_" for name in installed))]
        assert not schema_migrations.pending()

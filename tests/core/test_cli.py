"""The ``hubcore`` command: create-admin, demo, export person."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

from hubcore import audit
from hubcore.cli import main
from hubcore.identity.models import Account, Organisation
from tests.conftest import BOLTON


@pytest.fixture
def run(app):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                             input=input, catch_exceptions=False)

    return invoke


def test_create_admin_with_options(run, db):
    result = run("create-admin", "--email", "Boss@Example.org", "--password",
                 "a long admin password")
    assert result.exit_code == 0, result.output
    account = db.session.execute(sa.select(Account)).scalar_one()
    assert account.email == "boss@example.org" and account.is_admin


def test_create_admin_interactively(run, db):
    result = run("create-admin", input="ops@example.org\na long admin password\n"
                                       "a long admin password\n")
    assert result.exit_code == 0, result.output
    assert db.session.execute(sa.select(Account.email)).scalar_one() == "ops@example.org"


def test_create_admin_refuses_a_short_password_and_creates_nothing(run, db):
    result = run("create-admin", "--email", "ops@example.org", "--password", "short")
    assert result.exit_code != 0 and "at least 12 characters" in result.output
    assert db.session.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one() == 0


def test_demo_creates_each_role_and_is_safe_to_run_twice(run, db):
    first = run("demo")
    assert first.exit_code == 0, first.output
    for role in ("administrator", "coordinator", "partner", "fund_officer", "funder",
                 "network_coordinator", "volunteer"):
        assert role in first.output
    counts = (db.session.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one(),
              db.session.execute(sa.select(sa.func.count()).select_from(Organisation)).scalar_one())
    second = run("demo")
    assert second.exit_code == 0, second.output
    again = (db.session.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one(),
             db.session.execute(sa.select(sa.func.count()).select_from(Organisation)).scalar_one())
    assert again == counts
    hubs = db.session.execute(sa.select(Organisation).where(Organisation.kind == "hub")).scalars()
    assert len({h.district_codes[0] for h in hubs}) == 10  # a hub per borough
    assert audit.verify_chain().ok


def test_export_person_writes_their_data_as_json(run, db):
    from hubcore.identity import people

    person = people.create_person({"given_name": "Ivy", "district_code": BOLTON,
                                   "phone": "07700 900456"})
    db.session.commit()
    result = run("export", "person", str(person.id))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["sections"][0]["records"][0]["phone"] == "+447700900456"
    missing = run("export", "person", "999999")
    assert missing.exit_code != 0 and "No such person" in missing.output

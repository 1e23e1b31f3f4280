"""``hubcore.plugins.collect``: every implementation asked on its own, failures left out.

A page or API read that asks a collect hook must not fail because one
plugin's implementation raises: that plugin is logged by name and left out,
and what the others returned is flattened, in pluggy's own call order.
"""

from __future__ import annotations

import pluggy
import pytest
import sqlalchemy as sa

from hubcore import hookimpl
from hubcore.db import db as _db
from hubcore.identity.models import Organisation
from hubcore.plugins import build_plugin_manager, collect
from hubcore.values import NavItem


class Home:
    @hookimpl
    def hubcore_nav(self, user):
        return [NavItem("Home desk", "web.home", order=900)]


class Nothing:
    @hookimpl
    def hubcore_nav(self, user):
        return None


class Broken:
    @hookimpl
    def hubcore_nav(self, user):
        raise RuntimeError("menu config missing")


class Guest:
    """Answers only signed-out users (it names the argument to decide)."""

    @hookimpl
    def hubcore_nav(self, user):
        return [NavItem("Guest desk", "web.home")] if user is None else []


class Writer:
    """Writes a row, then fails: what it wrote must not outlive it."""

    @hookimpl
    def hubcore_nav(self, user):
        _db.session.add(Organisation(name="Written by a broken plugin", kind="hub"))
        _db.session.flush()
        raise RuntimeError("after writing")


def manager(*plugins) -> pluggy.PluginManager:
    pm, _report = build_plugin_manager(enabled=(), extra=plugins)
    return pm


def labels(items) -> list[str]:
    return [item.label for item in items if item.label in ("Home desk", "Guest desk")]


def test_the_others_answers_are_collected_when_one_implementation_raises(caplog):
    pm = manager(Home(), Broken(), Guest(), Nothing())
    found = collect(pm, "hubcore_nav", user=None)
    assert labels(found) == ["Guest desk", "Home desk"]
    assert found.failed == ("Broken",)
    assert {"Home", "Guest", "Nothing"} <= set(found.answered)
    assert "Broken" not in found.answered
    [record] = [r for r in caplog.records if r.name == "hubcore.plugins"]
    assert "hubcore_nav" in record.getMessage() and "'Broken'" in record.getMessage()
    assert "menu config missing" in record.exc_text


def test_answers_come_in_the_order_pluggy_itself_calls_the_implementations():
    pm = manager(Home(), Guest(), Nothing())
    through_pluggy = [item for batch in pm.hook.hubcore_nav(user=None) for item in batch or ()]
    assert list(collect(pm, "hubcore_nav", user=None)) == through_pluggy


def test_without_a_failure_nothing_is_logged(caplog):
    found = collect(manager(Home()), "hubcore_nav", user=None)
    assert found.failed == () and labels(found) == ["Home desk"]
    assert not [r for r in caplog.records if r.name == "hubcore.plugins"]


def test_a_hook_asked_with_the_wrong_arguments_is_the_callers_mistake():
    pm = manager(Home())
    with pytest.raises(TypeError):
        collect(pm, "hubcore_nav")
    with pytest.raises(TypeError):
        collect(pm, "hubcore_nav", user=None, district="E08000001")


def test_a_firstresult_hook_is_refused():
    project = "collect_test"
    spec, impl = pluggy.HookspecMarker(project), pluggy.HookimplMarker(project)

    class Specs:
        @spec(firstresult=True)
        def pick(self, limit):
            """Pick one."""

    class One:
        @impl
        def pick(self, limit):
            return 1

    pm = pluggy.PluginManager(project)
    pm.add_hookspecs(Specs)
    pm.register(One())
    with pytest.raises(ValueError):
        collect(pm, "pick", limit=1)


def test_what_a_failed_implementation_wrote_is_undone_and_the_callers_work_is_kept(app, db):
    mine = Organisation(name="The caller's own hub", kind="hub")
    db.session.add(mine)  # pending: flushed before the plugins run, and kept
    found = collect(manager(Writer(), Home()), "hubcore_nav", user=None)
    assert found.failed == ("Writer",) and labels(found) == ["Home desk"]
    db.session.commit()
    names = db.session.execute(sa.select(Organisation.name)).scalars().all()
    assert "The caller's own hub" in names
    assert "Written by a broken plugin" not in names


def test_the_callers_own_bad_write_is_raised_not_blamed_on_a_plugin(app, db, caplog):
    db.session.add(Organisation(name="Twin", kind="hub"))
    db.session.commit()
    db.session.add(Organisation(name="Twin", kind="hub"))  # breaks the unique name
    with pytest.raises(sa.exc.IntegrityError):
        collect(manager(Home()), "hubcore_nav", user=None)
    db.session.rollback()
    assert not [r for r in caplog.records if r.name == "hubcore.plugins"]


@pytest.fixture
def app_settings():
    return {"extra_plugins": (Broken(), Home())}


def test_a_plugin_whose_menu_fails_does_not_take_every_page_down(client, caplog):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Home desk" in html
    assert any("hubcore_nav" in r.getMessage() and "'Broken'" in r.getMessage()
               for r in caplog.records if r.name == "hubcore.plugins")

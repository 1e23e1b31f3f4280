"""Plugins load from real entry points, filtered by the allow-list, one by one.

Each test installs fake distributions the way pip would leave them: a
``<name>-0.1.dist-info`` folder with ``METADATA`` and an ``entry_points.txt``
naming the plugin module under ``[hubcore.plugins]``, and the module itself,
all in a folder put on ``sys.path`` for that test only.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from hubcore.app import create_app
from hubcore.cli import main as hubcore_cli
from hubcore.config import Settings
from hubcore.plugins import DEFAULT_PLUGINS, PluginLoadError
from tests.conftest import TEST_SECRET

WORKING = """
    from hubcore import hookimpl
    from hubcore.values import Permission

    @hookimpl
    def hubcore_register(app):
        app.config.setdefault("REGISTERED_PLUGINS", []).append(__name__)

    @hookimpl
    def hubcore_permissions():
        return [Permission(__name__ + ".use", "Use the plugin", ("coordinator",))]
"""

BROKEN_IMPORT = """
    raise RuntimeError("the plugin cannot find its settings")
"""

UNKNOWN_HOOK = """
    from hubcore import hookimpl

    @hookimpl
    def hubcore_register(app):
        app.config.setdefault("REGISTERED_PLUGINS", []).append(__name__)

    @hookimpl
    def hubcore_regster_typo(app):
        pass
"""

UNKNOWN_ARGUMENT = """
    from hubcore import hookimpl

    @hookimpl
    def hubcore_register(app):
        app.config.setdefault("REGISTERED_PLUGINS", []).append(__name__)

    @hookimpl
    def hubcore_nav(usr):
        return []
"""

DEFAULT_ARGUMENT = """
    from hubcore import hookimpl

    @hookimpl
    def hubcore_register(app):
        app.config.setdefault("REGISTERED_PLUGINS", []).append(__name__)

    @hookimpl
    def hubcore_sweep(now=None):
        return {}
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(entry_point_name, source)``: a fake installed plugin distribution.

    The module is named ``hubcore_test_<entry point name>``; modules the test
    imported are forgotten afterwards so the next test imports its own.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install_plugin(name: str, source: str) -> str:
        module = f"hubcore_test_{name}"
        dist = site / f"hubcore_test_{name}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: hubcore-test-{name}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[hubcore.plugins]\n{name} = {module}\n")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        modules.append(module)
        importlib.invalidate_caches()
        return module

    yield install_plugin
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def build(tmp_path):
    """``build(enabled, **settings)``: an app with that allow-list (no database needed).

    The allow-list goes in through ``Settings``: ``create_app``'s own
    ``plugins`` argument is for plugin objects registered directly.
    """

    def build_app(enabled, **settings):
        configured = Settings(env="testing", secret_key=TEST_SECRET,
                              database_url=f"sqlite:///{tmp_path / 'plugins.sqlite3'}",
                              plugins=enabled, **settings)
        return create_app(configured)

    return build_app


def registered(app) -> list[str]:
    return app.config.get("REGISTERED_PLUGINS", [])


def test_enabled_plugin_is_loaded_from_its_entry_point(install, build):
    module = install("tidy", WORKING)
    app = build(("tidy",))
    hubcore = app.extensions["hubcore"]
    assert "tidy" in hubcore.plugins.loaded
    assert hubcore.pm.get_plugin("tidy") is sys.modules[module]
    assert registered(app) == [module]
    assert hubcore.permissions.get(f"{module}.use").roles == ("coordinator",)


def test_plugin_missing_from_the_allow_list_is_blocked_and_never_imported(install, build):
    install("tidy", WORKING)
    module = install("unwanted", WORKING)
    app = build(("tidy",))
    hubcore = app.extensions["hubcore"]
    assert hubcore.pm.is_blocked("unwanted")
    assert "unwanted" in hubcore.plugins.blocked
    assert "unwanted" not in hubcore.plugins.loaded
    assert module not in sys.modules  # its code never ran
    assert registered(app) == ["hubcore_test_tidy"]


def test_plugin_whose_import_fails_is_reported_by_name_and_the_app_starts(install, build,
                                                                           caplog):
    install("tidy", WORKING)
    install("crashing", BROKEN_IMPORT)
    app = build(("tidy", "crashing"))
    report = app.extensions["hubcore"].plugins
    assert report.broken == {"crashing": "RuntimeError: the plugin cannot find its settings"}
    assert report.loaded == ["tidy"]
    assert "'crashing' failed to load" in caplog.text
    assert app.test_client().get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize("source, complaint", [
    (UNKNOWN_HOOK, "hubcore_regster_typo"),
    (UNKNOWN_ARGUMENT, "usr"),
    (DEFAULT_ARGUMENT, "default value"),
], ids=["unknown-hook", "unknown-argument", "default-argument"])
def test_plugin_with_an_invalid_hook_is_reported_and_leaves_no_hooks(install, build,
                                                                      source, complaint):
    module = install("sloppy", source)
    app = build(("sloppy",))
    hubcore = app.extensions["hubcore"]
    assert list(hubcore.plugins.broken) == ["sloppy"]
    assert hubcore.plugins.broken["sloppy"].startswith("PluginValidationError")
    assert complaint in hubcore.plugins.broken["sloppy"]
    assert hubcore.pm.get_plugin("sloppy") is None
    assert sys.modules[module] not in hubcore.pm.get_plugins()
    assert registered(app) == []  # its valid hooks are not called either


def test_strict_mode_refuses_to_start_with_a_broken_plugin(install, build):
    install("crashing", BROKEN_IMPORT)
    with pytest.raises(PluginLoadError, match="'crashing' failed to load"):
        build(("crashing",), strict_plugins=True)


def test_strict_mode_refuses_to_start_without_an_enabled_plugin(build):
    with pytest.raises(PluginLoadError, match="'not_installed' enabled in HUBCORE_PLUGINS"):
        build(("not_installed",), strict_plugins=True)


def test_enabled_plugin_that_is_not_installed_is_reported_missing(install, build):
    install("tidy", WORKING)
    app = build(("tidy", "not_installed"))
    report = app.extensions["hubcore"].plugins
    assert report.missing == ["not_installed"]
    assert report.loaded == ["tidy"]


def test_hubcore_plugins_lists_loaded_disabled_broken_and_missing(install, build):
    install("tidy", WORKING)
    install("unwanted", WORKING)
    install("crashing", BROKEN_IMPORT)
    app = build(("tidy", "crashing", "not_installed"))
    info = ScriptInfo(create_app=lambda: app)

    text = CliRunner().invoke(hubcore_cli, ["plugins"], obj=info)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert "loaded   tidy" in lines
    assert "disabled unwanted (not in HUBCORE_PLUGINS)" in lines
    assert "BROKEN   crashing: RuntimeError: the plugin cannot find its settings" in lines
    assert "MISSING  not_installed (in HUBCORE_PLUGINS, not installed)" in lines

    as_json = CliRunner().invoke(hubcore_cli, ["plugins", "--json"], obj=info)
    listed = json.loads(as_json.output)
    assert "tidy" in listed["loaded"] and "unwanted" in listed["blocked"]
    assert listed["broken"] == {"crashing": "RuntimeError: the plugin cannot find its settings"}
    assert listed["missing"] == ["not_installed"]


def test_every_app_gets_its_own_plugin_manager(install, build):
    module = install("tidy", WORKING)
    with_plugin = build(("tidy",))
    without = build(())
    assert with_plugin.extensions["hubcore"].pm is not without.extensions["hubcore"].pm
    assert without.extensions["hubcore"].pm.is_blocked("tidy")
    assert without.extensions["hubcore"].pm.get_plugin("tidy") is None
    assert registered(with_plugin) == [module] and registered(without) == []
    for app in (with_plugin, without):  # the core's own hooks are in every one
        pm = app.extensions["hubcore"].pm
        assert all(pm.get_plugin(name) is not None for name in DEFAULT_PLUGINS)

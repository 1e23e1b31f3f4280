"""Plugin settings: declared by hubcore_settings, read from HUBCORE_*, checked by name."""

from __future__ import annotations

import pytest

from hubcore import hookimpl
from hubcore.app import create_app
from hubcore.config import ConfigError, Settings
from hubcore.values import PluginSetting


class KeepingPlugin:
    """A plugin that reads three settings of its own."""

    __name__ = "keeping"

    @hookimpl
    def hubcore_settings(self):
        return [PluginSetting("keeping_days", int, 90, "Days kept."),
                PluginSetting("keeping_loud", bool, False, "Say more."),
                PluginSetting("keeping_label", str, "notes", "What is kept.")]


def build(environ: dict, **overrides):
    settings = Settings.from_env({"HUBCORE_ENV": "testing", **environ})
    return create_app(settings, extra_plugins=(KeepingPlugin(),), plugins=(), **overrides)


def test_a_declared_setting_is_read_and_converted_to_its_kind(tmp_path):
    app = build({"HUBCORE_KEEPING_DAYS": " 30 ", "HUBCORE_KEEPING_LOUD": "yes"},
                database_url=f"sqlite:///{tmp_path}/a.db")
    extra = app.extensions["hubcore"].settings.extra
    assert extra == {"keeping_days": 30, "keeping_loud": True, "keeping_label": "notes"}


def test_a_setting_not_given_gets_its_default(tmp_path):
    app = build({}, database_url=f"sqlite:///{tmp_path}/a.db")
    assert app.extensions["hubcore"].settings.extra["keeping_days"] == 90


def test_a_bad_value_stops_the_app_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="HUBCORE_KEEPING_DAYS"):
        build({"HUBCORE_KEEPING_DAYS": "a month"}, database_url=f"sqlite:///{tmp_path}/a.db")


def test_a_variable_nobody_declares_stops_the_app_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="HUBCORE_KEEPING_DAZE is not a Hubcore setting"):
        build({"HUBCORE_KEEPING_DAZE": "30"}, database_url=f"sqlite:///{tmp_path}/a.db")


def test_a_switched_off_plugins_setting_is_ignored(tmp_path):
    """hub_requests is installed but not in the allow-list: its variable does no harm."""
    app = build({"HUBCORE_HUB_REQUESTS_RETENTION_DAYS": "30"},
                database_url=f"sqlite:///{tmp_path}/a.db")
    assert "hub_requests" in app.extensions["hubcore"].plugins.blocked


def test_hub_requests_reads_its_retention_period_from_the_environment(tmp_path):
    settings = Settings.from_env({"HUBCORE_ENV": "testing",
                                  "HUBCORE_HUB_REQUESTS_RETENTION_DAYS": "30"})
    app = create_app(settings, plugins=("hub_requests",),
                     database_url=f"sqlite:///{tmp_path}/a.db")
    assert app.config["HUB_REQUESTS_RETENTION_DAYS"] == 30
    with pytest.raises(ConfigError, match="HUBCORE_HUB_REQUESTS_RETENTION_DAYS"):
        create_app(settings.with_overrides(extra={"hub_requests_retention_days": "0"}),
                   plugins=("hub_requests",), database_url=f"sqlite:///{tmp_path}/a.db")


def test_a_plugin_that_failed_to_load_does_not_stop_the_app_with_its_variables(
        tmp_path, monkeypatch):
    """Not strict: the app starts without the broken plugin, whatever its settings."""
    import plugins.hub_requests

    def broken(an_argument_the_hook_does_not_have):  # pluggy refuses it: the plugin is broken
        return None

    monkeypatch.setattr(plugins.hub_requests, "hubcore_migrations", hookimpl(broken))
    settings = Settings.from_env({"HUBCORE_ENV": "testing",
                                  "HUBCORE_HUB_REQUESTS_RETENTION_DAYS": "30"})
    app = create_app(settings, plugins=("hub_requests",),
                     database_url=f"sqlite:///{tmp_path}/a.db")
    assert "hub_requests" in app.extensions["hubcore"].plugins.broken

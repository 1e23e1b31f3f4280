"""Settings from ``HUBCORE_*`` environment variables, with embedded defaults.

The embedded default needs nothing installed: a SQLite file in the instance
folder, jobs run in-process through rq's synchronous mode, notifications go
to the outbox and the log. Production sets a PostgreSQL URL, a Redis URL and
a real secret key; ``create_app`` refuses to start without the key, and
without the Redis URL unless ``HUBCORE_JOBS_IN_PROCESS=true`` asks for
in-process jobs explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

DEFAULT_SECRET_KEY = "hubcore-embedded-not-secret"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _is_uuid(value: str) -> bool:
    """A UUID written as Notify shows one: 8-4-4-4-12 hexadecimal digits."""
    return _UUID.fullmatch(value) is not None


@dataclass(frozen=True)
class Settings:
    """Everything the platform reads from its environment, in one place.

    Each field maps to ``HUBCORE_<FIELD NAME IN CAPITALS>``; see
    ``docs/configuration.md`` for the reference.
    """

    env: str = "development"  # development | production | testing
    database_url: str = ""  # empty: SQLite file in the instance folder
    redis_url: str = ""  # empty: jobs run in-process (rq synchronous mode, fakeredis)
    # Production needs a Redis URL (jobs on a worker), unless this says, explicitly,
    # that in-process jobs are wanted (one small server, no Redis).
    jobs_in_process: bool = False
    secret_key: str = DEFAULT_SECRET_KEY
    # The audit chain's HMAC key, kept outside the database so that whoever can write
    # to the database cannot recompute the chain. Empty outside production: derived
    # from the secret key. Retired keys stay in audit_old_keys to verify older entries.
    audit_key: str = ""
    audit_old_keys: tuple[str, ...] = ()
    # Where people reach the site, e.g. "https://hub.example.org": the base of links
    # sent by email. Required in production: a link must never take its host from
    # a request header, or a forged Host would send someone's password link elsewhere.
    public_url: str = ""
    plugins: tuple[str, ...] | None = None  # None: every installed plugin
    strict_plugins: bool = False  # refuse to start when a plugin is broken
    region: str = "greater_manchester"
    geocoder: str = ""  # a geopy geocoder name, e.g. "nominatim"; empty: gazetteer only
    geocoder_user_agent: str = "hubcore"
    notify_adapter: str = "log"  # log | smtp | notify
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_sender: str = "hubcore@localhost"
    notify_api_url: str = ""  # empty: https://api.notifications.service.gov.uk
    # GOV.UK Notify's API key, "{key name}-{service id}-{secret}" (both ids UUIDs),
    # and the ids of the service's generic templates: ((subject)) and ((body)).
    notify_api_key: str = ""
    notify_email_template_id: str = ""
    notify_sms_template_id: str = ""
    notify_letter_template_id: str = ""
    token_ttl_hours: int = 12
    session_ttl_hours: int = 8
    rate_limit_storage_url: str = ""  # empty: the Redis URL, else in memory
    public_rate_limit: str = "20 per minute"
    login_rate_limit: str = "10 per minute"
    # Password-reset emails one account may be sent in an hour, counted in the database.
    reset_emails_per_hour: int = 3
    proxy_hops: int = 0  # reverse proxies in front (nginx: 1) whose X-Forwarded-* to trust
    argon2_time_cost: int = 5
    argon2_memory_kib: int = 7168  # OWASP: m=7 MiB, t=5, p=1, as strong as 19 MiB, t=2; ~19 ms
    argon2_parallelism: int = 1
    # Plugins' settings by name (``hubcore_settings``); from the environment they
    # arrive as text and ``with_plugin_settings`` converts and checks them.
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Read ``HUBCORE_*`` variables.

        A name the core does not know is kept, as text, in ``extra`` for the
        plugins to claim (``with_plugin_settings``): a name nobody claims is
        refused there, when the plugins are known.
        """
        environ = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict = {}
        unclaimed: dict[str, str] = {}
        for key, raw in environ.items():
            if not key.startswith("HUBCORE_"):
                continue
            name = key[len("HUBCORE_") :].lower()
            if name.startswith("test_"):
                continue  # test-suite settings (HUBCORE_TEST_DATABASE_URL ...)
            if name not in known:
                unclaimed[name] = raw
                continue
            try:
                values[name] = _convert(name, raw)
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"{key}: {exc}") from None
        return cls(**values, extra=unclaimed)

    def with_plugin_settings(self, declared, *, switched_off: tuple[str, ...] = ()
                             ) -> "Settings":
        """Claim ``extra`` for the settings the enabled plugins declare.

        ``declared``: their ``PluginSetting`` values. Text is converted to the
        setting's kind; a setting not given gets its default. A name nobody
        declares is refused, unless it belongs to an installed plugin that is
        switched off or failed to load (``switched_off``: their names), so that
        switching a plugin off needs no change to the environment.
        """
        extra = dict(self.extra)
        for setting in declared:
            if setting.name not in extra:
                extra[setting.name] = setting.default
            elif isinstance(extra[setting.name], str) and setting.kind is not str:
                try:
                    extra[setting.name] = _convert_kind(setting.kind, extra[setting.name])
                except (ConfigError, ValueError) as exc:
                    raise ConfigError(f"HUBCORE_{setting.name.upper()}: {exc}") from None
        claimed = {setting.name for setting in declared}
        for name in sorted(set(extra) - claimed):
            if not any(name.startswith(f"{plugin}_") for plugin in switched_off):
                raise ConfigError(f"HUBCORE_{name.upper()} is not a Hubcore setting")
        return replace(self, extra=extra)

    def with_overrides(self, **overrides) -> "Settings":
        return replace(self, **overrides)

    def notify_credentials(self) -> tuple[str, str]:
        """The service id and secret in ``notify_api_key``: the JWT's issuer and signing key.

        The key name may itself contain hyphens, so the two UUIDs are read
        from the end of the key, as GOV.UK Notify's own clients do.
        """
        key = self.notify_api_key
        service_id, secret = key[-73:-37], key[-36:]
        if len(key) < 75 or key[-74] != "-" or key[-37] != "-" \
                or not (_is_uuid(service_id) and _is_uuid(secret)):
            raise ConfigError("HUBCORE_NOTIFY_API_KEY must be a GOV.UK Notify API key: "
                              "{key name}-{service id}-{secret key}, as Notify shows it")
        return service_id, secret

    def _validate_notify(self) -> None:
        """The ``notify`` adapter cannot send a message without a key and the templates."""
        self.notify_credentials()
        for channel in ("email", "sms", "letter"):
            name = f"HUBCORE_NOTIFY_{channel.upper()}_TEMPLATE_ID"
            template_id = getattr(self, f"notify_{channel}_template_id")
            if not template_id and channel == "letter":
                continue  # post costs money: a service that sends none keeps no template
            if not template_id:
                raise ConfigError(f"{name} must be set to the id of the service's generic "
                                  f"{channel} template when HUBCORE_NOTIFY_ADAPTER is notify")
            if not _is_uuid(template_id):
                raise ConfigError(f"{name} must be a template id (a UUID, as Notify shows it)")
        if self.notify_api_url and not self.notify_api_url.startswith(("https://", "http://")):
            raise ConfigError("HUBCORE_NOTIFY_API_URL must start with https:// or http://")

    @property
    def production(self) -> bool:
        return self.env == "production"

    def resolved_audit_key(self) -> str:
        """``audit_key``, or outside production one derived from the secret key.

        The derived key is only as secret as the secret key, which is public
        in the embedded default: it is for development, never for production.
        """
        if self.audit_key:
            return self.audit_key
        return hmac.new(self.secret_key.encode(), b"hubcore audit key (embedded default)",
                        hashlib.sha256).hexdigest()

    def resolved_database_url(self, instance_path: str | Path) -> str:
        if self.database_url:
            url = self.database_url
            # One driver for PostgreSQL: psycopg 3.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{Path(instance_path) / 'hubcore.sqlite3'}"

    def validate(self) -> None:
        if self.env not in {"development", "production", "testing"}:
            raise ConfigError("HUBCORE_ENV must be development, production or testing")
        if self.production and self.secret_key == DEFAULT_SECRET_KEY:
            raise ConfigError(
                "HUBCORE_SECRET_KEY must be set to a long random value in production"
            )
        if self.production and len(self.secret_key) < 32:
            raise ConfigError("HUBCORE_SECRET_KEY must be at least 32 characters in production")
        if self.production and not self.public_url.startswith("https://"):
            raise ConfigError("HUBCORE_PUBLIC_URL must be set to the site's https:// address "
                              "in production (links in emails are built from it)")
        if self.production and not self.redis_url and not self.jobs_in_process:
            raise ConfigError(
                "HUBCORE_REDIS_URL must be set in production: background jobs (notifications, "
                "announcements, the scheduled sweep) run on `hubcore worker` processes through "
                "Redis. To run them in-process in the web processes instead (one small server, "
                "no Redis; see docs/configuration.md), set HUBCORE_JOBS_IN_PROCESS=true.")
        if self.redis_url and self.jobs_in_process:
            raise ConfigError("HUBCORE_JOBS_IN_PROCESS=true runs jobs without Redis: "
                              "leave HUBCORE_REDIS_URL empty, or set HUBCORE_JOBS_IN_PROCESS "
                              "to false")
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            raise ConfigError("HUBCORE_PUBLIC_URL must start with https:// or http://")
        if self.production and len(self.audit_key) < 32:
            raise ConfigError(
                "HUBCORE_AUDIT_KEY must be set to a long random value (at least 32 characters) "
                "in production, kept apart from the database")
        if self.audit_key and self.audit_key == self.secret_key:
            raise ConfigError("HUBCORE_AUDIT_KEY must not be the same as HUBCORE_SECRET_KEY")
        if "," in self.audit_key:
            raise ConfigError("HUBCORE_AUDIT_KEY must not contain a comma (retired keys are "
                              "listed in HUBCORE_AUDIT_OLD_KEYS separated by commas)")
        if self.notify_adapter not in {"log", "smtp", "notify"}:
            raise ConfigError("HUBCORE_NOTIFY_ADAPTER must be log, smtp or notify")
        if self.notify_adapter == "notify":
            self._validate_notify()
        if self.reset_emails_per_hour < 1:
            raise ConfigError("HUBCORE_RESET_EMAILS_PER_HOUR must be 1 or more")


def _convert(name: str, raw: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if name in ("plugins", "audit_old_keys"):
        return _names(raw)
    if kind == "bool":
        return _bool(raw)
    if kind == "int":
        return int(raw)
    return raw


def _convert_kind(kind: type, raw: str):
    """A plugin setting's text as its kind (int, float, bool)."""
    if kind is bool:
        return _bool(raw)
    return kind(raw.strip())

"""The ``hubcore`` command. Every command reads the same ``HUBCORE_*`` settings.

Plugins add commands in ``hubcore_register`` through ``app.cli`` (or
``import_group`` for ``hubcore import ...``).
"""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from hubcore.db import db, utcnow


def _create_app():
    from hubcore.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, load_dotenv=False,
             add_version_option=False, set_debug_flag=False)
def main():
    """Hubcore: community response coordination."""


# -- Database ---------------------------------------------------------------------


@main.group("db")
def db_group():
    """Database schema (Alembic migrations of the core and every enabled plugin)."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply all migrations, core and plugins, up to their heads."""
    from hubcore import schema_migrations

    from hubcore import audit

    schema_migrations.upgrade()
    click.echo("Database is up to date: " + ", ".join(sorted(schema_migrations.heads())))
    marker = audit.switch_key()  # an audit log written before keying, or under a retired key
    db.session.commit()
    if marker is not None:
        click.echo(f"Audit log: entry {marker.seq} switches the chain to key id "
                   f"{marker.entity_id}.")


@db_group.command("heads")
@with_appcontext
def db_heads():
    """List the head revision of every branch."""
    from hubcore import schema_migrations

    for head in sorted(schema_migrations.heads()):
        click.echo(head)


# -- Accounts and demo ------------------------------------------------------------


@main.command("create-admin")
@click.option("--email", prompt="Email address")
@click.option("--name", default="Administrator", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_admin(email: str, name: str, password: str):
    """Create an administrator account (interactive, or with --email/--password)."""
    from hubcore.errors import HubcoreError
    from hubcore.identity import accounts

    try:
        account = accounts.create_account(email=email, name=name, password=password,
                                          is_admin=True)
    except HubcoreError as exc:
        db.session.rollback()
        details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
        raise click.ClickException(f"{exc.message} {details}".strip()) from None
    db.session.commit()
    click.echo(f"Administrator {account.email} created.")


@main.command("demo")
@with_appcontext
def demo():
    """Create a demo region: organisations, an account per role, and plugin data.

    Safe to run twice: what exists is kept. Refused in production.
    """
    from hubcore import demo as demo_data

    settings = current_app.extensions["hubcore"].settings
    if settings.production:
        raise click.ClickException("hubcore demo is refused in production.")
    credentials = demo_data.create_demo(settings.region)
    db.session.commit()
    click.echo(f"Demo region: {settings.region}. Sign in at http://127.0.0.1:5000/login with:")
    for role, email, password in credentials:
        click.echo(f"  {role:<22} {email:<40} {password}")


# -- Audit -------------------------------------------------------------------------


@main.group("audit")
def audit_group():
    """The hash-chained audit log."""


def _expect_head(_ctx, _param, value):
    if value is None:
        return None
    from hubcore import audit

    try:
        return audit.parse_head(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@audit_group.command("verify")
@click.option("--expect-head", metavar="SEQ:HASH", callback=_expect_head,
              help="A head printed by an earlier run: the chain must still reach that "
                   "entry with that hash (else it was cut short or rewritten).")
@with_appcontext
def audit_verify(expect_head):
    """Recompute the chain; exit 1 and name the first broken entry if any.

    Prints the head (the newest entry's SEQ:HASH): note it down somewhere
    else, and pass it to a later run with --expect-head.
    """
    from hubcore import audit

    ring = audit.keyring()
    result = audit.verify_chain(keys=ring, expect_head=expect_head)
    if ring.derived:
        click.echo("Note: HUBCORE_AUDIT_KEY is not set; the audit key is derived from the "
                   "secret key (the embedded default, not for production).", err=True)
    if result.ok:
        click.echo(f"OK: {result.checked} entries, chain unbroken."
                   + (f" Entry {expect_head[0]} has the hash noted." if expect_head else ""))
        click.echo(f"Head: {result.head}")
        click.echo(f"Key id: {result.key_id}"
                   + ("" if result.key_id == result.current_key_id or not result.checked
                      else f" (the current key, {result.current_key_id}, takes over at the "
                           "next entry written)"))
        return
    where = f"BROKEN at entry {result.broken_seq}" if result.broken_seq else "BROKEN"
    before = result.broken_seq is not None and result.checked < result.broken_seq
    click.echo(f"{where}: {result.reason} ({result.checked} entries "
               f"{'verified before it' if before else 'checked'}).", err=True)
    if result.head_seq:
        click.echo(f"Head: {result.head}", err=True)
    sys.exit(1)


# -- Jobs --------------------------------------------------------------------------


@main.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--with-scheduler/--without-scheduler", default=True, show_default=True,
              help="Also run rq's scheduler (delayed jobs and the periodic sweep).")
@with_appcontext
def worker(burst: bool, with_scheduler: bool):
    """Run an rq worker for the platform's queue (needs HUBCORE_REDIS_URL)."""
    from hubcore import jobs

    jq = jobs.job_queue()
    if jq.synchronous:
        raise click.ClickException(
            "HUBCORE_REDIS_URL is not set: jobs already run in-process, no worker is needed.")
    jobs.run_worker(burst=burst, with_scheduler=with_scheduler)


@main.command("scheduler")
@with_appcontext
def scheduler():
    """Enqueue the scheduled sweep every minute (run exactly one; needs HUBCORE_REDIS_URL)."""
    from hubcore import jobs

    if jobs.job_queue().synchronous:
        raise click.ClickException(
            "HUBCORE_REDIS_URL is not set: run `hubcore sweep` from cron or a timer instead.")
    jobs.run_scheduler()


@main.command("sweep")
@with_appcontext
def sweep():
    """Run every plugin's due scheduled work now. Safe to run at any time."""
    from hubcore import jobs

    done = jobs.sweep(utcnow())
    db.session.commit()
    for name, count in sorted(done.items()):
        click.echo(f"{name}: {count}")
    if not done:
        click.echo("Nothing was due.")


# -- Plugins -----------------------------------------------------------------------


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def plugins(as_json: bool):
    """List the plugins loaded, blocked by configuration, and broken."""
    report = current_app.extensions["hubcore"].plugins
    if as_json:
        click.echo(json.dumps({"loaded": report.loaded, "blocked": report.blocked,
                               "broken": report.broken, "missing": report.missing}, indent=2))
        return
    for name in report.loaded:
        click.echo(f"loaded   {name}")
    for name in report.blocked:
        click.echo(f"disabled {name} (not in HUBCORE_PLUGINS)")
    for name, error in report.broken.items():
        click.echo(f"BROKEN   {name}: {error}")
    for name in report.missing:
        click.echo(f"MISSING  {name} (in HUBCORE_PLUGINS, not installed)")


# -- Import and export ---------------------------------------------------------------


class PluginCommandGroup(click.Group):
    """A group plugins add commands to in ``hubcore_register``: the app (and so every
    plugin) is loaded before a subcommand is looked up or listed."""

    def get_command(self, ctx, cmd_name):
        ctx.ensure_object(ScriptInfo).load_app()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        ctx.ensure_object(ScriptInfo).load_app()
        return super().list_commands(ctx)


@main.group("import", cls=PluginCommandGroup)
def import_group():
    """Import data: the ONS Postcode Directory here; plugins add their own."""


@import_group.command("onspd")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_onspd(csv_path: str):
    """Import full postcodes from an ONS Postcode Directory (NSPL/ONSPD) CSV."""
    from hubcore.districts import gazetteer
    from hubcore.errors import HubcoreError

    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        try:
            result = gazetteer.import_onspd(handle)
        except HubcoreError as exc:
            db.session.rollback()
            details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
            raise click.ClickException(f"{exc.message} {details}".strip()) from None
    db.session.commit()
    click.echo(f"Imported {result.imported} postcodes in the region; "
               f"skipped {result.skipped_outside} outside it, {result.skipped_invalid} invalid.")


@main.group("export", cls=PluginCommandGroup)
def export_group():
    """Export data; plugins add their own exports."""


@export_group.command("person")
@click.argument("person_id", type=int)
@click.option("--output", "-o", type=click.File("w"), default="-",
              help="File to write the JSON to (default: standard output).")
@with_appcontext
def export_person(person_id: int, output):
    """Subject access export: everything held on one person, as JSON."""
    from hubcore.errors import NotFound
    from hubcore.identity import people

    try:
        person = people.get_person(person_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    body = people.export_person(person)
    db.session.commit()  # the export itself is audited
    json.dump(body, output, indent=2, ensure_ascii=False)
    output.write("\n")

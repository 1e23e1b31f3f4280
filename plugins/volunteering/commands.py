"""``hubcore import volunteers`` and ``hubcore export volunteers``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from hubcore.db import db
from hubcore.errors import HubcoreError

from . import volunteer_csv


@click.command("volunteers")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--all-or-nothing", is_flag=True,
              help="Import nothing if any row is bad (default: import the good rows).")
@with_appcontext
def import_volunteers(csv_path: str, all_or_nothing: bool):
    """Import volunteers from a CSV file; each bad row is reported by its line number.

    Columns: given_name, family_name, email, phone, postcode, skills, languages,
    availability (lists separated by ; ), max_travel_km, has_car, weekly_cap,
    consent (yes). Imported volunteers start as applied, to be vetted. Exits with
    status 1 when any row was bad (the good ones are imported unless --all-or-nothing).
    """
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        try:
            report = volunteer_csv.import_volunteers(handle, all_or_nothing=all_or_nothing)
        except HubcoreError as exc:
            db.session.rollback()
            details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
            raise click.ClickException(f"{exc.message} {details}".strip()) from None
    for problem in report.problems:
        click.echo(f"line {problem.line}: {' '.join(problem.messages)}", err=True)
    if report.rejected > len(report.problems):
        click.echo(f"... and {report.rejected - len(report.problems)} more bad rows.", err=True)
    if all_or_nothing and not report.ok:
        db.session.rollback()
        click.echo(f"Nothing imported: {report.rejected} bad rows (--all-or-nothing).",
                   err=True)
        raise SystemExit(1)
    db.session.commit()
    click.echo(f"Imported {report.imported} volunteers; {report.rejected} bad rows skipped.")
    if report.rejected:
        raise SystemExit(1)


@click.command("volunteers")
@click.option("--district", "districts", multiple=True, help="ONS code; repeat for several.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write the CSV to (default: standard output).")
@with_appcontext
def export_volunteers(districts: tuple[str, ...], output):
    """Export volunteers as CSV (all, or those of the given districts)."""
    count = volunteer_csv.export_volunteers(output, districts or None)
    db.session.commit()  # the export is audited
    click.echo(f"Exported {count} volunteers.", err=True)

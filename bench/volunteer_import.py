"""Benchmark importing volunteers from CSV.

Target (DESIGN.md, 2 cores): import 500,000 volunteers from CSV in <= 10 s on
SQLite, and at >= 50,000 rows/s on PostgreSQL. Baselines measured in the same
run, with the same rows already checked: a plain SQLAlchemy Core
``executemany`` per batch of 5,000 into the same table, and the import's own
writer alone (the driver's executemany on SQLite, COPY on PostgreSQL: what
the database costs with no checking at all).

    python bench/volunteer_import.py                        # 500,000 rows, temporary SQLite
    python bench/volunteer_import.py --rows 20000
    python bench/volunteer_import.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/hubcore_bench_vol --reset

The file is made first (not timed): realistic rows at Greater Manchester
postcodes (outward codes whose centroids are in ../shared/data/uk_outcodes.csv,
the benchmark only) with unique emails and phone numbers. The import is
``plugins.volunteering.volunteer_csv.import_volunteers`` exactly as
``hubcore import volunteers`` runs it, reading the file from disk: every row
checked and normalised by the sign-up rules (names, email, phone to E.164,
postcode placed by the gazetteer, skills, availability...), duplicates
refused, good rows written by the driver, one audit entry; then committed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from hubcore.app import create_app
from hubcore.db import db
from audit_chain import ensure_postgres_database
from measure import hide_password, write_result

NAME = "volunteer_import"
ROOT = Path(__file__).resolve().parents[1]
OUTCODES = ROOT.parent / "shared" / "data" / "uk_outcodes.csv"
TARGET_SQLITE_SECONDS_PER_500K = 10.0
TARGET_POSTGRES_ROWS_PER_S = 50_000
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
SKILLS = ("driving", "shopping", "prescription_collection", "befriending", "dog_walking",
          "practical_tasks", "admin")
SLOTS = [f"{d}_{p}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
         for p in ("morning", "afternoon", "evening")]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--reset", action="store_true",
                        help="delete the volunteers already in the database first")
    parser.add_argument("--outcodes", default=str(OUTCODES))
    parser.add_argument("--output", help="result file (default bench/results/<name>.json)")
    return parser.parse_args(argv)


def gm_outcodes(path: str) -> list[str]:
    from hubcore.districts.outcodes import load_outcodes

    table = load_outcodes("greater_manchester")
    if not Path(path).exists():
        # A clone without ../shared: the pack's own postcode districts.
        print(f"{path} not found: using the pack's embedded postcode districts")
        return sorted(row.code for row in table.rows.values())
    with open(path, newline="", encoding="utf-8") as handle:
        return sorted(r["postcode"] for r in csv.DictReader(handle) if table.get(r["postcode"]))


def make_csv(rows: int, outcodes: list[str]) -> str:
    rnd = random.Random(2020)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("given_name", "family_name", "email", "phone", "postcode", "skills",
                     "languages", "availability", "max_travel_km", "has_car", "weekly_cap",
                     "consent"))
    for i in range(rows):
        postcode = f"{rnd.choice(outcodes)} {rnd.randint(1, 9)}{rnd.choice(LETTERS)}" \
                   f"{rnd.choice(LETTERS)}"
        writer.writerow((f"Given{i}", f"Family{i % 997}", f"volunteer{i}@example.org",
                         f"07{700000000 + i:09d}", postcode,
                         ";".join(rnd.sample(SKILLS, rnd.randint(1, 3))),
                         "Urdu" if i % 10 == 0 else "",
                         ";".join(rnd.sample(SLOTS, rnd.randint(2, 6))),
                         rnd.choice((2, 3, 5, 8)), rnd.choice(("yes", "no")),
                         rnd.choice(("", "3", "4")), "yes"))
    return out.getvalue()


def empty(model) -> None:
    """Every phase starts from an empty table: on PostgreSQL a DELETE would leave
    the dead rows in the table and its indexes for the next phase to wade through."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text(f"TRUNCATE {model.__tablename__} CASCADE"))
    else:
        db.session.execute(sa.delete(model))
    db.session.commit()


def main(argv=None) -> None:
    args = parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="hubcore-bench-import-")
    url = args.database_url or f"sqlite:///{os.path.join(workdir, 'bench.sqlite3')}"
    if url.startswith(("postgres://", "postgresql")):
        ensure_postgres_database(url)
    try:
        app = create_app(env="testing", database_url=url,
                         secret_key="bench-secret-key-0123456789-0123456789",
                         plugins=("volunteering",))
        with app.app_context():
            from hubcore import schema_migrations
            from plugins.volunteering import volunteer_csv
            from plugins.volunteering.models import Volunteer

            schema_migrations.upgrade()
            existing = db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)
                                          ).scalar_one()
            if existing and not args.reset:
                raise SystemExit(f"the database already holds {existing} volunteers: "
                                 "use --reset on a benchmark database")
            if existing:
                empty(Volunteer)
            text = make_csv(args.rows, gm_outcodes(args.outcodes))
            path = os.path.join(workdir, "volunteers.csv")
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            print(f"{args.rows:,} rows of CSV made ({len(text) / 1e6:.1f} MB); importing")
            del text

            began, began_cpu = time.perf_counter(), time.process_time()
            with open(path, newline="", encoding="utf-8-sig") as handle:  # as the CLI does
                report = volunteer_csv.import_volunteers(handle)
            db.session.commit()
            import_s = time.perf_counter() - began
            import_cpu_s = time.process_time() - began_cpu
            if report.imported != args.rows:
                raise SystemExit(f"only {report.imported} of {args.rows} rows imported: "
                                 f"{report.problems[:3]}")

            # Baseline: the same rows, already checked, inserted with plain Core.
            rows = [{k: v for k, v in r.items() if k not in ("id",)}
                    for r in db.session.execute(sa.select(Volunteer.__table__)).mappings()]
            empty(Volunteer)
            began = time.perf_counter()
            for start in range(0, len(rows), volunteer_csv.BATCH):
                db.session.execute(sa.insert(Volunteer.__table__),
                                   rows[start:start + volunteer_csv.BATCH])
            db.session.commit()
            plain_s = time.perf_counter() - began

            # Baseline: the import's own writer alone, the same rows, no checking.
            empty(Volunteer)
            encoder = volunteer_csv._Encoder(rows[0]["created_at"])
            values = [encoder.row(r) for r in rows]
            del rows
            began = time.perf_counter()
            writer = volunteer_csv._Writer(volunteer_csv.BATCH, encoder.fixed)
            for v in values:
                writer.write(v)
            writer.finish()
            db.session.commit()
            driver_s = time.perf_counter() - began
            dialect = db.engine.dialect.name
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rate = args.rows / import_s
    print(f"import: {args.rows:,} rows in {import_s:.2f} s ({rate:,.0f} rows/s); this "
          f"process's CPU {import_cpu_s:.2f} s\n"
          f"baseline, plain Core insert of the same rows: {plain_s:.2f} s "
          f"({args.rows / plain_s:,.0f} rows/s); import is {plain_s / import_s:.2f}x its speed\n"
          f"floor, the import's driver writer alone: {driver_s:.2f} s "
          f"({args.rows / driver_s:,.0f} rows/s); checking costs "
          f"{(import_s - driver_s) / args.rows * 1e6:.1f} us/row on top")
    projected = import_s * 500_000 / args.rows
    meets = (projected <= TARGET_SQLITE_SECONDS_PER_500K if dialect == "sqlite"
             else rate >= TARGET_POSTGRES_ROWS_PER_S)
    path = write_result(NAME, {
        "database": {"dialect": dialect, "url": hide_password(url)},
        "parameters": {"rows": args.rows},
        "import": {"seconds": round(import_s, 2), "rows_per_s": round(rate),
                   "process_cpu_seconds": round(import_cpu_s, 2),
                   "projected_seconds_per_500k": round(projected, 1)},
        "baseline_plain_insert": {"seconds": round(plain_s, 2),
                                  "rows_per_s": round(args.rows / plain_s)},
        "ratio_to_baseline": round(plain_s / import_s, 3),
        "floor_driver_writer_alone": {"seconds": round(driver_s, 2),
                                      "rows_per_s": round(args.rows / driver_s)},
        "targets": {"sqlite_seconds_per_500k": TARGET_SQLITE_SECONDS_PER_500K,
                    "postgresql_rows_per_s": TARGET_POSTGRES_ROWS_PER_S},
        "meets_target": meets,
    }, args.output)
    print(f"result written to {path}")


if __name__ == "__main__":
    main()

"""Benchmark the audit log: appends per second, and verifying a 1,000,000-entry chain.

Targets (DESIGN.md, 2 cores): >= 1,000 appends/s; ``verify_chain`` over
1,000,000 entries in <= 10 s. Baselines measured in the same run and database:
plain inserts into a table of the same shape (no look-up of the last entry, no
hashing), and merely reading the rows ``verify_chain`` reads.

    python bench/audit_chain.py                       # a temporary SQLite file
    python bench/audit_chain.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/hubcore_bench --reset

Only the core is loaded (no plugins): the audit log is the core's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import timedelta

import sqlalchemy as sa

from hubcore import audit, schema_migrations
from hubcore.app import create_app
from hubcore.config import Settings
from hubcore.db import db, utcnow
from measure import hide_password, write_result

NAME = "audit_chain"
TARGET_APPENDS_PER_S = 1_000
TARGET_VERIFY_SECONDS = 10.0
TARGET_VERIFY_ENTRIES = 1_000_000

# Realistic variety, so the rows are the size real entries are.
ACTIONS = [("help_request.created", "help_request"), ("help_request.triaged", "help_request"),
           ("task.assigned", "task"), ("referral.accepted", "referral"),
           ("grant.approved", "grant_application"), ("account.signed_in", "account"),
           ("consent.recorded", "consent"), ("volunteer.activated", "volunteer")]
DISTRICTS = [f"E080000{n:02d}" for n in range(1, 11)] + [None]
SUMMARIES = [{"need": "food", "priority": "P1", "name": "Ada Example"},
             {"status": "matched", "score": 71.5},
             {"reason_code": "capacity", "needs": ["advice", "financial_hardship"]},
             {"amount_pence": 25000, "tier": "micro", "approvers": 1}, {}]


class Actor:
    """The part of an account ``audit.record`` reads."""

    def __init__(self, account_id: int):
        self.id = account_id


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=TARGET_VERIFY_ENTRIES,
                        help="length of the chain to verify (default 1,000,000)")
    parser.add_argument("--appends", type=int, default=2_000,
                        help="appends timed in each mode (default 2,000)")
    parser.add_argument("--batch-size", type=int, default=100,
                        help="appends per committed transaction in the batched mode")
    parser.add_argument("--database-url", default="",
                        help="default: a temporary SQLite file, removed afterwards")
    parser.add_argument("--reset", action="store_true",
                        help="empty the audit log of --database-url first (it must be a "
                             "benchmark database); without it a non-empty log is refused")
    parser.add_argument("--output", help="result file (default bench/results/audit_chain.json)")
    args = parser.parse_args(argv)
    if args.entries < 1 or args.appends < 1 or args.batch_size < 1:
        parser.error("--entries, --appends and --batch-size must be positive")
    return args


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist yet."""
    parsed = sa.engine.make_url(Settings(database_url=url).resolved_database_url("."))
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": parsed.database}).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


def plain_table() -> sa.Table:
    """A table shaped like ``audit_entries`` (same columns, unique seq, indexes)."""
    metadata = sa.MetaData()
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
               for c in audit.AuditEntry.__table__.columns]
    table = sa.Table("bench_audit_plain", metadata, *columns,
                     sa.UniqueConstraint("seq", name="uq_bench_audit_plain_seq"))
    sa.Index("ix_bench_audit_plain_action", table.c.action)
    sa.Index("ix_bench_audit_plain_actor_id", table.c.actor_id)
    sa.Index("ix_bench_audit_plain_district_code", table.c.district_code)
    sa.Index("ix_bench_audit_plain_entity", table.c.entity_type, table.c.entity_id)
    return table


def append_values(n: int) -> dict:
    """The arguments of the n-th append: varied action, district, actor, summary."""
    action, entity_type = ACTIONS[n % len(ACTIONS)]
    return {"action": action, "entity_type": entity_type, "entity_id": n,
            "actor": Actor(1 + n % 500) if n % 3 else None,
            "district": DISTRICTS[n % len(DISTRICTS)], "summary": SUMMARIES[n % len(SUMMARIES)]}


def time_record(count: int, batch_size: int, start: int) -> float:
    """Seconds for ``count`` calls of ``audit.record``, committing every ``batch_size``."""
    session = db.session
    began = time.perf_counter()
    for i in range(count):
        v = append_values(start + i)
        audit.record(v["action"], v["entity_type"], v["entity_id"], actor=v["actor"],
                     district=v["district"], summary=v["summary"])
        if (i + 1) % batch_size == 0:
            session.commit()
    session.commit()
    return time.perf_counter() - began


def time_plain(table: sa.Table, count: int, batch_size: int, start: int) -> float:
    """Seconds for ``count`` plain inserts of the same values: no chain, no hashing."""
    session = db.session
    insert = table.insert()
    fixed_hash = "f" * 64
    began = time.perf_counter()
    for i in range(count):
        v = append_values(start + i)
        actor = v["actor"]
        session.execute(insert, {
            "seq": start + i + 1, "at": utcnow(),
            "actor_id": getattr(actor, "id", None),
            "actor_label": f"account:{actor.id}" if actor is not None else "system",
            "action": v["action"], "entity_type": v["entity_type"],
            "entity_id": str(v["entity_id"]), "district_code": v["district"],
            "summary": json.dumps(v["summary"], sort_keys=True, ensure_ascii=False),
            "prev_hash": fixed_hash, "hash": fixed_hash,
        })
        if (i + 1) % batch_size == 0:
            session.commit()
    session.commit()
    return time.perf_counter() - began


def fill_chain(total: int, batch: int = 20_000) -> tuple[int, float]:
    """Extend the chain to ``total`` entries with bulk inserts of correctly hashed rows.

    Returns (rows added, seconds). Each row is hashed with ``audit.entry_hash``
    exactly as ``record`` would hash it, so ``verify_chain`` accepts the chain.
    """
    session = db.session
    last = session.execute(sa.select(audit.AuditEntry.seq, audit.AuditEntry.hash)
                           .order_by(audit.AuditEntry.seq.desc()).limit(1)).first()
    session.commit()
    seq, prev_hash = (last.seq, last.hash) if last else (0, audit.GENESIS_HASH)
    to_add = max(0, total - seq)
    insert = audit.AuditEntry.__table__.insert()
    summaries = [json.dumps(audit.redact(s), sort_keys=True, ensure_ascii=False)
                 for s in SUMMARIES]
    base = utcnow()
    began = time.perf_counter()
    remaining = to_add
    while remaining:
        rows = []
        for _ in range(min(batch, remaining)):
            seq += 1
            action, entity_type = ACTIONS[seq % len(ACTIONS)]
            actor_id = 1 + seq % 500 if seq % 3 else None
            row = {"seq": seq, "at": base + timedelta(microseconds=seq * 997),
                   "actor_id": actor_id,
                   "actor_label": f"account:{actor_id}" if actor_id else "system",
                   "action": action, "entity_type": entity_type, "entity_id": str(seq),
                   "district_code": DISTRICTS[seq % len(DISTRICTS)],
                   "summary": summaries[seq % len(summaries)], "prev_hash": prev_hash}
            row["hash"] = prev_hash = audit.entry_hash(**row)
            rows.append(row)
        with db.engine.begin() as conn:
            conn.execute(insert, rows)
        remaining -= len(rows)
    return to_add, time.perf_counter() - began


def time_read_only(batch: int = 5000) -> tuple[int, float]:
    """Seconds to merely read, in order, every row ``verify_chain`` reads, as it reads them
    (``at`` as the database's text where the verifier asks for that)."""
    entry = audit.AuditEntry
    connection = db.session.connection()
    at_text = audit._at_as_hashed(connection.dialect.name)
    began = time.perf_counter()
    rows = connection.execute(
        sa.select(entry.seq, entry.at if at_text is None else at_text, entry.actor_id,
                  entry.actor_label, entry.action,
                  entry.entity_type, entry.entity_id, entry.district_code, entry.summary,
                  entry.prev_hash, entry.hash).order_by(entry.seq)
        .execution_options(yield_per=batch))
    count = sum(1 for _ in rows)
    db.session.commit()
    return count, time.perf_counter() - began


def time_verify() -> tuple[audit.VerifyResult, float]:
    began = time.perf_counter()
    result = audit.verify_chain()
    elapsed = time.perf_counter() - began
    db.session.commit()
    return result, elapsed


def prepare(args) -> tuple[str, str | None]:
    """Return the database URL to use and a temporary folder to remove afterwards."""
    if args.database_url:
        if args.database_url.startswith(("postgres://", "postgresql")):
            ensure_postgres_database(args.database_url)
        return args.database_url, None
    folder = tempfile.mkdtemp(prefix="hubcore-bench-audit-")
    return f"sqlite:///{folder}/audit.sqlite3", folder


def run(args) -> dict:
    url, folder = prepare(args)
    try:
        app = create_app(Settings(env="testing", database_url=url, plugins=()))
        with app.app_context():
            return measure_all(args, url)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def measure_all(args, url: str) -> dict:
    schema_migrations.upgrade()
    session = db.session
    dialect = session.get_bind().dialect.name
    existing = session.execute(sa.select(sa.func.count()).select_from(audit.AuditEntry)).scalar()
    if existing and not args.reset:
        sys.exit(f"{hide_password(url)} already holds {existing} audit entries; "
                 "use --reset on a benchmark database")
    if existing:
        session.execute(sa.delete(audit.AuditEntry))
    session.commit()
    table = plain_table()
    table.drop(db.engine, checkfirst=True)
    table.create(db.engine)
    print(f"audit_chain on {dialect}: {args.appends:,} appends per mode, "
          f"chain of {args.entries:,} entries", flush=True)

    warm = min(50, args.appends)
    time_record(warm, warm, 0)  # imports, caches, compiled statements
    time_plain(table, warm, warm, 0)

    def rate(seconds: float) -> float:
        return args.appends / seconds if seconds else float("inf")

    appends = {}
    for number, (mode, batch_size) in enumerate((("one_per_transaction", 1),
                                                 ("batched", args.batch_size))):
        start = warm + number * args.appends
        plain_s = time_plain(table, args.appends, batch_size, start)
        record_s = time_record(args.appends, batch_size, start)
        appends[mode] = {
            "batch_size": batch_size, "appends": args.appends,
            "record_per_s": round(rate(record_s)),
            "plain_insert_per_s": round(rate(plain_s)),
            "ratio_to_baseline": round(plain_s / record_s, 3),
        }
        print(f"  record(), {mode.replace('_', ' ')} (batch {batch_size}): "
              f"{rate(record_s):,.0f} appends/s; plain inserts {rate(plain_s):,.0f}/s; "
              f"ratio {plain_s / record_s:.2f}x of baseline", flush=True)
    table.drop(db.engine)

    added, fill_s = fill_chain(args.entries)
    print(f"  filled the chain with {added:,} bulk-inserted entries in {fill_s:.1f} s", flush=True)
    total = session.execute(sa.select(sa.func.count()).select_from(audit.AuditEntry)).scalar()
    session.commit()

    _, first_read_s = time_read_only()  # warms the cache for both measurements
    result, verify_s = time_verify()
    read_count, read_s = time_read_only()
    read_s = min(read_s, first_read_s)
    if not result.ok or result.checked != total or read_count != total:
        sys.exit(f"verify_chain did not accept the chain: {result}")
    projected = verify_s * TARGET_VERIFY_ENTRIES / total
    print(f"  verify_chain: {total:,} entries in {verify_s:.2f} s "
          f"({total / verify_s:,.0f}/s); reading them only {read_s:.2f} s; "
          f"ratio {verify_s / read_s:.2f}x of baseline", flush=True)

    realistic = appends["one_per_transaction"]["record_per_s"]
    return {
        "database": {"dialect": dialect, "url": hide_password(url),
                     "server_version": ".".join(map(str, session.get_bind().dialect
                                                    .server_version_info or ()))},
        "parameters": {"entries": args.entries, "appends": args.appends,
                       "batch_size": args.batch_size},
        "targets": {"appends_per_s": TARGET_APPENDS_PER_S,
                    "verify_seconds_per_1m_entries": TARGET_VERIFY_SECONDS},
        "appends": appends,
        "fill": {"entries_added": added, "seconds": round(fill_s, 3)},
        "verify": {"entries": total, "ok": result.ok, "seconds": round(verify_s, 3),
                   "entries_per_s": round(total / verify_s),
                   "read_only_seconds": round(read_s, 3),
                   "ratio_to_baseline": round(verify_s / read_s, 3),
                   "projected_seconds_per_1m_entries": round(projected, 3)},
        "meets_targets": {"appends": realistic >= TARGET_APPENDS_PER_S,
                          "verify": projected <= TARGET_VERIFY_SECONDS},
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    result = run(args)
    path = write_result(NAME, result, args.output)
    met = result["meets_targets"]
    print(f"targets: appends {'met' if met['appends'] else 'MISSED'}, "
          f"verify {'met' if met['verify'] else 'MISSED'}; written to {path}")


if __name__ == "__main__":
    main()

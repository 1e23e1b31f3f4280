"""Benchmark the triage queue: one district's page among 100,000 open help requests.

The queue is ordered by the effective score (triage score + points for
waiting + points for escalation), computed by the database at query time so
that nothing starves. Baseline in the same run and database: the same query
(both branches of its ``UNION ALL``, the district's own requests and those a
neighbour shared as overflow, with the same filters and the same counts)
ordered by the stored ``score`` column instead (no computation), which shows
what computing the order costs and nothing else. Target (ours; DESIGN.md names none): one
district's first page, with its counts, p95 <= 50 ms on 2 cores.

    python bench/help_requests_queue.py                      # a temporary SQLite file
    python bench/help_requests_queue.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/hubcore_bench_queue --reset

Only the hub_requests plugin is loaded.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta

import sqlalchemy as sa

from audit_chain import ensure_postgres_database
from hubcore import schema_migrations
from hubcore.app import create_app
from hubcore.config import Settings
from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.identity.models import Person
from hubcore.identity.permissions import ALL_DISTRICTS
from measure import hide_password, summarise_ms, write_result
from plugins.hub_requests import queue, triage
from plugins.hub_requests.models import CIRCUMSTANCES, NEEDS, OPEN, URGENCIES, HelpRequest

NAME = "help_requests_queue"
TARGET_P95_MS = 50.0
PAGE = 50


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000,
                        help="open help requests in the region (default 100,000)")
    parser.add_argument("--queries", type=int, default=50, help="timed queries per kind")
    parser.add_argument("--database-url", default="",
                        help="default: a temporary SQLite file, removed afterwards")
    parser.add_argument("--reset", action="store_true",
                        help="delete the help requests of --database-url first (a benchmark "
                             "database); without it a database that has some is refused")
    parser.add_argument("--output", help=f"result file (default bench/results/{NAME}.json)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.queries < 1:
        parser.error("--requests and --queries must be positive")
    return args


OVERFLOW_SHARE = 0.03  # requests a district shared with a neighbour that had volunteers


def fill(total: int, batch: int = 5_000) -> float:
    """Bulk-insert ``total`` open requests (and their people) spread over a week; a few
    shared as overflow with a neighbouring district, so the queue's second branch reads
    real rows."""
    rng = random.Random(2026)
    pack = packs.current_pack()
    districts = pack.codes
    rules = triage.current_rules()
    now = utcnow()
    started = time.perf_counter()
    made = 0
    while made < total:
        size = min(batch, total - made)
        people = [{"given_name": f"Resident{made + i}", "family_name": "Bench",
                   "phone": f"+4477009{(made + i) % 100000:05d}", "name_key": "bench",
                   "district_code": districts[(made + i) % len(districts)],
                   "created_at": now, "updated_at": now, "version": 1}
                  for i in range(size)]
        ids = db.session.execute(
            sa.insert(Person).returning(Person.id, sort_by_parameter_order=True), people
        ).scalars().all()
        rows = []
        for i, person_id in enumerate(ids):
            needs = rng.sample(list(NEEDS), rng.choice((1, 1, 2)))
            circumstances = [c for c in CIRCUMSTANCES if rng.random() < 0.2]
            urgency = rng.choice(list(URGENCIES))
            created = now - timedelta(hours=rng.uniform(0, 7 * 24))
            result = triage.score_request(needs, circumstances, urgency, created_at=created,
                                          rules=rules)
            rows.append({
                "reference": f"BEN-{made + i:07d}", "person_id": person_id,
                "district_code": people[i]["district_code"], "needs": needs,
                "circumstances": circumstances, "urgency": urgency, "description": "",
                "recurrence": "none", "priority": result.priority, "score": result.score,
                "due_at": result.due_at, "reason": result.reason,
                "rules_version": result.rules_version,
                "status": rng.choice(("new", "new", "triaged", "matched", "assigned")),
                "escalated": rng.random() < 0.03, "channel": "web", "created_at": created,
                "overflow_district_code": _overflow_to(pack, people[i]["district_code"], rng),
                "updated_at": created, "version": 1})
        db.session.execute(sa.insert(HelpRequest), rows)
        db.session.commit()
        made += size
    return time.perf_counter() - started


def _overflow_to(pack, district: str, rng: random.Random) -> str | None:
    neighbours = pack.get(district).neighbours
    return rng.choice(neighbours) if neighbours and rng.random() < OVERFLOW_SHARE else None


def baseline_statement(districts, *, now) -> sa.Select:
    """``queue.queue_statement`` with one thing swapped: the stored score as the order.

    Built from the queue's own scopes and filters, so the baseline keeps both branches
    (own requests and overflow shared with the district) and every filter;
    ``tests/plugins/hub_requests/test_bench_scripts.py`` checks that its SQL is the
    product's with only the score expression replaced.
    """
    where = queue._filters(now, status=None, overdue=None, priority=None, reference=None)
    branches = [sa.select(HelpRequest.id.label("id"), HelpRequest.score.label("effective_score"),
                          HelpRequest.created_at.label("created_at")).where(scope, *where)
                for scope in queue._scopes(districts, None)]
    rows = (branches[0] if len(branches) == 1 else sa.union_all(*branches)).subquery("queue")
    return sa.select(rows.c.id).order_by(rows.c.effective_score.desc(), rows.c.created_at,
                                         rows.c.id)


def analyse() -> None:
    """What autovacuum / a periodic ANALYZE would have done to a table in steady use."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE hub_requests_requests"))
            conn.execute(sa.text("VACUUM ANALYZE people"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def time_queries(count: int, runs: dict) -> dict[str, list[float]]:
    """``count`` timings of each run, interleaved (the order rotating each round), so a
    busy moment on the machine falls on all of them alike."""
    for run in runs.values():
        run()  # warm the caches once, as a busy hub's database would be
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        for name in names[i % len(names):] + names[:i % len(names)]:
            started = time.perf_counter()
            runs[name]()
            samples[name].append(time.perf_counter() - started)
    return samples


def page_of(statement: sa.Select) -> list[HelpRequest]:
    """The first page, as the API serves it (total, ids in order, then the rows)."""
    rows = queue.queue_page(statement, page=1, per_page=PAGE).items
    db.session.expunge_all()
    return rows


def measure_all(args, url: str) -> dict:
    schema_migrations.upgrade()
    existing = db.session.execute(sa.select(sa.func.count()).select_from(HelpRequest)
                                  ).scalar_one()
    if existing and not args.reset:
        sys.exit(f"{hide_password(url)} already holds {existing} help requests: "
                 "use a benchmark database and --reset")
    if existing:
        db.session.execute(sa.delete(HelpRequest))
        db.session.execute(sa.delete(Person).where(Person.family_name == "Bench"))
        db.session.commit()
    fill_seconds = fill(args.requests)
    analyse()
    district = packs.current_pack().codes[0]
    one = frozenset({district})
    shared = db.session.execute(sa.select(sa.func.count()).select_from(HelpRequest).where(
        HelpRequest.overflow_district_code == district, HelpRequest.status.in_(OPEN))
    ).scalar_one()

    def district_page():
        now = utcnow()
        page_of(queue.queue_statement(one, now=now))
        queue.queue_counts(one, now=now)

    def baseline_page():
        now = utcnow()
        page_of(baseline_statement(one, now=now))
        queue.queue_counts(one, now=now)

    def region_page():
        page_of(queue.queue_statement(ALL_DISTRICTS, now=utcnow()))

    timed = {name: summarise_ms(samples) for name, samples in time_queries(args.queries, {
        "district_page": district_page, "baseline_stored_score": baseline_page,
        "region_page": region_page}).items()}
    ratio = timed["district_page"]["p50_ms"] / max(timed["baseline_stored_score"]["p50_ms"],
                                                   1e-9)
    return {
        "database": {"dialect": db.engine.dialect.name, "url": hide_password(url)},
        "parameters": {"requests": args.requests, "queries": args.queries, "page": PAGE},
        "fill_seconds": round(fill_seconds, 2),
        "overflow_requests_shared_with_the_district": shared,
        "timings": timed,
        "ratio_to_baseline": round(ratio, 2),
        "target_p95_ms": TARGET_P95_MS,
        "meets_targets": {"district_page_p95": timed["district_page"]["p95_ms"] <= TARGET_P95_MS},
    }


def run(args) -> dict:
    if args.database_url:
        if args.database_url.startswith(("postgres://", "postgresql")):
            ensure_postgres_database(args.database_url)
        url, folder = args.database_url, None
    else:
        folder = tempfile.mkdtemp(prefix="hubcore-bench-queue-")
        url = f"sqlite:///{folder}/queue.sqlite3"
    try:
        app = create_app(Settings(env="testing", database_url=url, plugins=("hub_requests",)))
        with app.app_context():
            try:
                return measure_all(args, url)
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    result = run(args)
    path = write_result(NAME, result, args.output)
    for name, figures in result["timings"].items():
        print(f"{name:24} p50 {figures['p50_ms']:8.2f} ms   p95 {figures['p95_ms']:8.2f} ms")
    print(f"effective-score order costs {result['ratio_to_baseline']}x the stored-score order")
    met = result["meets_targets"]["district_page_p95"]
    print(f"target p95 <= {TARGET_P95_MS} ms: {'met' if met else 'MISSED'}; written to {path}")


if __name__ == "__main__":
    main()

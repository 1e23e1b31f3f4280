"""Benchmark public intake under gunicorn, against a bare Flask insert in the same run.

``POST /api/v1/help-requests`` (validation, the core person found or made,
consent, postcode to district, triage, duplicate check, three audit entries,
Idempotency-Key stored) is loaded by concurrent keep-alive clients on the
loopback interface for a fixed time; then the baseline, a bare Flask endpoint
inserting one row (bench/bare_insert_app.py), under the same gunicorn
settings. Targets (DESIGN.md, 2 cores): >= 500 requests/s on SQLite and
>= 300/s on PostgreSQL, p99 <= 100 ms, and >= 50% of the bare endpoint.

    python bench/help_requests_intake.py                    # a temporary SQLite file
    python bench/help_requests_intake.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/hubcore_bench_intake --reset

By default gunicorn runs with the deployed settings, ``--config
deploy/gunicorn.conf.py`` (cores + 1 sync workers, the access log on), bound
to a loopback port instead of the socket; its log goes to a file, as it goes
to the journal in production. ``--config none`` runs gunicorn's own defaults
with ``--workers`` (one per core), no access log. ``--workers``,
``--worker-class`` and ``--threads`` given explicitly override either.

Only the hub_requests plugin is loaded. Traffic goes to 127.0.0.1 only, for
``--seconds`` per app and at most ``--max-requests``; the servers are stopped
afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from audit_chain import ensure_postgres_database
from bare_insert_app import TABLE, engine_for
from hubcore import schema_migrations
from hubcore.app import create_app
from hubcore.config import Settings
from hubcore.db import db
from hubcore.districts.outcodes import load_outcodes
from measure import hide_password, percentile, write_result

NAME = "help_requests_intake"
TARGET_RPS = {"sqlite": 500, "postgresql": 300}
TARGET_P99_MS = 100.0
TARGET_RATIO = 0.5
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEPLOYED_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
AUDIT_KEY = "bench-audit-key-not-a-real-one-0123456789"  # production needs one
HUB_TABLES = ("hub_requests_status_changes", "hub_requests_calls", "hub_requests_notes",
              "hub_requests_requests", "consents", "people", "audit_entries",
              "api_idempotency_keys")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per app")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--max-requests", type=int, default=50_000,
                        help="stop each app's load after this many requests")
    parser.add_argument("--config", default=str(DEPLOYED_CONFIG),
                        help="gunicorn config file (default: the deployed one, "
                             "deploy/gunicorn.conf.py); 'none' for gunicorn's defaults, "
                             "one worker per core and no access log")
    parser.add_argument("--workers", type=int,
                        help="gunicorn worker processes (default: the config's; one per "
                             "core with --config none)")
    parser.add_argument("--threads", type=int, help="threads per worker (gthread)")
    # Sync, as deploy/gunicorn.conf.py: a gthread worker accepts every connection
    # it can, and one of two workers was measured taking all 16 keep-alive clients.
    parser.add_argument("--worker-class", choices=("sync", "gthread"),
                        help="gunicorn worker class (default: the config's; sync with "
                             "--config none)")
    parser.add_argument("--database-url", default="",
                        help="default: a temporary SQLite file, removed afterwards")
    parser.add_argument("--reset", action="store_true",
                        help="empty the people, help requests and audit log of "
                             "--database-url first (a benchmark database only)")
    parser.add_argument("--output", help=f"result file (default bench/results/{NAME}.json)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.max_requests < 1:
        parser.error("--seconds, --concurrency and --max-requests must be positive")
    if args.config.lower() == "none":
        args.config = None
    elif not Path(args.config).is_file():
        parser.error(f"--config {args.config}: no such file")
    try:
        settings = effective_settings(args)
    except Exception as error:  # a config file that does not load is the user's to fix
        parser.error(f"--config {args.config}: {error}")
    if settings["threads"] > 1 and settings["worker_class"] == "sync":
        # gunicorn would quietly run gthread workers, and the result would say sync.
        parser.error("--threads above 1 needs --worker-class gthread")
    args.gunicorn = settings
    return args


def effective_settings(args) -> dict:
    """What gunicorn will run with: the config file's settings, then the options given."""
    from gunicorn.config import Config

    config = Config()
    if args.config:
        namespace: dict = {"__file__": args.config, "__name__": "__config__"}
        exec(compile(Path(args.config).read_text(encoding="utf-8"), args.config, "exec"),
             namespace)
        for key, value in namespace.items():
            if key in config.settings:
                config.set(key, value)
    else:
        config.set("workers", os.cpu_count() or 1)
    for key, value in (("workers", args.workers), ("threads", args.threads),
                       ("worker_class", args.worker_class)):
        if value is not None:
            config.set(key, value)
    return {"config": (str(Path(args.config).resolve().relative_to(ROOT))
                       if args.config and Path(args.config).resolve().is_relative_to(ROOT)
                       else args.config),
            "workers": config.workers, "worker_class": config.settings["worker_class"].get(),
            "threads": config.threads, "access_log": config.accesslog is not None,
            "max_requests": config.max_requests}


# -- The database ---------------------------------------------------------------------


def prepare_database(url: str, reset: bool) -> str:
    """Migrate, check it is empty (or empty it), make the baseline's table; return dialect."""
    app = create_app(Settings(env="testing", database_url=url, plugins=("hub_requests",)))
    with app.app_context():
        schema_migrations.upgrade()
        held = db.session.execute(sa.text("SELECT count(*) FROM hub_requests_requests")
                                  ).scalar_one()
        if held and not reset:
            sys.exit(f"{hide_password(url)} already holds {held} help requests: use a "
                     "benchmark database and --reset")
        if reset:
            for table in HUB_TABLES:
                db.session.execute(sa.text(f"DELETE FROM {table}"))
            db.session.commit()
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    engine = engine_for(url)
    TABLE.drop(engine, checkfirst=True)
    TABLE.create(engine)
    engine.dispose()
    return dialect


# -- Servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(target: str, port: int, args, env: dict, log) -> subprocess.Popen:
    """gunicorn on a loopback port; its stdout and stderr (the access log) go to ``log``."""
    if args.config:
        # The deployed settings; the command line overrides the config file's socket.
        command = [sys.executable, "-m", "gunicorn", "--config", str(Path(args.config).resolve()),
                   "--bind", f"127.0.0.1:{port}"]
    else:
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                   "--keep-alive", "5", "--log-level", "warning"]
    for option, value in (("--workers", args.gunicorn["workers"]),
                          ("--worker-class", args.gunicorn["worker_class"]),
                          ("--threads", args.gunicorn["threads"])):
        command += [option, str(value)]
    command += ["--chdir", str(BENCH_DIR), target]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn for {target} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status < 500:
                conn.close()
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"gunicorn for {target} did not start within 60 s")


def stop(process: subprocess.Popen) -> None:
    """Stop our own gunicorn (its process group: the master and its workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- Load -------------------------------------------------------------------------------


class Bodies:
    """A unique, realistic request body for each call (thread-safe counter)."""

    NEEDS = (["food"], ["medication"], ["essential_shopping", "food"], ["befriending"],
             ["financial_hardship", "advice"], ["practical_task"])
    CIRCUMSTANCES = ([], ["lives_alone"], ["aged_70_plus", "lives_alone"], ["shielding"],
                     ["no_food", "children_in_household"], ["disability", "no_one_else"])

    FAMILY_NAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson",
                    "Davies", "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker",
                    "Khan", "Hughes", "Roberts", "Green", "Hall", "Wood")
    INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters an inward code uses

    def __init__(self, prefix: str):
        table = load_outcodes("greater_manchester")
        self.outcodes = sorted(table.rows)
        self.prefix = prefix
        self.lock = threading.Lock()
        self.n = 0

    def next(self) -> tuple[int, bytes]:
        with self.lock:
            self.n += 1
            n = self.n
        # A full postcode: a random valid inward code in each outward code, as
        # residents have (so duplicate checks see a realistic few neighbours).
        pick = random.Random(f"{self.prefix}-{n}")
        inward = (str(pick.randrange(10)) + pick.choice(self.INWARD_LETTERS)
                  + pick.choice(self.INWARD_LETTERS))
        body = {
            "given_name": f"Bench{n}", "family_name": pick.choice(self.FAMILY_NAMES),
            "email": f"{self.prefix}-{n}@example.org",
            "postcode": f"{pick.choice(self.outcodes)} {inward}",
            "needs": self.NEEDS[n % len(self.NEEDS)],
            "circumstances": self.CIRCUMSTANCES[n % len(self.CIRCUMSTANCES)],
            "urgency": ("today", "few_days", "this_week")[n % 3],
            "description": "I cannot get out to the shops this week.", "consent": True}
        return n, json.dumps(body).encode()


def load(port: int, path: str, args, bodies: Bodies, *, idempotent: bool) -> dict:
    """Concurrent keep-alive clients for ``--seconds``; latency of every response."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = {"n": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        while time.monotonic() < deadline:
            with lock:
                if sent["n"] >= args.max_requests:
                    break
                sent["n"] += 1
            n, body = bodies.next()
            headers = {"Content-Type": "application/json"}
            if idempotent:
                headers["Idempotency-Key"] = f"{bodies.prefix}-{n:08d}"
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    created = statuses.get(201, 0)
    ms = [s * 1000 for s in latencies] or [0.0]
    return {"requests": len(latencies), "created": created,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "seconds": round(elapsed, 2), "created_per_s": round(created / elapsed, 1),
            "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2)}


def warm_up(port: int, path: str, bodies: Bodies, count: int = 20) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        conn.request("POST", path, body=bodies.next()[1],
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    conn.close()


def access_log_lines(path: Path, request_path: str) -> int:
    """How many requests to ``request_path`` the server's log shows (0 without a log)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return sum(f" {request_path} " in line for line in handle)


def measure(args, url: str, dialect: str, folder: Path) -> dict:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCORE_")}
    base_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(BENCH_DIR),
                                                           base_env.get("PYTHONPATH")]))
    hub_env = {**base_env, "HUBCORE_ENV": "production", "HUBCORE_SECRET_KEY": SECRET,
               "HUBCORE_AUDIT_KEY": AUDIT_KEY,
               "HUBCORE_PUBLIC_URL": "https://hubcore.example",
               "HUBCORE_DATABASE_URL": url, "HUBCORE_PLUGINS": "hub_requests",
               # No worker here: intake with hub_requests alone enqueues no job.
               "HUBCORE_JOBS_IN_PROCESS": "true",
               "HUBCORE_PUBLIC_RATE_LIMIT": "1000000 per minute",
               "HUBCORE_LOGIN_RATE_LIMIT": "1000000 per minute"}
    bare_env = {**base_env, "BENCH_DATABASE_URL": url}
    results = {}
    for name, target, path, env, idempotent in (
            ("intake", "hubcore.app:create_app()", "/api/v1/help-requests", hub_env, True),
            ("bare_insert", "bare_insert_app:create_bare_app()", "/insert", bare_env, False)):
        port = free_port()
        log_path = folder / f"{name}-gunicorn.log"
        with open(log_path, "wb") as log:
            process = start_gunicorn(target, port, args, env, log)
            try:
                bodies = Bodies(f"{name}-{int(time.time())}")
                warm_up(port, path, bodies)
                results[name] = load(port, path, args, bodies, idempotent=idempotent)
            finally:
                stop(process)
        results[name]["access_log_lines"] = access_log_lines(log_path, path)
        print(f"{name:12} {results[name]['created_per_s']:8.1f} created/s   "
              f"p50 {results[name]['p50_ms']:7.2f} ms   p99 {results[name]['p99_ms']:7.2f} ms"
              f"   statuses {results[name]['statuses']}   access log lines "
              f"{results[name]['access_log_lines']}")
    intake, bare = results["intake"], results["bare_insert"]
    ratio = intake["created_per_s"] / bare["created_per_s"] if bare["created_per_s"] else 0.0
    target_rps = TARGET_RPS.get(dialect, TARGET_RPS["postgresql"])
    return {
        "database": {"dialect": dialect, "url": hide_password(url)},
        "parameters": {"seconds": args.seconds, "concurrency": args.concurrency,
                       "max_requests": args.max_requests},
        "gunicorn": args.gunicorn,
        "intake": intake, "bare_insert": bare, "ratio_to_baseline": round(ratio, 3),
        "targets": {"created_per_s": target_rps, "p99_ms": TARGET_P99_MS,
                    "ratio_to_baseline": TARGET_RATIO},
        "meets_targets": {"throughput": intake["created_per_s"] >= target_rps,
                          "p99": intake["p99_ms"] <= TARGET_P99_MS,
                          "ratio": ratio >= TARGET_RATIO,
                          "no_errors": set(intake["statuses"]) == {"201"}},
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="hubcore-bench-intake-"))  # the logs, SQLite's file
    if args.database_url:
        url = args.database_url
        if url.startswith(("postgres://", "postgresql")):
            ensure_postgres_database(url)
    else:
        url = f"sqlite:///{folder}/intake.sqlite3"
    try:
        dialect = prepare_database(url, args.reset)
        result = measure(args, url, dialect, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    path = write_result(NAME, result, args.output)
    met = result["meets_targets"]
    print(f"ratio to the bare insert: {result['ratio_to_baseline']}; targets: "
          + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items())
          + f"; written to {path}")


if __name__ == "__main__":
    main()

"""The API contract run: schemathesis against the real app on loopback.

Starts Hubcore on a fresh, migrated database with the demo data, takes a
coordinator's and an administrator's bearer token from ``POST /api/v1/tokens``,
and runs schemathesis against ``/api/v1/openapi.json`` as an anonymous caller,
as the coordinator and as the administrator, then once more on the token
routes with a token it may revoke. Exits 1 if any run found a server error, a
status code the document does not list or a body that does not match it.

    .venv/bin/python tests/contract/run_schemathesis.py                  # SQLite
    .venv/bin/python tests/contract/run_schemathesis.py \\
        --database-url postgresql://postgres:postgres@127.0.0.1:5432/hubcore_contract

A PostgreSQL database named in ``--database-url`` is dropped and created again:
name one that holds nothing you want. See docs/running.md#the-api-contract-run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
BIN = Path(sys.executable).parent
CHECKS = ("not_a_server_error,status_code_conformance,response_schema_conformance,"
          "content_type_conformance,missing_required_header")
DEMO_PASSWORD = "hubcore-demo-2026"
COORDINATOR = "coordinator.bol@demo.hubcore.org.uk"
ADMINISTRATOR = "admin@demo.hubcore.org.uk"
# Routes that revoke the caller's own token: run last, with a token of their own,
# or they would sign the coordinator and administrator runs out halfway.
REVOKING = "^/api/v1/tokens/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL URL (dropped and created again); default: a "
                             "SQLite file in a temporary folder")
    parser.add_argument("--max-examples", type=int, default=20,
                        help="test cases per operation and phase (default 20)")
    parser.add_argument("--workers", default="2", help="schemathesis workers (default 2)")
    parser.add_argument("--seed", default="", help="schemathesis seed, to replay a run")
    parser.add_argument("--report-dir", default="",
                        help="keep the JUnit reports and the server log here")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="hubcore-contract-"))
    reports = Path(args.report_dir).resolve() if args.report_dir else workdir
    reports.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{workdir}/contract.sqlite3"
    if database_url.startswith("postgresql"):
        recreate_postgres_database(database_url)
    env = app_environment(database_url)
    server = None
    try:
        started = time.monotonic()
        run([str(BIN / "hubcore"), "db", "upgrade"], env)
        run([str(BIN / "hubcore"), "demo"], env, quiet=True)
        print(f"    database migrated and demo data loaded in {time.monotonic() - started:.0f}s")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(reports / "server.log", "w")
        server = subprocess.Popen(
            [str(BIN / "hubcore"), "run", "--host", "127.0.0.1", "--port", str(port),
             "--no-reload", "--no-debugger", "--with-threads"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(base, server)
        runs = [
            ("anonymous", None, []),
            ("coordinator", token_for(base, COORDINATOR), ["--exclude-path-regex", REVOKING]),
            ("administrator", token_for(base, ADMINISTRATOR),
             ["--exclude-path-regex", REVOKING]),
            ("token-revocation", token_for(base, COORDINATOR),
             ["--include-path-regex", REVOKING]),
        ]
        results = [schemathesis(label, base, token, extra, args, reports)
                   for label, token, extra in runs]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.report_dir:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\nAPI contract run:")
    failed = False
    for label, rc, counts in results:
        verdict = "ok" if rc == 0 and counts["failures"] == 0 else "FAILED"
        failed |= verdict != "ok"
        print(f"    {label:<17} {counts['tests']:>3} operations, {counts['failures']} failing "
              f"(schemathesis exit {rc}): {verdict}")
    return 1 if failed else 0


def app_environment(database_url: str) -> dict[str, str]:
    """The environment of ``make run`` on the given database: jobs in-process, and
    rate limits out of the way (they are proven by their own tests; here a 429
    would only hide what lies behind it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCORE_")}
    env.update(HUBCORE_ENV="development", HUBCORE_DATABASE_URL=database_url,
               HUBCORE_PUBLIC_RATE_LIMIT="1000000 per minute",
               HUBCORE_LOGIN_RATE_LIMIT="1000000 per minute",
               HUBCORE_RATE_LIMIT_STORAGE_URL="memory://",
               FLASK_DEBUG="0")
    return env


def recreate_postgres_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = target.database
    if not name:
        raise SystemExit("--database-url must name a database")
    admin = target.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run(command: list[str], env: dict, *, quiet: bool = False) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{' '.join(command)} failed with exit code {result.returncode}")
    if not quiet:
        sys.stdout.write("    " + result.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited with {server.returncode} before it served")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the app did not answer {base}/healthz within {timeout:.0f}s")


def token_for(base: str, email: str) -> str:
    body = json.dumps({"email": email, "password": DEMO_PASSWORD, "name": "contract"}).encode()
    request = urllib.request.Request(f"{base}/api/v1/tokens", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def schemathesis(label: str, base: str, token: str | None, extra: list[str],
                 args: argparse.Namespace, reports: Path) -> tuple[str, int, dict]:
    junit = reports / f"schemathesis-{label}.xml"
    command = [str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run",
               f"{base}/api/v1/openapi.json", "--checks", CHECKS,
               "--max-examples", str(args.max_examples), "--workers", args.workers,
               "--continue-on-failure", "--report", "junit", "--report-junit-path", str(junit),
               "--output-truncate", "false", *extra]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if args.seed:
        command += ["--seed", args.seed]
    print(f"\n==> schemathesis as {label}", flush=True)
    started = time.monotonic()
    rc = subprocess.run(command, cwd=reports).returncode
    print(f"    ({time.monotonic() - started:.0f}s)")
    return label, rc, junit_counts(junit)


def junit_counts(path: Path) -> dict:
    if not path.exists():
        return {"tests": 0, "failures": 1}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return {"tests": sum(int(s.get("tests", 0)) for s in suites),
            "failures": sum(int(s.get("failures", 0)) + int(s.get("errors", 0))
                            for s in suites)}


if __name__ == "__main__":
    sys.exit(main())

"""Running a benchmark script from a test, as a person would from the repository root.

The scripts keep working only if something runs them: the tests of each area
run theirs with tiny sizes and check the shape of what they write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_URL = os.environ.get("HUBCORE_TEST_DATABASE_URL", "")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``bench/<name>`` with the test suite's environment only; fail on a non-zero exit."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("HUBCORE_") or key.startswith("HUBCORE_TEST_")}
    completed = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


# -- The committed result files ------------------------------------------------------------

RESULTS = BENCH / "results"
# Each committed result file and the script that writes it (tests/core/test_bench_results.py
# checks that there are no others).
RESULT_FILES = {
    "audit_chain.json": "audit_chain.py",
    "audit_chain_postgresql.json": "audit_chain.py",
    "help_requests_intake.json": "help_requests_intake.py",
    "help_requests_intake_postgresql.json": "help_requests_intake.py",
    "help_requests_queue.json": "help_requests_queue.py",
    "help_requests_queue_postgresql.json": "help_requests_queue.py",
    "login_argon2.json": "login_argon2.py",
    "volunteer_import.json": "volunteer_import.py",
    "volunteer_import_postgresql.json": "volunteer_import.py",
    "volunteer_matching.json": "volunteer_matching.py",
}
# Objects whose keys are data, not fields (HTTP statuses seen, tasks that differed).
DATA_KEYED = {("intake", "statuses"), ("bare_insert", "statuses"), ("rank", "differing_tasks")}
ANY = "any"


def shape(value, path: tuple = ()):
    """What a result file's structure is, without its figures: the keys of every object,
    the kind of every value (number, text, flag); null fits any kind."""
    if isinstance(value, dict):
        if path[-2:] in DATA_KEYED:
            return "object keyed by data"
        return {key: shape(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return ["list of", *{json.dumps(shape(item, path), sort_keys=True)
                             for item in value if item is not None}]
    if value is None:
        return ANY
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, (int, float)):
        return "number"
    return "text"


def shape_differences(written, committed, path: str = "") -> list[str]:
    """Where two shapes differ (empty: the same shape)."""
    if ANY in (written, committed):
        return []
    if isinstance(written, dict) and isinstance(committed, dict):
        found = [f"{path}.{key}: only in the file the script writes today"
                 for key in written.keys() - committed.keys()]
        found += [f"{path}.{key}: only in the committed file"
                  for key in committed.keys() - written.keys()]
        for key in written.keys() & committed.keys():
            found += shape_differences(written[key], committed[key], f"{path}.{key}")
        return found
    if isinstance(written, list) and isinstance(committed, list):
        items = [json.loads(item) for item in written[1:] + committed[1:]]
        return [difference for item in items[1:]
                for difference in shape_differences(items[0], item, f"{path}[]")]
    return [] if written == committed else [f"{path}: {written} today, {committed} committed"]


def assert_committed_results_have_the_shape_of(result: dict, script: str) -> None:
    """Each committed result file of ``script`` has the shape of ``result``, which the
    script has just written (at tiny sizes)."""
    names = [name for name, writer in RESULT_FILES.items() if writer == script]
    assert names
    for name in names:
        committed = json.loads((RESULTS / name).read_text(encoding="utf-8"))
        differences = shape_differences(shape(result), shape(committed))
        assert not differences, (f"bench/results/{name} is not what {script} writes today "
                                 f"(run it again): {differences}")

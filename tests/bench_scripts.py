"""Running a benchmark script from a test, as a person would from the repository root.

The scripts keep working only if something runs them: the tests of each area
run theirs with tiny sizes and check the shape of what they write.
"""

from __future__ import annotations

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

"""What every benchmark shares: the machine it ran on, percentiles, the result file.

Each benchmark prints its figures and writes one JSON file under
``bench/results/`` so that a run can be compared with the README's table.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The load when the benchmark started (this module is imported first thing), to
# set beside the load when its result is written.
LOAD_AT_START = [round(load, 2) for load in os.getloadavg()]


def machine_info() -> dict:
    """Cores, CPU, Python and date: what a reader needs to compare two runs."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # Other work on the machine shows here (and in the baselines of the same run).
        "load_average_at_start_1_5_15": LOAD_AT_START,
        "load_average_1_5_15": [round(load, 2) for load in os.getloadavg()],
    }


def source_info(script: str | os.PathLike | None = None) -> dict:
    """The commit the run's code came from, and whether the script differed from it.

    A result file is only evidence if the script that wrote it is the one
    committed: ``script_changed`` is true when the benchmark script had
    uncommitted changes at the time of the run (None: not a git checkout).
    """
    root = RESULTS_DIR.parents[1]
    script = Path(script or sys.argv[0]).resolve()

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changed = None
    if commit is not None:
        try:
            relative = str(script.relative_to(root))
        except ValueError:
            relative = None
        status = git("status", "--porcelain", "--", relative) if relative else None
        changed = None if status is None else bool(status)
    return {"commit": commit, "script": script.name, "script_changed": changed}


def percentile(samples: list[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) by linear interpolation, as numpy does."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise_ms(samples_s: list[float]) -> dict:
    """p50 / p95 / mean / min / max in milliseconds from samples in seconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def percentile_ci(samples: list[float], pct: float, *, confidence: float = 0.95,
                  resamples: int = 2000, seed: int = 2026) -> tuple[float, float]:
    """A bootstrap confidence interval for the ``pct``-th percentile of ``samples``.

    The samples are drawn again with replacement ``resamples`` times (seeded, so a
    file's interval can be recomputed) and the percentile taken each time; the
    interval holds the middle ``confidence`` of those percentiles.
    """
    if not samples:
        raise ValueError("no samples")
    rnd = random.Random(seed)
    n = len(samples)
    estimates = sorted(percentile(rnd.choices(samples, k=n), pct) for _ in range(resamples))
    tail = (1 - confidence) / 2 * 100
    return percentile(estimates, tail), percentile(estimates, 100 - tail)


def verdict(low: float, high: float, target: float, *, at_most: bool = True) -> bool | None:
    """Met (True) or missed (False) only when the whole interval is on one side of the
    target; None when the target lies inside it (not separable from the noise)."""
    if at_most:
        return True if high <= target else False if low > target else None
    return True if low >= target else False if high < target else None


def hide_password(text: str) -> str:
    """Mask the password of any database URL in ``text`` before it is written down."""
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)


def write_result(name: str, result: dict, output: str | os.PathLike | None = None) -> Path:
    """Write ``result`` with the machine info as ``bench/results/<name>.json``."""
    path = Path(output) if output else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "machine": machine_info(), "source": source_info(),
                **result,
                "command": hide_password(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))}
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path

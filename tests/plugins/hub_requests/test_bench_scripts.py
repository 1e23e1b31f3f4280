"""The hub requests benchmarks still run and write result files of the right shape.

Tiny sizes, no timing asserted: the figures belong to bench/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.bench_scripts import (
    BENCH,
    PG_URL,
    ROOT,
    assert_committed_results_have_the_shape_of,
    run_script,
)


def test_queue_benchmark_writes_its_result(tmp_path):
    output = tmp_path / "queue.json"
    run_script("help_requests_queue.py", "--requests", "300", "--queries", "3",
               "--output", str(output))
    result = json.loads(output.read_text())
    assert result["benchmark"] == "help_requests_queue"
    assert result["parameters"] == {"requests": 300, "queries": 3, "page": 50}
    assert result["overflow_requests_shared_with_the_district"] >= 0
    assert_committed_results_have_the_shape_of(result, "help_requests_queue.py")
    assert set(result["timings"]) == {"district_page", "baseline_stored_score", "region_page"}
    for figures in result["timings"].values():
        assert figures["samples"] == 3 and 0 < figures["p50_ms"] <= figures["max_ms"]
    assert result["ratio_to_baseline"] > 0
    assert isinstance(result["meets_targets"]["district_page_p95"], bool)


@pytest.mark.requires("postgresql")
@pytest.mark.skipif(not PG_URL, reason="HUBCORE_TEST_DATABASE_URL is not set")
def test_queue_benchmark_runs_on_postgresql_and_resets_its_database(tmp_path):
    url = sa.engine.make_url(PG_URL)
    url = url.set(database=f"{url.database}_bench_queue").render_as_string(hide_password=False)
    output = tmp_path / "queue.json"
    for _ in range(2):  # the second run finds the first run's requests and resets them
        run_script("help_requests_queue.py", "--requests", "200", "--queries", "2",
                   "--database-url", url, "--reset", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["database"]["dialect"] == "postgresql"
    assert "postgres:postgres@" not in json.dumps(result)


def test_intake_benchmark_loads_both_servers_and_writes_its_result(tmp_path):
    output = tmp_path / "intake.json"
    completed = run_script("help_requests_intake.py", "--seconds", "1", "--concurrency", "2",
                           "--max-requests", "30", "--workers", "1", "--threads", "2",
                           "--worker-class", "gthread", "--config", "none",
                           "--output", str(output))
    assert "ratio to the bare insert" in completed.stdout
    result = json.loads(output.read_text())
    assert result["benchmark"] == "help_requests_intake"
    for name in ("intake", "bare_insert"):
        figures = result[name]
        assert 0 < figures["created"] <= 30 and figures["statuses"] == {
            "201": figures["created"]}
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert result["ratio_to_baseline"] > 0
    assert result["targets"] == {"created_per_s": 500, "p99_ms": 100.0,
                                 "ratio_to_baseline": 0.5}
    assert set(result["meets_targets"]) == {"throughput", "p99", "ratio", "no_errors"}
    assert result["gunicorn"] == {"config": None, "workers": 1, "worker_class": "gthread",
                                  "threads": 2, "access_log": False, "max_requests": 0}
    assert result["intake"]["access_log_lines"] == 0


def test_intake_benchmark_runs_the_deployed_gunicorn_config_by_default(tmp_path):
    """cores + 1 sync workers and the access log, as deploy/gunicorn.conf.py says."""
    output = tmp_path / "intake.json"
    run_script("help_requests_intake.py", "--seconds", "1", "--concurrency", "2",
               "--max-requests", "20", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["gunicorn"] == {"config": "deploy/gunicorn.conf.py",
                                  "workers": (os.cpu_count() or 1) + 1, "worker_class": "sync",
                                  "threads": 1, "access_log": True, "max_requests": 5000}
    for name in ("intake", "bare_insert"):
        # Every request the clients sent, the warm-up's 20 included, is in the access log.
        assert result[name]["access_log_lines"] == result[name]["requests"] + 20
    assert_committed_results_have_the_shape_of(result, "help_requests_intake.py")


def test_intake_benchmark_refuses_a_missing_config(tmp_path):
    refused = subprocess.run([sys.executable, str(BENCH / "help_requests_intake.py"),
                              "--config", str(tmp_path / "nope.conf.py")], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "no such file" in refused.stderr


def test_queue_baseline_is_the_queue_query_with_only_the_score_swapped(monkeypatch):
    """Both branches (own and overflow) and every filter kept; only the order's score differs."""
    from datetime import UTC, datetime

    from plugins.hub_requests import queue
    from plugins.hub_requests.models import HelpRequest

    monkeypatch.syspath_prepend(str(BENCH))
    import help_requests_queue

    now = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
    rules = type("Rules", (), {"waiting_points_per_hour": 1.0, "waiting_max_points": 10.0,
                               "escalated_points": 5.0})()
    monkeypatch.setattr(queue.triage, "current_rules", lambda: rules)
    one = frozenset({"E08000001"})
    product = queue.queue_statement(one, now=now)
    baseline = help_requests_queue.baseline_statement(one, now=now)
    dialect = sa.dialects.sqlite.dialect()

    def sql(statement) -> str:
        return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    score = str(queue.effective_score_expression(now, rules).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}))
    stored = str(HelpRequest.score.compile(dialect=dialect))
    assert score in sql(product) and sql(product).count(" UNION ALL ") == 1
    assert sql(baseline) == sql(product).replace(score, stored)
    assert sql(baseline) != sql(product)

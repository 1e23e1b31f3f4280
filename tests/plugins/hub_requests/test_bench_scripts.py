"""The hub requests benchmarks still run and write result files of the right shape.

Tiny sizes, no timing asserted: the figures belong to bench/README.md.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.bench_scripts import PG_URL, run_script


def test_queue_benchmark_writes_its_result(tmp_path):
    output = tmp_path / "queue.json"
    run_script("help_requests_queue.py", "--requests", "300", "--queries", "3",
               "--output", str(output))
    result = json.loads(output.read_text())
    assert result["benchmark"] == "help_requests_queue"
    assert result["parameters"] == {"requests": 300, "queries": 3, "page": 50}
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
                           "--worker-class", "gthread",
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

"""The volunteering benchmarks still run and write results of the right shape (tiny sizes)."""

from __future__ import annotations

import json

from tests.bench_scripts import run_script as run


def test_matching_benchmark_writes_its_result(tmp_path):
    out = tmp_path / "matching.json"
    run("volunteer_matching.py", "--volunteers", "3000", "--queries", "10", "--batch", "50",
        "--scarce-tasks", "40", "--scarce-volunteers", "50", "--output", str(out))
    result = json.loads(out.read_text())
    assert result["benchmark"] == "volunteer_matching"
    assert result["parameters"]["full_size"] is False
    assert result["rank"]["results_differing_from_brute_force"] == 0
    assert result["batch"]["tasks"] == 50
    assert set(result["meets_targets"]) == {"rank", "batch", "scarce"}
    scarce = result["scarce_pool"]
    assert scarce["optimal"]["total_km"] <= scarce["dense_optimum_check"]["total_km"] + 0.1


def test_import_benchmark_writes_its_result(tmp_path):
    out = tmp_path / "import.json"
    run("volunteer_import.py", "--rows", "300", "--output", str(out))
    result = json.loads(out.read_text())
    assert result["benchmark"] == "volunteer_import"
    assert result["database"]["dialect"] == "sqlite"
    assert result["import"]["rows_per_s"] > 0 and result["ratio_to_baseline"] > 0

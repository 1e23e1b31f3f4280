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


def test_benchmarks_run_in_a_clone_without_shared_data(tmp_path):
    """A clone with no ../shared beside it uses the pack's own postcode districts."""
    missing = str(tmp_path / "no_such_outcodes.csv")
    run("volunteer_matching.py", "--volunteers", "2000", "--queries", "5", "--batch", "20",
        "--scarce-tasks", "20", "--scarce-volunteers", "30", "--outcodes", missing,
        "--output", str(tmp_path / "m.json"))
    run("volunteer_import.py", "--rows", "200", "--outcodes", missing,
        "--output", str(tmp_path / "i.json"))
    assert json.loads((tmp_path / "m.json").read_text())["rank"]["results_differing_from_brute_force"] == 0
    assert json.loads((tmp_path / "i.json").read_text())["import"]["rows_per_s"] > 0

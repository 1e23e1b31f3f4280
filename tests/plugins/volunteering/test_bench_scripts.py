"""The volunteering benchmarks still run and write results of the right shape (tiny sizes)."""

from __future__ import annotations

import json

import pytest

from tests.bench_scripts import BENCH, assert_committed_results_have_the_shape_of
from tests.bench_scripts import run_script as run


def test_matching_benchmark_writes_its_result(tmp_path):
    out = tmp_path / "matching.json"
    run("volunteer_matching.py", "--volunteers", "3000", "--queries", "10", "--batch", "50",
        "--scarce-tasks", "40", "--scarce-volunteers", "50", "--sizes", "1000,3000,9000",
        "--output", str(out))
    result = json.loads(out.read_text())
    assert result["benchmark"] == "volunteer_matching"
    assert result["parameters"]["full_size"] is False
    rank = result["rank"]
    assert rank["results_differing"] == {"fair_baseline": 0, "naive_scan": 0}
    for method in ("indexed", "fair_baseline", "naive_scan"):
        assert rank[method]["samples"] == 10
    assert rank["speedup_vs_fair_p95"] > 0 and rank["speedup_vs_naive_p95"] > 0
    # Sizes above --volunteers are skipped; the full size is always the last.
    assert result["parameters"]["sizes"] == [1000, 3000]
    assert [e["volunteers"] for e in result["by_size"]] == [1000, 3000]
    assert all(e["results_differing"] == 0 and isinstance(e["index_wins"], bool)
               for e in result["by_size"])
    assert result["meets_targets"]["agreement"] is True
    assert result["batch"]["tasks"] == 50
    assert set(result["meets_targets"]) == {"rank", "rank_beats_fair_baseline", "batch",
                                            "scarce", "agreement"}
    scarce = result["scarce_pool"]
    assert scarce["optimal"]["total_km"] <= scarce["dense_optimum_check"]["total_km"] + 0.1
    assert_committed_results_have_the_shape_of(result, "volunteer_matching.py")


def test_import_benchmark_writes_its_result(tmp_path):
    out = tmp_path / "import.json"
    run("volunteer_import.py", "--rows", "300", "--output", str(out))
    result = json.loads(out.read_text())
    assert result["benchmark"] == "volunteer_import"
    assert result["database"]["dialect"] == "sqlite"
    assert result["import"]["rows_per_s"] > 0 and result["ratio_to_baseline"] > 0
    assert_committed_results_have_the_shape_of(result, "volunteer_import.py")


def test_benchmarks_run_in_a_clone_without_shared_data(tmp_path):
    """A clone with no ../shared beside it uses the pack's own postcode districts."""
    missing = str(tmp_path / "no_such_outcodes.csv")
    run("volunteer_matching.py", "--volunteers", "2000", "--queries", "5", "--batch", "20",
        "--scarce-tasks", "20", "--scarce-volunteers", "30", "--outcodes", missing,
        "--output", str(tmp_path / "m.json"))
    run("volunteer_import.py", "--rows", "200", "--outcodes", missing,
        "--output", str(tmp_path / "i.json"))
    assert json.loads((tmp_path / "m.json").read_text())["meets_targets"]["agreement"] is True
    assert json.loads((tmp_path / "i.json").read_text())["import"]["rows_per_s"] > 0


# -- The agreement check can fail ---------------------------------------------------------


@pytest.fixture
def matching_bench(monkeypatch):
    """bench/volunteer_matching.py imported as the script imports its neighbours."""
    monkeypatch.syspath_prepend(str(BENCH))
    import volunteer_matching

    return volunteer_matching


def _setup(bench, volunteers: int = 1500, tasks: int = 12, emptied: int = 0):
    """Volunteers, their index and tasks; the districts of the first ``emptied`` tasks
    have no volunteers, so those tasks are answered from the neighbours."""
    import random

    rnd = random.Random(7)
    places = bench.centroids(str(BENCH / "no_such_outcodes.csv"))
    rows = bench.make_volunteers(volunteers, places, rnd)
    query = bench.make_tasks(tasks, places, rnd, "q")
    empty = {task.district for task in query[:emptied]}
    rows = [row for row in rows if row.district_code not in empty]
    index = bench.build_index(rows)
    return rows, index, query, bench.synthetic_load(rows, rnd), bench.helped_people(
        rows, query, rnd)


def test_an_index_that_wrongly_finds_nobody_is_caught(matching_bench):
    """Every task is compared, those where the index found nobody included."""
    bench = matching_bench
    rows, index, tasks, load, helped = _setup(bench)
    fair = bench.fair_index(index)
    timed = bench.timed_rankings({
        "indexed": lambda task, wl: [],  # an index that finds nobody, ever
        "fair_baseline": lambda task, wl: bench.matching.rank_with_overflow(
            fair, task, wl, bench.NOW, 10),
    }, tasks, load, index.pack, helped)
    found_by_fair = sum(1 for task in tasks if bench.matching.rank_with_overflow(
        fair, task, bench.request_workload(task, load, index.pack, helped), bench.NOW, 10))
    assert found_by_fair > 0
    assert len(timed["differing"]["fair_baseline"]) == found_by_fair
    assert timed["empty"] == len(tasks)


def test_an_overflow_ranking_that_differs_is_caught(matching_bench):
    """Rankings answered from neighbouring districts are compared too."""
    bench = matching_bench
    rows, index, tasks, load, helped = _setup(bench, volunteers=3000, tasks=30, emptied=8)
    naive = bench.NaiveScan(index)

    def indexed(task, wl):
        found = bench.matching.rank_with_overflow(index, task, wl, bench.NOW, 10)
        return found[::-1] if found and found[0].overflow else found  # wrong order on overflow

    timed = bench.timed_rankings({"indexed": indexed,
                                  "naive_scan": lambda task, wl: naive.rank(task, wl, 10)},
                                 tasks, load, index.pack, helped)
    overflowed_with_two = [
        task.owner_id for task in tasks
        if len(found := bench.matching.rank_with_overflow(
            index, task, bench.request_workload(task, load, index.pack, helped), bench.NOW,
            10)) > 1 and found[0].overflow]
    assert overflowed_with_two, "the sample has no overflow ranking to compare"
    assert timed["differing"]["naive_scan"] == overflowed_with_two


def test_the_fair_and_naive_baselines_agree_with_the_index(matching_bench):
    bench = matching_bench
    rows, index, tasks, load, helped = _setup(bench, volunteers=2500, tasks=40, emptied=5)
    fair, naive = bench.fair_index(index), bench.NaiveScan(index)
    assert all(not arrays.indexed for arrays in fair.by_district.values())
    assert all(arrays.indexed for arrays in index.by_district.values())
    timed = bench.timed_rankings({
        "indexed": lambda t, wl: bench.matching.rank_with_overflow(index, t, wl, bench.NOW, 10),
        "fair_baseline": lambda t, wl: bench.matching.rank_with_overflow(fair, t, wl, bench.NOW,
                                                                          10),
        "naive_scan": lambda t, wl: naive.rank(t, wl, 10)}, tasks, load, index.pack, helped)
    assert timed["differing"] == {"fair_baseline": [], "naive_scan": []}
    assert timed["empty"] < len(tasks) and timed["overflow"] > 0


def test_a_difference_fails_the_run(matching_bench, monkeypatch, tmp_path):
    """The script writes its result and exits non-zero when any ranking differs."""
    bench = matching_bench
    real = bench.matching.rank_with_overflow

    def finds_nobody_in_the_indexed_index(index, task, workload, now, limit):
        if all(arrays.indexed for arrays in index.by_district.values()):
            return []
        return real(index, task, workload, now, limit)

    monkeypatch.setattr(bench.matching, "rank_with_overflow", finds_nobody_in_the_indexed_index)
    out = tmp_path / "m.json"
    with pytest.raises(SystemExit) as failed:
        bench.main(["--volunteers", "1500", "--queries", "8", "--batch", "10",
                    "--scarce-tasks", "10", "--scarce-volunteers", "12", "--sizes", "1500",
                    "--outcodes", str(tmp_path / "none.csv"), "--output", str(out)])
    assert failed.value.code not in (0, None)
    result = json.loads(out.read_text())
    assert result["meets_targets"]["agreement"] is False
    assert result["rank"]["results_differing"]["fair_baseline"] > 0


def test_each_timed_ranking_starts_without_a_warm_due_window_memo(matching_bench):
    bench = matching_bench
    rows, index, tasks, load, helped = _setup(bench, volunteers=300, tasks=5)
    hits_seen = []

    def indexed(task, wl):
        before = bench.matching._window_mask.cache_info()  # nothing kept, nothing hit yet
        hits_seen.append((before.currsize, before.hits))
        return bench.matching.rank_with_overflow(index, task, wl, bench.NOW, 10)

    bench.timed_rankings({"indexed": indexed}, tasks, load, index.pack, helped)
    assert hits_seen == [(0, 0)] * len(tasks)
    assert len({task.due_at for task in tasks}) == len(tasks)  # due times vary

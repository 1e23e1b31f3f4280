"""The committed benchmark figures are the files' and the files are the scripts'.

bench/README.md's tables are written by bench/report.py from bench/results/*.json;
each result file names the commit and script that wrote it. Whether each file has
the shape its script writes today is checked where each script is run at tiny
sizes (the tests/*/test_bench_scripts.py files, with
``assert_committed_results_have_the_shape_of``); here: that every committed file
is one of those, written by a committed script, and that the README matches them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.bench_scripts import (
    BENCH,
    RESULT_FILES,
    RESULTS,
    ROOT,
    shape,
    shape_differences,
)


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / "report.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_readme_tables_are_generated_from_the_result_files():
    checked = _report("--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_figure_typed_into_the_readme_by_hand_is_caught(tmp_path):
    readme = (BENCH / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- report:login -->")
    end = readme.index("<!-- /report:login -->")
    edited = readme[:start] + readme[start:end].replace(" ms", " ms ", 1) + readme[end:]
    assert edited != readme
    copy = tmp_path / "README.md"
    copy.write_text(edited, encoding="utf-8")
    checked = _report("--check", "--readme", str(copy))
    assert checked.returncode == 1 and "out of date" in checked.stderr
    assert copy.read_text(encoding="utf-8") == edited  # --check changes nothing
    rewritten = _report("--readme", str(copy))
    assert rewritten.returncode == 0 and copy.read_text(encoding="utf-8") == readme


def test_a_readme_without_a_tables_markers_is_refused(tmp_path):
    readme = (BENCH / "README.md").read_text(encoding="utf-8")
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace("<!-- report:hub -->", "").replace(
        "<!-- /report:hub -->", ""), encoding="utf-8")
    checked = _report("--check", "--readme", str(copy))
    assert checked.returncode != 0 and "hub" in checked.stderr


def test_every_committed_result_file_is_known_and_has_its_shape_tested():
    assert {path.name for path in RESULTS.glob("*.json")} == set(RESULT_FILES)
    assert {path.name for path in BENCH.glob("*.py")} >= set(RESULT_FILES.values())


@pytest.mark.parametrize("name", sorted(RESULT_FILES))
def test_each_result_file_was_written_by_its_committed_script(name):
    result = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    script = RESULT_FILES[name]
    assert result["benchmark"] == script.removesuffix(".py")
    assert result["command"].split()[0] == script
    if name.endswith("_postgresql.json"):
        assert result["database"]["dialect"] == "postgresql"
        assert f"--output bench/results/{name}" in result["command"]
    source, machine = result["source"], result["machine"]
    assert source["script"] == script and len(source["commit"]) == 40
    assert source["script_changed"] is False  # run from a committed script, unchanged
    assert len(machine["load_average_at_start_1_5_15"]) == 3
    assert len(machine["load_average_1_5_15"]) == 3
    assert machine["cores"] >= 1 and machine["cpu"] and machine["python"]
    assert "postgres:postgres@" not in json.dumps(result)  # passwords are masked
    assert result["parameters"]


def test_shapes_differ_on_a_missing_or_retyped_field_and_not_on_figures():
    written = {"a": 1, "b": {"c": "x", "d": [{"e": 1.5}]}, "flag": True, "maybe": None}
    assert shape_differences(shape(written), shape(
        {"a": 2.5, "b": {"c": "y", "d": [{"e": 7}, {"e": 8}]}, "flag": False,
         "maybe": 3})) == []
    assert shape_differences(shape(written), shape(
        {"a": 1, "b": {"c": "x", "d": [{"e": 1.5}]}, "flag": True})) == [
        ".maybe: only in the file the script writes today"]
    assert shape_differences(shape(written), shape(
        {"a": "1", "b": {"c": "x", "d": [{"f": 1}]}, "flag": True, "maybe": None})) != []
    statuses = {"intake": {"statuses": {"201": 5}}}
    assert shape_differences(shape(statuses), shape(
        {"intake": {"statuses": {"201": 4, "503": 1}}})) == []

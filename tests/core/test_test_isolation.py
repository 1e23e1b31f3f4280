"""The test suite's own isolation and its rule that CI cannot skip what it provides."""

from __future__ import annotations

import pytest

from tests import conftest


@pytest.mark.parametrize(("worker", "given", "used"), [
    ("", "redis://127.0.0.1:6379/6", "redis://127.0.0.1:6379/6"),
    ("gw0", "redis://127.0.0.1:6379/6", "redis://127.0.0.1:6379/6"),
    ("gw1", "redis://127.0.0.1:6379/6", "redis://127.0.0.1:6379/7"),
    ("gw1", "redis://:pw@127.0.0.1:6379", "redis://:pw@127.0.0.1:6379/1"),
    ("gw1", "", ""),
])
def test_each_xdist_worker_has_a_redis_database_of_its_own(monkeypatch, worker, given, used):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert conftest._worker_redis_url(given) == used


def test_a_skip_of_a_required_kind_fails_and_any_other_skip_stays_a_skip(pytester_like):
    code, out = pytester_like("redis")
    # A skip in setup (skipif) is reported as an error of the setup: the run fails.
    assert code == 1 and "1 skipped, 1 error" in out, out
    assert "test_needs_redis was skipped (Skipped: no Redis here), but HUBCORE_TEST_REQUIRE" \
           "=redis says tests needing redis must run here" in out
    code, out = pytester_like("redis,browser")
    assert code == 1 and "1 failed, 1 error" in out, out  # a skip in the test body: failed
    code, out = pytester_like("")  # a bare machine: skips, with their reasons
    assert code == 0 and "2 skipped" in out and "no Redis here" in out, out


@pytest.fixture
def pytester_like(tmp_path):
    """Run a tiny suite with this conftest's hook, under a given HUBCORE_TEST_REQUIRE."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(conftest.__file__).parents[1]
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_configure, pytest_runtest_makereport  # noqa\n")
    (tmp_path / "test_kinds.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requires('redis')\n"
        "@pytest.mark.skipif(True, reason='no Redis here')\n"
        "def test_needs_redis():\n    pass\n\n"
        "@pytest.mark.requires('browser')\n"
        "def test_needs_a_browser():\n    pytest.skip('no browser here')\n")

    def run(required: str) -> tuple[int, str]:
        env = {**os.environ, "HUBCORE_TEST_REQUIRE": required, "PYTHONPATH": str(root)}
        env.pop("HUBCORE_TEST_REQUIRE_BROWSER", None)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs",
                               "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)],
                              capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=120)
        return done.returncode, done.stdout + done.stderr
    return run

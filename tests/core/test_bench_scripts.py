"""The benchmark scripts in bench/ still run, and write result files of the right shape.

Tiny sizes, no timing asserted: the figures themselves belong to bench/README.md.
Also pins the audit hash format the verifier's fast path must keep.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from hubcore import audit
from tests.bench_scripts import (
    BENCH,
    PG_URL,
    ROOT,
    assert_committed_results_have_the_shape_of,
    run_script,
)


def assert_machine_info(result: dict, benchmark: str) -> None:
    assert result["benchmark"] == benchmark
    machine = result["machine"]
    assert isinstance(machine["cores"], int) and machine["cores"] >= 1
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert datetime.fromisoformat(machine["date"]).tzinfo is not None
    assert len(machine["load_average_1_5_15"]) == 3
    assert len(machine["load_average_at_start_1_5_15"]) == 3
    source = result["source"]
    assert source["script"] == f"{benchmark}.py"
    assert source["commit"] is None or len(source["commit"]) == 40


def assert_audit_chain_result(result: dict, *, entries: int, dialect: str) -> None:
    assert_machine_info(result, "audit_chain")
    assert result["database"]["dialect"] == dialect
    assert "postgres:postgres@" not in json.dumps(result)  # passwords are masked
    assert result["parameters"] == {"entries": entries, "appends": 20, "batch_size": 5}
    assert set(result["appends"]) == {"one_per_transaction", "batched"}
    for mode in result["appends"].values():
        assert mode["record_per_s"] > 0 and mode["plain_insert_per_s"] > 0
        assert mode["ratio_to_baseline"] > 0
    verify = result["verify"]
    assert verify["ok"] is True and verify["entries"] == entries
    assert verify["seconds"] > 0 and verify["read_only_seconds"] > 0
    assert verify["ratio_to_baseline"] > 0 and verify["projected_seconds_per_1m_entries"] > 0
    assert set(result["meets_targets"]) == {"appends", "verify"}
    assert all(isinstance(met, bool) for met in result["meets_targets"].values())


def test_audit_chain_benchmark_writes_its_result_on_sqlite(tmp_path):
    output = tmp_path / "audit_chain.json"
    completed = run_script("audit_chain.py", "--entries", "200", "--appends", "20",
                           "--batch-size", "5", "--output", str(output))
    assert "verify_chain: 200 entries" in completed.stdout
    result = json.loads(output.read_text())
    assert_audit_chain_result(result, entries=200, dialect="sqlite")
    assert_committed_results_have_the_shape_of(result, "audit_chain.py")


@pytest.mark.requires("postgresql")
@pytest.mark.skipif(not PG_URL, reason="HUBCORE_TEST_DATABASE_URL is not set")
def test_audit_chain_benchmark_writes_its_result_on_postgresql(tmp_path):
    url = sa.engine.make_url(PG_URL)
    url = url.set(database=f"{url.database}_bench_scripts").render_as_string(hide_password=False)
    output = tmp_path / "audit_chain.json"
    for _ in range(2):  # the second run finds the first run's chain and resets it
        run_script("audit_chain.py", "--entries", "150", "--appends", "20", "--batch-size", "5",
                   "--database-url", url, "--reset", "--output", str(output))
    assert_audit_chain_result(json.loads(output.read_text()), entries=150,
                              dialect="postgresql")


def test_audit_chain_benchmark_refuses_a_database_that_already_has_a_log(tmp_path):
    database = f"sqlite:///{tmp_path / 'kept.sqlite3'}"
    args = ["--entries", "60", "--appends", "20", "--batch-size", "5",
            "--database-url", database, "--output", str(tmp_path / "result.json")]
    run_script("audit_chain.py", *args)
    refused = subprocess.run([sys.executable, str(BENCH / "audit_chain.py"), *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "already holds 60 audit entries" in refused.stderr


def test_login_benchmark_writes_its_result(tmp_path):
    output = tmp_path / "login_argon2.json"
    run_script("login_argon2.py", "--rounds", "2", "--verifications", "3", "--logins", "2",
               "--context-verifications", "1", "--output", str(output))
    result = json.loads(output.read_text())
    assert_machine_info(result, "login_argon2")
    verify = result["verify"]
    from hubcore.config import Settings

    defaults = Settings()
    assert verify["platform"]["hasher"] == {"time_cost": defaults.argon2_time_cost,
                                            "memory_kib": defaults.argon2_memory_kib,
                                            "parallelism": 1, "type": "id"}
    # The baseline is the same call with a trivially cheap argon2id, not a costlier one.
    assert verify["baseline"]["hasher"] == {"time_cost": 1, "memory_kib": 8,
                                            "parallelism": 1, "type": "id"}
    for stats in (verify["platform"], verify["baseline"], result["login_round_trip"]["platform"],
                  result["login_round_trip"]["baseline"]):
        assert 0 < stats["p50_ms"] <= stats["p95_ms"]
        low, high = stats["p95_ci95_ms"]
        assert low <= stats["p95_ms"] <= high
        assert len(stats["p95_per_round_ms"]) == 2
        assert stats["band_ms"][0] <= low and stats["band_ms"][1] >= high
    assert verify["platform"]["samples"] == 6 and result["login_round_trip"]["platform"][
        "samples"] == 4
    assert [(e["hasher"]["memory_kib"], e["hasher"]["time_cost"], e["library_default"])
            for e in result["context"]] == [(65536, 3, True), (47104, 1, False),
                                             (19456, 2, False), (12288, 3, False),
                                             (9216, 4, False), (7168, 5, False)]
    assert result["meets_targets"]["verify"] in (True, False, None)
    assert_committed_results_have_the_shape_of(result, "login_argon2.py")


@pytest.mark.parametrize(("low", "high", "expected"), [
    (19.0, 24.9, True), (25.1, 30.0, False), (24.0, 26.0, None), (25.0, 25.0, True)])
def test_a_target_is_called_only_outside_the_noise(monkeypatch, low, high, expected):
    monkeypatch.syspath_prepend(str(BENCH))
    import measure

    assert measure.verdict(low, high, 25.0) is expected


def test_the_bootstrap_interval_holds_the_percentile_and_narrows_with_samples(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import random

    import measure

    rnd = random.Random(1)
    few = [rnd.gauss(20, 2) for _ in range(30)]
    many = [rnd.gauss(20, 2) for _ in range(3000)]
    for samples in (few, many):
        low, high = measure.percentile_ci(samples, 95)
        assert low <= measure.percentile(samples, 95) <= high
    assert (lambda ci: ci[1] - ci[0])(measure.percentile_ci(many, 95)) < (
        lambda ci: ci[1] - ci[0])(measure.percentile_ci(few, 95))
    assert measure.percentile_ci(few, 95) == measure.percentile_ci(few, 95)  # seeded


def _reference_hash(key: bytes | None = None, **fields) -> str:
    """The hash format as first written: SHA-256 of the compact JSON list of the fields;
    keyed, HMAC-SHA256 of the same bytes (the standard library's own HMAC)."""
    payload = json.dumps(
        [fields["seq"], fields["at"].astimezone(UTC).isoformat(timespec="microseconds"),
         fields["actor_id"], fields["actor_label"], fields["action"], fields["entity_type"],
         fields["entity_id"], fields["district_code"], fields["summary"], fields["prev_hash"]],
        separators=(",", ":"), ensure_ascii=False)
    if key is not None:
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(payload.encode()).hexdigest()


@pytest.mark.parametrize("fields", [
    dict(seq=1, at=datetime(2026, 1, 1, tzinfo=UTC), actor_id=None, actor_label="system",
         action="account.created", entity_type="account", entity_id=None, district_code=None,
         summary="{}", prev_hash=audit.GENESIS_HASH),
    dict(seq=10**9, at=datetime(2026, 3, 29, 1, 30, 5, 7, tzinfo=timezone(timedelta(hours=1))),
         actor_id=42, actor_label="account:42", action='quote " and \\ backslash',
         entity_type="café", entity_id="line\nbreak\t\x00\x1f\x7f\u2028",
         district_code="E08000001", summary='{"amount":"£250","emoji":"\U0001f600"}',
         prev_hash="f" * 64),
    dict(seq=True, at=datetime(2026, 1, 1, tzinfo=UTC), actor_id=7.5, actor_label="system",
         action="a", entity_type="b", entity_id=12, district_code=None, summary="{}",
         prev_hash="0" * 64),
], ids=["plain", "escapes-and-non-ascii", "unusual-types"])
def test_entry_hash_keeps_the_chain_format_on_its_fast_path(fields):
    assert audit.entry_hash(**fields, key=None) == _reference_hash(**fields)
    key = b"an audit key of the test suite, 0123456789"
    assert audit.entry_hash(**fields, key=key) == _reference_hash(**fields, key=key)


# -- The append fast path (a transaction reuses the tail it appended) keeps the chain whole --


def _append(step: int):
    return audit.record("case.updated", "case", step, summary={"step": step})


def test_appends_in_one_transaction_chain_onto_each_other(app, db):
    entries = [_append(step) for step in range(5)]
    db.session.commit()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    stored = db.session.execute(sa.select(audit.AuditEntry.seq, audit.AuditEntry.hash)
                                .order_by(audit.AuditEntry.seq)).all()
    assert [tuple(row) for row in stored] == [(e.seq, e.hash) for e in entries]
    assert audit.verify_chain().checked == 5


def test_an_append_after_a_rolled_back_savepoint_chains_onto_what_is_kept(app, db):
    _append(1)
    savepoint = db.session.begin_nested()
    _append(2)
    savepoint.rollback()
    kept = _append(3)
    db.session.commit()
    assert kept.seq == 2
    result = audit.verify_chain()
    assert result.ok and result.checked == 2


def test_an_append_after_a_released_savepoint_chains_onto_the_savepoints_entry(app, db):
    _append(1)
    with db.session.begin_nested():
        inner = _append(2)
    after = _append(3)
    db.session.commit()
    assert (inner.seq, after.seq, after.prev_hash) == (2, 3, inner.hash)
    assert audit.verify_chain().checked == 3


def test_an_append_after_a_rollback_asks_the_database_again(app, db):
    _append(1)
    db.session.commit()
    _append(2)
    db.session.rollback()
    again = _append(3)
    db.session.commit()
    assert again.seq == 2
    assert audit.verify_chain().ok


def test_an_append_flushes_the_callers_pending_changes_first(app, db):
    from hubcore.identity.models import Organisation

    organisation = Organisation(name="Bolton Hub", kind="hub")
    db.session.add(organisation)
    entry = _append(1)
    assert organisation.id is not None
    stored = db.session.get(audit.AuditEntry, entry.id)
    assert (stored.seq, stored.hash, stored.action) == (entry.seq, entry.hash, entry.action)


@pytest.mark.parametrize("at", [
    datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: isoformat still writes them
    datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, 0, 5, tzinfo=timezone(timedelta(hours=1))),
], ids=["whole-second", "last-microsecond", "not-utc"])
def test_the_database_writes_timestamps_as_the_hash_does(app, db, at):
    """The verifier reads ``at`` as the database's text; it must be entry_hash's text."""
    db.session.execute(audit.AuditEntry.__table__.insert(), {
        "seq": 1, "at": at, "actor_id": None, "actor_label": "system", "action": "a",
        "entity_type": "b", "entity_id": None, "district_code": None, "summary": "{}",
        "prev_hash": audit.GENESIS_HASH, "hash": "0" * 64})
    expression = audit._at_as_hashed(db.engine.dialect.name)
    assert expression is not None
    text = db.session.execute(sa.select(expression)).scalar_one()
    assert text == at.astimezone(UTC).isoformat(timespec="microseconds")


def test_a_timestamp_overwritten_with_text_is_reported_not_a_crash(app, db):
    """On SQLite a timestamp can be overwritten with any text; the verifier names the entry."""
    for step in range(3):
        _append(step)
    db.session.commit()
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses text that is not a timestamp")
    db.session.execute(sa.text("UPDATE audit_entries SET at = 'yesterday' WHERE seq = 2"))
    db.session.commit()
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq, result.checked) == (False, 2, 1)

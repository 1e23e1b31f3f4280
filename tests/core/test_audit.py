"""The audit log: an unbroken hash chain, tampering located, redaction, scoped reading."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

import hubcore.cli
from hubcore import audit
from hubcore.audit import AuditEntry
from hubcore.db import db as _db
from tests.conftest import BOLTON, WIGAN, login


def append(n: int, *, district: str | None = BOLTON, action: str = "case.updated") -> list[int]:
    """Append ``n`` committed entries; return their seq numbers."""
    seqs = []
    for i in range(n):
        entry = audit.record(action, "case", i, district=district, summary={"step": i})
        seqs.append(entry.seq)
    _db.session.commit()
    return seqs


def run_sql(db, sql: str, **params) -> None:
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def verify_cli(app):
    return CliRunner().invoke(hubcore.cli.main, ["audit", "verify"],
                              obj=ScriptInfo(create_app=lambda: app))


# -- The chain ------------------------------------------------------------------------


def test_chain_verifies_after_many_appends(app, db):
    append(250)
    result = audit.verify_chain(batch=64)
    assert result.ok and result.checked == 250
    assert result.head_hash == db.session.execute(
        sa.select(AuditEntry.hash).where(AuditEntry.seq == 250)).scalar_one()


def test_every_entry_points_at_the_one_before(app, db):
    append(5)
    rows = db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    for before, after in zip(rows, rows[1:]):
        assert after.prev_hash == before.hash


def test_changed_summary_is_detected_at_that_entry(app, db):
    append(10)
    run_sql(db, "UPDATE audit_entries SET summary = :s WHERE seq = 6", s='{"step": 99}')
    result = audit.verify_chain()
    assert not result.ok
    assert result.broken_seq == 6 and result.checked == 5
    assert "changed" in result.reason


def test_changed_action_is_detected_at_that_entry(app, db):
    append(10)
    run_sql(db, "UPDATE audit_entries SET action = 'case.closed' WHERE seq = 3")
    assert (audit.verify_chain().ok, audit.verify_chain().broken_seq) == (False, 3)


def test_changed_entry_with_recomputed_hash_is_caught_by_the_next_entry(app, db):
    append(10)
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.seq == 4)).scalar_one()
    forged = audit.entry_hash(seq=4, at=entry.at, actor_id=entry.actor_id,
                              actor_label=entry.actor_label, action="case.deleted",
                              entity_type=entry.entity_type, entity_id=entry.entity_id,
                              district_code=entry.district_code, summary=entry.summary,
                              prev_hash=entry.prev_hash)
    run_sql(db, "UPDATE audit_entries SET action = 'case.deleted', hash = :h WHERE seq = 4",
            h=forged)
    result = audit.verify_chain()
    assert not result.ok and result.broken_seq == 5
    assert "does not point at entry 4" in result.reason


def test_deleted_entry_is_detected_and_named(app, db):
    append(10)
    run_sql(db, "DELETE FROM audit_entries WHERE seq = 7")
    result = audit.verify_chain()
    assert not result.ok and result.broken_seq == 7 and result.checked == 6
    assert "missing" in result.reason


def test_deleted_first_entry_is_detected(app, db):
    append(3)
    run_sql(db, "DELETE FROM audit_entries WHERE seq = 1")
    assert audit.verify_chain().broken_seq == 1


def test_reordered_entries_are_detected_where_the_order_changes(app, db):
    append(10)
    run_sql(db, "UPDATE audit_entries SET seq = -1 WHERE seq = 4")
    run_sql(db, "UPDATE audit_entries SET seq = 4 WHERE seq = 5")
    run_sql(db, "UPDATE audit_entries SET seq = 5 WHERE seq = -1")
    result = audit.verify_chain()
    assert not result.ok and result.broken_seq == 4


def test_rolled_back_append_leaves_no_gap(app, db):
    append(2)
    audit.record("case.updated", "case", 9)
    db.session.rollback()
    append(1)
    assert db.session.execute(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all() \
        == [1, 2, 3]
    assert audit.verify_chain().ok


def test_cli_verify_exits_0_when_the_chain_is_unbroken(app, db):
    append(4)
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert "OK: 4 entries, chain unbroken." in result.output


def test_cli_verify_exits_1_and_names_the_broken_entry(app, db):
    append(4)
    run_sql(db, "UPDATE audit_entries SET summary = '{}' WHERE seq = 2")
    result = verify_cli(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 2" in result.output
    assert "1 entries verified before it" in result.output


def test_concurrent_appends_make_one_gapless_verified_chain(app, db):
    """Several connections append at once; none chains onto the same entry.

    Runs on SQLite and, with HUBCORE_TEST_DATABASE_URL, on PostgreSQL.
    """
    threads, per_thread = 6, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def appender(n: int):
        try:
            with app.app_context():
                start.wait()
                for i in range(per_thread):
                    audit.record("case.updated", "case", f"{n}-{i}", district=BOLTON)
                    db.session.commit()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=appender, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    seqs = db.session.execute(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
    assert seqs == list(range(1, threads * per_thread + 1))
    result = audit.verify_chain()
    assert result.ok and result.checked == threads * per_thread


# -- Redaction ----------------------------------------------------------------------------


def test_redaction_keeps_personal_values_out_of_the_log(app, db):
    entry = audit.record("person.updated", "person", 1, district=BOLTON, summary={
        "given_name": "Ada", "email_address": "ada@example.org", "Phone": "07700 900982",
        "changes": {"postcode": "BL1 1AA", "district": BOLTON},
        "household": [{"full_name": "Bob Lovelace", "age_band": "70+"}],
        "status": "active", "count": 3, "code": "x" * 500,
    })
    db.session.commit()
    stored = db.session.execute(
        sa.select(AuditEntry.summary).where(AuditEntry.seq == entry.seq)).scalar_one()
    for secret in ("Ada", "ada@example.org", "07700", "BL1 1AA", "Bob Lovelace"):
        assert secret not in stored
    summary = json.loads(stored)
    assert summary["given_name"] == summary["Phone"] == audit.REDACTED
    assert summary["changes"] == {"postcode": audit.REDACTED, "district": BOLTON}
    assert summary["household"] == [{"full_name": audit.REDACTED, "age_band": "70+"}]
    assert summary["status"] == "active" and summary["count"] == 3
    assert len(summary["code"]) == audit.MAX_SUMMARY_VALUE
    assert audit.verify_chain().ok


def test_redact_bounds_long_lists_and_odd_keys():
    clean = audit.redact({1: "one", "ids": list(range(500)), "tags": {"a", "b"}})
    assert clean["1"] == "one"
    assert clean["ids"] == list(range(audit.MAX_SUMMARY_ITEMS))
    assert sorted(clean["tags"]) == ["a", "b"]


def test_entry_written_in_a_request_names_the_signed_in_account(app, db, admin):
    with app.test_request_context("/", headers=admin.headers):
        entry = audit.record("case.viewed", "case", 1, district=BOLTON)
    assert entry.actor_id == admin.account.id
    assert entry.actor_label == f"account:{admin.account.id}"


# -- Reading: API scoping matrix ------------------------------------------------------


@pytest.fixture
def district_entries(app, db):
    audit.record("case.created", "case", "b1", district=BOLTON, summary={"n": 1})
    audit.record("case.created", "case", "w1", district=WIGAN, summary={"n": 2})
    audit.record("platform.configured", "platform", None, district=None)
    audit.record("case.closed", "case", "b1", district=BOLTON)
    db.session.commit()


def _items(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


def _case_ids(items) -> set:
    return {(i["entity_id"], i["action"]) for i in items if i["entity_type"] == "case"}


def test_admin_reads_every_entry_newest_first(admin, district_entries):
    items = _items(admin.client.get("/api/v1/audit?per_page=200"))
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs, reverse=True)
    assert _case_ids(items) == {("b1", "case.created"), ("w1", "case.created"),
                                ("b1", "case.closed")}
    assert any(i["entity_type"] == "platform" and i["district"] is None for i in items)


def test_bolton_coordinator_reads_bolton_entries_only(as_role, district_entries):
    coordinator = as_role("coordinator", BOLTON)
    items = _items(coordinator.client.get("/api/v1/audit"))
    assert _case_ids(items) == {("b1", "case.created"), ("b1", "case.closed")}
    assert {i["district"] for i in items} == {BOLTON}


def test_bolton_coordinator_cannot_read_wigan_entries_even_by_filter(as_role, district_entries):
    coordinator = as_role("coordinator", BOLTON)
    assert _items(coordinator.client.get(f"/api/v1/audit?district={WIGAN}")) == []


def test_funder_reads_the_entries_of_the_districts_it_funds(as_role, district_entries):
    funder = as_role("funder", WIGAN, kind="funder")
    items = _items(funder.client.get("/api/v1/audit"))
    assert _case_ids(items) == {("w1", "case.created")}


def test_account_without_audit_permission_is_refused(as_role, district_entries):
    volunteer = as_role("volunteer", BOLTON)
    response = volunteer.client.get("/api/v1/audit")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_anonymous_reader_must_sign_in(client, district_entries):
    response = client.get("/api/v1/audit")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_filters_by_action_entity_and_district(admin, district_entries):
    by_action = _items(admin.client.get("/api/v1/audit?action=case.closed"))
    assert [(i["entity_id"], i["action"]) for i in by_action] == [("b1", "case.closed")]
    by_entity = _items(admin.client.get("/api/v1/audit?entity_type=case&entity_id=b1"))
    assert [i["action"] for i in by_entity] == ["case.closed", "case.created"]
    by_district = _items(admin.client.get(f"/api/v1/audit?district={WIGAN}"))
    assert [i["entity_id"] for i in by_district] == ["w1"]
    assert by_district[0]["summary"] == {"n": 2}


def test_invalid_filter_is_a_422_naming_the_field(admin):
    response = admin.client.get("/api/v1/audit?district=Bolton")
    assert response.status_code == 422
    assert "district" in response.get_json()["errors"]


def test_entries_are_paged(admin, district_entries):
    body = admin.client.get("/api/v1/audit?entity_type=case&per_page=2").get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)
    second = admin.client.get("/api/v1/audit?entity_type=case&per_page=2&page=2").get_json()
    assert [i["entity_id"] for i in second["items"]] == ["b1"]
    assert second["items"][0]["action"] == "case.created"


def test_verify_api_is_for_administrators_only(admin, as_role, district_entries):
    body = admin.client.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is True and body["broken_seq"] is None and body["checked"] >= 4
    coordinator = as_role("coordinator", BOLTON)
    assert coordinator.client.get("/api/v1/audit/verify").status_code == 403


def test_verify_api_reports_tampering(admin, db, district_entries):
    run_sql(db, "UPDATE audit_entries SET district_code = :d WHERE action = 'case.closed'",
            d=WIGAN)
    body = admin.client.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is False and "changed" in body["reason"]


# -- Reading: the page -------------------------------------------------------------------


def test_audit_page_shows_a_coordinator_their_districts_entries(app, make_account,
                                                               district_entries):
    account = make_account("coordinator", (BOLTON,))
    client = app.test_client()
    login(client, account.email)
    page = client.get("/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Audit log</h1>" in html
    assert '<th scope="col">Action</th>' in html
    assert "case.closed" in html and "Bolton" in html
    assert "w1" not in html and "platform.configured" not in html
    assert "tampered" not in html  # the chain check is an administrator's


def test_audit_page_filters_and_pages(app, make_account, district_entries):
    account = make_account(None, is_admin=True)
    client = app.test_client()
    login(client, account.email)
    html = client.get("/audit?entity_type=case&per_page=2").get_data(as_text=True)
    assert "Showing 1 to 2 of 3 entries" in html
    assert 'rel="next"' in html and "page=2" in html
    html = client.get("/audit?entity_type=case&per_page=2&page=2").get_data(as_text=True)
    assert "Showing 3 to 3 of 3 entries" in html and 'rel="prev"' in html


def test_audit_page_explains_an_invalid_filter(app, make_account):
    account = make_account(None, is_admin=True)
    client = app.test_client()
    login(client, account.email)
    page = client.get("/audit?district=nowhere")
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "There is a problem" in html and 'href="#district"' in html


def test_audit_page_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_audit_page_is_refused_without_permission(app, make_account):
    account = make_account("volunteer", (BOLTON,))
    client = app.test_client()
    login(client, account.email)
    assert client.get("/audit").status_code == 403


def test_administrator_checks_the_chain_on_a_page(app, db, make_account, district_entries):
    account = make_account(None, is_admin=True)
    client = app.test_client()
    login(client, account.email)
    assert "Check that the audit log has not been tampered with" in \
        client.get("/audit").get_data(as_text=True)
    assert "The audit log is intact" in client.get("/audit/verify").get_data(as_text=True)
    run_sql(db, "DELETE FROM audit_entries WHERE seq = 2")
    html = client.get("/audit/verify").get_data(as_text=True)
    assert "The audit log has been changed" in html and "Entry 2" in html


def test_appending_nothing_writes_nothing(app, db):
    assert audit.record_many([]) == []
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


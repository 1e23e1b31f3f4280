"""The keyed audit chain: a head to note down, --expect-head, HMAC keys and their rotation.

Someone who can write to the database but does not hold HUBCORE_AUDIT_KEY can
rewrite the chain and recompute every hash; verification must still fail. And
a chain cut short verifies as a shorter chain: only a head noted down earlier
shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

import hubcore.cli
from hubcore import audit
from hubcore.audit import AuditEntry
from hubcore.config import ConfigError, Settings
from hubcore.db import db as _db
from tests.conftest import BOLTON, TEST_SECRET, login, make_app

KEY_A = "audit key A of the test suite: long enough 0123456789"
KEY_B = "audit key B of the test suite: long enough 9876543210"
ID_A, ID_B = audit.key_id(KEY_A.encode()), audit.key_id(KEY_B.encode())


def append(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record("case.updated", "case", i, district=BOLTON, summary={"step": i})
    _db.session.commit()


def rows() -> list[AuditEntry]:
    _db.session.expire_all()
    return _db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()


def cli(app, *args):
    """Run ``hubcore`` with ``app``'s settings (its app context pushed, as the command would)."""
    with app.app_context():
        return CliRunner().invoke(hubcore.cli.main, list(args),
                                  obj=ScriptInfo(create_app=lambda: app))


def head_of(output: str) -> str:
    return re.search(r"Head: (\d+:[0-9a-f]{64})", output).group(1)


def rehash_everything(sign) -> None:
    """What someone with write access to the database but not the key can do: rewrite
    the chain and recompute every hash and link with a hash of their choosing."""
    prev = audit.GENESIS_HASH
    for entry in rows():
        payload = audit._payload_of_fields(entry.seq, entry.at, entry.actor_id,
                                           entry.actor_label, entry.action, entry.entity_type,
                                           entry.entity_id, entry.district_code,
                                           entry.summary, prev)
        new = sign(payload)
        _db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id)
                            .values(prev_hash=prev, hash=new))
        prev = new
    _db.session.commit()


def forge_summary(seq: int, summary: dict) -> None:
    _db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == seq)
                        .values(summary=json.dumps(summary)))
    _db.session.commit()


@pytest.fixture
def app_a(database_url):
    app = make_app(database_url, audit_key=KEY_A)
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


# -- The head, and --expect-head ------------------------------------------------------


def test_verify_prints_the_head_to_note_down(app_a):
    append(4)
    result = cli(app_a, "audit", "verify")
    assert result.exit_code == 0, result.output
    last = rows()[-1]
    assert f"Head: {last.seq}:{last.hash}" in result.output
    assert f"Key id: {ID_A}" in result.output
    assert KEY_A not in result.output


def test_expect_head_passes_while_the_chain_still_reaches_that_entry(app_a):
    append(3)
    noted = head_of(cli(app_a, "audit", "verify").output)
    append(5, start=3)
    result = cli(app_a, "audit", "verify", "--expect-head", noted)
    assert result.exit_code == 0, result.output
    assert "OK: 8 entries" in result.output and "Entry 3 has the hash noted" in result.output


def test_expect_head_catches_a_chain_cut_short(app_a):
    append(6)
    noted = head_of(cli(app_a, "audit", "verify").output)
    _db.session.execute(sa.delete(AuditEntry).where(AuditEntry.seq > 4))
    _db.session.commit()
    assert cli(app_a, "audit", "verify").exit_code == 0  # a shorter chain is still a chain
    result = cli(app_a, "audit", "verify", "--expect-head", noted)
    assert result.exit_code == 1
    assert "ends at entry 4" in result.output and "entry 6 was noted" in result.output
    assert "removed from its end" in result.output


def test_expect_head_catches_a_chain_rewritten_with_the_key(app_a):
    """Even the key's holder cannot rewrite the past unseen once the head was noted."""
    append(5)
    noted = head_of(cli(app_a, "audit", "verify").output)
    forge_summary(2, {"step": 99})
    rehash_everything(audit.hmac_signer(KEY_A.encode()))
    assert cli(app_a, "audit", "verify").exit_code == 0
    result = cli(app_a, "audit", "verify", "--expect-head", noted)
    assert result.exit_code == 1
    assert "entry 5 has hash" in result.output and "rewritten" in result.output


@pytest.mark.parametrize("head", ["5", "five:" + "a" * 64, "0:" + "a" * 64, "3:abc",
                                  "3:" + "g" * 64, "99999999999999999999:" + "a" * 64])
def test_a_malformed_expected_head_is_a_usage_error(app_a, head):
    append(2)
    result = cli(app_a, "audit", "verify", "--expect-head", head)
    assert result.exit_code == 2
    assert "SEQ:HASH" in result.output


def test_the_api_returns_the_head_and_checks_an_expected_one(app_a):
    from hubcore.identity import accounts
    from tests.conftest import PASSWORD

    admin = accounts.create_account(email="root@example.org", name="Root", password=PASSWORD,
                                    is_admin=True)
    _db.session.commit()
    client = app_a.test_client()
    login(client, admin.email)
    append(3)
    body = client.get("/api/v1/audit/head").get_json()
    last = rows()[-1]
    assert (body["seq"], body["hash"]) == (last.seq, last.hash)
    verified = client.get("/api/v1/audit/verify").get_json()
    assert verified["ok"] and verified["head_seq"] == last.seq
    assert verified["head_hash"] == last.hash and verified["key_id"] == ID_A
    noted = f"{last.seq}:{last.hash}"
    assert client.get(f"/api/v1/audit/verify?expect_head={noted}").get_json()["ok"] is True
    wrong = client.get(f"/api/v1/audit/verify?expect_head={last.seq}:{'0' * 64}").get_json()
    assert wrong["ok"] is False and wrong["broken_seq"] == last.seq
    bad = client.get("/api/v1/audit/verify?expect_head=nonsense")
    assert bad.status_code == 422 and "expect_head" in bad.get_json()["errors"]
    html = client.get("/audit").get_data(as_text=True)
    assert last.hash in html  # the administrator's audit page shows the head
    page = client.get(f"/audit/verify?expect_head={last.seq}:{'0' * 64}")
    assert "The audit log has been changed" in page.get_data(as_text=True)
    page = client.get("/audit/verify?expect_head=nonsense")
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "There is a problem" in html
    assert 'href="#expect_head"' in html and "The audit log is intact" not in html


# -- Keyed: a chain recomputed without the key fails -----------------------------------


def test_entries_are_hmacs_under_the_key(app_a):
    append(2)
    first = rows()[0]
    payload = audit._payload_of_fields(first.seq, first.at, first.actor_id, first.actor_label,
                                       first.action, first.entity_type, first.entity_id,
                                       first.district_code, first.summary, first.prev_hash)
    assert first.hash == hmac.new(KEY_A.encode(), payload, hashlib.sha256).hexdigest()
    assert first.hash != hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("key", [b"k", b"k" * 64, b"k" * 65, b"x" * 200])
def test_the_fast_hmac_is_the_standard_one(key):
    assert audit.hmac_signer(key)(b"payload") == hmac.new(key, b"payload", "sha256").hexdigest()


def test_a_chain_recomputed_as_plain_sha256_fails(app_a):
    append(5)
    forge_summary(3, {"step": 99})
    rehash_everything(audit.sha256_hex)
    result = audit.verify_chain()
    assert not result.ok and "no entry is under a key" in result.reason
    output = cli(app_a, "audit", "verify")
    assert output.exit_code == 1 and "BROKEN" in output.output


def test_a_chain_recomputed_with_another_key_fails(app_a):
    append(5)
    forge_summary(3, {"step": 99})
    rehash_everything(audit.hmac_signer(b"a key the forger chose"))
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 1)
    assert "key not given" in result.reason


def test_a_forged_marker_to_a_key_the_verifier_does_not_hold_fails(app_a):
    append(4)
    _db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 3).values(
        action=audit.KEY_MARKER_ACTION, entity_type=audit.KEY_MARKER_ENTITY,
        entity_id="f0f0f0f0f0f0f0f0"))
    _db.session.commit()
    rehash_everything(audit.hmac_signer(KEY_A.encode()))  # even with the key for the rest
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 3)
    assert "f0f0f0f0f0f0f0f0" in result.reason and "not among the keys given" in result.reason


def test_a_marker_back_to_no_key_fails(app_a):
    append(3)
    _db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(
        action=audit.KEY_MARKER_ACTION, entity_type=audit.KEY_MARKER_ENTITY,
        entity_id=audit.UNKEYED))
    _db.session.commit()
    rehash_everything(audit.hmac_signer(KEY_A.encode()))
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 2) and "back to no key" in result.reason


def test_no_one_records_a_key_marker_but_the_log_itself(app_a):
    with pytest.raises(audit.SummaryNotAllowed):
        audit.record(audit.KEY_MARKER_ACTION, audit.KEY_MARKER_ENTITY, ID_B)
    _db.session.rollback()
    assert rows() == []


# -- Rotation -----------------------------------------------------------------------------


def test_rotation_writes_a_marker_and_each_stretch_verifies_with_its_key(app_a, database_url):
    append(3)
    rotated = make_app(database_url, audit_key=KEY_B, audit_old_keys=(KEY_A,))
    with rotated.app_context():
        append(2, start=3)
        entries = rows()
        assert [e.action for e in entries] == ["case.updated"] * 3 + [
            audit.KEY_MARKER_ACTION, "case.updated", "case.updated"]
        marker = entries[3]
        assert (marker.entity_id, marker.actor_label) == (ID_B, "system")
        assert json.loads(marker.summary) == {"from": ID_A, "to": ID_B}
        result = audit.verify_chain()
        assert result.ok and result.checked == 6 and result.key_id == ID_B
        every_column = " ".join(str(v) for e in entries for v in vars(e).values())
        assert KEY_A not in every_column and KEY_B not in every_column
        # Verify takes any mapping of key ids to keys: without the retired key,
        # the first stretch cannot be checked.
        assert audit.verify_chain(keys=audit.Keyring.of(KEY_B.encode(), KEY_A.encode())).ok
        alone = audit.verify_chain(keys=audit.Keyring.of(KEY_B.encode()))
        assert (alone.ok, alone.broken_seq) == (False, 1)
        _db.session.remove()
    # The old configuration cannot verify the new stretch: it does not hold key B.
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 4) and ID_B in result.reason


def test_verify_reports_a_rotation_not_yet_written(app_a, database_url):
    append(2)
    rotated = make_app(database_url, audit_key=KEY_B, audit_old_keys=(KEY_A,))
    output = cli(rotated, "audit", "verify")
    assert output.exit_code == 0, output.output
    assert f"Key id: {ID_A} (the current key, {ID_B}, takes over" in output.output


# -- A chain written before keying: sealed explicitly ---------------------------------------


def write_unkeyed(n: int) -> None:
    """Entries as the audit log wrote them before keying: plain SHA-256."""
    prev = audit.GENESIS_HASH
    for seq in range(1, n + 1):
        values = dict(seq=seq, at=audit.utcnow(), actor_id=None, actor_label="system",
                      action="case.updated", entity_type="case", entity_id=str(seq),
                      district_code=BOLTON, summary=json.dumps({"step": seq}), prev_hash=prev)
        values["hash"] = prev = audit.entry_hash(**values, key=None)
        _db.session.execute(AuditEntry.__table__.insert(), values)
    _db.session.commit()


def test_an_unkeyed_chain_fails_until_it_is_sealed_by_db_upgrade(app_a):
    write_unkeyed(4)
    result = audit.verify_chain()
    assert not result.ok and "hubcore db upgrade" in result.reason
    upgraded = cli(app_a, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"entry 5 switches the chain to key id {ID_A}" in upgraded.output
    marker = rows()[-1]
    assert json.loads(marker.summary) == {"from": audit.UNKEYED, "to": ID_A}
    result = audit.verify_chain()
    assert result.ok and result.checked == 5 and result.key_id == ID_A
    again = cli(app_a, "db", "upgrade")
    assert "switches" not in again.output and len(rows()) == 5  # sealed once
    # The sealed legacy entries are protected by the keyed marker after them.
    forge_summary(2, {"step": 99})
    rehash_everything(audit.sha256_hex)
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 5)


def test_appending_to_an_unkeyed_chain_writes_the_marker_first(app_a):
    write_unkeyed(2)
    append(1)
    assert [e.action for e in rows()] == ["case.updated", "case.updated",
                                          audit.KEY_MARKER_ACTION, "case.updated"]
    assert audit.verify_chain().ok


def test_an_empty_chain_needs_no_marker(app_a):
    assert cli(app_a, "db", "upgrade").exit_code == 0
    assert rows() == []
    append(1)
    assert [e.action for e in rows()] == ["case.updated"]
    assert audit.verify_chain().key_id == ID_A


# -- The setting ---------------------------------------------------------------------------


def production(**overrides) -> Settings:
    return Settings(env="production", secret_key="s" * 40, public_url="https://hub.example.org",
                    redis_url="redis://127.0.0.1:6379/0", **overrides)


def test_production_refuses_to_start_without_an_audit_key():
    with pytest.raises(ConfigError, match="HUBCORE_AUDIT_KEY"):
        production().validate()
    with pytest.raises(ConfigError, match="HUBCORE_AUDIT_KEY"):
        production(audit_key="short").validate()
    with pytest.raises(ConfigError, match="HUBCORE_AUDIT_KEY must not be the same"):
        production(audit_key="s" * 40).validate()
    with pytest.raises(ConfigError, match="comma"):  # it could not join the old keys later
        production(audit_key="a key, with a comma, long enough 0123456789").validate()
    production(audit_key=KEY_A).validate()


def test_the_keys_are_read_from_the_environment():
    settings = Settings.from_env({"HUBCORE_AUDIT_KEY": KEY_B,
                                  "HUBCORE_AUDIT_OLD_KEYS": f"{KEY_A}, other-old-key"})
    ring = audit.Keyring.from_settings(settings)
    assert ring.current_id == ID_B and not ring.derived
    assert set(ring.keys) == {ID_A, ID_B, audit.key_id(b"other-old-key")}


def test_outside_production_the_key_is_derived_from_the_secret_key_and_says_so(app):
    ring = audit.keyring()
    assert ring.derived
    assert ring.current_id == audit.key_id(
        Settings(secret_key=TEST_SECRET).resolved_audit_key().encode())
    append(1)
    output = cli(app, "audit", "verify")
    assert output.exit_code == 0 and "derived from the secret key" in output.output


def test_a_tail_timestamp_overwritten_with_text_does_not_stop_appends(app_a):
    """On SQLite a timestamp can be overwritten with any text; writes must go on."""
    append(3)
    if _db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses text that is not a timestamp")
    _db.session.execute(sa.text("UPDATE audit_entries SET at = 'yesterday' WHERE seq = 3"))
    _db.session.commit()
    append(1)
    actions = _db.session.execute(sa.select(AuditEntry.action).order_by(AuditEntry.seq)
                                  ).scalars().all()
    assert actions[3:] == [audit.KEY_MARKER_ACTION, "case.updated"]
    result = audit.verify_chain()
    assert (result.ok, result.broken_seq) == (False, 3)

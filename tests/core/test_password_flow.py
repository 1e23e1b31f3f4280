"""Setting a password from an emailed link: invitations, forgotten passwords, the admin API."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry
from hubcore.config import ConfigError, Settings
from hubcore.db import utcnow
from hubcore.identity import accounts
from hubcore.identity.models import Account
from hubcore.notify import OutboxMessage
from tests.conftest import BOLTON, PASSWORD, csrf_token_from, login, sent, submit_form

NEW_PASSWORD = "purple otter lantern meadow"
LINK = re.compile(r"(https?://[^\s/]+)(/password/set/[A-Za-z0-9_.\-]+)")


def messages_to(db, email: str) -> list[OutboxMessage]:
    return db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.recipient == email)
                              .order_by(OutboxMessage.id)).scalars().all()


def link_in(message: OutboxMessage) -> str:
    """The path of the password link in an email (the test client ignores the host)."""
    match = LINK.search(message.body)
    assert match, f"no password link in: {message.body!r}"
    return match.group(2)


def invite_by_api(admin, email: str = "sam@example.org") -> dict:
    response = admin.client.post("/api/v1/accounts", json={"email": email, "name": "Sam Okafor"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def set_password(client, path: str, new: str = NEW_PASSWORD, confirm: str | None = None,
                 page_url: str | None = None):
    return submit_form(client, path, {"new_password": new,
                                      "confirm_password": new if confirm is None else confirm},
                       page_url=page_url)


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


# -- Invitations -------------------------------------------------------------------


def test_admin_creating_an_account_without_a_password_emails_a_working_invitation(
        admin, client, db):
    body = invite_by_api(admin)
    assert body["invitation_sent"] is True
    [message] = messages_to(db, "sam@example.org")
    assert message.subject == "Set your password for Hubcore"
    assert "72 hours" in message.body
    page = client.get(link_in(message))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Set your password</h1>" in html and "sam@example.org" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_admin_creating_an_account_with_a_password_sends_no_invitation(admin, db):
    response = admin.client.post("/api/v1/accounts", json={
        "email": "kim@example.org", "name": "Kim", "password": PASSWORD})
    assert response.status_code == 201
    assert response.get_json()["invitation_sent"] is False
    assert messages_to(db, "kim@example.org") == []


def test_invitation_link_sets_the_password_and_then_sign_in_works(admin, client, db):
    invite_by_api(admin)
    path = link_in(messages_to(db, "sam@example.org")[0])
    assert "Signed in as" not in login(client, "sam@example.org", NEW_PASSWORD).get_data(
        as_text=True)
    done = set_password(client, path)
    assert done.status_code == 302 and urlsplit(done.headers["Location"]).path == "/login"
    assert "Your password is set" in client.get("/login").get_data(as_text=True)
    assert "Signed in as Sam Okafor" in login(client, "sam@example.org",
                                              NEW_PASSWORD).get_data(as_text=True)


def test_an_invitation_link_cannot_be_used_twice(admin, client, db):
    invite_by_api(admin)
    path = link_in(messages_to(db, "sam@example.org")[0])
    assert set_password(client, path).status_code == 302
    again = client.get(path)
    assert again.status_code == 410
    assert "This link has already been used" in again.get_data(as_text=True)
    with pytest.raises(accounts.PasswordLinkError) as refused:
        accounts.set_password_with_token(token_of(path), "someone else's password")
    assert refused.value.code == "link-used"
    db.session.rollback()
    assert "Signed in as" in login(client, "sam@example.org", NEW_PASSWORD).get_data(
        as_text=True)


def test_setting_a_password_voids_every_other_outstanding_link(admin, client, db):
    account_id = invite_by_api(admin)["id"]
    assert admin.client.post(f"/api/v1/accounts/{account_id}/invite").status_code == 202
    first, second = (link_in(m) for m in messages_to(db, "sam@example.org"))
    assert set_password(client, second).status_code == 302
    assert client.get(first).status_code == 410


def test_an_expired_invitation_is_refused_and_says_what_to_do(admin, client, db, monkeypatch):
    invite_by_api(admin)
    token = token_of(link_in(messages_to(db, "sam@example.org")[0]))
    account, purpose = accounts.check_password_link(token, now=utcnow() + timedelta(hours=71))
    assert (account.email, purpose) == ("sam@example.org", "invite")
    with pytest.raises(accounts.PasswordLinkError) as refused:
        accounts.set_password_with_token(token, NEW_PASSWORD,
                                         now=utcnow() + timedelta(hours=73))
    assert refused.value.code == "link-expired"
    later = utcnow() + timedelta(hours=73)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    page = client.get(f"/password/set/{token}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This link has expired" in html and 'href="/password/forgotten"' in html
    assert set_password(client, f"/password/set/{token}", page_url="/login").status_code == 410
    db.session.expire_all()
    assert db.session.execute(sa.select(Account.password_hash).where(
        Account.email == "sam@example.org")).scalar_one() is None


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
    lambda token: "eyJhIjoxLCJlIjowLCJwIjoiIn0" + token[token.index("."):],  # payload
    lambda token: "not-a-token",
])
def test_a_tampered_link_is_refused(admin, client, db, tamper):
    invite_by_api(admin)
    token = token_of(link_in(messages_to(db, "sam@example.org")[0]))
    page = client.get(f"/password/set/{tamper(token)}")
    assert page.status_code == 404
    assert "This link does not work" in page.get_data(as_text=True)


def test_a_link_signed_with_another_secret_is_refused(app, admin, db):
    account = db.session.get(Account, invite_by_api(admin)["id"])
    app.config["SECRET_KEY"], real = "another-secret-entirely-0123456789abcdef", app.config[
        "SECRET_KEY"]
    forged = accounts.password_link_token(account, "invite")
    app.config["SECRET_KEY"] = real
    with pytest.raises(accounts.PasswordLinkError) as refused:
        accounts.check_password_link(forged)
    assert refused.value.code == "link-invalid"


def test_mismatched_confirmation_is_shown_in_the_error_summary_and_changes_nothing(
        admin, client, db):
    invite_by_api(admin)
    path = link_in(messages_to(db, "sam@example.org")[0])
    response = set_password(client, path, confirm="a different password entirely")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#confirm_password"' in html and "are not the same" in html
    short = set_password(client, path, new="short", confirm="short")
    assert short.status_code == 422 and 'href="#new_password"' in short.get_data(as_text=True)
    assert client.get(path).status_code == 200  # the link still works


def test_invitation_audit_holds_neither_the_token_nor_personal_data(admin, client, db):
    invite_by_api(admin)
    path = link_in(messages_to(db, "sam@example.org")[0])
    set_password(client, path)
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action.in_(
        ["account.invited", "account.password_link_used", "account.password_changed"]))
    ).scalars().all()
    assert {e.action for e in entries} == {"account.invited", "account.password_link_used",
                                           "account.password_changed"}
    for entry in entries:
        assert token_of(path) not in entry.summary
        assert "sam@" not in entry.summary and "Okafor" not in entry.summary


def test_links_use_the_public_url_never_the_requests_host(app, admin, db):
    app.extensions["hubcore"].settings = app.extensions["hubcore"].settings.with_overrides(
        public_url="https://hub.example.org")
    admin.client.post("/api/v1/accounts", json={"email": "sam@example.org", "name": "Sam"},
                      headers={"Host": "evil.example"})
    [message] = messages_to(db, "sam@example.org")
    assert LINK.search(message.body).group(1) == "https://hub.example.org"


def test_production_refuses_to_start_without_a_public_https_url():
    with pytest.raises(ConfigError, match="HUBCORE_PUBLIC_URL"):
        Settings(env="production", secret_key="x" * 40).validate()
    with pytest.raises(ConfigError, match="HUBCORE_PUBLIC_URL"):
        Settings(env="production", secret_key="x" * 40,
                 public_url="http://hub.example.org").validate()


# -- The admin invitation API ------------------------------------------------------


def test_invite_api_answers_admin_202_coordinator_403_anonymous_401(admin, as_role, client, db):
    account = accounts.create_account(email="pat@example.org", name="Pat")
    db.session.commit()
    url = f"/api/v1/accounts/{account.id}/invite"
    assert client.post(url).status_code == 401
    assert as_role("coordinator", BOLTON).client.post(url).status_code == 403
    assert messages_to(db, "pat@example.org") == []
    response = admin.client.post(url)
    assert response.status_code == 202
    body = response.get_json()
    assert body["account_id"] == account.id and body["invitation_sent"] is True
    assert len(messages_to(db, "pat@example.org")) == 1


def test_invite_api_refuses_unknown_accounts_and_accounts_with_a_password(admin, make_account):
    assert admin.client.post("/api/v1/accounts/9999/invite").status_code == 404
    has_password = make_account("partner")
    refused = admin.client.post(f"/api/v1/accounts/{has_password.id}/invite")
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("account-has-password")


def test_invite_api_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/accounts/{account_id}/invite"]


# -- Forgotten password ------------------------------------------------------------


def test_sign_in_page_links_to_forgotten_password(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<a href="/password/forgotten">Forgotten your password?</a>' in html


def test_reset_for_an_unknown_email_gives_the_same_answer_and_queues_nothing(
        client, db, make_account):
    account = make_account("partner")
    known = submit_form(client, "/password/forgotten", {"email": account.email})
    unknown = submit_form(client, "/password/forgotten", {"email": "nobody@example.org"})
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code, unknown.headers["Location"]) == (302, "/password/forgotten/sent")
    assert messages_to(db, "nobody@example.org") == []
    assert len(messages_to(db, account.email)) == 1
    sent = client.get("/password/forgotten/sent").get_data(as_text=True)
    assert "If an account exists for that email address, we have sent a link" in sent


def test_reset_link_changes_the_password_and_expires_after_an_hour(client, db, make_account):
    account = make_account("partner")
    submit_form(client, "/password/forgotten", {"email": account.email.upper()})
    [message] = messages_to(db, account.email)
    assert message.subject == "Reset your Hubcore password"
    token = token_of(link_in(message))
    with pytest.raises(accounts.PasswordLinkError) as refused:
        accounts.check_password_link(token, now=utcnow() + timedelta(minutes=61))
    assert refused.value.code == "link-expired"
    assert set_password(client, link_in(message)).status_code == 302
    assert "Signed in as" not in login(client, account.email, PASSWORD).get_data(as_text=True)
    assert "Signed in as" in login(client, account.email, NEW_PASSWORD).get_data(as_text=True)


def test_reset_is_not_sent_to_a_switched_off_account(client, db, make_account):
    account = make_account("partner")
    account.active = False
    db.session.commit()
    submit_form(client, "/password/forgotten", {"email": account.email})
    assert messages_to(db, account.email) == []


def test_forgotten_password_form_refuses_a_bad_address_with_an_error_summary(client):
    response = submit_form(client, "/password/forgotten", {"email": "not an address"})
    assert response.status_code == 422
    assert 'href="#email"' in response.get_data(as_text=True)


def reset_entries(db, account) -> list[AuditEntry]:
    return db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.entity_type == "account", AuditEntry.entity_id == str(account.id),
        AuditEntry.action.like("account.password_reset%")).order_by(AuditEntry.seq)
    ).scalars().all()


def test_a_fourth_reset_in_an_hour_sends_nothing_and_after_the_hour_one_goes_again(
        client, db, make_account):
    account = make_account("partner")
    answers = [submit_form(client, "/password/forgotten", {"email": account.email})
               for _ in range(4)]
    assert {(r.status_code, r.headers["Location"]) for r in answers} == {
        (302, "/password/forgotten/sent")}
    assert len(messages_to(db, account.email)) == 3
    assert [e.action for e in reset_entries(db, account)] == [
        "account.password_reset_sent"] * 3 + ["account.password_reset_limited"]
    assert accounts.send_password_reset(account.id,
                                        now=utcnow() + timedelta(minutes=59)) == "limited"
    assert accounts.send_password_reset(account.id,
                                        now=utcnow() + timedelta(minutes=61)) == "sent"
    db.session.commit()
    assert [m.subject for m in messages_to(db, account.email)] == [
        "Reset your Hubcore password"] * 4


def test_known_unknown_and_limited_addresses_get_the_same_page(client, db, make_account):
    account = make_account("partner")
    for _ in range(3):
        submit_form(client, "/password/forgotten", {"email": account.email})
    pages = []
    for email in (account.email, "nobody@example.org"):  # limited, then unknown
        answer = submit_form(client, "/password/forgotten", {"email": email},
                             follow_redirects=True)
        pages.append((answer.status_code, answer.request.path, answer.get_data(as_text=True)))
    fresh = make_account("partner")
    answer = submit_form(client, "/password/forgotten", {"email": fresh.email},
                         follow_redirects=True)
    pages.append((answer.status_code, answer.request.path, answer.get_data(as_text=True)))
    assert pages[0] == pages[1] == pages[2]
    assert pages[0][:2] == (200, "/password/forgotten/sent")
    assert "If an account exists for that email address, we have sent a link" in pages[0][2]
    assert len(messages_to(db, account.email)) == 3 and len(messages_to(db, fresh.email)) == 1


def test_reset_audit_entries_hold_neither_the_address_nor_the_link(client, db, make_account):
    account = make_account("partner")
    for _ in range(4):
        submit_form(client, "/password/forgotten", {"email": account.email})
    link = token_of(link_in(messages_to(db, account.email)[0]))
    entries = db.session.execute(sa.select(AuditEntry)).scalars().all()
    assert "account.password_reset_limited" in {e.action for e in entries}
    local = account.email.split("@")[0]
    for entry in entries:
        assert local not in entry.summary and link not in entry.summary
        assert account.name not in entry.summary
    [limited] = [e for e in entries if e.action == "account.password_reset_limited"]
    assert limited.entity_id == str(account.id)
    assert '"limit": 3' in limited.summary


def test_known_and_unknown_addresses_take_the_same_steps_in_the_request(
        app, client, db, make_account, monkeypatch):
    """The request only looks the address up and, once the answer is sent, enqueues the
    job: the same statements and the same job for an account, an unknown address and
    a switched-off account."""
    from hubcore import jobs

    account = make_account("partner")
    switched_off = make_account("partner")
    switched_off.active = False
    db.session.commit()
    enqueued: list[tuple] = []
    monkeypatch.setattr(jobs, "enqueue", lambda dotted, *args, **kw: enqueued.append(
        (dotted, args)))
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    steps = {}
    for email in (account.email, "nobody@example.org", switched_off.email):
        page = client.get("/password/forgotten")  # outside the steps measured
        statements.clear()
        enqueued.clear()
        sa.event.listen(db.engine, "before_cursor_execute", remember)
        try:
            answer = sent(client.post("/password/forgotten", data={
                "email": email, "csrf_token": csrf_token_from(page.get_data(as_text=True))}))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", remember)
        assert answer.status_code == 302
        steps[email] = (list(statements), [dotted for dotted, _ in enqueued])
    known, unknown, off = steps.values()
    assert known == unknown == off
    assert known[1] == [accounts.RESET_JOB]
    assert not [s for s in known[0] if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert [args for _, args in enqueued] == [(None,)]  # the switched-off account: None
    assert messages_to(db, account.email) == []  # the job (stubbed here) sends the email


def test_the_reset_job_sends_the_link_and_commits(db, make_account):
    account = make_account("partner")
    assert accounts.password_reset_job(account.id) == "sent"
    assert accounts.password_reset_job(None) == "no-account"
    db.session.rollback()  # nothing left uncommitted: the job committed its own work
    [message] = messages_to(db, account.email)
    assert message.subject == "Reset your Hubcore password" and "/password/set/" in message.body


def test_the_hourly_count_is_kept_in_the_database_so_a_restarted_app_still_knows(
        app, database_url, db, make_account):
    from tests.conftest import make_app

    account = make_account("partner")
    for _ in range(3):
        assert accounts.send_password_reset(account.id) == "sent"
    db.session.commit()
    restarted = make_app(database_url)
    with restarted.app_context():
        assert accounts.send_password_reset(account.id) == "limited"
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert len(messages_to(db, account.email)) == 3


@pytest.mark.parametrize("app_settings", [{"reset_emails_per_hour": 1}])
def test_the_hourly_limit_is_a_setting(client, db, make_account):
    account = make_account("partner")
    for _ in range(2):
        submit_form(client, "/password/forgotten", {"email": account.email})
    assert len(messages_to(db, account.email)) == 1


def test_reset_emails_per_hour_is_read_from_the_environment_and_checked():
    assert Settings.from_env({}).reset_emails_per_hour == 3
    assert Settings.from_env({"HUBCORE_RESET_EMAILS_PER_HOUR": "5"}).reset_emails_per_hour == 5
    with pytest.raises(ConfigError, match="HUBCORE_RESET_EMAILS_PER_HOUR"):
        Settings(reset_emails_per_hour=0).validate()


def test_a_reset_is_not_lost_when_the_job_queue_is_down(client, db, make_account,
                                                         monkeypatch):
    import redis

    from hubcore import jobs

    def queue_down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    account = make_account("partner")
    monkeypatch.setattr(jobs, "enqueue", queue_down)
    for email in (account.email, "nobody@example.org"):
        answer = submit_form(client, "/password/forgotten", {"email": email})
        assert (answer.status_code, answer.headers["Location"]) == (
            302, "/password/forgotten/sent")
    [message] = messages_to(db, account.email)
    assert message.subject == "Reset your Hubcore password"


@pytest.mark.parametrize("app_settings", [{"login_rate_limit": "2 per minute"}])
def test_forgotten_password_requests_are_rate_limited(client, db):
    for _ in range(2):
        assert submit_form(client, "/password/forgotten",
                           {"email": "someone@example.org"}).status_code == 302
    refused = submit_form(client, "/password/forgotten", {"email": "someone@example.org"})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)


# -- Volunteers --------------------------------------------------------------------


def test_activating_a_volunteer_emails_them_an_invitation_to_set_a_password(
        app, client, as_role, db):
    if "volunteering" not in app.extensions["hubcore"].plugins.loaded:
        pytest.skip("the volunteering plugin is not installed")
    from tests.plugins.volunteering.conftest import sign_up_by_api

    volunteer_id = sign_up_by_api(client)
    coord = as_role("coordinator", BOLTON)
    assert coord.client.post(f"/api/v1/volunteers/{volunteer_id}/activate").status_code == 200
    thanks, welcome = messages_to(db, "amira@example.org")  # then one: welcome and invitation
    assert thanks.subject == "Thank you for offering to volunteer"
    assert set_password(client, link_in(welcome)).status_code == 302
    assert "Signed in as" in login(client, "amira@example.org", NEW_PASSWORD).get_data(
        as_text=True)

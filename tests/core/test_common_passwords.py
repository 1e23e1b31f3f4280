"""New passwords are checked as NIST SP 800-63B asks: long enough, and not one
that attackers try first. No composition rules. Wherever a password is set."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubcore.errors import InvalidInput
from hubcore.identity import accounts, passwords
from hubcore.identity.models import Account
from tests.conftest import PASSWORD, login, submit_form

GUESSABLE = [
    "password1234", "aaaaaaaaaaaa", "Password!2024", "PASSWORD1234", "iloveyou!!!!",
    "letmein123456", "qwertyuiopas", "123456789012", "abcdefghijkl", "lkjihgfedcba",
    "abcabcabcabc", "passwordpassword", "1212121212121212", "            ",
    "trustno1trustno1", "monkey20242024",
]
FINE = ["correct horse battery staple", "purple otter lantern meadow", "839201748392",
        "Tr0ub4dor&3 plus some", "hubcore-demo-2026", "amira loves purple otters",
        "ünïcödé pässwörd ok"]


@pytest.mark.parametrize("password", GUESSABLE)
def test_guessable_passwords_are_refused_with_a_reason(password):
    with pytest.raises(InvalidInput) as refused:
        passwords.check_strength(password)
    [reason] = refused.value.fields["password"]
    assert "Three or four unrelated words" in reason


@pytest.mark.parametrize("password", FINE)
def test_long_unremarkable_passwords_are_accepted_without_composition_rules(password):
    passwords.check_strength(password, email="s.okafor@example.org", name="Sam Okafor")


@pytest.mark.parametrize("password", [
    "amira.khan@example.org!", "amira.khan1990", "khanamira1990", "my amira.khan secret",
    "Amira Khan 1990", "AMIRAKHAN!!!!"])
def test_a_password_made_of_the_accounts_email_or_name_is_refused(password):
    with pytest.raises(InvalidInput) as refused:
        passwords.check_strength(password, email="amira.khan@example.org", name="Amira Khan")
    assert "email address or name" in refused.value.fields["password"][0]


def test_the_list_is_the_packaged_one_of_common_passwords():
    common = passwords.common_passwords()
    assert len(common) >= 30_000 - 100 and {"password", "123456", "iloveyou"} <= common


# -- Every place a password is set ---------------------------------------------------


def test_change_password_form_refuses_a_common_password_and_changes_nothing(
        app, db, make_account):
    account = make_account("partner")
    client = app.test_client()
    login(client, account.email)
    response = submit_form(client, "/account/password",
                           {"current_password": PASSWORD, "new_password": "password1234"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<a href="#new_password">This is one of the most common passwords' in page
    assert accounts.authenticate(account.email, PASSWORD).id == account.id


def test_change_password_form_refuses_the_accounts_own_email(app, db, make_account):
    account = make_account("partner")
    client = app.test_client()
    login(client, account.email)
    response = submit_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": account.email + "-2024"})
    assert response.status_code == 422
    assert "Do not use your email address or name" in response.get_data(as_text=True)


def test_password_link_form_refuses_a_repeated_character_and_the_link_still_works(
        app, db, make_account):
    account = make_account("partner")
    token = accounts.password_link_token(account, "reset")
    db.session.commit()
    client = app.test_client()
    response = submit_form(client, f"/password/set/{token}",
                           {"new_password": "aaaaaaaaaaaa", "confirm_password": "aaaaaaaaaaaa"})
    assert response.status_code == 422
    assert "Do not use one character repeated." in response.get_data(as_text=True)
    accounts.check_password_link(token)  # not used up
    assert accounts.authenticate(account.email, PASSWORD).id == account.id


def test_account_api_refuses_a_common_password_with_a_problem_and_creates_nothing(admin, db):
    response = admin.client.post("/api/v1/accounts", json={
        "email": "sam@example.org", "name": "Sam Okafor", "password": "password1234"})
    assert response.status_code == 422
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert "most common passwords" in problem["errors"]["password"][0]
    assert db.session.execute(sa.select(Account).where(
        Account.email == "sam@example.org")).scalar_one_or_none() is None


def test_account_api_refuses_a_password_holding_the_name(admin, db):
    response = admin.client.post("/api/v1/accounts", json={
        "email": "sam@example.org", "name": "Samantha Okafor", "password": "okafor-samantha-1"})
    assert response.status_code == 422
    assert "email address or name" in response.get_json()["errors"]["password"][0]


def test_create_admin_refuses_a_common_password_and_creates_nothing(app, db):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from hubcore.cli import main

    result = CliRunner().invoke(main, ["create-admin", "--email", "ops@example.org",
                                       "--password", "aaaaaaaaaaaa"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code != 0
    assert "Do not use one character repeated." in result.output
    assert db.session.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one() == 0

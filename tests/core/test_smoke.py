"""The app starts from migrations, signs people in, and answers on its API."""

from tests.conftest import PASSWORD, login


def test_home_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Hubcore" in response.get_data(as_text=True)


def test_coordinator_signs_in_and_sees_their_account(app, client, make_account):
    account = make_account("coordinator")
    response = login(client, account.email, PASSWORD)
    assert response.status_code == 200
    assert "Signed in as" in response.get_data(as_text=True)
    page = client.get("/account").get_data(as_text=True)
    assert "coordinator" in page and account.email in page


def test_wrong_password_is_refused_with_an_error_summary(client, make_account):
    account = make_account("coordinator")
    response = login(client, account.email, "not the password at all")
    assert response.status_code == 422
    assert "There is a problem" in response.get_data(as_text=True)

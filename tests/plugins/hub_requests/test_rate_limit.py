"""The public submit is rate-limited per client address; a refused submit stores nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from plugins.hub_requests.models import HelpRequest
from tests.conftest import submit_form

from .conftest import submission


@pytest.fixture
def app_settings():
    return {"public_rate_limit": "2 per minute"}


def test_too_many_submits_from_one_address_get_429_and_store_nothing_more(client, db):
    codes = [client.post("/api/v1/help-requests", json=submission()).status_code
             for _ in range(3)]
    assert codes == [201, 201, 429]
    assert db.session.execute(sa.select(sa.func.count()).select_from(HelpRequest)).scalar_one() == 2


def test_the_public_form_is_rate_limited_too_but_showing_it_is_not(client):
    for _ in range(4):
        assert client.get("/help").status_code == 200
    codes = [submit_form(client, "/help", {}).status_code for _ in range(3)]
    assert codes == [422, 422, 429]

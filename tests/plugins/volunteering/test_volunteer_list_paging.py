"""The volunteer list says how many there are and pages through them
(issue #8: "the volunteer list shows only the first ... with no paging")."""

from __future__ import annotations

import re

from ...conftest import login


def test_the_volunteer_list_counts_every_volunteer_and_pages(app, make_volunteer,
                                                             coordinator_account):
    for _ in range(53):
        make_volunteer(status="applied")
    client = app.test_client()
    login(client, coordinator_account.email)
    first = client.get("/volunteering/volunteers").get_data(as_text=True)
    assert "Showing 1 to 50 of 53 volunteers" in first
    assert len(re.findall(r'href="/volunteering/volunteers/\d+"', first)) == 50
    second = client.get("/volunteering/volunteers?page=2").get_data(as_text=True)
    assert "Showing 51 to 53 of 53 volunteers" in second
    applied = client.get("/volunteering/volunteers?status=active").get_data(as_text=True)
    assert "No active volunteers." in applied

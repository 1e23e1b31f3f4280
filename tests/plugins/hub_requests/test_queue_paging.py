"""The staff queue says how many requests there are and pages through them all
(issue #8: "the staff queue shows only the first 100 (of 235) with no paging")."""

from __future__ import annotations

import re

from hubcore.db import db

from ...conftest import BOLTON, login


def test_the_queue_page_counts_every_request_and_pages_through_them(app, submit, make_account):
    for _ in range(57):
        submit(commit=False)
    db.session.commit()
    account = make_account("coordinator", (BOLTON,))
    client = app.test_client()
    login(client, account.email)
    first = client.get("/hub-requests").get_data(as_text=True)
    assert "Showing 1 to 50 of 57 requests" in first
    assert len(re.findall(r'href="/hub-requests/\d+"', first)) == 50
    assert 'rel="next"' in first and "Page 1 of 2" in first
    second = client.get("/hub-requests?page=2").get_data(as_text=True)
    assert "Showing 51 to 57 of 57 requests" in second
    assert len(re.findall(r'href="/hub-requests/\d+"', second)) == 7
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # A page number a person typed wrongly shows the first page, not an error.
    for bad in ("abc", "0", "-3", "99999999999999999999"):
        answer = client.get(f"/hub-requests?page={bad}")
        assert answer.status_code == 200
        assert "Showing 1 to 50 of 57 requests" in answer.get_data(as_text=True)

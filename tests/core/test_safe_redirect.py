"""Every ``next`` parameter goes through one check, and only a path on this site passes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from hubcore.web.redirects import is_safe_path, safe_next
from tests.conftest import PASSWORD, csrf_token_from, login, submit_form

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = [
    "https://evil.example", "http:evil.example", "//evil.example", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\t/evil.example",
    "/\n/evil.example", "/\r\n/evil.example", "/\x00/evil.example", "/\x0b/evil.example",
    "/\x1f/evil.example", " //evil.example", "\t//evil.example", "//evil.example ",
    "\x00//evil.example", "javascript:alert(1)", "JavaScript:alert(1)",
    "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "https:/evil.example", "https:evil.example", "evil.example", "./evil", "../evil",
    "", "?next=//evil.example", "#//evil.example", "/\u2028/evil.example",
    "/\u200b/evil.example", "/\x7f/evil.example", "/" + "a" * 3000,
    None, 42, ["/account"],
]
SAFE = ["/", "/account", "/account?tab=tokens&x=1", "/hub-requests/12#offers",
        "/a/b/../c", "/%2F%2Fevil.example", "/caf\u00e9"]


@pytest.mark.parametrize("target", HOSTILE)
def test_anything_a_browser_could_read_as_another_site_is_refused(target):
    assert not is_safe_path(target)
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", SAFE)
def test_paths_on_this_site_are_followed(target):
    assert safe_next(target, "/home") == target


def test_every_view_that_reads_next_uses_the_one_helper():
    """No view decides a redirect from ``next`` by itself."""
    readers = []
    for path in [*ROOT.joinpath("hubcore").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        if 'get("next"' in text or "get('next'" in text or '["next"]' in text:
            readers.append(path.relative_to(ROOT).as_posix())
            assert "safe_next(" in text, f"{path} reads next without safe_next"
    assert {"hubcore/web/pages.py", "plugins/volunteering/views.py"} <= set(readers)


# -- Through the views ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\\evil.example", "//evil.example",
                                    "/\n/evil.example", "java\nscript:alert(1)"])
def test_sign_in_never_sends_people_to_another_site(client, make_account, target):
    account = make_account("partner")
    response = submit_form(client, "/login?" + urlencode({"next": target}),
                           {"email": account.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\\evil.example", "//evil.example",
                                    " //evil.example", "https://evil.example",
                                    "/\r\n/evil.example"])
def test_offering_a_task_never_sends_people_to_another_site(app, client, make_account,
                                                            target):
    if "volunteering" not in app.extensions["hubcore"].plugins.loaded:
        pytest.skip("the volunteering plugin is not installed")
    account = make_account("coordinator")
    login(client, account.email)
    csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post("/volunteering/offers", data={
        "csrf_token": csrf, "owner": "hub_requests", "owner_id": "999999", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/volunteering/volunteers"


def test_offering_a_task_returns_to_a_path_on_this_site(app, client, make_account):
    if "volunteering" not in app.extensions["hubcore"].plugins.loaded:
        pytest.skip("the volunteering plugin is not installed")
    account = make_account("coordinator")
    login(client, account.email)
    csrf = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post("/volunteering/offers", data={
        "csrf_token": csrf, "owner": "hub_requests", "owner_id": "999999",
        "next": "/hub-requests/999999"})
    assert response.headers["Location"] == "/hub-requests/999999"

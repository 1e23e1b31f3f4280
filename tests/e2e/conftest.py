"""Real-browser fixtures: the app on a loopback port, Debian's Chromium through Playwright.

Reusable by plugin e2e tests: ``live_server`` (base URL of a running app on
a fresh, migrated database), ``browser``, ``page`` (a desktop-sized page),
``phone_page`` (390x844), ``axe_check(page)`` and ``sign_in(page, email)``.
``live_server`` serves the very ``app`` of tests/conftest.py, so ``app_settings``,
``make_account`` and ``as_role`` work as in every other test.

Every test here is marked ``requires("browser")``: without /usr/bin/chromium these
tests are skipped, unless HUBCORE_TEST_REQUIRE names browser (or the older
HUBCORE_TEST_REQUIRE_BROWSER=1 is set), as in CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, REQUIRED

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REQUIRE_BROWSER = "browser" in REQUIRED
PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")


def _no_browser(reason: str):
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}, and HUBCORE_TEST_REQUIRE names browser: no skipping",
                    pytrace=False)
    pytest.skip(f"{reason}: browser tests skipped (apt-get install chromium)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.requires("browser"))


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test session (per xdist worker)."""
    if not os.access(CHROMIUM, os.X_OK):
        _no_browser(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("Python Playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """Serve the test's ``app`` on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _new_page(browser, live_server: str, **context_options):
    context = browser.new_context(base_url=live_server, locale="en-GB", **context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context and page (desktop size) pointed at ``live_server``."""
    context, page = _new_page(browser, live_server, viewport={"width": 1280, "height": 900})
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A page at a phone's viewport (390x844 CSS pixels, touch, phone pixel ratio)."""
    context, page = _new_page(browser, live_server, viewport=PHONE, device_scale_factor=3,
                              is_mobile=True, has_touch=True)
    yield page
    context.close()


@pytest.fixture
def no_js_page(browser, live_server):
    """A page with JavaScript switched off: public pages and forms must still work."""
    context, page = _new_page(browser, live_server, java_script_enabled=False)
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe_check() -> Callable:
    """``axe_check(page)``: fail if axe-core finds serious or critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
        # A click that navigates returns once the new page has committed, before
        # it has a document: axe run then would find no documentElement.
        page.wait_for_load_state("load")
        results = axe.run(page)
        found = [v for v in results.response["violations"] if v["impact"] in impacts]
        if found:
            lines = [f"{page.url}: {len(found)} accessibility violation(s)"]
            for violation in found:
                targets = "; ".join(", ".join(node["target"]) for node in violation["nodes"])
                lines.append(f"- {violation['id']} ({violation['impact']}): "
                             f"{violation['help']} at {targets}")
            pytest.fail("\n".join(lines), pytrace=False)
        return results.response["violations"]

    return check


@pytest.fixture
def sign_in() -> Callable:
    """``sign_in(page, email, password=PASSWORD)``: sign in through the form."""

    def do(page, email: str, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("status").filter(has_text="Signed in as").wait_for()

    return do


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no sideways scroll)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth")


def focused(page) -> dict:
    """What has keyboard focus: tag, id, text and whether a focus indicator is drawn."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
            && style.outlineColor !== 'rgba(0, 0, 0, 0)';
        return {tag: el.tagName.toLowerCase(), id: el.id, text: el.innerText.trim(),
                name: el.getAttribute('name'),
                indicated: outline || style.boxShadow !== 'none'};
    }""")


def tab_to(page, matches: Callable[[dict], bool], *, limit: int = 30) -> dict:
    """Press Tab until the focused element ``matches``; fail after ``limit`` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if matches(now):
            return now
    pytest.fail(f"Tab never reached the element on {page.url}", pytrace=False)

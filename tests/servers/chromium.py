"""Chromium driven by Playwright for the page tests: one browser per session, a fresh page per test.

Installed by ``tests/servers/chromium/install.sh`` (Debian's ``chromium``; never
``playwright install``, which downloads a browser build of its own). Fixtures:

- ``browser``: a headless Chromium, started the first time a test asks for it;
- ``page``: a page in a new browser context (1280x800) per test; requests to any host but
  the loopback address are refused, and when the test fails a screenshot is saved under
  ``instance/test-screens/`` and its path printed and added to the failure report.

Sync Playwright marks its event loop as the thread's running loop for as long as it
lives, so ``asyncio.run`` would fail in every later test of the session. The hooks
below hide that loop outside the tests that use the browser, and bring it back for them:
a test must name ``page`` or ``browser`` among its arguments (or its fixtures'), not get
them with ``request.getfixturevalue``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "run tests/servers/chromium/install.sh (or `make setup`)"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    # Without these Chromium keeps calling Google's hosts, which the closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
# Every http(s) URL whose host is not a loopback address.
NOT_LOOPBACK = re.compile(r"^https?://(?!(127\.0\.0\.1|localhost|\[::1\])([:/]|$))")

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_PLAYWRIGHT_LOOP = pytest.StashKey["asyncio.AbstractEventLoop | None"]()


def _uses_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def _hide_playwright_loop(config: pytest.Config) -> None:
    loop = asyncio._get_running_loop()
    if loop is not None and loop is config.stash.get(_PLAYWRIGHT_LOOP, None):
        asyncio._set_running_loop(None)


def _restore_playwright_loop(config: pytest.Config) -> None:
    loop = config.stash.get(_PLAYWRIGHT_LOOP, None)
    if loop is not None and not loop.is_closed():
        asyncio._set_running_loop(loop)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if _uses_browser(item):
        _restore_playwright_loop(item.config)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        _hide_playwright_loop(item.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    # Kept on the item so that the page fixture's teardown knows whether the test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def browser(pytestconfig: pytest.Config) -> Iterator[Browser]:
    """A headless Debian Chromium, shared by the session's browser tests."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: {INSTALL_HINT}")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    pytestconfig.stash[_PLAYWRIGHT_LOOP] = asyncio._get_running_loop()
    chromium = None
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
    finally:
        # The session may end with a test that does not use the browser: the loop is hidden then.
        _restore_playwright_loop(pytestconfig)
        if chromium is not None:
            chromium.close()
        playwright.stop()
        pytestconfig.stash[_PLAYWRIGHT_LOOP] = None


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context; a screenshot is kept when the test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route(NOT_LOOPBACK, lambda route: route.abort("blockedbyclient"))
    page = context.new_page()
    try:
        yield page
        failed = [report for report in request.node.stash.get(_REPORTS, {}).values() if report.failed]
        if failed:
            _keep_screenshot(page, request, failed[0])
    finally:
        context.close()


def _keep_screenshot(page: Page, request: pytest.FixtureRequest, report: pytest.TestReport) -> None:
    folder = request.config.rootpath / "instance" / "test-screens"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^\w.-]+", "_", request.node.nodeid) + ".png")
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # a crashed page must not hide the test's own failure
        message = f"no screenshot of {page.url}: {error}"
    else:
        message = f"{path} ({page.url})"
    print(f"Chromium screenshot: {message}")
    report.sections.append(("Chromium screenshot", message))

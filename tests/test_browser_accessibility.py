"""Accessibility measured: axe-core finds no serious or critical WCAG 2.1 AA violation on any page, at both sizes.

Every page a logged-in researcher reaches (with long, real-looking values in them), and the pages
an anonymous visitor sees, at 1280x800 and 390x844. Keyboard: the skip links and the focus ring.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core.app import create_app
from tests.accessibility import described, serious_violations
from tests.fixtures import OIDC_TEST_BASE_URL, LiveServer, emptied_after
from tests.test_browser_layout import SIZES, esap, pages  # noqa: F401  (esap: the fixture)

pytestmark = pytest.mark.browser


def researcher_pages(ids: dict) -> list[str]:
    return [
        "/",
        "/data",
        "/data?ra=400&dec=0",  # a form with its problems shown
        "/data/archives/long-values",
        *pages(ids),
        "/launches/new",
        f"/launches/new?software={ids['software']}",
        "/software/new",
        "/facilities/new",
        "/profile",
        "/plugins",
        "/samp",
        "/admin/harvests",
        "/no-such-page",
    ]


def check(page, server_url: str, paths: list[str]) -> None:
    found = {}
    for path in paths:
        page.goto(server_url + path)
        page.wait_for_load_state("networkidle")
        violations = serious_violations(page, server_url)
        if violations:
            found[path] = described(violations)
    assert not found, "\n".join(f"{path}:\n{report}" for path, report in found.items())


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_every_researcher_page_passes_axe(page, esap, size):  # noqa: F811
    server, ids = esap
    page.set_viewport_size(size)
    check(page, server.url, researcher_pages(ids))


@pytest.fixture
def anonymous(database_url, redis_url, tmp_path, oidc_provider, monkeypatch) -> Iterator[LiveServer]:
    """ESAP with a login (the real test OpenID provider), seen by a visitor who has not logged in."""
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", oidc_provider.client_secret)
    oidc = {
        "issuer": oidc_provider.issuer,
        "client_id": oidc_provider.client_id,
        "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
    }
    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": [], "oidc": oidc, "base_url": OIDC_TEST_BASE_URL})
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_anonymous_pages_pass_axe(page, anonymous, size):
    page.set_viewport_size(size)
    check(page, anonymous.url, ["/", "/plugins", "/api/v1/docs", "/no-such-page"])


@pytest.mark.parametrize("path", ["/data?keywords=long", "/data/archives/long-values?search=1"])
def test_skip_to_results_then_the_first_row(page, esap, path):  # noqa: F811
    server, _ids = esap
    page.goto(server.url + path)
    expect(page.get_by_role("checkbox", name="Select row 1", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to results")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused, not only to screen readers
    page.keyboard.press("Enter")
    for _tab in range(3):  # past the "select every row" box (and an "Open" column) at most
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Select row 1":
            break
    expect(page.get_by_role("checkbox", name="Select row 1", exact=True)).to_be_focused()


def test_skip_to_content_lands_on_the_page_itself(page, esap):  # noqa: F811
    server, _ids = esap
    page.goto(server.url + "/software")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#content$"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#content') !== null")


OUTLINE = """() => {
    const style = getComputedStyle(document.activeElement);
    return [style.outlineStyle, parseFloat(style.outlineWidth)];
}"""


@pytest.mark.parametrize("name", ["ra", "target", "keywords"])
def test_focus_is_visible_on_text_fields(page, esap, name):  # noqa: F811
    server, _ids = esap
    page.goto(server.url + "/data")
    field = page.locator(f"input[name={name}]")
    for _tab in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == name:
            break
    expect(field).to_be_focused()
    style, width = page.evaluate(OUTLINE)
    assert style != "none" and width >= 2, (style, width)

"""The pages in Chromium: the home page renders, the navigation works, htmx is loaded."""

import pytest

pytestmark = pytest.mark.browser


def test_home_navigation_and_htmx(page, live_server, tmp_path):
    page.goto(live_server.url + "/")
    assert page.title() == "Home · ESAP"
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.locator("h1").inner_text() == "ESAP"
    page.get_by_role("link", name="Plugins").first.click()
    page.wait_for_url(live_server.url + "/plugins")
    assert page.locator("h1").inner_text() == "Plugins"
    assert page.get_by_role("row", name="blank-notebook").is_visible()
    assert page.locator("text=loaded").first.is_visible()
    page.keyboard.press("Tab")  # the first stop is the skip link, for keyboard users
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.screenshot(path=str(tmp_path / "plugins.png"), full_page=True)

"""The basket page in Chromium: items added through the API appear, one is removed, the count follows."""

import pytest
import requests
from playwright.sync_api import expect

from tests.fixtures import bearer

pytestmark = pytest.mark.browser


def test_basket_page_remove_and_live_count(page, live_server, committed_app, tmp_path):
    with committed_app.app_context():
        from esap_core import accounts

        local = accounts.local_user()
    auth = bearer(committed_app, local, ["basket:read", "basket:write"])
    items = [
        {
            "archive": "apertif",
            "identifier": f"img-{i}",
            "title": f"Image {i}",
            "fetch": {"method": "http", "url": f"https://vo.example.org/img-{i}.fits"},
        }
        for i in range(2)
    ]
    items.append({"archive": "gaia", "identifier": "src-1", "title": "<b>Source</b> 1"})
    requests.post(f"{live_server.url}/api/v1/basket/items", json={"items": items}, headers=auth, timeout=10)

    page.goto(live_server.url + "/basket")
    expect(page.locator("#basket-count")).to_have_text("3")
    assert page.get_by_role("row", name="Image 0").is_visible()
    assert page.get_by_text("<b>Source</b> 1").is_visible()  # shown as text, not markup
    page.get_by_role("button", name="Remove Image 0").click()
    page.get_by_role("row", name="Image 0").wait_for(state="detached")
    expect(page.locator("#basket-count")).to_have_text("2")
    assert page.get_by_text("2 items").is_visible()
    page.screenshot(path=str(tmp_path / "basket.png"), full_page=True)

    # anything on a page that adds to the basket fires basket-changed; the count then asks the server
    more = {"archive": "notebook", "identifier": "mine", "title": "From a notebook"}
    requests.post(f"{live_server.url}/api/v1/basket/items", json=more, headers=auth, timeout=10)
    page.evaluate("() => htmx.trigger(document.body, 'basket-changed')")
    expect(page.locator("#basket-count")).to_have_text("3")

"""The software page in Chromium: search as you type, filter by UI type, add a notebook to the basket."""

import pytest
from playwright.sync_api import expect

from esap_core import SoftwareRecord, UIType, catalogue

pytestmark = pytest.mark.browser

RECORDS = [
    SoftwareRecord(external_id="nb", name="Gamma-ray notebooks", keywords=("gamma",), ui_type=UIType.NOTEBOOK),
    SoftwareRecord(external_id="cli", name="Gamma-ray pipeline", keywords=("gamma",), ui_type=UIType.CLI),
    SoftwareRecord(external_id="radio", name="Radio imaging", ui_type=UIType.NOTEBOOK),
    SoftwareRecord(external_id="evil", name="<script>document.title='owned'</script>Gamma evil", ui_type=UIType.WEB),
]


def test_search_filter_and_add_a_notebook(page, live_server, committed_app):
    with committed_app.app_context():
        for record in RECORDS:
            catalogue.upsert("ossr", record)

    page.goto(live_server.url + "/software")
    cards = page.locator(".software-card h3")
    expect(cards).to_have_count(4)

    page.get_by_role("searchbox", name="Search the software catalogue").fill("gamma")
    expect(cards).to_have_count(3)  # as you type: the results follow without a page load
    expect(page).to_have_url(live_server.url + "/software?q=gamma&ui_type=&source=&author=&runtime=&keyword=")
    expect(page.get_by_text("<script>document.title='owned'</script>Gamma evil")).to_be_visible()  # text, not markup

    page.get_by_label("UI type").select_option("notebook")
    expect(cards).to_have_text(["Gamma-ray notebooks"])
    assert "ui_type=notebook" in page.url

    page.get_by_role("button", name="Add to basket: Gamma-ray notebooks").click()
    expect(page.locator(".software-card .basket-status")).to_have_text("Added to your basket")
    expect(page.locator("#basket-count")).to_have_text("1")
    assert page.title() != "owned"

    # the URL is the search: reloading it shows the same results
    page.reload()
    expect(cards).to_have_text(["Gamma-ray notebooks"])
    page.goto(live_server.url + "/basket")
    expect(page.get_by_role("row", name="Gamma-ray notebooks")).to_be_visible()

"""Data discovery in Chromium against the real test servers: the issue's "done means", click by click.

Search the registry, pick the local TAP service, run a query and add two rows; search Rucio
with a wildcard and add a dataset; ask every archive one question while one of them times out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core.app import create_app
from tests.data_settings import RUCIO_PASSWORD_VARIABLE, data_config
from tests.fixtures import LiveServer, emptied_after

pytestmark = pytest.mark.browser
TIMEOUT = 4.0  # seconds: the slow service (6 s per request) never makes it; DaCHS, even on a loaded machine, does


@pytest.fixture
def data_server(
    database_url, redis_url, tmp_path, dachs, sesame, rucio_server, faulty_services, monkeypatch
) -> Iterator[tuple[LiveServer, object]]:
    """ESAP with the vo and rucio plugins over real HTTP; its writes commit, and are emptied after.

    pyvo and astropy are imported first, as in a server that has answered before: the first
    VO query of a process spends about two seconds importing them, more than TIMEOUT.
    """
    import astropy.io.votable  # noqa: F401
    import pyvo  # noqa: F401

    monkeypatch.setenv(RUCIO_PASSWORD_VARIABLE, rucio_server.password)
    app = create_app(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "instance_path": str(tmp_path / "instance"),
            "archive_timeout": TIMEOUT,
            **data_config(dachs, sesame, rucio_server, faulty_services),
        }
    )
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server, app


def basket(app) -> list:
    with app.app_context():
        from esap_core import accounts
        from esap_core import basket as baskets

        return baskets.all_items(accounts.local_user())


def test_registry_to_tap_query_to_basket_then_rucio(page, data_server, dachs, rucio_server, tmp_path):
    server, app = data_server
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(server.url + "/data")
    page.get_by_role("link", name="IVOA registry").click()
    page.get_by_label("Keywords").fill("stars")
    page.get_by_label("Service type").select_option("tap")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"keywords=stars"))
    row = page.get_by_role("row", name=re.compile("ESAP test TAP service"))
    row.get_by_role("link", name="Query").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("ESAP test TAP service")
    page.get_by_role("link", name="esap.sources").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ESAP test TAP service")
    expect(page.get_by_role("row", name=re.compile(r"^ra deg pos\.eq\.ra;meta\.main"))).to_be_visible()
    expect(page.locator("#adql")).to_have_value("SELECT TOP 100 * FROM esap.sources")
    page.locator("#adql").fill("SELECT name, ra, dec, mag FROM esap.sources WHERE mag < 14 ORDER BY mag")
    page.get_by_label("Row limit").fill("10")
    page.get_by_role("button", name="Run query").click()

    results = page.locator("section.archive-panel[data-status=ok]")
    expect(results.locator("tbody tr")).to_have_count(10)
    expect(results.locator("thead")).to_contain_text("mag [mag]")
    expect(results.locator("svg.sky-plot circle")).to_have_count(10)
    results.get_by_label("Select row 1", exact=True).check()
    results.get_by_label("Select row 2", exact=True).check()
    results.get_by_role("button", name="Add selected to basket").click()
    expect(results.get_by_role("status")).to_have_text("Added 2 items to your basket")
    expect(page.locator("#basket-count")).to_have_text("2")
    brightest = sorted(dachs.sources, key=lambda source: source["mag"])[:2]
    assert sorted(item.payload["row"]["name"] for item in basket(app)) == sorted(s["name"] for s in brightest)
    # mag is a REAL (float32) column: its values as DaCHS holds them (12.34), not widened (12.34000015258789)
    expect(results.locator("tbody tr").first.locator("td").last).to_have_text(str(brightest[0]["mag"]))
    assert sorted(item.payload["row"]["mag"] for item in basket(app)) == sorted(s["mag"] for s in brightest)
    exported = page.request.get(server.url + "/api/v1/basket?format=csv").text()
    assert all(f'""mag"":{source["mag"]},' in exported for source in brightest), exported
    page.screenshot(path=str(tmp_path / "tap.png"), full_page=True)

    # Rucio: a wildcard search of one type, and a dataset into the basket
    page.goto(server.url + "/data/archives/test-rucio")
    page.get_by_label("Scope").fill("escape")
    page.get_by_label("Name").fill("demo_*")
    page.get_by_label("Type").select_option("dataset")
    page.get_by_role("button", name="Search").click()
    results = page.locator("section.archive-panel[data-status=ok]")
    expect(results.locator("tbody tr")).to_have_count(2)
    expect(results.locator("tbody tr").first).to_contain_text("escape:demo_dataset_1")
    results.get_by_label("Select row 2", exact=True).check()
    results.get_by_role("button", name="Add selected to basket").click()
    expect(results.get_by_role("status")).to_have_text("Added 1 item to your basket")
    expect(page.locator("#basket-count")).to_have_text("3")
    [dataset] = [item for item in basket(app) if item.archive == "test-rucio"]
    assert dataset.fetch == {"method": "rucio", "did": "escape:demo_dataset_2", "host": rucio_server.host}
    assert errors == []  # nothing broke the page's policy (no inline script, no eval)


def test_one_question_to_every_archive_with_one_timing_out(page, data_server, dachs, tmp_path):
    server, _app = data_server
    ra, dec = dachs.cluster_centre
    page.goto(server.url + "/data")
    page.get_by_label("RA (deg)").fill(str(ra))
    page.get_by_label("Dec (deg)").fill(str(dec))
    page.get_by_label("Radius (deg)").fill("0.3")
    page.get_by_role("button", name="Search all archives").click()

    good = page.locator("section.archive-panel[data-archive=test-obs]")
    slow = page.locator("section.archive-panel[data-archive=slow-obs]")
    broken = page.locator("section.archive-panel[data-archive=broken-obs]")
    expect(good.locator("tbody tr").first).to_be_visible()
    expect(slow).to_have_attribute("aria-busy", "true")  # the others' results did not wait for it
    expect(slow.get_by_role("alert")).to_contain_text(f"did not answer within {TIMEOUT:g} s", timeout=15_000)
    expect(slow).to_have_attribute("data-status", "timeout")
    expect(broken.get_by_role("alert")).to_contain_text(re.compile("VOTable|VO service"))

    good.get_by_label("Select every row on this page").check()
    boxes = good.locator('tbody input[name="row"]')
    assert boxes.count() > 1 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.screenshot(path=str(tmp_path / "fanout.png"), full_page=True)

""" "Add selected" with one bad row among seven, in Chromium: the six good rows go into the basket and the bad
one is named, with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core import Archive, Column, DataItem, QueryKind, ResultPage, hookimpl
from esap_core.app import create_app
from tests.fixtures import LiveServer, emptied_after

pytestmark = pytest.mark.browser
TOO_LONG = "obs-" + "x" * 1100  # over the basket's 1,000 characters for an identifier
ROWS = [{"obs_id": f"obs-{number}", "target": f"T{number}"} for number in range(1, 8)]
ROWS[3]["obs_id"] = TOO_LONG


class SevenRows(Archive):
    name = "seven-rows"
    title = "Seven rows"
    answers = frozenset({QueryKind.KEYWORDS})

    def search(self, query, page, user, timeout):
        return ResultPage([Column("obs_id", ucd="meta.id"), Column("target")], [dict(r) for r in ROWS], page_size=50)

    def basket_item(self, row):
        return DataItem(row["obs_id"], row["target"], {"method": "http", "url": "https://archive.invalid/x"})


class Plugin:
    @hookimpl
    def register_archives(self, register):
        register(SevenRows())


@pytest.fixture
def esap(database_url, redis_url, tmp_path) -> Iterator[tuple[LiveServer, object]]:
    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": []}, extra_plugins=[("seven-rows", Plugin())])
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server, app


def basket_identifiers(app) -> list[str]:
    with app.app_context():
        from esap_core import accounts, basket

        return sorted(item.identifier for item in basket.all_items(accounts.local_user()))


def test_the_good_rows_are_added_and_the_bad_one_named(page, esap):
    server, app = esap
    page.goto(server.url + "/data/archives/seven-rows?search=1")
    panel = page.locator("section.archive-panel[data-status=ok]")
    expect(panel.locator("tbody tr")).to_have_count(7)
    panel.get_by_label("Select every row on this page").check()
    panel.get_by_role("button", name="Add selected to basket").click()
    expect(panel.get_by_role("status")).to_have_text("Added 6 items to your basket")
    refused = panel.get_by_role("alert")
    expect(refused).to_contain_text("Not added: row 4:")
    expect(refused).to_contain_text("identifier is 1,104 characters long: identifiers and titles are at most 1,000")
    expect(page.locator("#basket-count")).to_have_text("6")
    assert basket_identifiers(app) == sorted(f"obs-{number}" for number in (1, 2, 3, 5, 6, 7))

    # the bad row alone: nothing added, and it says so
    panel.get_by_label("Select every row on this page").uncheck()
    panel.get_by_label("Select row 4", exact=True).check()
    panel.get_by_role("button", name="Add selected to basket").click()
    expect(panel.get_by_role("alert")).to_contain_text("Nothing was added. Not added: row 4:")
    expect(panel.get_by_role("status")).to_have_count(0)
    assert len(basket_identifiers(app)) == 6

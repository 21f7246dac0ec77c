"""The basket reaches desktop tools: real TOPCAT under Xvfb from the page, a hub client from the notebook client."""

from __future__ import annotations

import io
import re
import time
import urllib.request

import pytest
import requests
from astropy.io.votable import parse_single_table
from esap_client import Basket, ESAPError
from playwright.sync_api import expect

from tests.fixtures import bearer

ITEMS = [
    {"archive": "apertif", "identifier": f"img-{i}", "title": f"Image {i}", "payload": {"ra": 10 + i, "dec": 20}}
    for i in range(3)
]


def filled_basket(app, server) -> dict[str, str]:
    with app.app_context():
        from esap_core import accounts

        auth = bearer(app, accounts.local_user(), ["basket:read", "basket:write"])
    answer = requests.post(f"{server.url}/api/v1/basket/items", json={"items": ITEMS}, headers=auth, timeout=10)
    assert answer.status_code == 201
    return auth


def esap_basket_table(server, auth):
    answer = requests.get(f"{server.url}/api/v1/basket", params={"format": "votable"}, headers=auth, timeout=10)
    return parse_single_table(io.BytesIO(answer.content)).to_table()


def topcats_current_table(samp_client, wait: float = 20.0) -> str:
    """The URL TOPCAT serves its current table at, asked of TOPCAT over SAMP.

    TOPCAT answers ``table.load.votable`` once it has parsed the table, and makes it the
    current table a moment later on its window's thread: until then it says "No current table".
    """
    topcat_id = samp_client.client_named("topcat")
    message = {"samp.mtype": "table.get.stil", "samp.params": {"format": "votable"}}
    deadline = time.monotonic() + wait
    while True:
        answer = samp_client.client.call_and_wait(topcat_id, message, "30")
        if answer["samp.status"] == "samp.ok" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer["samp.status"] == "samp.ok", answer
    return answer["samp.result"]["url"]


@pytest.mark.browser
@pytest.mark.slow
def test_real_topcat_loads_the_basket_sent_from_the_page(
    samp_page, live_server, committed_app, topcat, samp_client, tmp_path
):
    page = samp_page
    auth = filled_basket(committed_app, live_server)
    page.goto(live_server.url + "/basket")
    control = page.locator("[data-samp]")
    control.get_by_role("button", name="Send to…").click()
    status = control.locator(".samp-status")
    expect(status).to_contain_text("topcat (tables, positions)", timeout=20_000)
    control.get_by_label("Client").select_option(label="topcat")
    control.get_by_role("button", name="Send basket").click()
    # TOPCAT answers once it has read and parsed the table from ESAP's link
    expect(status).to_have_text("topcat accepted the table “ESAP basket” (3 rows).", timeout=30_000)

    # What TOPCAT holds now, asked of TOPCAT itself over SAMP: it serves its copy of its current table
    topcat_url = topcats_current_table(samp_client)
    assert re.match(r"http://127\.0\.0\.1:\d+/", topcat_url), topcat_url  # TOPCAT's own server, on loopback
    with urllib.request.urlopen(topcat_url, timeout=20) as served:
        topcats_copy = parse_single_table(io.BytesIO(served.read())).to_table()
    esaps = esap_basket_table(live_server, auth)
    assert len(topcats_copy) == len(esaps) == 3
    assert topcats_copy.colnames == esaps.colnames
    assert list(topcats_copy["identifier"]) == list(esaps["identifier"])

    # The same table, served by TOPCAT's server as TOPCAT sends a table, comes back into the basket
    esap_id = samp_client.client_named("ESAP")
    back = samp_client.send_table(esap_id, topcat_url, "From TOPCAT")
    assert back["samp.status"] == "samp.ok", back
    expect(status).to_have_text(
        f"Added “From TOPCAT” (3 rows, {len(esaps.colnames)} columns) from TestClient to your basket."
    )
    assert len(esap_basket_table(live_server, auth)) == 4
    page.screenshot(path=str(tmp_path / "basket-to-topcat.png"), full_page=True)
    topcat.screenshot_with_a_table(tmp_path / "topcat.png")  # looked at: "1: ESAP basket", 3 rows, 10 columns


def test_the_notebook_client_sends_the_basket_over_the_standard_profile(live_server, committed_app, samp_client):
    auth = filled_basket(committed_app, live_server)
    token = auth["Authorization"].removeprefix("Bearer ")
    basket = Basket(live_server.url, token)
    answers = basket.send_samp(client="TestClient", name="My basket")
    assert answers == {samp_client.id: "samp.ok"}
    received = samp_client.wait_for("table.load.votable")
    assert received.params["name"] == "My basket" and received.params["url"].startswith("file://")
    assert token not in received.params["url"] and token.encode() not in received.content
    esaps = esap_basket_table(live_server, auth)
    assert len(received.table) == len(esaps) == 3 and received.table.colnames == esaps.colnames
    assert sorted(received.table["identifier"]) == ["img-0", "img-1", "img-2"]
    with pytest.raises(ESAPError, match="No SAMP client named 'DS9' takes tables"):
        basket.send_samp(client="DS9")


def test_the_notebook_client_says_when_no_hub_runs(live_server, committed_app, no_samp_hub):
    auth = filled_basket(committed_app, live_server)
    basket = Basket(live_server.url, auth["Authorization"].removeprefix("Bearer "))
    with pytest.raises(ESAPError, match="No SAMP hub to send to .*: start TOPCAT or Aladin first"):
        basket.send_samp()

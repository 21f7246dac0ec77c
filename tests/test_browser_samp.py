"""SAMP in Chromium with astropy's real hub and a real standard-profile client: send, receive, explain, refuse.

The page registers with the hub through the Web Profile (sampjs); the client is an astropy
``SAMPIntegratedClient`` that fetches each URL it is sent and parses it. What it parsed is
compared with what ESAP shows.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from astropy.io.votable import parse_single_table
from playwright.sync_api import expect
from werkzeug.serving import make_server

from esap_core import DidCatalogue, ResultPage, basket_export, samp
from esap_core.app import create_app
from tests.fixtures import LiveServer, bearer, emptied_after
from tests.servers.chromium import CHROMIUM, LAUNCH_ARGS
from tests.test_samp import COLUMNS, ROWS, VOTABLE, Sources

pytestmark = pytest.mark.browser
CLIENTS = "TestClient (tables, images, positions)"


class ImageSources(Sources, DidCatalogue):
    """The test archive, its rows' images served on loopback; each image is a DID with replicas, as Rucio lists them."""

    def __init__(self, images_url: str):
        self.images_url = images_url

    def search(self, query, page, user, timeout):
        result = super().search(query, page, user, timeout)
        for row in result.rows:
            row["access_url"] = f"{self.images_url}/{row['name']}.fits"
        return result

    def scopes(self, user, timeout):
        return ["test"]

    def metadata(self, did, user, timeout):
        return {"did_type": "FILE"}

    def contents(self, did, page, user, timeout):
        return ResultPage([], [], page_size=50, total=0)

    def replicas(self, did, user, timeout):
        name = did.partition(":")[2]
        pfns = {"LOCAL_A": [f"{self.images_url}/{name}"], "TAPE": [f"root://tape.invalid//{name}"]}
        return [{"did": did, "bytes": 2880 * 2, "rses": ["LOCAL_A", "TAPE"], "pfns": pfns, "states": {}}]


@pytest.fixture
def images(samp_files) -> str:
    """FITS images of 20 x 30 pixels, one per test row, on loopback."""
    import numpy
    from astropy.io import fits

    for row in ROWS:
        fits.PrimaryHDU(numpy.arange(600, dtype="float32").reshape(20, 30)).writeto(
            samp_files.folder / f"{row['name']}.fits"
        )
    (samp_files.folder / "picked.xml").write_bytes(VOTABLE)
    (samp_files.folder / "page.html").write_text("<html><body>not a table</body></html>")
    return samp_files.url


@pytest.fixture
def esap(database_url, redis_url, tmp_path, images) -> Iterator[tuple[LiveServer, object]]:
    from esap_core import hookimpl

    class Archives:
        @hookimpl
        def register_archives(self, register):
            register(ImageSources(images))

    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": []}, extra_plugins=[("samp-test-archives", Archives())])
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server, app


def open_control(page, scope):
    scope.get_by_role("button", name="Send to…").click()
    status = scope.locator(".samp-status")
    expect(status).to_contain_text("Connected to the SAMP hub. Registered clients:", timeout=15_000)
    expect(status).to_contain_text(CLIENTS)
    return status


# What in the page's content reaches past the screen's right edge (a table scrolls inside its own box).
PAST_THE_EDGE = """(width) => [...document.querySelectorAll("#content *")]
    .filter((element) => !element.closest(".table-scroll") && element.getBoundingClientRect().right > width + 1)
    .map((element) => `${element.tagName}.${element.className}`)"""


def at_390_px(page, path) -> None:
    """The page at 390 px: nothing of its content wider than the screen; a screenshot.

    Only the content: the navigation bar of every page is wider than 390 px (the layout's, not SAMP's).
    """
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(PAST_THE_EDGE, 390) == []
    page.screenshot(path=str(path), full_page=True)


def local_user(app):
    with app.app_context():
        from esap_core import accounts

        return accounts.local_user()


def test_send_a_result_page_selected_rows_a_position_and_images(samp_page, esap, samp_client, samp_hub, tmp_path):
    page = samp_page
    server, _ = esap
    page.goto(server.url + "/data/archives/sources?search=1")
    panel = page.locator("section.archive-panel[data-status=ok]")
    expect(panel.locator("tbody tr")).to_have_count(len(ROWS))
    status = open_control(page, panel)
    assert samp_hub.consent.asked[-1][0] == "ESAP"  # the hub's dialog was shown, and answered

    panel.get_by_label("Client").select_option(label="TestClient")
    panel.get_by_role("button", name="Send table").click()
    received = samp_client.wait_for("table.load.votable")
    assert received.error == "" and received.params["name"] == "Test sources"
    assert len(received.table) == len(ROWS) and received.table.colnames == [column.name for column in COLUMNS]
    shown = [cell.strip() for cell in panel.locator("tbody tr td:nth-child(2)").all_inner_texts()]
    assert list(received.table["name"]) == shown
    expect(status).to_have_text(f"TestClient accepted the table “Test sources” ({len(ROWS)} rows).")

    # the selected rows only; then the position of the first of them, and their images
    panel.get_by_label("Select row 2", exact=True).check()
    panel.get_by_label("Select row 4", exact=True).check()
    panel.get_by_role("button", name="Send table").click()
    assert list(samp_client.wait_for("table.load.votable").table["name"]) == ["S1", "S3"]
    expect(status).to_have_text("TestClient accepted the table “Test sources” (2 rows).")
    panel.get_by_role("button", name="Point at selected row").click()
    point = samp_client.wait_for("coord.pointAt.sky")
    assert (float(point.params["ra"]), float(point.params["dec"])) == (ROWS[1]["ra"], ROWS[1]["dec"])
    expect(status).to_have_text("TestClient accepted the position 10.10000, -5.10000 (S1).")
    panel.get_by_role("button", name="Send selected images").click()
    images = sorted(
        [samp_client.wait_for("image.load.fits"), samp_client.wait_for("image.load.fits")],
        key=lambda r: r.params["name"],
    )
    assert [image.params["name"] for image in images] == ["S1", "S3"] and images[0].image == (20, 30)

    # a client that refuses says why; a client that does not take something is not asked
    samp_client.refuse.add("coord.pointAt.sky")
    panel.get_by_role("button", name="Point at selected row").click()
    expect(status).to_have_text(
        re.compile(r"TestClient refused the position 10\.10000, -5\.10000 \(S1\): ValueError: refused by the test\.")
    )
    assert page.errors == []
    page.screenshot(path=str(tmp_path / "results-1280.png"), full_page=True)
    at_390_px(page, tmp_path / "results-390.png")


def test_send_the_basket_and_a_fits_item_by_keyboard(samp_page, esap, samp_client, images, tmp_path):
    page = samp_page
    server, app = esap
    auth = bearer(app, local_user(app))
    items = [
        {
            "archive": "apertif",
            "identifier": "img-1",
            "title": "Image 1",
            "fetch": {"method": "http", "url": f"{images}/S0.fits"},
        },
        {"archive": "gaia", "identifier": "src-1", "title": "<b>Source</b> 1", "payload": {"ra": 1.5, "dec": 2.5}},
    ]
    requests.post(f"{server.url}/api/v1/basket/items", json={"items": items}, headers=auth, timeout=10)
    page.goto(server.url + "/basket")
    control = page.locator("[data-samp]")
    opener = control.get_by_role("button", name="Send to…")
    opener.focus()
    page.keyboard.press("Enter")
    expect(opener).to_have_attribute("aria-expanded", "true")
    status = control.locator(".samp-status")
    expect(status).to_contain_text(CLIENTS, timeout=15_000)
    page.keyboard.press("Tab")  # the client list
    page.keyboard.press("Tab")  # "Send basket"
    page.keyboard.press("Enter")
    received = samp_client.wait_for("table.load.votable")
    assert received.params["name"] == "ESAP basket"
    assert len(received.table) == 2 and received.table.colnames == [name for name, _, _ in basket_export.COLUMNS]
    assert sorted(received.table["title"]) == ["<b>Source</b> 1", "Image 1"]
    expect(status).to_have_text("TestClient accepted the table “ESAP basket” (2 rows).")

    page.get_by_role("button", name="Send Image 1 as an image over SAMP").click()
    image = samp_client.wait_for("image.load.fits")
    assert image.params["url"] == f"{images}/S0.fits" and image.image == (20, 30)
    expect(status).to_have_text("TestClient accepted the image Image 1.")
    assert page.get_by_role("button", name="Send <b>Source</b> 1 as an image over SAMP").count() == 0
    assert page.errors == []
    page.screenshot(path=str(tmp_path / "basket-1280.png"), full_page=True)
    at_390_px(page, tmp_path / "basket-390.png")

    # Escape closes the panel and gives the focus back to its button; Enter opens it again
    control.get_by_role("button", name="Send basket").focus()
    page.keyboard.press("Escape")
    expect(control.locator(".samp-panel")).to_be_hidden()
    expect(opener).to_be_focused()
    expect(opener).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(status).to_contain_text(CLIENTS)


def test_a_table_sent_to_the_page_goes_into_the_basket(samp_page, esap, samp_client, images, tmp_path):
    page = samp_page
    server, app = esap
    page.goto(server.url + "/basket")
    expect(page.get_by_text("Your basket is empty.")).to_be_visible()
    status = open_control(page, page.locator("[data-samp]"))
    esap_id = samp_client.client_named("ESAP")

    # a file on the researcher's machine: the page reads it through the hub's translator
    picked = tmp_path / "picked.xml"
    picked.write_bytes(VOTABLE)
    answer = samp_client.send_table(esap_id, picked.as_uri(), "My picks")
    assert answer["samp.status"] == "samp.ok", answer
    expect(status).to_have_text("Added “My picks” (2 rows, 2 columns) from TestClient to your basket.")
    expect(page.locator("#basket-count")).to_have_text("1")
    expect(page.get_by_role("row", name=re.compile("My picks"))).to_be_visible()

    # TOPCAT's own small web server on loopback: the same path
    answer = samp_client.send_table(esap_id, f"{images}/picked.xml", "Served picks")
    assert answer["samp.status"] == "samp.ok", answer
    expect(status).to_have_text("“Served picks” (2 rows, 2 columns) is in your basket already.")

    # what is not a VOTable is refused, the client hears why, and nothing is written
    answer = samp_client.send_table(esap_id, f"{images}/page.html", "Not a table")
    assert answer["samp.status"] == "samp.error"
    assert "not a VOTable" in answer["samp.error"]["samp.errortxt"]
    expect(status).to_have_text(re.compile("The table from TestClient was not added: This is not a VOTable"))
    expect(page.locator("#basket-count")).to_have_text("1")

    with app.app_context():
        from esap_core import basket

        [item] = basket.all_items(local_user(app))
    assert item.archive == "samp" and item.payload["votable"] == VOTABLE.decode()
    table = parse_single_table(io.BytesIO(item.payload["votable"].encode())).to_table()
    assert len(table) == 2
    page.screenshot(path=str(tmp_path / "received.png"), full_page=True)


def test_no_hub_running_is_explained(samp_page, esap, no_samp_hub, tmp_path):
    page = samp_page
    server, _ = esap
    page.goto(server.url + "/basket")
    page.get_by_role("button", name="Send to…").click()
    status = page.locator(".samp-status")
    expect(status).to_contain_text(
        "No SAMP hub is running on this computer. "
        "Start TOPCAT or Aladin (each starts a hub), then choose Send to… again."
    )
    link = status.get_by_role("link", name="How to start a hub")
    expect(link).to_have_attribute("href", "/samp#hub")
    link.click()
    expect(page.get_by_role("heading", name="When no hub answers")).to_be_visible()
    page.screenshot(path=str(tmp_path / "no-hub.png"), full_page=True)


def test_the_policy_lets_pages_reach_the_hub_and_no_other_address(samp_page, esap, samp_hub, images):
    page = samp_page
    server, _ = esap
    answer = page.goto(server.url + "/basket")
    assert "connect-src 'self' http://localhost:21012;" in answer.headers["content-security-policy"] + ";"
    outcome = page.evaluate(
        """async ([other, hub]) => {
            const blocked = [];
            document.addEventListener("securitypolicyviolation", (event) => blocked.push(event.blockedURI));
            const attempt = async (url) => {
                try { return (await fetch(url)).status; } catch (e) { return "refused"; }
            };
            const result = {
                other: await attempt(other),
                loopbackHub: await attempt("http://127.0.0.1:21012/crossdomain.xml"),
                hub: await attempt(hub),
            };
            await new Promise((resolve) => setTimeout(resolve, 200));
            return {...result, blocked};
        }""",
        [f"{images}/picked.xml", "http://localhost:21012/crossdomain.xml"],
    )
    assert outcome["other"] == "refused" and outcome["loopbackHub"] == "refused" and outcome["hub"] == 200
    assert any(uri.startswith(images) for uri in outcome["blocked"])
    assert any(uri.startswith("http://127.0.0.1:21012") for uri in outcome["blocked"])


def test_a_did_page_sends_a_fits_replica(samp_page, esap, samp_client, images, tmp_path):
    page = samp_page
    server, _ = esap
    page.goto(server.url + "/data/archives/sources/did?did=test:S3.fits")
    section = page.locator(".did-replicas")
    button = section.get_by_role("button", name="Send test:S3.fits as an image over SAMP")
    expect(button).to_have_count(1)  # the http copy; the tape copy cannot be sent
    expect(section.get_by_role("button", name="Send to…")).to_be_visible()
    button.click()
    status = section.locator(".samp-status")
    image = samp_client.wait_for("image.load.fits")
    assert image.params == {"url": f"{images}/S3.fits", "name": "test:S3.fits"} and image.image == (20, 30)
    expect(status).to_have_text("TestClient accepted the image test:S3.fits.")
    # once the clients are listed (the list enabled), the outcome stays: the list is not announced over it
    expect(section.get_by_label("Client")).to_be_enabled()
    expect(section.get_by_role("button", name="Disconnect")).to_be_visible()
    assert status.inner_text() == "TestClient accepted the image test:S3.fits."
    assert page.errors == []
    page.screenshot(path=str(tmp_path / "did-1280.png"), full_page=True)
    at_390_px(page, tmp_path / "did-390.png")


def test_a_sent_link_reads_that_table_for_minutes_and_nothing_else(samp_page, esap, samp_client, monkeypatch):
    page = samp_page
    server, app = esap
    requests.post(
        f"{server.url}/api/v1/basket/items",
        json={"items": [{"archive": "gaia", "identifier": "src-1", "title": "Source 1"}]},
        headers=bearer(app, local_user(app)),
        timeout=10,
    )
    monkeypatch.setattr(samp, "LINK_SECONDS", 3)
    page.goto(server.url + "/basket")
    status = open_control(page, page.locator("[data-samp]"))
    page.get_by_role("button", name="Send basket").click()
    received = samp_client.wait_for("table.load.votable")
    sent_at = time.monotonic()
    expect(status).to_have_text("TestClient accepted the table “ESAP basket” (1 row).")
    url = received.params["url"]
    assert urlsplit(url).path.startswith("/samp/tables/") and list(received.table["identifier"]) == ["src-1"]

    # the link is no key: not to the API, not to another table
    token = urlsplit(url).path.rsplit("/", 1)[1]
    as_bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/api/v1/basket", headers=as_bearer, timeout=10).status_code == 401
    claims, signature = token.rsplit(".", 1)
    forged = requests.get(f"{server.url}/samp/tables/{claims}.{signature[::-1]}", timeout=10)
    assert forged.status_code == 403 and "src-1" not in forged.text
    again = requests.get(url, timeout=10)  # read-only and repeatable while it lives (TOPCAT may read twice)
    assert again.status_code == 200 and again.content == received.content
    assert requests.post(url, timeout=10).status_code in (403, 405)

    time.sleep(max(0.0, sent_at + 3.5 - time.monotonic()))
    expired = requests.get(url, timeout=10)
    assert (
        expired.status_code == 410 and expired.text == "This table link has expired: send the table again from ESAP.\n"
    )


class HttpsServer(LiveServer):
    """ESAP over HTTPS (a certificate of its own, made now) on loopback, as a deployment serves it."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context="adhoc")
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


PUBLIC_HOST = "esap.test"  # a name reserved for tests (RFC 2606), mapped to 127.0.0.1 inside one Chromium only


@dataclass
class PublicEsap:
    """ESAP with logins (not the local mode, which answers loopback names only), over HTTP and HTTPS."""

    plain: str
    https: str
    cookie: dict
    ports: list[int]


@pytest.fixture
def public_esap(database_url, redis_url, tmp_path, oidc_provider, monkeypatch) -> Iterator[PublicEsap]:
    from flask import session

    from esap_core import accounts, logins

    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", oidc_provider.client_secret)
    oidc = {
        "issuer": oidc_provider.issuer,
        "client_id": oidc_provider.client_id,
        "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
    }
    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": [], "oidc": oidc})
    app.testing = True
    with emptied_after(app), LiveServer(app) as plain, HttpsServer(app) as secure:
        with app.test_request_context():
            # a login as the callback begins it, sealed into the cookie the browser will carry
            claims = {"sub": "sub-alice", "preferred_username": "alice", "name": "Alice", "email": "a@example.org"}
            logins.begin(accounts.user_from_claims(oidc_provider.issuer, claims))
            value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        cookie = {"name": app.config["SESSION_COOKIE_NAME"], "value": value, "domain": PUBLIC_HOST, "path": "/"}
        ports = [urlsplit(plain.url).port, urlsplit(secure.url).port]
        yield PublicEsap(f"http://{PUBLIC_HOST}:{ports[0]}", f"https://{PUBLIC_HOST}:{ports[1]}", cookie, ports)


def test_a_page_from_another_address_says_what_the_browser_blocks_and_the_fix_works(
    browser, public_esap, samp_client, tmp_path
):
    """Chromium's local network access, as a researcher meets it: ESAP at a public address asking for the hub.

    This Chromium resolves esap.test to 127.0.0.1 and counts ESAP's two ports as public addresses;
    everything but esap.test and the hub's localhost is refused.
    """
    overrides = ",".join(f"127.0.0.1:{port}=public" for port in public_esap.ports)
    public = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *LAUNCH_ARGS,
            f"--ip-address-space-overrides={overrides}",
            f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1",
        ],
    )

    def status_after_send_to(origin: str, allowed: bool = False, screenshot: str = "") -> tuple[str, str]:
        context = public.new_context(ignore_https_errors=True)
        context.route(
            re.compile(rf"^https?://(?!({PUBLIC_HOST}|localhost|127\.0\.0\.1)[:/])"),
            lambda route: route.abort("blockedbyclient"),
        )
        context.add_cookies([public_esap.cookie])
        if allowed:
            context.grant_permissions(["local-network-access"], origin=origin)
        page = context.new_page()
        page.goto(origin + "/basket")
        page.get_by_role("button", name="Send to…").click()
        status = page.locator(".samp-status")
        expect(status).not_to_have_text(re.compile("^(Looking for a SAMP hub.*)?$"), timeout=15_000)
        links = status.get_by_role("link")
        text, href = status.inner_text(), (links.get_attribute("href") if links.count() else "")
        if screenshot:
            page.screenshot(path=str(tmp_path / screenshot), full_page=True)
        for button in page.locator("[data-samp-disconnect]:visible").all():
            button.click()
        context.close()
        return text, href

    try:
        text, href = status_after_send_to(public_esap.plain, screenshot="plain-http.png")
        assert text.startswith("Your browser does not let a page served over plain HTTP reach the SAMP hub")
        assert href == "/samp#browsers"
        # Headless Chromium answers its own question ("may this site reach this device?") with "Block"
        text, href = status_after_send_to(public_esap.https, screenshot="blocked.png")
        assert text == (
            "Your browser blocks this page from reaching the SAMP hub on your computer (local network access). "
            "How to allow it"
        )
        assert href == "/samp#browsers"
        text, href = status_after_send_to(public_esap.https, allowed=True)  # the help page's fix: allow the site
        assert text.startswith("Connected to the SAMP hub. Registered clients:") and CLIENTS in text
    finally:
        public.close()

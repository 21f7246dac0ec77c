"""The data pages against the real test servers: one form across archives, an archive's form, results,
adding rows to the basket, the registry's services (TAP, cone search), Rucio's scopes and DIDs, bad input."""

from __future__ import annotations

import re
import socket
import time
import tomllib
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from esap_core import basket
from tests.data_settings import RUCIO_PASSWORD_VARIABLE, data_config
from tests.fixtures import csrf_headers, make_user, sign_in

HX = {"HX-Request": "true"}


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.fixture
def data_app(app_factory, dachs, sesame, rucio_server, faulty_services, monkeypatch):
    monkeypatch.setenv(RUCIO_PASSWORD_VARIABLE, rucio_server.password)

    def make(**overrides):
        config = data_config(dachs, sesame, rucio_server, faulty_services)
        config.update(overrides)
        return app_factory(installed=True, **config)

    return make


@pytest.fixture
def app(data_app):
    return data_app(archive_timeout=2)


@pytest.fixture
def client(app):
    return app.test_client()


def basket_items(app):
    with app.app_context():
        from esap_core import accounts

        return basket.all_items(accounts.local_user())


def panel_of(client, url: str):
    response = client.get(url, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    return soup(response).select_one("section.archive-panel")


def add_rows(client, panel, count: int, headers=None):
    form = panel.select_one("form.results-form")
    tokens = [box["value"] for box in form.select('input[name="row"]')][:count]
    assert len(tokens) == count
    return client.post(form["action"], data={"row": tokens}, headers={**HX, **csrf_headers(client), **(headers or {})})


# --- the one form across archives ------------------------------------------------------------


def test_data_page_lists_the_archives_and_lights_up_the_navigation(client):
    page = soup(client.get("/data"))
    assert page.select_one('a[aria-current="page"]').get_text() == "Data"
    names = [a.get_text() for a in page.select("table.archives th a")]
    # plugins in name order (rucio, vo), each plugin's archives in the order it registered them
    assert names == ["Test Rucio", "IVOA registry", "Test observations", "Slow observations", "Broken observations"]
    assert page.select_one('form.fanout-form input[name="ra"]') is not None


def test_one_position_sent_to_every_archive_that_answers_positions(client, dachs):
    ra, dec = dachs.cluster_centre
    page = soup(client.get("/data", query_string={"ra": ra, "dec": dec, "radius": "0.3"}))
    placeholders = page.select("section.archive-panel[hx-get]")
    assert [p["data-archive"] for p in placeholders] == ["test-obs", "slow-obs", "broken-obs"]
    assert all(p["hx-trigger"] == "load" and p["aria-busy"] == "true" for p in placeholders)
    started = time.monotonic()
    panels = {p["data-archive"]: panel_of(client, p["hx-get"]) for p in placeholders}
    assert time.monotonic() - started < 3 * (2 + 1.5)
    good = panels["test-obs"]
    assert good["data-status"] == "ok"
    assert len(good.select("tbody tr")) == sum(
        abs(o["s_ra"] - ra) < 0.3 and abs(o["s_dec"] - dec) < 0.3 for o in dachs.observations
    )
    assert "s_ra [deg]" in good.select_one("thead").get_text(" ", strip=True)
    assert good.select("svg.sky-plot circle.sky-point")
    assert panels["slow-obs"]["data-status"] == "timeout"
    assert "did not answer within 2 s" in panels["slow-obs"].select_one(".archive-message").get_text()
    assert panels["broken-obs"]["data-status"] == "error"
    assert "VOTable" in panels["broken-obs"].get_text() or "VO service" in panels["broken-obs"].get_text()


def test_keywords_go_to_the_registry_and_rucio(client):
    page = soup(client.get("/data", query_string={"keywords": "demo"}))
    assert [p["data-archive"] for p in page.select("section.archive-panel[hx-get]")] == ["test-rucio", "vo-registry"]
    rucio = panel_of(client, page.select("section.archive-panel[hx-get]")[0]["hx-get"])
    assert "escape:demo_collection" in rucio.get_text()


def test_a_target_is_resolved_by_the_pinned_services(client, dachs):
    page = soup(client.get("/data", query_string={"target": "M31", "radius": "0.3"}))
    [first, *_] = page.select("section.archive-panel[hx-get]")
    panel = panel_of(client, first["hx-get"])
    targets = {td.get_text() for td in panel.select("tbody td") if td.get_text() == "M31"}
    assert targets == {"M31"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"ra": "ten", "dec": "10"}, "RA (deg) must be a number, not 'ten'"),
        ({"ra": "10", "dec": "-95"}, "Dec (deg) must be at least -90"),
        ({"ra": "400", "dec": "10"}, "RA (deg) must be at most 360"),
        ({"ra": "10", "dec": "10", "radius": "-1"}, "Radius (deg) must be at least 0"),
        ({"ra": "10", "dec": "10", "keywords": "stars"}, "one kind of question at a time"),
    ],
)
def test_bad_questions_are_explained_and_ask_nobody(client, query, message):
    response = client.get("/data", query_string=query)
    assert response.status_code == 400
    page = soup(response)
    assert message in page.select_one("form.fanout-form").get_text()
    assert page.select("section.archive-panel") == []


def test_the_form_keeps_the_radius_within_what_the_archives_asked_accept(client):
    page = soup(client.get("/data"))
    help_text = page.select_one("#q-radius-help").get_text()
    assert re.search(r"search(es)? at most 10", help_text) and "(0 to 10)" in help_text
    response = client.get("/data", query_string={"ra": "10", "dec": "10", "radius": "20"})
    assert response.status_code == 400
    refused = soup(response)
    message = refused.select_one("form.fanout-form .form-error").get_text()
    assert message.startswith("Radius (deg) must be at most 10, not 20 (")
    assert re.search(r"search(es)? at most 10\)$", message)
    assert refused.select("section.archive-panel") == []


def test_an_unreachable_archive_says_so_plainly_once_with_the_detail_apart(
    app_factory, dachs, sesame, rucio_server, monkeypatch
):
    monkeypatch.setenv(RUCIO_PASSWORD_VARIABLE, rucio_server.password)
    config = data_config(dachs, sesame, rucio_server)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    gone = {"name": "gone-obs", "title": "Gone observations", "tap_url": f"http://127.0.0.1:{port}/tap", "table": "t"}
    config["plugins"]["vo"]["services"].append(gone)
    client = app_factory(installed=True, **config).test_client()
    panel = panel_of(client, "/data/archives/gone-obs/results?kind=position&ra=10&dec=10&radius=0.1")
    message = panel.select_one(".archive-message").get_text()
    assert f"http://127.0.0.1:{port}/tap" in message and "cannot be reached" in message
    assert "Errno" not in message and "HTTPConnectionPool" not in message
    assert panel.get_text().count("cannot be reached") == 1
    assert "refused" in panel.select_one("details.technical pre").get_text().lower()


def test_the_data_pages_snippet_adds_an_archive_that_answers_positions(client, app_factory, dachs):
    snippet = soup(client.get("/data")).select_one("details#add-archive pre").get_text()
    settings = tomllib.loads(
        snippet.replace("https://example.org/tap", dachs.tap_url).replace("ivoa.obscore", "esap.obs")
    )
    added = app_factory(
        installed=True, load_plugins=["vo"], plugins={"vo": {**settings["plugins"]["vo"], "registry_tap_url": ""}}
    )
    row = soup(added.test_client().get("/data")).select_one("table.archives tbody tr")
    assert row.select_one("th").get_text() == "My observatory" and "position" in row.get_text()
    asked = soup(added.test_client().get("/data", query_string={"ra": "10", "dec": "10"}))
    assert [panel["data-archive"] for panel in asked.select("section.archive-panel")] == ["my-obs"]


def test_a_tampered_results_url_is_a_message_not_an_error(client):
    panel = panel_of(client, "/data/archives/test-obs/results?kind=position&ra=x&dec=1")
    assert panel["data-status"] == "invalid" and "RA (deg) must be a number" in panel.get_text()
    panel = panel_of(client, "/data/archives/test-rucio/results?kind=position&ra=1&dec=1")
    assert "does not answer position searches" in panel.get_text()
    full = client.get("/data/archives/test-obs/results?kind=nonsense&ra=1&dec=1")
    assert full.status_code == 400 and "Unknown kind of search" in full.get_data(as_text=True)
    assert client.get("/data/archives/nothing-here").status_code == 404


# --- an archive's own form, results and the basket -----------------------------------------


def test_the_archive_form_is_built_from_its_fields(client):
    form = soup(client.get("/data/archives/vo-registry")).select_one("form.archive-form")
    assert form.select_one('input[name="keywords"]').has_attr("required")
    options = [o["value"] for o in form.select('select[name="service_type"] option')]
    assert options == ["any", "tap", "scs", "sia", "ssa"]
    assert form.select_one('select[name="waveband"] option[selected]')["value"] == "any"


def test_an_archive_page_with_bad_values_says_which(client):
    response = client.get("/data/archives/test-rucio", query_string={"did_type": "table", "search": "1"})
    assert response.status_code == 400
    assert "Type must be one of all, container, dataset, file" in soup(response).select_one("form").get_text()
    assert soup(response).select("section.archive-panel") == []


def test_rows_are_added_to_the_basket_and_the_count_is_told(client, app, dachs):
    page = soup(client.get("/data/archives/test-obs", query_string={"target": "M31", "radius": "0.3"}))
    panel = panel_of(client, page.select_one("section.archive-panel")["hx-get"])
    response = add_rows(client, panel, 2)
    assert response.headers["HX-Trigger"] == "basket-changed"
    assert "Added 2 items" in response.get_data(as_text=True)
    items = basket_items(app)
    assert [item.archive for item in items] == ["test-obs", "test-obs"]
    assert all(item.fetch["method"] == "http" and item.fetch["url"].startswith(dachs.base_url) for item in items)
    assert items[0].payload["row"]["target_name"] == "M31"
    again = add_rows(client, panel, 2)
    assert "Already in your basket" in again.get_data(as_text=True) and len(basket_items(app)) == 2


def test_forged_and_foreign_rows_are_refused(client, app, dachs):
    page = soup(client.get("/data/archives/test-obs", query_string={"target": "M31", "radius": "0.3"}))
    panel = panel_of(client, page.select_one("section.archive-panel")["hx-get"])
    token = panel.select_one('input[name="row"]')["value"]
    headers = {**HX, **csrf_headers(client)}
    attempts = [
        ("/data/archives/test-obs/basket", {"row": token[:-2] + "xx"}, "not from this page"),
        ("/data/archives/vo-registry/basket", {"row": token}, "is not a result of IVOA registry"),
        ("/data/archives/test-obs/basket", {}, "Select the rows to add first"),
        ("/data/archives/test-obs/basket", {"row": [token] * 201}, "at most 200 rows"),
        ("/data/archives/test-obs/basket", {"row": '{"obs_id": "forged"}'}, "not from this page"),
    ]
    for url, form, message in attempts:
        response = client.post(url, data=form, headers=headers)
        assert response.status_code == 200 and message in response.get_data(as_text=True), url
        assert "HX-Trigger" not in response.headers
    plain = client.post("/data/archives/test-obs/basket", data={"row": "junk"}, headers=csrf_headers(client))
    assert plain.status_code == 400 and "Nothing was added" in plain.get_data(as_text=True)
    assert client.post("/data/archives/test-obs/basket", data={"row": token}).status_code == 403  # no CSRF token
    assert basket_items(app) == []


def test_another_users_rows_cannot_be_replayed(data_app, dachs, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", "x")
    app = data_app(
        oidc={
            "issuer": "http://127.0.0.1:9/issuer",
            "client_id": "esap",
            "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
        }
    )
    alice, bob = make_user(app, "alice"), make_user(app, "bob")
    as_alice, as_bob = app.test_client(), app.test_client()
    for client, user in ((as_alice, alice), (as_bob, bob)):
        sign_in(app, client, user)
    panel = panel_of(as_alice, "/data/archives/test-obs/results?target=M31&radius=0.3")
    token = panel.select_one('input[name="row"]')["value"]
    response = as_bob.post(
        "/data/archives/test-obs/basket", data={"row": token}, headers={**HX, **csrf_headers(as_bob)}
    )
    assert "is not a result of Test observations" in response.get_data(as_text=True)


def test_paging_through_an_archive(client):
    first = panel_of(client, "/data/archives/test-rucio/results?scope=user.alice&name=file_*")
    assert len(first.select("tbody tr")) == 50
    assert "300 rows" in first.select_one("nav.pager").get_text()
    next_url = first.select_one("nav.pager a")["hx-get"]
    second = panel_of(client, next_url)
    assert second.select_one("tbody tr td:nth-of-type(3)").get_text() == "user.alice:file_050.dat"
    assert second.select_one("nav.pager a").get_text() == "Previous page"


def test_full_page_results_without_htmx(client):
    response = client.get("/data/archives/test-obs/results?target=M31&radius=0.3")
    assert response.status_code == 200 and "<html" in response.get_data(as_text=True)
    failing = client.get("/data/archives/broken-obs/results?ra=10&dec=10")
    assert failing.status_code == 502 and "archive-message" in failing.get_data(as_text=True)


def test_archive_text_is_escaped(client):
    panel = panel_of(client, "/data/archives/test-obs/results?collection=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert" not in str(panel)
    response = client.get("/data/archives/test-obs", query_string={"collection": "<b>x</b>"})
    assert "<b>x</b>" not in response.get_data(as_text=True)


# --- the registry: pick a service and query it ---------------------------------------------


def registry_row_link(client, service_type: str) -> str:
    panel = panel_of(client, f"/data/archives/vo-registry/results?keywords=stars&service_type={service_type}")
    [link] = [a["href"] for a in panel.select("tbody a") if a.get_text() == "Query"]
    return link


def test_tap_service_tables_columns_and_a_query(client, app, dachs):
    link = registry_row_link(client, "tap")
    page = soup(client.get(link))
    assert "ESAP test TAP service" in page.select_one("h1").get_text()
    tables = soup(client.get(page.select_one(".tap-tables [hx-get]")["hx-get"], headers=HX))
    sources = next(a for a in tables.select("a") if a.get_text() == "esap.sources")
    table_page = soup(client.get(sources["href"]))
    assert table_page.select_one("#adql").get_text() == "SELECT TOP 100 * FROM esap.sources"
    columns = soup(client.get(table_page.select_one(".tap-query [hx-get]")["hx-get"], headers=HX))
    ra = next(row for row in columns.select("tbody tr") if row.th.get_text() == "ra")
    assert [td.get_text() for td in ra.select("td")][:2] == ["deg", "pos.eq.ra;meta.main"]
    assert "Right ascension (ICRS)" in ra.get_text()

    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    query = {
        **params,
        "adql": "SELECT name, ra, dec, mag FROM esap.sources WHERE mag < 12 ORDER BY name",
        "max_rows": "5",
        "mode": "sync",
    }
    page = soup(client.get("/data/archives/vo-registry/service", query_string=query))
    panel = panel_of(client, page.select_one("section.archive-panel[hx-get]")["hx-get"])
    rows = panel.select("tbody tr")
    assert len(rows) == min(5, sum(s["mag"] < 12 for s in dachs.sources))
    assert "mag [mag]" in panel.select_one("thead").get_text(" ", strip=True)
    add_rows(client, panel, 2)
    items = basket_items(app)
    assert len(items) == 2 and items[0].archive == "vo-registry"
    name = items[0].payload["row"]["name"]
    # no access URL among the columns asked for: the item is fetched again with ADQL selecting its row
    assert items[0].fetch == {
        "method": "tap",
        "service": dachs.tap_url,
        "adql": f"SELECT * FROM esap.sources WHERE name = '{name}'",
    }


def test_invalid_adql_shows_the_services_message(client):
    params = {k: v[0] for k, v in parse_qs(urlsplit(registry_row_link(client, "tap")).query).items()}
    url = "/data/archives/vo-registry/service/results"
    panel = panel_of(
        client,
        url + "?" + "&".join(f"{k}={v}" for k, v in params.items()) + "&adql=SELECT+nosuchcolumn+FROM+esap.sources",
    )
    assert panel["data-status"] == "error"
    assert "nosuchcolumn" in panel.select_one(".archive-message").get_text()


def test_service_links_cannot_be_forged(client):
    response = client.get(
        "/data/archives/vo-registry/service",
        query_string={"kind": "tap", "url": "http://127.0.0.1:9/tap", "sig": "forged"},
    )
    assert response.status_code == 400 and "search the registry again" in response.get_data(as_text=True)
    assert client.get("/data/archives/test-obs/service", query_string={"kind": "tap"}).status_code == 404


def submit_async(client, adql: str) -> str:
    """Send ``adql`` as an asynchronous query from the TAP service's page, as its confirm form does: the job page."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(registry_row_link(client, "tap")).query).items()}
    confirm = soup(
        client.get("/data/archives/vo-registry/service", query_string={**params, "adql": adql, "mode": "async"})
    )
    form = confirm.select_one("form.confirm-job")
    data = {field["name"]: field["value"] for field in form.select("input")}
    submitted = client.post(form["action"], data=data)
    assert submitted.status_code == 303
    return submitted.headers["Location"]


def follow_async(client, job_page: str) -> tuple[str, BeautifulSoup]:
    """Ask the job page's status fragment, as the page does, until the query completes: its URL and last answer."""
    status_url = soup(client.get(job_page)).select_one(".job-status[hx-get]")["hx-get"]
    for _ in range(60):
        status = soup(client.get(status_url, headers=HX))
        if status.select_one(".phase")["data-phase"] == "COMPLETED":
            break
        assert status.select_one(".job-status")["hx-trigger"] == "load delay:1s"
        time.sleep(0.5)
    return status_url, status


def test_async_job_runs_shows_its_phase_and_is_cancelled(client, dachs):
    status_url, status = follow_async(client, submit_async(client, "SELECT name, mag FROM esap.sources WHERE mag < 10"))
    phase = status.select_one(".phase")["data-phase"]
    assert phase == "COMPLETED"
    panel = panel_of(client, status.select_one("section.archive-panel[hx-get]")["hx-get"])
    assert {td.get_text() for td in panel.select("tbody td:nth-of-type(2)")} == {
        s["name"] for s in dachs.sources if s["mag"] < 10
    }
    job_data = {k: v[0] for k, v in parse_qs(urlsplit(status_url).query).items()}
    cancelled = soup(
        client.post("/data/archives/vo-registry/job/cancel", data=job_data, headers={**HX, **csrf_headers(client)})
    )
    assert cancelled.select_one(".phase")["data-phase"] == "CANCELLED"
    gone = soup(client.get(status_url, headers=HX))
    assert "HTTP 404" in gone.select_one(".archive-message").get_text()


def test_an_async_query_is_kept_in_your_jobs_reopened_from_there_and_deleted(client, dachs):
    job_page = submit_async(client, "SELECT name FROM esap.sources WHERE mag < 12")
    listed = soup(client.get("/jobs"))
    [row] = listed.select("table.jobs tbody tr")
    assert "ESAP test TAP service" in row.get_text() and "QUEUED" in row.get_text()  # its title, its phase
    kept = row.select_one("a")["href"]
    reopened = client.get(kept)
    assert reopened.status_code == 302 and reopened.headers["Location"] == job_page  # its own page, after a reload

    follow_async(client, job_page)
    [row] = soup(client.get("/jobs?phase=COMPLETED")).select("table.jobs tbody tr")
    assert row.select_one("a")["href"] == kept
    [row] = soup(client.get("/jobs", query_string={"software": "ESAP test TAP service"})).select("table.jobs tbody tr")
    other = soup(client.get("/jobs?software=Other"))
    assert other.select("table.jobs") == [] and "No job of Other." in other.get_text()

    deleted = client.post(row.select_one("form")["action"], data={"csrf_token": csrf_headers(client)["X-CSRF-Token"]})
    assert deleted.status_code == 302
    assert soup(client.get("/jobs")).select("table.jobs tbody tr") == [] and client.get(kept).status_code == 404


def test_async_job_with_bad_adql_shows_the_error(client):
    params = {k: v[0] for k, v in parse_qs(urlsplit(registry_row_link(client, "tap")).query).items()}
    response = client.post(
        "/data/archives/vo-registry/jobs",
        data={**params, "adql": "SELECT nosuch FROM esap.sources"},
        headers={**HX, **csrf_headers(client)},
    )
    assert response.status_code == 204
    status_url = response.headers["HX-Redirect"].replace("/job?", "/job/status?")
    for _ in range(60):
        status = soup(client.get(status_url, headers=HX))
        if status.select_one(".phase")["data-phase"] in ("ERROR", "COMPLETED"):
            break
        time.sleep(0.5)
    assert status.select_one(".phase")["data-phase"] == "ERROR"
    assert "nosuch" in status.select_one(".archive-message").get_text()
    forged = client.get(status_url.replace("jsig=", "jsig=x"), headers=HX)
    assert forged.status_code == 400


def test_cone_search_service(client, app, dachs):
    link = registry_row_link(client, "scs")
    page = soup(client.get(link))
    assert page.select_one("form.cone-form") is not None
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    ra, dec = dachs.cluster_centre
    bad = client.get("/data/archives/vo-registry/service", query_string={**params, "ra": ra, "dec": 10, "radius": "-2"})
    assert bad.status_code == 400 and "Radius (deg) must be at least 0" in bad.get_data(as_text=True)
    page = soup(
        client.get("/data/archives/vo-registry/service", query_string={**params, "ra": ra, "dec": dec, "radius": "0.2"})
    )
    panel = panel_of(client, page.select_one("section.archive-panel[hx-get]")["hx-get"])
    assert panel.select("tbody tr") and panel.select("svg circle.sky-point")
    add_rows(client, panel, 1)
    [item] = basket_items(app)
    assert item.fetch["method"] == "http" and item.payload["service_type"] == "scs"


# --- Rucio: scopes, DIDs, a wildcard search --------------------------------------------------


def test_rucio_scopes_and_a_wildcard_search_adds_a_dataset(client, app, rucio_server):
    scopes = soup(client.get("/data/archives/test-rucio/scopes"))
    links = {a.get_text(): a["href"] for a in scopes.select("ul.scopes a")}
    assert list(links) == ["escape", "user.alice", "user.bob"]
    page = soup(client.get(links["escape"] + "&did_type=dataset"))
    panel = panel_of(client, page.select_one("section.archive-panel[hx-get]")["hx-get"])
    rows = panel.select("tbody tr")
    assert [row.select("td")[2].get_text() for row in rows] == ["escape:demo_dataset_1", "escape:demo_dataset_2"]
    response = add_rows(client, panel, 1)
    assert response.headers["HX-Trigger"] == "basket-changed"
    [item] = basket_items(app)
    assert item.fetch == {"method": "rucio", "did": "escape:demo_dataset_1", "host": rucio_server.host}
    assert item.payload["did_type"] == "dataset" and item.payload["rses"] == ["LOCAL_A"]


def test_a_did_page_shows_metadata_contents_and_replicas(client):
    panel = panel_of(client, "/data/archives/test-rucio/results?scope=escape&name=demo_dataset_2")
    details = next(a["href"] for a in panel.select("tbody a") if a.get_text() == "Details")
    page = soup(client.get(details))
    assert page.select_one("h1").get_text() == "escape:demo_dataset_2"
    sections = {urlsplit(tag["hx-get"]).path.rsplit("/", 1)[1]: tag["hx-get"] for tag in page.select("[hx-get]")}
    metadata = soup(client.get(sections["metadata"], headers=HX))
    facts = dict(
        zip(
            [dt.get_text() for dt in metadata.select("dt")],
            [dd.get_text() for dd in metadata.select("dd")],
            strict=True,
        )
    )
    assert facts["project"] == "esap_demo" and facts["run_number"] == "2"
    contents = panel_of(client, sections["contents"])
    assert [row.select("td")[2].get_text() for row in contents.select("tbody tr")] == [
        f"escape:demo_2_{i:02d}.fits" for i in range(3)
    ]
    replicas = soup(client.get(sections["replicas"], headers=HX))
    rows = replicas.select("tbody tr")
    assert len(rows) == 3 and all(
        {"LOCAL_A", "LOCAL_B"} <= set(re.findall(r"LOCAL_\w", row.get_text())) for row in rows
    )


def test_a_wildcard_only_search_over_a_big_scope_is_bounded(data_app, dachs, sesame, rucio_server, faulty_services):
    config = data_config(dachs, sesame, rucio_server, max_results=100)
    app = data_app(**config)
    panel = panel_of(app.test_client(), "/data/archives/test-rucio/results?scope=user.alice&name=*")
    assert panel["data-status"] == "ok"
    assert "More than 100 DIDs match '*'" in panel.select_one(".note").get_text()
    assert len(panel.select("tbody tr")) == 50


def test_an_unknown_did_and_an_unknown_scope(client):
    section = soup(client.get("/data/archives/test-rucio/did/metadata?did=escape:nothing", headers=HX))
    assert "has no such DID" in section.select_one(".archive-message").get_text()
    panel = panel_of(client, "/data/archives/test-rucio/results?scope=nosuch&name=*")
    assert "no scope named 'nosuch'" in panel.get_text()
    assert client.get("/data/archives/test-rucio/did?did=nocolon").status_code == 400
    assert client.get("/data/archives/test-obs/scopes").status_code == 404


def test_an_expired_login_asks_to_log_in_again(data_app, dachs, sesame, rucio_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", "x")
    config = data_config(dachs, sesame, rucio_server, auth="token", account=None, username=None, password=None)
    config["plugins"]["rucio"]["instances"][0] = {
        k: v for k, v in config["plugins"]["rucio"]["instances"][0].items() if v is not None
    }
    app = data_app(
        oidc={
            "issuer": "http://127.0.0.1:9/issuer",
            "client_id": "esap",
            "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
        },
        **config,
    )
    user = make_user(app, "olivia")  # logged in once, but ESAP holds no token of hers any more
    client = app.test_client()
    sign_in(app, client, user)
    panel = panel_of(client, "/data/archives/test-rucio/results?scope=escape&name=*")
    assert panel["data-status"] == "login"
    assert "log in again" in panel.get_text()
    assert panel.select_one('a[href^="/login"]').get_text() == "Log in again"
    full = client.get("/data/archives/test-rucio/results?scope=escape&name=*")
    assert full.status_code == 401
    scopes = client.get("/data/archives/test-rucio/scopes")
    assert scopes.status_code == 502 and "log in again" in scopes.get_data(as_text=True)


# --- the sky plot -------------------------------------------------------------------------------


def test_sky_plot_finds_positions_by_ucd_then_by_name_and_escapes_labels():
    from esap_core import Column
    from esap_core.web import skyplot

    by_ucd = [Column("name"), Column("x", ucd="pos.eq.ra;meta.main"), Column("y", ucd="pos.eq.dec;meta.main")]
    assert skyplot.position_columns(by_ucd) == ("x", "y")
    assert skyplot.position_columns([Column("s_ra"), Column("s_dec")]) == ("s_ra", "s_dec")
    assert skyplot.position_columns([Column("mag")]) is None
    rows = [
        {"name": "<script>x</script>", "x": 10.0, "y": 10.0},
        {"name": "b", "x": "10.1", "y": 10.1},
        {"name": "bad", "x": None, "y": 95},
    ]
    svg = str(skyplot.svg(skyplot.points(by_ucd, rows), "A <b> archive"))
    assert svg.count("<circle") == 2 and "&lt;script&gt;x&lt;/script&gt;" in svg and "<script>" not in svg
    assert "A &lt;b&gt; archive" in svg and "across" in svg  # a small field, on the tangent plane
    spread = [{"name": "a", "x": 0.5, "y": -60}, {"name": "b", "x": 200.0, "y": 45}]
    assert "whole sky" in str(skyplot.svg(skyplot.points(by_ucd, spread)))
    assert str(skyplot.svg([])) == ""

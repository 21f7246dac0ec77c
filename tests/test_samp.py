"""SAMP's server side: signed table links read exactly what was sent, for a few minutes; received tables are checked."""

from __future__ import annotations

import io
import time

import pytest
from astropy.io.votable import parse_single_table
from bs4 import BeautifulSoup
from itsdangerous import URLSafeTimedSerializer

from esap_core import Archive, Column, DataItem, ResultPage, hookimpl, samp
from esap_core.security import SAMP_HUB_ORIGIN
from tests.fixtures import bearer, csrf_headers, make_user

HX = {"HX-Request": "true"}
COLUMNS = [
    Column("name", description="the source's name"),
    Column("ra", "deg", "pos.eq.ra;meta.main"),
    Column("dec", "deg", "pos.eq.dec;meta.main"),
    Column("mag", "mag", "phot.mag"),
    Column("source_id", ucd="meta.id"),
    Column("access_url", ucd="meta.ref.url"),
]
ROWS = [
    {
        "name": f"S{i}",
        "ra": 10 + i / 10,
        "dec": -5 - i / 10,
        "mag": 12.5 + i,
        "source_id": 4_000_000_000_000_000 + i if i != 2 else None,
        "access_url": f"https://archive.example.org/img/S{i}.fits",
    }
    for i in range(5)
]
VOTABLE = b"""<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE name="picked">
<FIELD name="id" datatype="int"/><FIELD name="flux" datatype="double" unit="Jy"/>
<DATA><TABLEDATA><TR><TD>1</TD><TD>0.5</TD></TR><TR><TD>2</TD><TD>0.7</TD></TR></TABLEDATA></DATA>
</TABLE></RESOURCE></VOTABLE>"""


class Sources(Archive):
    name = "sources"
    title = "Test sources"

    def search(self, query, page, user, timeout):
        return ResultPage(COLUMNS, [dict(row) for row in ROWS], page_size=50, total=len(ROWS))

    def basket_item(self, row):
        return DataItem(row["name"], row["name"], {"method": "http", "url": row["access_url"]}, {"row": dict(row)})


class Plugin:
    @hookimpl
    def register_archives(self, register):
        register(Sources())


@pytest.fixture
def app(app_factory):
    return app_factory(extra_plugins=[("samp-test-archives", Plugin())])


@pytest.fixture
def client(app):
    return app.test_client()


def control_of(client):
    """The results panel's "Send to…" control and its row tokens."""
    page = BeautifulSoup(
        client.get("/data/archives/sources/results?search=1", headers=HX).get_data(as_text=True), "html.parser"
    )
    control = page.select_one("[data-samp]")
    tokens = [box["value"] for box in page.select('input[name="row"]')]
    return page, control, tokens


def make_link(client, data, headers=None):
    answer = client.post("/samp/links", data=data, headers={**csrf_headers(client), **(headers or {})})
    return answer


def read_table(app, url):
    """Fetch a link as a desktop tool would: a fresh client, no session, no token."""
    answer = app.test_client().get(url.removeprefix("http://localhost"))
    return answer


def test_a_result_page_link_reads_exactly_the_rows_sent(app, client):
    page, control, tokens = control_of(client)
    assert control["data-samp-source"] == "rows" and control["data-samp-archive"] == "sources"
    rows = page.select("tbody tr")
    assert rows[0]["data-samp-ra"] == "10.0" and rows[0]["data-samp-dec"] == "-5.0"
    assert rows[0]["data-samp-fits"] == ROWS[0]["access_url"] and rows[0]["data-samp-name"] == "S0"

    chosen = [tokens[1], tokens[2], tokens[4]]
    answer = make_link(client, {"archive": "sources", "columns": control["data-samp-columns"], "row": chosen})
    assert answer.status_code == 200, answer.get_json()
    link = answer.get_json()
    assert link["rows"] == 3 and link["seconds"] == samp.LINK_SECONDS and "/samp/tables/" in link["url"]
    served = read_table(app, link["url"])
    assert served.status_code == 200 and served.mimetype == "application/x-votable+xml"
    assert served.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in served.headers
    table = parse_single_table(io.BytesIO(served.data)).to_table()
    assert table.colnames == [column.name for column in COLUMNS]
    assert list(table["name"]) == ["S1", "S2", "S4"]
    assert str(table["ra"].unit) == "deg" and table["ra"].meta.get("ucd", table["ra"].info.meta.get("ucd")) in (
        None,
        "pos.eq.ra;meta.main",
    )
    fields = {field.name: field for field in parse_single_table(io.BytesIO(served.data)).fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["mag"].unit == "mag"
    assert fields["source_id"].datatype == "long" and fields["mag"].datatype == "double"
    assert list(table["source_id"].mask) == [False, True, False]  # the missing id is a null, not a number
    assert table["source_id"][0] == ROWS[1]["source_id"]  # 64-bit ids stay exact


def test_the_basket_link_and_its_expiry(app, client, monkeypatch):
    auth = bearer(app, local_user(app))
    items = [{"archive": "a", "identifier": f"x{i}", "title": f"X {i}"} for i in range(3)]
    client.post("/api/v1/basket/items", json={"items": items}, headers=auth)
    monkeypatch.setattr(samp, "LINK_SECONDS", 1)
    link = make_link(client, {"source": "basket"}).get_json()
    assert link["rows"] == 3 and link["name"] == "ESAP basket"
    table = parse_single_table(io.BytesIO(read_table(app, link["url"]).data)).to_table()
    assert sorted(table["identifier"]) == ["x0", "x1", "x2"]
    time.sleep(2.2)
    expired = read_table(app, link["url"])
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_an_empty_basket_is_not_sent(client):
    answer = make_link(client, {"source": "basket"})
    assert (
        answer.status_code == 400 and answer.get_json()["message"] == "Your basket is empty: there is no table to send."
    )


def test_a_link_reads_nothing_else(app, client):
    bob = make_user(app, "bob")
    bob_auth = bearer(app, bob)
    client.post("/api/v1/basket/items", json={"archive": "a", "identifier": "bob-only"}, headers=bob_auth)
    client.post(
        "/api/v1/basket/items", json={"archive": "a", "identifier": "mine"}, headers=bearer(app, local_user(app))
    )
    mine = make_link(client, {"source": "basket"}).get_json()["url"]
    bobs = app.test_client().post("/samp/links", data={"source": "basket"}, headers=bob_auth).get_json()["url"]
    assert "mine" in read_table(app, mine).get_data(as_text=True)
    assert "bob-only" not in read_table(app, mine).get_data(as_text=True)
    assert "mine" not in read_table(app, bobs).get_data(as_text=True)

    token = mine.rsplit("/", 1)[1]
    with app.app_context():
        claims = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=samp.LINK_SALT).loads(token)
        signed = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=samp.LINK_SALT).dumps
        row_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="esap.data.row").dumps(claims)
        bob_claims = signed({**claims, "u": bob.id})  # alice's stored table, claimed for bob
        other_bytes = signed({**claims, "d": "0" * 64})  # the same table id, other rows
        unknown = signed({**claims, "t": "no-such-table"})
    forged = [token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), row_salt, bob_claims, other_bytes]
    for attempt in forged:
        answer = app.test_client().get(f"/samp/tables/{attempt}")
        assert answer.status_code == 403, attempt
        assert "mine" not in answer.get_data(as_text=True)
    assert app.test_client().get(f"/samp/tables/{unknown}").status_code == 410
    assert client.post(f"/samp/tables/{token}", headers=csrf_headers(client)).status_code == 405  # read-only


def test_result_rows_from_another_archive_or_user_are_refused(app, client):
    _, control, tokens = control_of(client)
    bob_auth = bearer(app, make_user(app, "bob"))
    data = {"archive": "sources", "columns": control["data-samp-columns"], "row": tokens[:1]}
    stolen = app.test_client().post("/samp/links", data=data, headers=bob_auth)
    assert stolen.status_code == 400 and "not a result of Test sources" in stolen.get_json()["message"]
    forged_columns = make_link(client, {**data, "columns": "W10"})
    assert forged_columns.status_code == 400 and "not from an ESAP page" in forged_columns.get_json()["message"]
    assert make_link(client, {"archive": "sources", "columns": control["data-samp-columns"]}).status_code == 400
    assert client.post("/samp/links", data=data).status_code == 403  # no CSRF token


# --- receiving ----------------------------------------------------------------------------------


def post_document(client, data, **args):
    query = {"url": "http://127.0.0.1:5555/t.xml", "name": "", "sender": "TOPCAT", **args}
    headers = {**csrf_headers(client), "Content-Type": "application/x-votable+xml"}
    return client.post("/samp/received", query_string=query, data=data, headers=headers)


def basket_of(app):
    with app.app_context():
        from esap_core import basket

        return basket.all_items(local_user(app))


def test_a_table_from_the_researchers_machine_is_kept_in_its_item(app, client):
    answer = post_document(client, VOTABLE, name="my picks")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"] == "Added “my picks” (2 rows, 2 columns) from TOPCAT to your basket."
    assert answer.headers["HX-Trigger"] == "basket-changed"
    [item] = basket_of(app)
    assert (item.archive, item.title, item.fetch) == ("samp", "my picks", {})
    assert item.identifier.startswith("sha256:")
    assert item.payload["votable"] == VOTABLE.decode() and item.payload["columns"] == ["id", "flux"]
    assert item.payload["sender"] == "TOPCAT" and item.payload["rows"] == 2
    again = post_document(client, VOTABLE)
    assert again.get_json()["added"] == 0 and "is in your basket already" in again.get_json()["message"]


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"not xml at all", 400, "not well-formed XML"),
        (b"<html><body>Sorry</body></html>", 400, "not a VOTable: its document element is <html>"),
        (b'<VOTABLE xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE/></VOTABLE>', 400, "holds no table"),
        (b"<VOTABLE><RESOURCE><TABLE><DATA/></TABLE></RESOURCE></VOTABLE>", 400, "has no columns"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><VOTABLE>&a;</VOTABLE>', 400, "DTD or entities"),
        (
            b"<VOTABLE>" + b" " * samp.MAX_INLINE_BYTES + b"</VOTABLE>",
            413,
            "kept inside its basket item, at most 60 KiB",
        ),
        (b"", 400, "not well-formed XML (no element found"),
    ],
)
def test_a_bad_received_table_writes_nothing(app, client, data, status, message):
    answer = post_document(client, data)
    assert answer.status_code == status and message in answer.get_json()["message"]
    assert basket_of(app) == []


def test_the_server_does_not_fetch_the_researchers_machine(app, client, table_server):
    url = f"{table_server}/picked.xml"
    answer = client.post("/samp/received", json={"url": url, "sender": "TOPCAT"}, headers=csrf_headers(client))
    assert answer.status_code == 400
    assert (
        "ESAP's server does not fetch this table: 127.0.0.1 points to an internal address"
        in answer.get_json()["message"]
    )
    file_url = client.post("/samp/received", json={"url": "file:///etc/passwd"}, headers=csrf_headers(client))
    assert file_url.status_code == 400 and "reads only http(s)" in file_url.get_json()["message"]
    assert basket_of(app) == []
    assert client.post("/samp/received", json={"url": url}).status_code == 403  # no CSRF token


def test_a_table_at_a_url_is_read_checked_and_kept_as_an_http_item(app, table_server):
    """The server's path, with the guard told to allow loopback (a public server cannot be reached here)."""
    with app.test_request_context():
        user = local_user(app)
        added, summary = samp.receive_url(user, f"{table_server}/picked.xml", "", "Aladin", private_ok=True)
        assert (added, summary.name, summary.rows) == (1, "picked", 2)
        with pytest.raises(samp.SampError, match="answered 404"):
            samp.receive_url(user, f"{table_server}/missing.xml", "", "Aladin", private_ok=True)
        with pytest.raises(samp.SampError, match="not a VOTable"):
            samp.receive_url(user, f"{table_server}/page.html", "", "Aladin", private_ok=True)
    [item] = basket_of(app)
    assert item.fetch == {"method": "http", "url": f"{table_server}/picked.xml"} and "votable" not in item.payload
    assert item.title == "picked" and item.identifier == f"{table_server}/picked.xml"


@pytest.fixture
def table_server(samp_files) -> str:
    """A table and a web page on loopback, as TOPCAT's own little server serves a table it sends."""
    (samp_files.folder / "picked.xml").write_bytes(VOTABLE)
    (samp_files.folder / "page.html").write_text("<html><body>not a table</body></html>")
    return samp_files.url


# --- the page's policy and help ---------------------------------------------------------------


def test_every_page_may_connect_to_the_hub_and_nowhere_else(client):
    for path in ("/", "/basket", "/samp", "/data"):
        policy = client.get(path).headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["connect-src"] == f"'self' {SAMP_HUB_ORIGIN}" == "'self' http://localhost:21012"
        assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"


def test_the_help_page_says_how_to_start_a_hub(client):
    page = BeautifulSoup(client.get("/samp").get_data(as_text=True), "html.parser")
    assert page.select_one("h1").get_text() == "ESAP and your desktop tools (SAMP)"
    text = {
        name: " ".join(page.select_one(f"#{name}").find_parent("section").get_text().split()) for name in ("use", "hub")
    }
    assert "TOPCAT or Aladin start one themselves when none runs" in text["use"]
    assert "Start TOPCAT or Aladin, wait until it is open, and choose Send to… again" in text["hub"]
    assert page.select_one("#browsers") is not None and "Local network access" in page.get_text()


def local_user(app):
    with app.app_context():
        from esap_core import accounts

        return accounts.local_user()

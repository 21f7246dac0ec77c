"""Pages: layout, navigation, HTMX fragments at the same URL, errors as pages."""

from bs4 import BeautifulSoup


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_home_page_has_navigation_and_local_assets(client):
    response = client.get("/")
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    page = soup(response)
    labels = [item.get_text(" ", strip=True) for item in page.select("header nav ul")[1].find_all("li")]
    assert labels == [
        "Data",
        "Software",
        "Facilities",
        "Basket 0",
        "Launches",
        "Plugins",
        "API docs",
        "Local user local mode",
    ]
    for tag in page.find_all(["script", "link"]):
        source = tag.get("src") or tag.get("href")
        assert source.startswith("/static/"), f"{source} is not served by ESAP itself"
        with client.get(source) as asset:
            assert asset.status_code == 200


def test_htmx_request_gets_the_fragment_only(client):
    fragment = client.get("/plugins", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "<h1>Plugins</h1>" in fragment
    boosted = client.get("/plugins", headers={"HX-Request": "true", "HX-Boosted": "true"}).get_data(as_text=True)
    assert "<html" in boosted


def test_current_section_is_marked(client):
    page = soup(client.get("/plugins"))
    assert page.select_one('a[aria-current="page"]').get_text() == "Plugins"


def test_unknown_page_is_a_page_not_a_traceback(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "404 · Not Found" in response.get_data(as_text=True)


def test_plugin_error_text_is_escaped(app_factory, write_plugin):
    hostile = write_plugin(
        "hostile",
        "from esap_core import hookimpl\n@hookimpl\ndef register_archives(register):\n"
        "    raise RuntimeError('<script>alert(1)</script>')\n",
    )
    page = app_factory(extra_plugins=[hostile]).test_client().get("/plugins").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page

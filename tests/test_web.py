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
        "Workspace",
        "Launches",
        "Jobs",
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


def test_the_home_page_links_each_step_and_says_what_answers(app_factory, db):
    from esap_core import Archive, QueryKind, hookimpl
    from esap_core.models import RegisteredFacility

    class Sky(Archive):
        name, title, answers = "sky", "Sky survey <b>", frozenset({QueryKind.POSITION, QueryKind.TARGET})

    class Plugin:
        @hookimpl
        def register_archives(self, register):
            register(Sky())

    app = app_factory(
        extra_plugins=[("sky", Plugin())],
        load_plugins=["binderhub"],
        facilities=[{"name": "hub", "kind": "binderhub", "url": "http://127.0.0.1:9/", "title": "Our hub"}],
    )
    client = app.test_client()
    client.get("/")  # the first request registers the configured facility
    hub = db.query(RegisteredFacility).filter_by(name="hub").one()
    hub.check_up, hub.check_message = False, "does not answer"
    db.commit()

    page = soup(client.get("/"))
    steps = page.select(".steps article")
    links = [step.select_one("h2 a")["href"] for step in steps]
    assert links == ["/data", "/software", "/facilities", "/basket"]
    assert steps[0].select_one("li").get_text(" ", strip=True) == "Sky survey <b> position, target"
    sources = [item.get_text(" ", strip=True) for item in steps[1].select("li")]
    assert sources == ["Blank notebook not harvested yet", "Git repositories not harvested yet"]
    assert steps[2].select_one("li").get_text(" ", strip=True) == "Our hub down at its last check"
    assert steps[2].select_one(".status.failed")["title"] == "does not answer"

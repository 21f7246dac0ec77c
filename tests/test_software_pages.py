"""The software pages and API: search, filters, escaping, awkward queries, own entries, admin, suggestions."""

import re

import pytest
from bs4 import BeautifulSoup

from esap_core import SoftwareRecord, UIType, basket, catalogue, harvest, suggestions
from esap_core.builtins import git_repositories
from tests.fixtures import bearer, csrf_headers, make_user, sign_in

EVIL = SoftwareRecord(
    external_id="evil",
    name="<script>alert('name')</script>Viewer",
    description="<script>alert('description')</script> shows the sky",
    repository_url="javascript:alert(1)",
    authors=("<b>Eve</b>",),
    keywords=("<img src=x onerror=alert(2)>",),
    ui_type=UIType.WEB,
)
RECORDS = [
    SoftwareRecord(
        external_id="gammapy",
        name="Gammapy",
        description="Gamma-ray astronomy in Python.",
        repository_url="https://github.com/gammapy/gammapy",
        doi="10.5281/zenodo.1",
        authors=("Axel Donath",),
        keywords=("gamma-ray", "fits", "python"),
        runtime_platform="Python 3.11",
        ui_type=UIType.NOTEBOOK,
    ),
    SoftwareRecord(
        external_id="topcat",
        name="TOPCAT",
        description="Tables, VOTable and FITS, interactively.",
        authors=("Mark Taylor",),
        keywords=("votable", "topcat"),
        runtime_platform="Java",
        ui_type=UIType.DESKTOP,
    ),
    EVIL,
]


@pytest.fixture
def filled(app):
    with app.app_context():
        for record in RECORDS:
            catalogue.upsert("ossr", record)
        ids = {s.external_id: s.id for s in catalogue.search(catalogue.Query(), None).records}
    return app, ids


def page(client, url, **headers):
    answer = client.get(url, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def card_names(html: str) -> list[str]:
    return [h.get_text() for h in BeautifulSoup(html, "html.parser").select(".software-card h3")]


def test_the_search_page_searches_and_filters(filled, client):
    html = page(client, "/software")
    assert card_names(html) == ["<script>alert('name')</script>Viewer", "Gammapy", "TOPCAT"]  # by name
    assert 'aria-current="page"' in html and ">Software</a>" in html  # the navigation lights up
    assert card_names(page(client, "/software?q=fits")) == ["Gammapy", "TOPCAT"]
    assert card_names(page(client, "/software?ui_type=desktop")) == ["TOPCAT"]
    assert card_names(page(client, "/software?author=donath")) == ["Gammapy"]
    assert card_names(page(client, "/software?runtime=java")) == ["TOPCAT"]
    assert card_names(page(client, "/software?keyword=VOTable")) == ["TOPCAT"]
    assert card_names(page(client, "/software?source=nowhere")) == []
    assert card_names(page(client, "/software?ui_type=bogus")) == card_names(html)  # an unknown UI type is ignored


def test_htmx_gets_only_the_results(filled, client):
    fragment = page(client, "/software?q=gammapy", **{"HX-Request": "true", "HX-Target": "software-results"})
    assert fragment.startswith('<section id="software-results"') and "<form" not in fragment.split("</article>")[-1]
    assert card_names(fragment) == ["Gammapy"]


def test_cards_link_add_and_launch(filled, client):
    app, ids = filled
    soup = BeautifulSoup(page(client, "/software?q=gammapy"), "html.parser")
    card = soup.select_one(".software-card")
    assert card.select_one("h3 a")["href"] == f"/software/{ids['gammapy']}"
    assert card.find("a", string="Repository")["href"] == "https://github.com/gammapy/gammapy"
    assert card.find("a", href="https://doi.org/10.5281/zenodo.1") is not None
    form = card.select_one("form[action='/basket/add']")
    assert {i["name"]: i.get("value") for i in form.select("input")} | {"csrf_token": None} == {
        "csrf_token": None,
        "kind": "software",
        "software_id": str(ids["gammapy"]),
    }
    assert card.find("a", string="Launch")["href"] == f"/launches/new?software={ids['gammapy']}"
    added = client.post(
        "/basket/add", data={"kind": "software", "software_id": ids["gammapy"]}, headers=csrf_headers(client)
    )
    assert added.status_code == 200 and "Added to your basket" in added.get_data(as_text=True)


def test_untrusted_text_renders_inert(filled, client):
    _, ids = filled
    for html in (page(client, "/software"), page(client, f"/software/{ids['evil']}")):
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Eve</b>" not in html
        assert "&lt;script&gt;alert(" in html
        assert "javascript:" not in html
    soup = BeautifulSoup(page(client, f"/software/{ids['evil']}"), "html.parser")
    assert soup.select("script:not([src])") == []


@pytest.mark.parametrize("query", ["x" * 10_000, "!!!???...", '"*:()^-', "a OR b NOT c NEAR(", "%_\\"])
def test_awkward_queries_answer_a_page(filled, client, query):
    html = page(client, "/software?" + f"q={query}".replace("%", "%25").replace("#", "%23"))
    assert "software-results" in html
    api = client.get("/api/v1/software", query_string={"q": query[:5000]})
    assert api.status_code == 200 and "items" in api.get_json()


def test_the_api_searches_and_refuses_bad_input_clearly(filled, client):
    _, ids = filled
    answer = client.get("/api/v1/software?q=fits&ui_type=notebook").get_json()
    assert [item["name"] for item in answer["items"]] == ["Gammapy"] and answer["total"] == 1
    item = answer["items"][0]
    assert item["authors"] == ["Axel Donath"] and item["ui_type"] == "notebook" and item["private"] is False
    assert client.get(f"/api/v1/software/{ids['topcat']}").get_json()["runtime_platform"] == "Java"
    assert client.get("/api/v1/software/999999").status_code == 404
    paged = client.get("/api/v1/software?page_size=2&page=2").get_json()
    assert (paged["total"], len(paged["items"])) == (3, 1)
    for bad, message in [("ui_type=hologram", "ui_type"), ("page=0", "page"), ("q=" + "x" * 10_001, "q")]:
        refused = client.get(f"/api/v1/software?{bad}")
        assert refused.status_code == 400 and message in refused.get_json()["message"]
    punctuation = client.get("/api/v1/software?q=...").get_json()
    assert punctuation["total"] == 3 and "no letters or digits" in punctuation["notes"][0]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/software", "/api/v1/software/{software_id}", "/api/v1/harvests"} <= set(spec["paths"])


def test_own_entries(filled, client):
    app, _ = filled
    form = client.post(
        "/software/new",
        data={"repository_url": "https://github.com/me/my-notebooks", "ref": "main", "ui_type": "notebook"},
        headers=csrf_headers(client),
    )
    assert form.status_code == 303
    detail = page(client, form.headers["Location"])
    assert "my-notebooks" in detail and "private: only you see it" in detail
    assert card_names(page(client, "/software?source=private")) == ["my-notebooks"]
    bad = client.post("/software/new", data={"repository_url": "ftp://x"}, headers=csrf_headers(client))
    assert bad.status_code == 400 and "http(s) URL" in bad.get_data(as_text=True)
    software_id = int(form.headers["Location"].rsplit("/", 1)[1])
    # nobody else sees it, through the page or the API
    stranger = make_user(app, "stranger")
    assert client.get(f"/api/v1/software/{software_id}", headers=bearer(app, stranger)).status_code == 404
    listed = client.get("/api/v1/software?q=my", headers=bearer(app, stranger)).get_json()
    assert listed["total"] == 0
    removed = client.post(f"/software/{software_id}/remove", headers=csrf_headers(client))
    assert removed.status_code == 303 and client.get(f"/software/{software_id}").status_code == 404


def test_the_admin_page_is_for_admins(oidc_app):
    client = oidc_app.test_client()
    user, admin = make_user(oidc_app, "researcher"), make_user(oidc_app, "boss", admin=True)
    sign_in(oidc_app, client, user)
    assert client.get("/admin/harvests").status_code == 403
    assert client.post("/admin/harvests/blank-notebook/run", headers=csrf_headers(client)).status_code == 403
    assert client.get("/api/v1/harvests", headers=bearer(oidc_app, user)).status_code == 403
    sign_in(oidc_app, client, admin)
    assert client.get("/admin/harvests").status_code == 200
    assert client.get("/api/v1/harvests", headers=bearer(oidc_app, admin, ["admin"])).status_code == 200
    assert oidc_app.test_client().get("/admin/harvests").status_code == 302  # anonymous: to the login


def test_admin_runs_follows_and_schedules_harvests(app, client):
    with app.app_context():
        harvest.run("blank-notebook")
    soup = BeautifulSoup(page(client, "/admin/harvests"), "html.parser")
    blank = soup.select_one("#harvest-blank-notebook")
    assert "1 seen, 1 new" in blank.select_one(".harvest-last").get_text()
    started = client.post(
        "/admin/harvests/git-repositories/run", headers={**csrf_headers(client), "HX-Request": "true"}
    )
    fragment = started.get_data(as_text=True)
    assert started.status_code == 200 and "Harvest queued" in fragment
    assert 'hx-trigger="load delay:1s"' in fragment  # it polls itself while the job runs
    again = client.post("/admin/harvests/git-repositories/run", headers={**csrf_headers(client), "HX-Request": "true"})
    assert "under way already" in again.get_data(as_text=True)
    with app.app_context():
        harvest.job("git-repositories")  # what the worker does
    done = page(client, "/admin/harvests/git-repositories/progress")
    assert "load delay" not in done and "0 seen" in done
    scheduled = client.post(
        "/admin/harvests/blank-notebook/schedule", data={"every_hours": "6"}, headers=csrf_headers(client)
    )
    assert scheduled.status_code == 303
    with app.app_context():
        assert harvest.every_hours("blank-notebook") == 6
    assert (
        client.post(
            "/admin/harvests/blank-notebook/schedule", data={"every_hours": "soon"}, headers=csrf_headers(client)
        ).status_code
        == 400
    )
    assert client.post("/admin/harvests/nope/run", headers=csrf_headers(client)).status_code == 404


def test_admin_registers_git_repositories(app_factory):
    app = app_factory(
        plugins={"git-repositories": {"repositories": [{"url": "https://github.com/org/configured", "ui_type": "cli"}]}}
    )
    client = app.test_client()
    added = client.post(
        "/admin/git-repositories",
        data={
            "url": "https://gitlab.example.org/lab/radio-notebooks",
            "name": "Radio notebooks",
            "ref": "v2",
            "keywords": "radio, fits",
            "ui_type": "notebook",
        },
        headers=csrf_headers(client),
    )
    assert added.status_code == 303
    with app.app_context():
        found = catalogue.search(catalogue.Query(source="git-repositories"), None)
        assert sorted(s.name for s in found.records) == ["Radio notebooks", "configured"]
        radio = next(s for s in found.records if s.name == "Radio notebooks")
        assert (radio.ref, radio.keywords, radio.ui_type) == ("v2", ["radio", "fits"], "notebook")
        repository_id = git_repositories.identifier(git_repositories.stored()[0])
    listing = page(client, "/admin/harvests")
    assert "https://github.com/org/configured" in listing and "configuration" in listing
    bad = client.post("/admin/git-repositories", data={"url": "javascript:alert(1)"}, headers=csrf_headers(client))
    assert bad.status_code == 400 and "http(s) URL" in bad.get_data(as_text=True)
    removed = client.post(f"/admin/git-repositories/{repository_id}/remove", headers=csrf_headers(client))
    assert removed.status_code == 303
    with app.app_context():
        assert [s.name for s in catalogue.search(catalogue.Query(source="git-repositories"), None).records] == [
            "configured"
        ]


def test_a_bad_git_repository_entry_fails_alone_and_named(app_factory):
    from esap_core import HarvestProblem, SoftwareRecord

    entries = [
        {"url": "file:///srv/git/private.git"},
        {"url": "https://x.org/a", "ui_type": "vr"},
        {"url": "https://github.com/org/good", "name": "Good"},
    ]
    app = app_factory(plugins={"git-repositories": {"repositories": entries}})

    assert app.extensions["esap.plugins"].info["git-repositories"].error == ""
    with app.app_context():
        harvested = list(app.extensions["esap.plugins"].software_sources["git-repositories"].harvest(None))
    problems = {item.external_id: item.reason for item in harvested if isinstance(item, HarvestProblem)}
    assert (
        problems["repositories[1]"]
        == "url must be an http(s) URL of a git repository, not 'file:///srv/git/private.git'"
    )
    assert problems["repositories[2]"].startswith("ui_type must be one of")
    assert [r.name for r in harvested if isinstance(r, SoftwareRecord)] == ["Good"]


def test_the_basket_suggests_software_for_its_data_with_reasons(filled, client):
    app, ids = filled
    with app.app_context():
        from esap_core.accounts import local_user

        user = local_user()
        basket.add(
            user,
            [
                basket.data_item("apertif", "img-1", "Image 1", {"method": "http", "url": "https://x.org/img-1.fits"}),
                basket.data_item("apertif", "img-2", "Image 2", {"method": "http", "url": "https://x.org/img-2.FITS"}),
                basket.data_item(
                    "gaia", "src", "Sources", {"method": "tap", "service": "https://x.org/tap", "adql": "S"}
                ),
            ],
        )
    soup = BeautifulSoup(page(client, "/basket"), "html.parser")
    box = soup.select_one("#software-suggestions")
    entries = [li.get_text(" ", strip=True) for li in box.select("li")]
    assert [re.split(r" (notebook|desktop|web) ", e)[0] for e in entries] == ["Gammapy", "TOPCAT"]
    assert "“fits” fits the FITS files in your basket (2 items)" in entries[0]
    assert "a notebook: the data can be staged into its session" in entries[0]
    assert "“topcat”, “votable” fits the table query results in your basket (1 item)" in entries[1]
    assert box.select_one(f"a[href='/launches/new?software={ids['gammapy']}']") is not None
    # software already in the basket is not suggested again
    client.post("/basket/add", data={"kind": "software", "software_id": ids["topcat"]}, headers=csrf_headers(client))
    again = BeautifulSoup(page(client, "/basket"), "html.parser").select_one("#software-suggestions")
    assert "TOPCAT" not in again.get_text()


def test_suggestions_are_remembered_a_minute_per_basket_but_never_show_a_removed_record(filled, client, monkeypatch):
    app, _ = filled
    with app.app_context():
        from esap_core.accounts import local_user

        fits = {"method": "http", "url": "https://x.org/img.fits"}
        basket.add(local_user(), [basket.data_item("apertif", "img", "Image", fits)])

    def suggested() -> list[str]:
        box = BeautifulSoup(page(client, "/basket"), "html.parser").select_one("#software-suggestions")
        return [li.find("a").get_text(strip=True) for li in box.select("li")] if box else []

    assert suggested() == ["Gammapy"]
    with app.app_context():
        catalogue.upsert("ossr", SoftwareRecord(external_id="ds9", name="DS9", keywords=("fits", "ds9")))
        catalogue.remove_missing("ossr", {"ds9"})  # Gammapy leaves the catalogue
    assert suggested() == []  # the remembered ranking, less what is gone
    monkeypatch.setattr(suggestions, "REMEMBER_SECONDS", 0.0)
    assert suggested() == ["DS9"]  # ranked again: the new record fits


def test_checkout_offers_the_basket_software_then_what_fits_its_data_with_why(filled, client):
    app, ids = filled
    with app.app_context():
        from esap_core.accounts import local_user

        tap = {"method": "tap", "service": "https://x.org/tap", "adql": "S"}
        basket.add(local_user(), [basket.data_item("gaia", "src", "Sources", tap)])
    client.post("/basket/add", data={"kind": "software", "software_id": ids["gammapy"]}, headers=csrf_headers(client))
    choices = BeautifulSoup(page(client, "/launches/new"), "html.parser").select("ul.choices li")
    assert [li.strong.get_text() for li in choices[:2]] == ["Gammapy", "TOPCAT"]
    assert choices[0].select_one(".reasons").get_text() == "in your basket"
    assert "“topcat”, “votable” fits the table query results in your basket (1 item)" in choices[1].get_text()
    rest = {li.strong.get_text(): li.select_one(".reasons") for li in choices[2:]}
    assert rest == {"<script>alert('name')</script>Viewer": None}  # the catalogue, without a reason, as text

"""The catalogue: records cleaned on the way in, stored once, searched in full text with filters on either database."""

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from esap_core import SoftwareRecord, UIType, catalogue
from esap_core.models import Software
from tests.fixtures import make_user

RECORDS = [
    SoftwareRecord(
        external_id="gammapy",
        name="Gammapy",
        description="A Python package for gamma-ray astronomy, built on Astropy.",
        repository_url="https://github.com/gammapy/gammapy",
        authors=("Axel Donath", "Christoph Deil"),
        keywords=("gamma-ray astronomy", "astropy", "python"),
        runtime_platform="Python 3.9",
        ui_type=UIType.NOTEBOOK,
    ),
    SoftwareRecord(
        external_id="topcat",
        name="TOPCAT",
        description="An interactive graphical viewer and editor for tabular data, such as VOTable and FITS tables.",
        authors=("Mark Taylor",),
        keywords=("votable", "tables", "desktop"),
        runtime_platform="Java 8",
        ui_type=UIType.DESKTOP,
    ),
    SoftwareRecord(
        external_id="corsika",
        name="CORSIKA",
        description="Simulates extensive air showers initiated by cosmic rays, for gamma-ray observatories too.",
        authors=("Dieter Heck",),
        keywords=("air showers", "simulation"),
        runtime_platform="Fortran",
        ui_type=UIType.CLI,
    ),
    SoftwareRecord(
        external_id="dl3-notebooks",
        name="DL3 tutorial notebooks",
        description="Jupyter notebooks analysing CTA DL3 data with Gammapy.",
        authors=("Christoph Deil",),
        keywords=("jupyter-notebook", "dl3", "Gammapy"),
        runtime_platform="Python 3.11",
        ui_type=UIType.NOTEBOOK,
    ),
]


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def filled(ctx):
    for record in RECORDS:
        catalogue.upsert("ossr", record)
    catalogue.upsert("git-repositories", SoftwareRecord(external_id="x", name="Sky viewer", ui_type=UIType.WEB))
    return ctx


def names(results) -> list[str]:
    return [record.name for record in results.records]


def search(user=None, **query) -> catalogue.Results:
    return catalogue.search(catalogue.Query(**query), user)


def test_upsert_tells_new_unchanged_and_updated_apart(ctx, db):
    record = RECORDS[0]
    assert catalogue.upsert("ossr", record) == catalogue.NEW
    assert catalogue.upsert("ossr", record) == catalogue.UNCHANGED
    changed = SoftwareRecord(**{**record.__dict__, "version": "v1.3"})
    assert catalogue.upsert("ossr", changed) == catalogue.UPDATED
    assert catalogue.upsert("other", record) == catalogue.NEW  # the same id in another source is another record
    stored = db.scalars(select(Software).where(Software.external_id == "gammapy")).all()
    assert sorted((s.source, s.version) for s in stored) == [("ossr", "v1.3"), ("other", "")]
    assert all(len(s.fingerprint) == 64 for s in stored)


def test_a_public_record_cannot_be_stored_twice(ctx, db):
    catalogue.upsert("ossr", RECORDS[0])
    db.add(Software(source="ossr", external_id="gammapy", name="again"))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_records_are_cleaned_and_bounded(ctx, db):
    catalogue.upsert(
        "ossr",
        SoftwareRecord(
            external_id="  evil  ",
            name="<script>alert(1)</script>\x00 Viewer",
            description="<p>Fast &amp; <b>small</b>.</p><script>alert(2)</script><p>" + "word " * 10_000 + "</p>",
            repository_url="javascript:alert(3)",
            authors=("Eve", "eve", " ", "Mallory\n"),
            keywords=tuple(f"k{i}" for i in range(500)),
            updated=datetime(2024, 1, 1),  # naive: taken as UTC
        ),
    )
    stored = db.scalar(select(Software).where(Software.external_id == "evil"))
    assert stored.name == "<script>alert(1)</script> Viewer"  # kept as text: the pages escape it
    assert stored.description.startswith("Fast & small.\n\nword word") and "alert(2)" not in stored.description
    assert len(stored.description) <= catalogue.MAX_DESCRIPTION and stored.description.endswith("…")
    assert stored.repository_url == ""
    assert stored.authors == ["Eve", "Mallory"]
    assert len(stored.keywords) == catalogue.MAX_LIST_ITEMS
    assert stored.updated.tzinfo is not None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (SoftwareRecord(external_id="", name="x"), "needs an external id and a name"),
        (SoftwareRecord(external_id="a", name="  "), "needs an external id and a name"),
        (SoftwareRecord(external_id="a", name="x", ui_type="hologram"), "unknown UI type 'hologram'"),
        ("not a record", "not a SoftwareRecord"),
    ],
)
def test_unusable_records_are_refused(ctx, record, message):
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.upsert("ossr", record)


def test_free_text_finds_ranks_and_matches_prefixes(filled):
    found = search(text="gammapy")
    assert names(found)[0] == "Gammapy"  # the name counts more than a keyword or the description
    assert set(names(found)) == {"Gammapy", "DL3 tutorial notebooks"}
    assert names(search(text="astro")) == ["Gammapy"]  # a prefix
    assert names(search(text="tutor")) == ["DL3 tutorial notebooks"]
    assert names(search(text="notebooks"))[0] == "DL3 tutorial notebooks"  # name and keyword beat the UI type
    assert set(names(search(text="gamma ray"))) == {"Gammapy", "CORSIKA"}  # every word must match
    assert names(search(text="votable java")) == ["TOPCAT"]  # across columns
    assert names(search(text="Donath")) == ["Gammapy"]  # authors are searched
    assert search(text="nothing-like-this").total == 0


def test_without_text_everything_comes_by_name(filled):
    assert names(search()) == ["CORSIKA", "DL3 tutorial notebooks", "Gammapy", "Sky viewer", "TOPCAT"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"author": "deil"}, {"Gammapy", "DL3 tutorial notebooks"}),
        ({"author": "Mark Tay"}, {"TOPCAT"}),
        ({"ui_type": "notebook"}, {"Gammapy", "DL3 tutorial notebooks"}),
        ({"ui_type": "desktop"}, {"TOPCAT"}),
        ({"ui_type": "web"}, {"Sky viewer"}),
        ({"runtime": "python"}, {"Gammapy", "DL3 tutorial notebooks"}),
        ({"runtime": "java"}, {"TOPCAT"}),
        ({"keyword": "GAMMAPY"}, {"DL3 tutorial notebooks"}),  # exact keyword, any case
        ({"keyword": "gamma"}, set()),  # not a keyword of anything
        ({"source": "git-repositories"}, {"Sky viewer"}),
        ({"source": "ossr", "runtime": "python", "author": "donath"}, {"Gammapy"}),
        ({"text": "gammapy", "ui_type": "notebook", "author": "deil"}, {"Gammapy", "DL3 tutorial notebooks"}),
        ({"text": "gamma", "ui_type": "cli"}, {"CORSIKA"}),
        ({"author": "100%_"}, set()),  # LIKE wildcards are taken literally
    ],
)
def test_each_filter(filled, query, expected):
    assert set(names(search(**query))) == expected


def test_paging(filled):
    first = search(page_size=2)
    second = search(page_size=2, page=2)
    third = search(page_size=2, page=3)
    assert (first.total, first.pages) == (5, 3)
    assert names(first) + names(second) + names(third) == names(search())
    assert names(search(page=9)) == []


@pytest.mark.parametrize(
    "text",
    [
        "!!! ??? ... ---",
        '"unbalanced',
        "gammapy AND NOT OR NEAR(",
        "name:gammapy*",
        "(a) & | ! <-> :* ^ '",
        "x" * 10_000,
        "gammapy " * 2_000,
        "Ünïcödé ☃ 数据",
    ],
)
def test_awkward_queries_never_fail(filled, text):
    results = search(text=text)
    assert results.total >= 0 and len(results.terms) <= catalogue.MAX_TERMS


def test_awkward_queries_say_what_was_used(filled):
    punctuation = search(text="?!...")
    assert punctuation.total == 5 and "no letters or digits" in punctuation.notes[0]
    long = search(text="gammapy " * 2_000)
    assert "Gammapy" in names(long) and "first 500 characters" in long.notes[0]
    assert catalogue.terms("Gammapy: the gamma-ray TOOL, gammapy!") == ["gammapy", "the", "gamma", "ray", "tool"]


def test_the_index_follows_updates_and_deletes(filled, db):
    catalogue.upsert("ossr", SoftwareRecord(**{**RECORDS[1].__dict__, "name": "STILTS"}))
    assert names(search(text="topcat")) == []
    assert names(search(text="stilts")) == ["STILTS"]
    assert catalogue.remove_missing("ossr", {"gammapy"}) == 3
    assert names(search(text="stilts")) == [] and names(search(text="gammapy")) == ["Gammapy"]
    assert names(search(source="git-repositories")) == ["Sky viewer"]  # other sources untouched


def test_private_entries_are_seen_by_their_owner_only(filled):
    alice, bob = make_user(filled, "alice"), make_user(filled, "bob")
    mine = catalogue.add_private(alice, "https://github.com/alice/pulsar-notebooks.git", ref="main")
    assert (mine.name, mine.source, mine.owner_id) == ("pulsar-notebooks", catalogue.PRIVATE_SOURCE, alice.id)
    assert names(search(alice, text="pulsar")) == ["pulsar-notebooks"] and search(alice, text="pulsar").total == 1
    assert names(search(bob, text="pulsar")) == [] and names(search(None, text="pulsar")) == []
    assert search(bob, text="pulsar").total == 0 and search(None, text="pulsar").total == 0
    assert names(search(alice, text="pulsar", source=catalogue.PRIVATE_SOURCE)) == ["pulsar-notebooks"]  # filtered
    assert catalogue.get(alice, mine.id) is not None
    assert catalogue.get(bob, mine.id) is None and catalogue.get(None, mine.id) is None
    assert catalogue.PRIVATE_SOURCE in catalogue.sources(alice)
    assert catalogue.PRIVATE_SOURCE not in catalogue.sources(bob)
    with pytest.raises(catalogue.CatalogueError, match="already"):
        catalogue.add_private(alice, "https://github.com/alice/pulsar-notebooks.git", ref="main")
    with pytest.raises(catalogue.CatalogueError, match="http"):
        catalogue.add_private(alice, "file:///etc/passwd")
    # One id for a repository at a ref and path, whether a researcher or an admin adds it.
    from esap_core.builtins import git_repositories

    admins = {"url": "https://github.com/alice/pulsar-notebooks.git", "ref": "main", "path": ""}
    assert mine.external_id == git_repositories.identifier(admins)
    assert catalogue.remove_private(bob, mine.id) is False
    assert catalogue.remove_private(alice, mine.id) is True
    assert names(search(alice, text="pulsar")) == []


@pytest.fixture
def broad(ctx, monkeypatch):
    """Ten public records that match "pulsar" (three in the name, one in the keywords, six in the
    description only) and a private one of alice's, with the count limit at 6."""
    import sys

    monkeypatch.setattr(sys.modules["esap_core.catalogue.search"], "COUNTED", 6)
    strong = [("Pulsar timing", ()), ("Pulsar search pipeline", ()), ("Millisecond pulsar catalogue", ())]
    strong.append(("Radio toolkit", ("pulsar",)))
    for number, (name, keywords) in enumerate(strong):
        catalogue.upsert("ossr", SoftwareRecord(external_id=f"s{number}", name=name, keywords=keywords))
    for number in range(6):
        description = f"Tool {number} for radio astronomy; it reads pulsar data among others."
        record = SoftwareRecord(external_id=f"w{number}", name=f"Tool {number}", description=description)
        catalogue.upsert("ossr", record)
    catalogue.upsert("ossr", SoftwareRecord(external_id="other", name="Gamma tool", description="No such word."))
    alice = make_user(ctx, "alice")
    catalogue.add_private(alice, "https://github.com/alice/pulsar-notebooks.git", ref="main")
    return alice


def test_a_broad_search_pages_through_the_counted_matches_strong_ones_first(broad):
    first = search(text="pulsar", page_size=3)
    assert (first.total, first.more, first.pages) == (6, True, 2)
    assert any("More than 6 records match" in note for note in first.notes)
    assert names(first)[0] == "Pulsar timing"  # ranked among the strong matches: the shortest name first
    assert set(names(first)) <= {"Pulsar timing", "Pulsar search pipeline", "Millisecond pulsar catalogue"}
    second = search(text="pulsar", page_size=3, page=2)
    assert names(second) == ["Radio toolkit", "Tool 0", "Tool 1"]  # the last strong one, then catalogue order
    assert names(search(text="pulsar", page_size=3, page=9)) == names(second)  # past the last page: the last
    assert names(search(text="pulsar", page_size=4, page=2)) == ["Tool 0", "Tool 1"]  # 6 in all, no more
    everything = names(search(text="pulsar", page_size=6))
    assert len(set(everything)) == 6 and "pulsar-notebooks" not in everything  # alice's own is hers alone


def test_a_search_within_the_count_is_exact_and_ranked_as_before(broad, monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["esap_core.catalogue.search"], "COUNTED", 50)
    found = search(broad, text="pulsar", page_size=20)
    assert (found.total, found.more) == (11, False) and not found.notes
    assert "pulsar-notebooks" in names(found) and names(found)[-1].startswith("Tool ")  # descriptions rank last
    narrowed = search(text="pulsar data")  # both words: the description-only ones
    assert (narrowed.total, narrowed.more) == (6, False)


def test_the_api_and_the_page_say_more_match(broad):
    from flask import current_app

    client = current_app.test_client()
    answer = client.get("/api/v1/software", query_string={"q": "pulsar", "page_size": 3}).get_json()
    assert (answer["total"], answer["more"], len(answer["items"])) == (6, True, 3)
    page = client.get("/software", query_string={"q": "pulsar"}).get_data(as_text=True)
    assert "More than 6 records" in page and "Add a word or a filter" in page

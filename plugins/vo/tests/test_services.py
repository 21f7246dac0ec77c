"""Querying services picked from the registry, through the registry archive, against the test DaCHS."""

import io

import pytest
import requests
from astropy.io.votable import parse_single_table
from esap_vo import services

from esap_core import MAX_IDENTIFIER, ArchiveError


def picked(registry, user, service_type: str):
    row = registry.search({"keywords": "stars", "service_type": service_type}, 1, user, 20).rows[0]
    return registry.service_of(row)


def test_service_of_names_the_queryable_rows(registry, user, dachs):
    assert picked(registry, user, "tap") == ("tap", dachs.tap_url)
    assert picked(registry, user, "scs") == ("scs", f"{dachs.cone_url}?")
    sia = registry.search({"keywords": "galaxies", "service_type": "sia"}, 1, user, 20).rows[0]
    assert registry.service_of(sia) is None
    assert registry.service_of({"service_type": "tap", "access_url": "javascript:alert(1)"}) is None


def test_tap_through_the_registry(registry, user, dachs):
    kind, url = picked(registry, user, "tap")
    assert "esap.sources" in {table.name for table in registry.tables(url, user, 20)}
    assert registry.table(url, "esap.sources", user, 20).columns[1].unit == "deg"
    page = registry.run_query(url, "SELECT TOP 3 name, ra, dec FROM esap.sources ORDER BY name", 2, user, 20)
    assert [row["name"] for row in page.rows] == ["ESAP-001", "ESAP-002"]
    with pytest.raises(ArchiveError, match="row limit"):
        registry.run_query(url, "SELECT 1 FROM esap.sources", 0, user, 20)


def test_async_job_through_the_registry(registry, user):
    kind, url = picked(registry, user, "tap")
    job = registry.submit_query(url, "SELECT name FROM esap.sources WHERE name = 'ESAP-007'", 10, user, 20)
    try:
        assert registry.job_phase(job, user, 20) in {"QUEUED", "EXECUTING", "COMPLETED"}
        from esap_vo import tap

        assert tap.wait_for_job(job, 30) == "COMPLETED"
        assert [row["name"] for row in registry.job_results(job, user, 20).rows] == ["ESAP-007"]
    finally:
        registry.cancel_job(job, user, 20)


def test_cone_search_through_the_registry(registry, user, dachs):
    kind, url = picked(registry, user, "scs")
    page = registry.cone_search(url, *dachs.cluster_centre, 0.1, user, 20)
    assert page.rows
    with pytest.raises(ArchiveError, match="Dec must be between -90 and 90"):
        registry.cone_search(url, 10, 100, 0.1, user, 20)


def test_tap_rows_become_items_selecting_their_row(registry, user, dachs):
    from esap_vo import tap

    kind, url = picked(registry, user, "tap")
    statement = "SELECT name, mag FROM esap.sources WHERE mag < 12"
    row = registry.run_query(url, statement, 5, user, 20).rows[0]
    item = registry.service_item(kind, url, row, statement)
    assert item.identifier == f"{url}#name={row['name']}"
    assert item.fetch == {
        "method": "tap",
        "service": url,
        "adql": f"SELECT * FROM esap.sources WHERE name = '{row['name']}'",
    }
    assert [again["name"] for again in tap.query(url, item.fetch["adql"], 20).rows] == [row["name"]]
    with_url = registry.service_item(kind, url, {**row, "access_url": "https://example.org/x.fits"}, statement)
    assert with_url.fetch == {"method": "http", "url": "https://example.org/x.fits"}
    assert with_url.payload["tap"]["adql"] == item.fetch["adql"]


def test_a_query_over_several_tables_is_kept_whole():
    statement = "SELECT s.name FROM esap.sources AS s JOIN esap.obs AS o ON s.name = o.target_name"
    assert services.row_query(statement, "name", {"name": "x"}) == statement
    assert services.row_query("SELECT * FROM t WHERE a = 1", "id", {"id": 5}) == "SELECT * FROM t WHERE id = 5"
    assert services.row_query("SELECT * FROM t", "name", {"name": "it's"}) == "SELECT * FROM t WHERE name = 'it''s'"


def test_cone_rows_without_access_url_point_at_a_tiny_cone(registry, user, dachs):
    kind, url = picked(registry, user, "scs")
    row = {"name": "ESAP-001", "ra": dachs.sources[0]["ra"], "dec": dachs.sources[0]["dec"]}
    item = registry.service_item(kind, url, row)
    assert item.fetch["method"] == "http" and "SR=0.000277" in item.fetch["url"]
    answer = requests.get(item.fetch["url"], timeout=10)
    answer.raise_for_status()
    table = parse_single_table(io.BytesIO(answer.content)).to_table()
    assert [str(name) for name in table["name"]] == ["ESAP-001"]


def test_row_identifiers_are_encoded_and_bounded_without_merging_rows():
    queries = services.ServiceQueries()  # service_item reads no service: no server needed
    tap = "http://h/tap"
    plain = queries.service_item("tap", tap, {"name": "ESAP-001"}, "SELECT * FROM t")
    assert plain.identifier == f"{tap}#name=ESAP-001"
    tricky = queries.service_item("tap", tap, {"name": "a&b#c=d"}, "SELECT * FROM t")
    assert tricky.identifier == f"{tap}#name=a%26b%23c%3Dd"
    assert tricky.title == "a&b#c=d"
    common = "y" * 1000
    first, second = (
        queries.service_item("tap", tap, {"obs_id": common + end}, "SELECT * FROM t") for end in ("-1", "-2")
    )
    assert first.identifier != second.identifier  # cut at 1,000 characters they were one basket item
    assert max(len(first.identifier), len(second.identifier)) <= MAX_IDENTIFIER
    assert len(first.title) <= MAX_IDENTIFIER
    again = queries.service_item("tap", tap, {"obs_id": common + "-1"}, "SELECT * FROM t")
    assert again.identifier == first.identifier
    keyless = queries.service_item("scs", f"{tap}?" + "q" * 1200, {"ra": 1.0, "dec": 2.0})
    assert len(keyless.identifier) <= MAX_IDENTIFIER and len(keyless.title) <= MAX_IDENTIFIER


@pytest.mark.parametrize(
    ("kind", "service", "row", "statement", "message"),
    [
        ("tap", "file:///etc/passwd", {"name": "x"}, "SELECT 1", "not an http"),
        ("ftp", "http://h/tap", {"name": "x"}, "SELECT 1", "unknown service kind"),
        ("tap", "http://h/tap", {}, "SELECT 1", "empty row"),
        ("tap", "http://h/tap", {"name": "x"}, "", "needs the query"),
        ("scs", "http://h/scs?", {"name": "x", "ra": "far", "dec": 1}, "", "no usable position"),
    ],
)
def test_bad_rows_are_refused(registry, kind, service, row, statement, message):
    with pytest.raises(ArchiveError, match=message):
        registry.service_item(kind, service, row, statement)

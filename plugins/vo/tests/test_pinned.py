"""A pinned ObsCore-like service as its own archive, against the test DaCHS."""

import pytest
from esap_vo import tap
from esap_vo.pinned import PinnedService

from esap_core import MAX_IDENTIFIER, ArchiveError, QueryKind

from .conftest import separation


def test_position_search(observations, user, dachs):
    ra, dec = dachs.cluster_centre
    page = observations.search({"ra": ra, "dec": dec, "radius": 0.3}, 1, user, 20)
    expected = {o["obs_id"] for o in dachs.observations if separation(ra, dec, o["s_ra"], o["s_dec"]) <= 0.3}
    assert expected and {row["obs_id"] for row in page.rows} == expected
    assert page.total == len(expected)
    assert {column.name for column in page.columns} >= {"s_ra", "s_dec", "target_name", "access_url"}


def test_collection_narrows_the_search(observations, user, dachs):
    ra, dec = dachs.cluster_centre
    page = observations.search({"ra": ra, "dec": dec, "radius": 0.3, "collection": "ESAP-Radio"}, 1, user, 20)
    assert page.rows and {row["obs_collection"] for row in page.rows} == {"ESAP-Radio"}


def test_target_is_resolved_with_sesame(observations, user, dachs):
    page = observations.search({"target": "M31", "radius": 0.3}, 1, user, 20)
    assert page.rows and {row["target_name"] for row in page.rows} == {"M31"}
    assert len(page.rows) == sum(o["target_name"] == "M31" for o in dachs.observations)


def test_unknown_target(observations, user):
    with pytest.raises(ArchiveError, match="does not know 'Nowhere 42'"):
        observations.search({"target": "Nowhere 42"}, 1, user, 20)


def test_unreachable_resolver_says_so(dachs, user):
    archive = PinnedService(
        {"name": "obs", "tap_url": dachs.tap_url, "table": "esap.obs"}, resolver_url="http://127.0.0.1:9/sesame"
    )
    unreachable = "name resolver at http://127.0.0.1:9/sesame cannot be reached: .* Give coordinates instead"
    with pytest.raises(ArchiveError, match=unreachable) as refused:
        archive.search({"target": "M31"}, 1, user, 5)
    assert "refused" in refused.value.detail and "refused" not in str(refused.value)
    # coordinates still work without the resolver
    assert archive.search({"ra": 10.68, "dec": 41.27, "radius": 0.3}, 1, user, 20).rows


def test_strings_cannot_inject_adql(observations, user):
    page = observations.search({"collection": "x' OR 1=1 OR 'a'='a"}, 1, user, 20)
    assert page.rows == []


@pytest.mark.parametrize(
    "query, message",
    [
        ({"ra": "abc", "dec": 10}, "RA must be a number"),
        ({"ra": 10, "dec": 100}, "Dec must be between -90 and 90"),
        ({"ra": 10, "dec": 10, "radius": -0.5}, "radius must be between 0 and 10"),
        ({"ra": 10}, "give both RA and Dec"),
        ({}, "give a position, a target or a collection"),
    ],
)
def test_bad_input_is_an_archive_error(observations, user, query, message):
    with pytest.raises(ArchiveError, match=message):
        observations.search(query, 1, user, 20)


def test_basket_item_fetches_by_url_and_by_tap(observations, user, dachs):
    import requests

    row = observations.search({"target": "M31", "radius": 0.3}, 1, user, 20).rows[0]
    item = observations.basket_item(row)
    assert item.fetch == {"method": "http", "url": row["access_url"]}
    assert requests.get(item.fetch["url"], timeout=10).text == f"data of {row['obs_id']}\n"
    by_tap = item.payload["tap"]
    assert by_tap["method"] == "tap" and by_tap["service"] == dachs.tap_url
    again = tap.query(by_tap["service"], by_tap["adql"], 20)
    assert [r["obs_id"] for r in again.rows] == [row["obs_id"]]
    assert item.title == f"M31 ({row['obs_id']})"


def test_basket_item_without_access_url_uses_tap(observations, user):
    row = observations.search({"target": "M31", "radius": 0.3}, 1, user, 20).rows[0]
    item = observations.basket_item({**row, "access_url": None, "obs_id": "it's"})
    assert item.fetch["method"] == "tap"
    assert item.fetch["adql"] == "SELECT * FROM esap.obs WHERE obs_id = 'it''s'"


def offline_archive() -> PinnedService:
    return PinnedService({"name": "obs", "tap_url": "http://h/tap", "table": "esap.obs"})


def test_basket_item_identifier_keeps_plain_ids_and_encodes_delimiters():
    archive = offline_archive()
    assert archive.basket_item({"obs_id": "obs-1"}).identifier == "http://h/tap?table=esap.obs&id=obs-1"
    tricky = archive.basket_item({"obs_id": "a&id=b#c%d", "target_name": "M31"})
    assert tricky.identifier == "http://h/tap?table=esap.obs&id=a%26id%3Db%23c%25d"
    assert tricky.title == "M31 (a&id=b#c%d)"  # the title is for reading: as it was


def test_long_ids_with_a_common_prefix_are_two_items_within_the_basket_limit():
    archive = offline_archive()
    common = "x" * 1000
    first, second = (archive.basket_item({"obs_id": common + end, "target_name": "M31"}) for end in ("-1", "-2"))
    assert first.identifier != second.identifier
    assert max(len(first.identifier), len(second.identifier)) <= MAX_IDENTIFIER
    assert len(first.title) <= MAX_IDENTIFIER
    assert archive.basket_item({"obs_id": common + "-1"}).identifier == first.identifier  # the same row again


def test_archive_declares_what_it_answers(observations):
    assert observations.answers == {QueryKind.POSITION, QueryKind.TARGET}
    assert [field.name for field in observations.fields] == ["ra", "dec", "radius", "target", "collection"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"name": "x", "tap_url": "http://h/tap"}, "needs 'table'"),
        ({"name": "x", "tap_url": "http://h/tap", "table": "t; DROP TABLE t"}, "not a plain table name"),
        ({"name": "x", "tap_url": "http://h/tap", "table": "t", "columns": {"ra": "ra)"}}, "not a plain column"),
        ({"name": "Bad Name", "tap_url": "http://h/tap", "table": "t"}, "lower-case letters"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        PinnedService(settings)

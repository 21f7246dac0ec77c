"""Searching the seeded Rucio test server: scopes, patterns, types, metadata, paging, bounds, keywords."""

import pytest
from esap_rucio.archive import RucioArchive

from esap_core import ArchiveError, QueryKind


def dids(page) -> list[str]:
    return [row["did"] for row in page.rows]


def test_scopes(archive, user):
    assert archive.scopes(user, timeout=10) == ["escape", "user.alice", "user.bob"]


def test_wildcard_search_in_a_scope(archive, user):
    page = archive.search({"scope": "escape", "name": "demo_1_*", "did_type": "all"}, 1, user, 10)
    assert dids(page) == [f"escape:demo_1_{index:02d}.fits" for index in range(5)]
    assert page.total == 5
    assert page.notes == []


def test_rows_sort_containers_then_datasets_then_files(archive, user):
    page = archive.search({"scope": "escape", "name": "demo_*"}, 1, user, 10)
    assert [row["type"] for row in page.rows[:3]] == ["container", "dataset", "dataset"]
    assert dids(page)[:3] == ["escape:demo_collection", "escape:demo_dataset_1", "escape:demo_dataset_2"]
    assert page.total == 11


@pytest.mark.parametrize(
    ("did_type", "expected"),
    [
        ("container", ["escape:demo_collection"]),
        ("dataset", ["escape:demo_dataset_1", "escape:demo_dataset_2"]),
    ],
)
def test_type_filter(archive, user, did_type, expected):
    page = archive.search({"scope": "escape", "name": "*", "did_type": did_type}, 1, user, 10)
    assert dids(page) == expected


def test_type_filter_files(archive, user):
    page = archive.search({"scope": "escape", "name": "*", "did_type": "file"}, 1, user, 10)
    assert page.total == 8
    assert {row["type"] for row in page.rows} == {"file"}


def test_file_rows_carry_size_checksums_and_rses(archive, user):
    page = archive.search({"scope": "escape", "name": "demo_2_00.fits", "did_type": "file"}, 1, user, 10)
    [row] = page.rows
    assert row["rses"] == "LOCAL_A,LOCAL_B"
    assert row["bytes"] > 0
    assert len(row["adler32"]) == 8 and len(row["md5"]) == 32


def test_collection_rows_carry_their_size_and_rses(archive, user):
    page = archive.search({"scope": "escape", "name": "demo_*", "did_type": "dataset"}, 1, user, 10)
    first, second = page.rows
    assert (first["length"], second["length"]) == (5, 3)
    assert first["rses"] == "LOCAL_A"
    assert second["rses"] == "LOCAL_A,LOCAL_B"
    container = archive.search({"scope": "escape", "name": "*", "did_type": "container"}, 1, user, 10).rows[0]
    assert container["length"] == 8
    assert container["bytes"] == first["bytes"] + second["bytes"]


def test_metadata_filter(archive, user):
    query = {"scope": "escape", "name": "*", "did_type": "dataset", "metadata": "project=esap_demo, run_number>=2"}
    assert dids(archive.search(query, 1, user, 10)) == ["escape:demo_dataset_2"]


def test_unreadable_metadata_filter_is_an_archive_error(archive, user):
    with pytest.raises(ArchiveError, match="cannot read the metadata condition 'run_number'"):
        archive.search({"scope": "escape", "metadata": "run_number"}, 1, user, 10)


def test_paging_through_a_large_scope(archive, user):
    query = {"scope": "user.alice", "name": "file_*", "did_type": "file"}
    first = archive.search(query, 1, user, 20)
    last = archive.search(query, 6, user, 20)
    beyond = archive.search(query, 7, user, 20)
    assert (first.total, first.page, first.page_size) == (300, 1, 50)
    assert dids(first) == [f"user.alice:file_{index:03d}.dat" for index in range(50)]
    assert dids(last) == [f"user.alice:file_{index:03d}.dat" for index in range(250, 300)]
    assert beyond.rows == [] and beyond.total == 300


def test_wildcard_search_over_a_large_scope_is_bounded(make_instance, user):
    archive = RucioArchive(make_instance(max_results=120, page_size=100))
    page = archive.search({"scope": "user.alice", "name": "*", "did_type": "all"}, 2, user, 20)
    assert page.total is None
    assert len(page.rows) == 20
    assert any("More than 120 DIDs match '*'" in note for note in page.notes)


def test_unknown_scope_is_an_archive_error(archive, user):
    with pytest.raises(ArchiveError, match="no scope named 'nosuchscope'"):
        archive.search({"scope": "nosuchscope", "name": "*"}, 1, user, 10)


def test_an_empty_scope_has_no_results(archive, user):
    page = archive.search({"scope": "user.bob", "name": "*", "did_type": "all"}, 1, user, 10)
    assert page.rows == [] and page.total == 0


def test_bad_page_and_type_are_archive_errors(archive, user):
    with pytest.raises(ArchiveError, match="page must be"):
        archive.search({"scope": "escape"}, 0, user, 10)
    with pytest.raises(ArchiveError, match="type must be one of"):
        archive.search({"scope": "escape", "did_type": "table"}, 1, user, 10)


def test_keywords_search_every_scope_as_a_name_pattern(archive, user):
    assert QueryKind.KEYWORDS in archive.answers
    page = archive.search({"keywords": "dataset 2"}, 1, user, 20)
    assert dids(page) == ["escape:demo_dataset_2"]
    page = archive.search({"keywords": "file_29"}, 1, user, 20)
    assert dids(page) == [f"user.alice:file_{index}.dat" for index in range(290, 300)]


def test_search_without_scope_is_bounded_by_max_scopes(make_instance, user):
    archive = RucioArchive(make_instance(max_scopes=1))
    page = archive.search({"name": "file_000*", "did_type": "all"}, 1, user, 20)
    assert page.rows == []
    assert any("Only the first 1 of 3 scopes" in note for note in page.notes)


def test_configured_keyword_scopes(make_instance, user):
    archive = RucioArchive(make_instance(keyword_scopes=["user.alice"]))
    assert dids(archive.search({"keywords": "demo"}, 1, user, 20)) == []
    assert archive.search({"keywords": "file_1"}, 1, user, 20).total == 100

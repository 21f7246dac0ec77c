"""A DID's metadata, contents and replicas, from the seeded Rucio test server."""

import hashlib
import zlib
from pathlib import Path

import pytest

from esap_core import ArchiveError


def test_metadata_of_a_dataset(archive, user):
    meta = archive.metadata("escape:demo_dataset_1", user, timeout=10)
    assert meta["project"] == "esap_demo"
    assert meta["datatype"] == "image"
    assert meta["run_number"] == 1
    assert meta["did_type"] == "DATASET"
    assert isinstance(meta["created_at"], str) and meta["created_at"][:2] == "20"


def test_metadata_of_an_unknown_did_is_an_archive_error(archive, user):
    with pytest.raises(ArchiveError, match="no such DID"):
        archive.metadata("escape:no_such_thing", user, timeout=10)


def test_a_did_must_be_scope_and_name(archive, user):
    with pytest.raises(ArchiveError, match="write it as scope:name"):
        archive.metadata("demo_dataset_1", user, timeout=10)


def test_contents_of_a_container_and_a_dataset(archive, user):
    container = archive.contents("escape:demo_collection", 1, user, timeout=10)
    assert [row["did"] for row in container.rows] == ["escape:demo_dataset_1", "escape:demo_dataset_2"]
    assert [row["length"] for row in container.rows] == [5, 3]
    dataset = archive.contents("escape:demo_dataset_2", 1, user, timeout=10)
    assert [row["name"] for row in dataset.rows] == ["demo_2_00.fits", "demo_2_01.fits", "demo_2_02.fits"]
    assert {row["rses"] for row in dataset.rows} == {"LOCAL_A,LOCAL_B"}


def test_contents_are_paged_and_bounded(make_instance, user):
    from esap_rucio.archive import RucioArchive

    archive = RucioArchive(make_instance(max_results=250, page_size=100))
    third = archive.contents("user.alice:bulk", 3, user, timeout=20)
    assert [row["name"] for row in third.rows] == [f"file_{index:03d}.dat" for index in range(200, 250)]
    assert third.total is None
    assert third.notes == ["user.alice:bulk holds more than 250 DIDs: only 250 are listed."]


def test_replicas_of_a_dataset_match_the_files_on_disk(archive, user, rucio_server):
    replicas = archive.replicas("escape:demo_dataset_2", user, timeout=10)
    assert [replica["name"] for replica in replicas] == ["demo_2_00.fits", "demo_2_01.fits", "demo_2_02.fits"]
    for replica in replicas:
        assert replica["rses"] == ["LOCAL_A", "LOCAL_B"]
        assert replica["states"] == {"LOCAL_A": "AVAILABLE", "LOCAL_B": "AVAILABLE"}
        for pfns in replica["pfns"].values():
            [pfn] = pfns
            data = Path(pfn.removeprefix("file://localhost")).read_bytes()
            assert str(rucio_server.rse_root) in pfn
            assert len(data) == replica["bytes"]
            assert replica["adler32"] == f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"
            assert replica["md5"] == hashlib.md5(data).hexdigest()


def test_replicas_of_one_file(archive, user):
    [replica] = archive.replicas("escape:demo_1_03.fits", user, timeout=10)
    assert replica["did"] == "escape:demo_1_03.fits"
    assert replica["rses"] == ["LOCAL_A"]

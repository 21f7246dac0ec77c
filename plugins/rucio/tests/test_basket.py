"""Rucio search rows as basket items."""

import pytest

from esap_core import ArchiveError, DataItem


def test_basket_item_of_a_file(archive, user, rucio_server):
    [row] = archive.search({"scope": "escape", "name": "demo_2_01.fits"}, 1, user, 10).rows
    item = archive.basket_item(row)
    assert isinstance(item, DataItem)
    assert item.identifier == "escape:demo_2_01.fits"
    assert item.fetch == {"method": "rucio", "did": "escape:demo_2_01.fits", "host": rucio_server.host}
    assert item.payload["did_type"] == "file"
    assert item.payload["bytes"] == row["bytes"] > 0
    assert item.payload["rses"] == ["LOCAL_A", "LOCAL_B"]
    assert item.payload["checksums"] == {"adler32": row["adler32"], "md5": row["md5"]}
    assert item.payload["archive"] == "test-rucio"


def test_basket_item_of_a_dataset(archive, user):
    [row] = archive.search({"scope": "escape", "name": "demo_dataset_1"}, 1, user, 10).rows
    item = archive.basket_item(row)
    assert item.identifier == "escape:demo_dataset_1"
    assert item.payload["did_type"] == "dataset"
    assert item.payload["length"] == 5
    assert item.payload["rses"] == ["LOCAL_A"]
    assert item.payload["checksums"] == {}
    assert "dataset" in item.title


def test_basket_item_rejects_a_tampered_row(archive):
    with pytest.raises(ArchiveError, match="scope:name"):
        archive.basket_item({"did": "no-colon", "type": "file"})
    with pytest.raises(ArchiveError, match="unknown DID type"):
        archive.basket_item({"did": "escape:x", "type": "<script>"})
    item = archive.basket_item({"did": "escape:x", "type": "file", "bytes": -3, "md5": "not hex", "rses": 7})
    assert item.payload["bytes"] is None
    assert item.payload["checksums"] == {}
    assert item.payload["rses"] == []

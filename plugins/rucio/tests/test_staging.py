"""Staging before a launch against the real Rucio server: rules to the facility's RSE, their states, paths."""

from pathlib import Path

import pytest

from esap_core import ArchiveError, DataItem


def item(did: str) -> DataItem:
    return DataItem(identifier=did, title=did, fetch={"method": "rucio", "did": did, "host": "x"})


def test_items_already_at_the_storage_are_ready_with_their_paths(archive, user):
    result = archive.stage([item("escape:demo_dataset_1"), item("escape:demo_1_00.fits")], "LOCAL_A", user, 10)
    assert result.state == "ready" and "escape:demo_dataset_1 ok" in result.message
    folder = Path(result.paths["escape:demo_dataset_1"])
    assert folder.is_dir() and len(list(folder.rglob("demo_1_0*.fits"))) == 5
    assert Path(result.paths["escape:demo_1_00.fits"]).is_file()
    again = archive.stage([item("escape:demo_dataset_1")], "LOCAL_A", user, 10)  # the rule exists: reused
    assert again.state == "ready"


def test_items_elsewhere_are_pending_after_the_bounded_wait(archive, user):
    result = archive.stage([item("escape:demo_dataset_1")], "LOCAL_B", user, 3)
    assert result.state == "pending" and "replicating" in result.message
    assert "escape:demo_dataset_1" not in result.paths


def test_an_unknown_storage_element_is_refused(archive, user):
    with pytest.raises(ArchiveError, match="no such storage element"):
        archive.stage([item("escape:demo_dataset_1")], "NOWHERE", user, 5)


def test_other_items_are_left_alone(archive, user):
    plain = DataItem(identifier="x", title="x", fetch={"method": "http", "url": "http://127.0.0.1/x"})
    assert archive.stage([plain], "LOCAL_A", user, 5).state == "ready"

"""Replication rules on the Rucio test server (no Rucio daemons run: rules needing a transfer wait)."""

import pytest
from esap_rucio.rules import request_replication, rule_states

from esap_core import ArchiveError


def test_a_rule_for_data_already_there_is_ok(make_instance, user):
    instance = make_instance()
    [rule_id] = request_replication(instance, user, ["escape:demo_dataset_2"], "LOCAL_B", timeout=10)
    assert rule_states(instance, user, [rule_id], timeout=10) == {rule_id: "OK"}


def test_a_rule_needing_a_transfer_is_replicating(make_instance, user, archive):
    instance = make_instance()
    dids = ["user.alice:file_298.dat", "user.alice:file_299.dat"]
    rule_ids = request_replication(instance, user, dids, "LOCAL_B", lifetime=3600, timeout=10)
    assert len(rule_ids) == 2 and len(set(rule_ids)) == 2
    assert rule_states(instance, user, rule_ids, timeout=10) == dict.fromkeys(rule_ids, "REPLICATING")
    [replica] = archive.replicas("user.alice:file_299.dat", user, timeout=10)
    assert replica["states"] == {"LOCAL_A": "AVAILABLE", "LOCAL_B": "COPYING"}
    assert replica["rses"] == ["LOCAL_A"]


def test_the_same_rule_twice_is_an_archive_error(make_instance, user):
    instance = make_instance()
    request_replication(instance, user, ["escape:demo_1_00.fits"], "LOCAL_A", timeout=10)
    with pytest.raises(ArchiveError, match="Rucio \\(Test Rucio\\) failed: .*[Dd]uplicate"):
        request_replication(instance, user, ["escape:demo_1_00.fits"], "LOCAL_A", timeout=10)


def test_unknown_rse(make_instance, user):
    with pytest.raises(ArchiveError, match="no such storage element"):
        request_replication(make_instance(), user, ["escape:demo_1_01.fits"], "NOWHERE", timeout=10)


def test_unknown_did(make_instance, user):
    with pytest.raises(ArchiveError, match="no such DID"):
        request_replication(make_instance(), user, ["escape:not_there"], "LOCAL_A", timeout=10)


def test_unknown_rule(make_instance, user):
    with pytest.raises(ArchiveError, match="Rucio \\(Test Rucio\\)"):
        rule_states(make_instance(), user, ["00000000000000000000000000000000"], timeout=10)


def test_nothing_to_replicate(make_instance, user):
    with pytest.raises(ArchiveError, match="no DIDs to replicate"):
        request_replication(make_instance(), user, [], "LOCAL_A")
    with pytest.raises(ArchiveError, match="scope:name"):
        request_replication(make_instance(), user, ["file_298.dat"], "LOCAL_A")

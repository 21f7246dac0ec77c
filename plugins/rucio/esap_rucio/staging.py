"""Staging before a launch: replication rules that put the launch's DIDs at the facility's storage element."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from esap_core import DataItem, StagingResult, UserContext
from esap_rucio import dids as did_tools
from esap_rucio.connection import Deadline, connect, tighten
from esap_rucio.settings import Instance

LIFETIME = 7 * 24 * 3600  # seconds a staging rule keeps its copy: a week of analysis
POLL = 2.0  # seconds between looks at the rules' states
STOPPED = {"STUCK", "SUSPENDED"}


def stage(instance: Instance, items: Sequence[DataItem], rse: str, user: UserContext, timeout: float) -> StagingResult:
    """Ask for one copy of each item's DID at ``rse``, wait for the rules within ``timeout``, say where they are."""
    wanted = sorted({str(item.fetch["did"]) for item in items if item.fetch.get("method") == "rucio"})
    if not wanted:
        return StagingResult("ready", "no Rucio items to stage")
    deadline = Deadline(timeout)
    with connect(instance, user, deadline) as client:
        tighten(client, deadline)
        rules = {did: _rule(client, did, rse) for did in wanted}
        states = _wait(client, rules, deadline)
        paths = {did: path for did in wanted if (path := _path_at(client, did, rse, instance.max_results))}
    done = all(state == "OK" for state in states.values())
    summary = ", ".join(f"{did} {states[did].lower()}" for did in wanted)
    return StagingResult("ready" if done else "pending", f"replication to {rse}: {summary}", paths)


def _rule(client: Any, did: str, rse: str) -> str:
    """The id of a rule replicating ``did`` to ``rse``: a new one, or the one the account has already."""
    from rucio.common.exception import DuplicateRule

    scope, name = did_tools.parse_did(did)
    try:
        return str(
            client.add_replication_rule(
                [{"scope": scope, "name": name}], copies=1, rse_expression=rse, lifetime=LIFETIME
            )[0]
        )
    except DuplicateRule:
        for rule in client.list_did_rules(scope, name):
            if rule.get("rse_expression") == rse:
                return str(rule["id"])
        raise


def _wait(client: Any, rules: dict[str, str], deadline: Deadline) -> dict[str, str]:
    while True:
        states = {did: str(client.get_replication_rule(rule_id)["state"]) for did, rule_id in rules.items()}
        finished = all(state == "OK" or state in STOPPED for state in states.values())
        if finished or deadline.remaining() < POLL:
            return states
        time.sleep(POLL)


def _path_at(client: Any, did: str, rse: str, limit: int) -> str:
    """Where the DID's files are on ``rse``: a file's path, or the folder a collection's files share.

    The path part of the PFNs, which is what a facility mounting the storage element sees.
    """
    scope, name = did_tools.parse_did(did)
    replicas = did_tools.file_replicas(client, [{"scope": scope, "name": name}], limit)
    paths = [
        urlsplit(pfn).path
        for replica in replicas
        for pfn in replica["pfns"].get(rse, [])
        if replica["states"].get(rse, "AVAILABLE") == "AVAILABLE"
    ]
    if not paths:
        return ""
    return paths[0] if len(paths) == 1 else os.path.commonpath(paths)

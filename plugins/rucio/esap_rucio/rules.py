"""Ask Rucio to replicate DIDs to a storage element (RSE), and follow the rules' states.

Meant for staging a basket's Rucio items at a facility's RSE before a launch.
"""

from __future__ import annotations

from collections.abc import Sequence

from esap_core import ArchiveError, UserContext
from esap_rucio.connection import Deadline, connect, tighten
from esap_rucio.dids import parse_did
from esap_rucio.settings import Instance


def request_replication(
    instance: Instance,
    user: UserContext,
    dids: Sequence[str],
    rse: str,
    lifetime: int | None = None,
    timeout: float = 30,
) -> list[str]:
    """Ask for one copy of each DID (``scope:name``) at ``rse``; return the rule ids, one per DID.

    ``lifetime`` is in seconds (None: the rule stays until deleted). A rule that
    already exists for the same DID, account and RSE is an ArchiveError from Rucio.
    """
    if not dids:
        raise ArchiveError("no DIDs to replicate")
    if not rse.strip():
        raise ArchiveError("no storage element (RSE) to replicate to")
    wanted = [dict(zip(("scope", "name"), parse_did(did), strict=True)) for did in dids]
    deadline = Deadline(timeout)
    with connect(instance, user, deadline) as client:
        tighten(client, deadline)
        rule_ids = client.add_replication_rule(wanted, copies=1, rse_expression=rse.strip(), lifetime=lifetime)
    return [str(rule_id) for rule_id in rule_ids]


def rule_states(instance: Instance, user: UserContext, rule_ids: Sequence[str], timeout: float = 30) -> dict[str, str]:
    """Each rule's state: ``OK`` (replicas in place), ``REPLICATING``, ``STUCK``, ``SUSPENDED``..."""
    deadline = Deadline(timeout)
    states = {}
    with connect(instance, user, deadline) as client:
        for rule_id in rule_ids:
            tighten(client, deadline)
            states[rule_id] = str(client.get_replication_rule(rule_id)["state"])
    return states

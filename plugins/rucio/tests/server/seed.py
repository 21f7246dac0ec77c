"""Fill the Rucio test server with scopes, RSEs, DIDs and replicas (run in the server venv).

Usage: ``python seed.py <rse-root-dir>``, with RUCIO_CONFIG pointing at the test
server's configuration (its [client] section logs in as root).

What it makes, and what the tests rely on:

- RSEs ``LOCAL_A`` and ``LOCAL_B``: posix ``file`` protocol under ``<rse-root-dir>/<rse>``.
- scope ``escape``: container ``demo_collection`` holding datasets ``demo_dataset_1``
  (5 files ``demo_1_00.fits`` .. ``demo_1_04.fits``, on LOCAL_A) and ``demo_dataset_2``
  (3 files ``demo_2_00.fits`` .. ``demo_2_02.fits``, on LOCAL_A and LOCAL_B); metadata
  ``project=esap_demo`` on all of them, ``datatype=image`` and ``run_number`` 1 and 2 on
  the datasets.
- scope ``user.alice``: dataset ``bulk`` holding 300 files ``file_000.dat`` ..
  ``file_299.dat`` on LOCAL_A.
- scope ``user.bob``: empty.

Every file exists on disk at its replica's path, with the size, adler32 and md5
registered in Rucio. Prints ``SEEDED`` at the end.
"""

import hashlib
import sys
import zlib
from pathlib import Path

from rucio.client import Client

RSES = ("LOCAL_A", "LOCAL_B")


def content(scope: str, name: str) -> bytes:
    """Deterministic bytes of a seeded file, of varying size."""
    line = f"{scope}:{name}\n".encode()
    return line * (1 + zlib.crc32(line) % 50)


def file_record(scope: str, name: str, meta: dict | None = None) -> dict:
    data = content(scope, name)
    record = {
        "scope": scope,
        "name": name,
        "bytes": len(data),
        "adler32": f"{zlib.adler32(data) & 0xFFFFFFFF:08x}",
        "md5": hashlib.md5(data).hexdigest(),
    }
    if meta:
        record["meta"] = meta
    return record


def add_rses(client: Client, root: Path) -> None:
    for rse in RSES:
        (root / rse).mkdir(parents=True, exist_ok=True)
        client.add_rse(rse, deterministic=True, rse_type="DISK")
        client.add_protocol(
            rse,
            {
                "scheme": "file",
                "hostname": "localhost",
                "port": 0,
                "prefix": str(root / rse) + "/",
                "impl": "rucio.rse.protocols.posix.Default",
                "domains": {
                    "lan": {"read": 1, "write": 1, "delete": 1},
                    "wan": {"read": 1, "write": 1, "delete": 1},
                },
            },
        )
        client.set_local_account_limit("root", rse, -1)


def add_files(client: Client, rse: str, files: list[dict]) -> None:
    """Register replicas in chunks and write each file at its replica's path."""
    for start in range(0, len(files), 100):
        client.add_replicas(rse, [dict(f) for f in files[start : start + 100]])
    dids = [{"scope": f["scope"], "name": f["name"]} for f in files]
    for start in range(0, len(dids), 100):
        for replica in client.list_replicas(
            dids[start : start + 100], schemes=["file"], rse_expression=rse, sort="random"
        ):
            for pfn in replica["rses"][rse]:
                path = Path(pfn.removeprefix("file://localhost").removeprefix("file://"))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content(replica["scope"], replica["name"]))


def seed_escape(client: Client) -> None:
    client.add_scope("root", "escape")
    # Rucio accepts a dataset's datatype only from its metadata conventions.
    client.add_key("datatype", "ALL")
    client.add_value("datatype", "image")
    client.add_container("escape", "demo_collection", meta={"project": "esap_demo"})
    for number, count, rses in ((1, 5, ["LOCAL_A"]), (2, 3, ["LOCAL_A", "LOCAL_B"])):
        dataset = f"demo_dataset_{number}"
        client.add_dataset("escape", dataset, meta={"project": "esap_demo", "datatype": "image", "run_number": number})
        files = [
            file_record("escape", f"demo_{number}_{index:02d}.fits", {"project": "esap_demo"}) for index in range(count)
        ]
        for rse in rses:
            add_files(client, rse, files)
        client.attach_dids("escape", dataset, [{"scope": "escape", "name": f["name"]} for f in files])
    client.attach_dids(
        "escape",
        "demo_collection",
        [{"scope": "escape", "name": "demo_dataset_1"}, {"scope": "escape", "name": "demo_dataset_2"}],
    )


def seed_alice(client: Client) -> None:
    client.add_scope("root", "user.alice")
    client.add_dataset("user.alice", "bulk")
    files = [file_record("user.alice", f"file_{index:03d}.dat") for index in range(300)]
    add_files(client, "LOCAL_A", files)
    dids = [{"scope": "user.alice", "name": f["name"]} for f in files]
    for start in range(0, len(dids), 100):
        client.attach_dids("user.alice", "bulk", dids[start : start + 100])


def main() -> None:
    root = Path(sys.argv[1])
    client = Client()
    add_rses(client, root)
    seed_escape(client)
    seed_alice(client)
    client.add_scope("root", "user.bob")
    print("SEEDED")


if __name__ == "__main__":
    main()

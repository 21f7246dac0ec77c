"""CPU time per request in-process: what a request costs ESAP itself, which other load on the machine barely moves.

wrk's requests per second on a 2-core machine that others load say more about the others than
about ESAP. This measures the same three endpoints as ``bench.compare`` (facility search, the
50-item basket, the compat user-profiles) through Flask's test client in one process, on the
benchmark's database (``bench/production.py``, seeded as ``bench.compare`` seeds it), as
``time.process_time()`` per request: no gunicorn, no HTTP parsing, no socket. With
``--earlier PATH`` (repeatable) earlier ESAP checkouts are measured too, in interleaved rounds,
each side in a process of its own; the ratio is ESAP's to the first one named.
Run: ``.venv/bin/python -m bench.cpu --earlier /tmp/esap-before``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.production import ROOT, median, report, table

PATHS = {
    "facility search": "/api/v1/facilities",
    "basket, 50 items": "/api/v1/basket",
    "compat user-profiles": "/esap-api/accounts/user-profiles/",
}
DATABASES = ("sqlite", "postgresql")
WARM_UP = 50


def measure(database: str, requests: int) -> dict[str, float]:
    """In this process: CPU milliseconds per request for each endpoint, and SQL statements per request."""
    from sqlalchemy import event

    from bench.compare import FACILITIES, seed_esap
    from bench.production import Production, bearer

    with Production(web_workers=1, database=database) as esap:
        token = seed_esap(esap, FACILITIES)
        app = esap.app()
        client, headers = app.test_client(), bearer(token)
        statements = []
        event.listen(app.extensions["esap.db"].engine, "before_cursor_execute", lambda *_: statements.append(1))
        spent = {}
        for endpoint, path in PATHS.items():
            for _ in range(WARM_UP):
                assert client.get(path, headers=headers).status_code == 200, path
            statements.clear()
            started = time.process_time()
            for _ in range(requests):
                client.get(path, headers=headers)
            spent[endpoint] = (time.process_time() - started) * 1000 / requests
            spent[f"{endpoint}: statements"] = len(statements) / requests
    return spent


def measure_in_child(source: Path, database: str, requests: int) -> dict[str, float]:
    """:func:`measure` in a process whose ``esap_core`` comes from ``source``."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(source), str(ROOT)]))}
    command = [sys.executable, "-m", "bench.cpu", "--child", database, "--requests", str(requests)]
    output = subprocess.run(command, cwd=source, env=environment, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=(*DATABASES, "both"), default="both")
    parser.add_argument("--requests", type=int, default=500, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--earlier", type=Path, action="append", default=[], help="an earlier ESAP checkout")
    parser.add_argument("--child", choices=DATABASES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(measure(options.child, options.requests)))
        return
    sides = {"ESAP": ROOT, **{f"earlier {path.name}": path.resolve() for path in options.earlier}}
    first = next(iter(list(sides)[1:]), None)
    databases = DATABASES if options.database == "both" else (options.database,)
    runs: dict[str, dict[str, list[dict[str, float]]]] = {db: {side: [] for side in sides} for db in databases}
    for number in range(options.rounds):
        for database in databases:
            for side, source in sides.items():  # interleaved: ESAP, the earlier ESAP, ESAP, ...
                spent = measure_in_child(source, database, options.requests)
                runs[database][side].append(spent)
                figures = ", ".join(f"{endpoint} {ms:.2f}" for endpoint, ms in spent.items() if endpoint in PATHS)
                print(f"round {number + 1}/{options.rounds} {database} {side}: {figures} ms CPU", flush=True)
    summary: dict[str, Any] = {}
    rows = []
    for database, by_side in runs.items():
        summary[database] = {}
        for endpoint in PATHS:
            row = {side: median([run[endpoint] for run in measured]) for side, measured in by_side.items()}
            if first:
                row["ratio"] = row["ESAP"] / row[first]
            summary[database][endpoint] = row
            rows.append(
                (database, endpoint, *(row[side] for side in sides), *([f"{row['ratio']:.2f}×"] if first else []))
            )
            counted = f"{endpoint}: statements"
            row[counted] = {
                side: median([run.get(counted, float("nan")) for run in measured]) for side, measured in by_side.items()
            }
            rows.append(
                (database, "  SQL statements/request", *(row[counted][side] for side in sides), *([""] * bool(first)))
            )
    headers = ["database", "endpoint", *(f"{side} CPU ms/req" for side in sides), *(["ratio"] * bool(first))]
    settings = {**vars(options), "earlier": [str(path) for path in options.earlier]}
    report("cpu", {"settings": settings, "summary": summary, "runs": runs}, table(headers, rows))


if __name__ == "__main__":
    main()

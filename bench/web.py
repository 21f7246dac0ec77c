"""Web throughput: wrk against GET /api/v1/basket (50 items) and the basket page, beside a bare Flask app.

Both run under the same gunicorn settings in the same run (ESAP in production mode on
PostgreSQL); each target is measured ``--rounds`` times, interleaved, and the medians are
compared. Targets (issue 10): ESAP at least 40% of the bare app's requests per second, p99
under 100 ms. Run: ``.venv/bin/python -m bench.web`` (needs wrk: ``bash bench/install.sh``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess

import requests

from bench.production import Gunicorn, Production, bearer, median, report, table

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
ITEMS = 50


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str]) -> dict[str, float]:
    """One wrk run: requests per second, latency percentiles (ms), errors."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percent, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        result[f"p{percent}_ms"] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(int(n) for n in sockets.groups()) if sockets else 0
    result["requests"] = int(re.search(r"(\d+) requests in", output).group(1))
    return result


def seed_basket(esap: Production, scopes: tuple[str, ...] = ()) -> str:
    """50 data items in the local user's basket; returns a token of that user (basket:read, basket:write, scopes)."""
    from esap_core import accounts, tokens

    app = esap.app()
    with app.app_context():
        granted = ["basket:read", "basket:write", *scopes]
        _, token = tokens.create(accounts.local_user(), "bench", granted, None, admin=True)
    items = [
        {
            "archive": "bench",
            "identifier": f"ivo://bench/item-{n:03d}",
            "title": f"Observation {n:03d}",
            "fetch": {"method": "http", "url": f"https://data.example.org/obs/{n:03d}.fits"},
            "payload": {"ra": n * 1.5, "dec": -n / 3, "format": "image/fits", "size": 1000 + n},
        }
        for n in range(ITEMS)
    ]
    answer = requests.post(f"{esap.url}/api/v1/basket/items", json={"items": items}, headers=bearer(token), timeout=30)
    answer.raise_for_status()
    listed = requests.get(f"{esap.url}/api/v1/basket", headers=bearer(token), timeout=30).json()
    assert len(listed["items"]) == ITEMS, listed
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (both apps)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: bash bench/install.sh")

    with Production(web_workers=options.workers) as esap:
        token = seed_basket(esap)
        hello = Gunicorn("bench.hello:app", esap.environment, workers=options.workers)
        hello.start("/")
        try:
            targets = {
                "bare Flask hello": (hello.url + "/", {}),
                "GET /api/v1/basket (50 items)": (esap.url + "/api/v1/basket", bearer(token)),
                "basket page (50 items)": (esap.url + "/basket", {}),
            }
            for url, headers in targets.values():  # warm every worker up
                wrk(url, options.connections, 2, headers)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(options.rounds):
                for name, (url, headers) in targets.items():
                    runs[name].append(wrk(url, options.connections, options.seconds, headers))
        finally:
            hello.stop()

    bare_rps = median([run["rps"] for run in runs["bare Flask hello"]])
    summary = {}
    for name, measured in runs.items():
        rps = median([run["rps"] for run in measured])
        summary[name] = {
            "rps": rps,
            "ratio_to_bare": rps / bare_rps,
            "p50_ms": median([run["p50_ms"] for run in measured]),
            "p99_ms": median([run["p99_ms"] for run in measured]),
            "errors": sum(run["non_2xx"] + run["socket_errors"] for run in measured),
        }
    for name, row in summary.items():
        if name != "bare Flask hello":
            row["target_met"] = row["ratio_to_bare"] >= 0.4 and row["p99_ms"] < 100 and row["errors"] == 0
    rows = [
        (
            name,
            row["rps"],
            f"{row['ratio_to_bare']:.0%}",
            row["p50_ms"],
            row["p99_ms"],
            row["errors"],
            {True: "met", False: "MISSED"}.get(row.get("target_met"), "-"),
        )
        for name, row in summary.items()
    ]
    printed = table(["target", "req/s", "of bare", "p50 ms", "p99 ms", "errors", "target"], rows)
    settings = {**vars(options), "gunicorn": esap.web.settings}
    report("web", {"settings": settings, "summary": summary, "runs": runs}, printed)


if __name__ == "__main__":
    main()

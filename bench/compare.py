"""ESAP against the first ESAP gateway (Django 4 + DRF, commit d439e2e) on equivalent endpoints.

ESAP is started here (``bench/production.py``: gunicorn, 2 sync workers, on SQLite and on
PostgreSQL) and seeded with 4 facilities and 50 basket items for one user with a token. The
first ESAP is set up here too when ``ESAP1_SRC`` names a checkout of its repository
(``bench/esap1.py``: its own venv, fresh databases with its fixtures, a knox token, gunicorn
with 2 sync workers), once per database. An already running one can be named instead by
``ESAP1_URL``, ``ESAP1_TOKEN`` (a knox token), ``ESAP1_PID`` (its gunicorn master) and
``ESAP1_DATABASE`` (sqlite or postgresql, the run's label; ESAP then runs on the same). Its 50
basket items are written through its own API (the same items, in its shape); its facilities
cannot be written through its API, so it must already have exactly 4 (its fixture's), which
ESAP is then given too. Without either, ESAP is measured alone.

Each endpoint is measured with wrk at 16 and 32 connections, in interleaved rounds (ESAP, the
first ESAP, ESAP, ...); the medians across rounds are compared. ``--earlier PATH`` measures
ESAP against an earlier checkout of itself instead (served from PATH on this virtualenv, seeded
the same way), to say what a change bought in one run. CPU time per request is read
from /proc for the server's whole gunicorn process tree before and after each wrk run.
Run: ``.venv/bin/python -m bench.compare`` (needs wrk: ``bash bench/install.sh``).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from bench import esap1
from bench.production import Production, bearer, median, report, table
from bench.web import ITEMS, seed_basket, wrk

ESAP1 = "the first ESAP (github.com/cta-epfl/esap-api-gateway, commit d439e2e)"
WEB_WORKERS = 2
FACILITY_COUNT = 4
ESAP_KINDS = ("binderhub", "jupyterhub", "rosetta")
TICKS = os.sysconf("SC_CLK_TCK")
DATABASES = ("sqlite", "postgresql")
FIRST, EARLIER = "first ESAP", "earlier ESAP"
VARIABLES = ("ESAP1_URL", "ESAP1_TOKEN", "ESAP1_PID", "ESAP1_DATABASE")

# What each side serves for the same question: (ESAP's path, the first ESAP's path).
ENDPOINTS = {
    "facility search": ("/api/v1/facilities", "/esap-api/ida/facilities/search"),
    "basket, 50 items": ("/api/v1/basket", "/esap-api/accounts/user-profiles/"),
    "compat user-profiles": ("/esap-api/accounts/user-profiles/", "/esap-api/accounts/user-profiles/"),
}
BASKET, COMPAT = "basket, 50 items", "compat user-profiles"

# ESAP's facilities when there is no first ESAP to take them from.
FACILITIES = [
    {"name": "bench-binder", "kind": "binderhub", "title": "Bench BinderHub", "url": "https://binder.example.org/"},
    {"name": "bench-binder-2", "kind": "binderhub", "title": "Second BinderHub", "url": "https://b2.example.org/"},
    {"name": "bench-hub", "kind": "jupyterhub", "title": "Bench JupyterHub", "url": "https://hub.example.org/"},
    {"name": "bench-rosetta", "kind": "rosetta", "title": "Bench Rosetta", "url": "https://rosetta.example.org/"},
]
for _facility in FACILITIES:
    _facility["description"] = f"{_facility['title']}, a facility of the benchmark"


# --- CPU time of a process tree -----------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    found, index = [pid], 0
    while index < len(found):
        parent = found[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                found += [int(child) for child in Path(f"/proc/{parent}/task/{task}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (utime and stime of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


@dataclass
class Side:
    """One server under test: its base URL, how to authenticate, its gunicorn master."""

    label: str
    url: str
    headers: dict[str, str]
    pid: int
    paths: dict[str, str]

    def measure(self, endpoint: str, connections: int, seconds: int) -> dict[str, Any]:
        """One wrk run, with the CPU time the whole gunicorn tree spent during it."""
        before_pids = process_tree(self.pid)
        before = cpu_seconds(before_pids)
        run = wrk(self.url + self.paths[endpoint], connections, seconds, self.headers)
        after_pids = process_tree(self.pid)
        spent = cpu_seconds(after_pids) - before
        run["cpu_s"] = spent
        run["cpu_ms_per_request"] = spent * 1000 / run["requests"] if run["requests"] else float("nan")
        run["processes_changed"] = sorted(before_pids) != sorted(after_pids)  # a worker died: CPU undercounted
        return run


# --- the first ESAP -------------------------------------------------------------------------


def first_esap_from_environment() -> dict[str, str] | None:
    """The variables of an already running first ESAP, or None (and what is missing, printed)."""
    values = {name: os.environ.get(name, "").strip() for name in VARIABLES}
    missing = [name for name, value in values.items() if not value]
    if not missing:
        return values
    print(
        f"Measuring ESAP alone: ESAP1_SRC is not set. To compare it with {ESAP1}, get a checkout:\n"
        f"  {esap1.CLONE}\n"
        "and set ESAP1_SRC=bench/esap1/src: bench/esap1.py then installs it into its own venv in bench/esap1/,\n"
        f"seeds it and starts it on each database. Or name one already running (missing: {', '.join(missing)}):\n"
        "  ESAP1_URL       its address on loopback, such as http://127.0.0.1:8101\n"
        "  ESAP1_TOKEN     a knox token of a user whose email is ESAP1_EMAIL (default bench@example.org)\n"
        "  ESAP1_PID       its gunicorn master's PID (gunicorn with 2 sync workers)\n"
        "  ESAP1_DATABASE  sqlite or postgresql: what it runs on (ESAP is then run on the same)\n"
        f"  It must already hold exactly {FACILITY_COUNT} facilities; the {ITEMS} basket items are written here.\n"
    )
    return None


def loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise SystemExit(f"ESAP1_URL: the host {host!r} cannot be found") from None
    if not addresses or not all(ipaddress.ip_address(address).is_loopback for address in addresses):
        raise SystemExit(f"ESAP1_URL must be on loopback (127.0.0.1, ::1), not {host!r}: nothing else is measured")


def check_gunicorn(pid: int) -> list[int]:
    """The first ESAP's master must be a gunicorn with 2 workers; returns the workers' PIDs."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        raise SystemExit(f"ESAP1_PID: there is no process {pid}") from None
    if "gunicorn" not in command:
        raise SystemExit(f"ESAP1_PID {pid} is not a gunicorn master: {command}")
    workers = process_tree(pid)[1:]
    if len(workers) != WEB_WORKERS:
        raise SystemExit(f"ESAP1_PID {pid} has {len(workers)} worker processes; the comparison needs {WEB_WORKERS}")
    return workers


def first_esap_facilities(variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """Its facilities, which only its own database tooling writes: there must be exactly 4."""
    answer = requests.get(
        variables["ESAP1_URL"] + ENDPOINTS["facility search"][1], headers=knox(variables["ESAP1_TOKEN"]), timeout=30
    )
    answer.raise_for_status()
    found = answer.json()
    if found.get("count") != FACILITY_COUNT:
        raise SystemExit(
            f"The first ESAP lists {found.get('count')} facilities at {ENDPOINTS['facility search'][1]}; "
            f"the comparison needs exactly {FACILITY_COUNT} (its ida fixture holds four)"
        )
    return found["results"]


def knox(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def seed_first_esap(variables: Mapping[str, str], cart: list[dict[str, Any]]) -> None:
    """The same basket items in the first ESAP's own shape, through its API; then check them."""
    url, headers = variables["ESAP1_URL"] + "/esap-api/accounts/user-profiles/", knox(variables["ESAP1_TOKEN"])
    email = os.environ.get("ESAP1_EMAIL", "bench@example.org")
    profiles = requests.get(url, headers=headers, timeout=30).json()["results"]
    if not profiles:  # a profile for the token's user, matched by its email
        profile = {"user_name": email.split("@")[0], "full_name": "Benchmark user", "user_email": email}
        requests.post(url, json=profile, headers=headers, timeout=30).raise_for_status()
        profiles = requests.get(url, headers=headers, timeout=30).json()["results"]
        if not profiles:
            raise SystemExit(f"ESAP1_TOKEN: its user's profile is not found; is the user's email {email}?")
    name = profiles[0]["user_name"]
    answer = requests.patch(f"{url}{name}/", json={"shopping_cart": cart}, headers=headers, timeout=60)
    answer.raise_for_status()
    stored = requests.get(url, headers=headers, timeout=30).json()["results"][0]["shopping_cart"]
    if sorted(item["item_data"] for item in stored) != sorted(json.dumps(item) for item in cart):
        raise SystemExit(f"The first ESAP's basket holds {len(stored)} items, not the {len(cart)} written")


def as_esap_facility(record: Mapping[str, Any]) -> dict[str, Any]:
    """A first-ESAP facility as ESAP registers it (its names are titles; ESAP's are slugs)."""
    kind = record["facilitytype"] if record["facilitytype"] in ESAP_KINDS else "binderhub"
    name = re.sub(r"[^a-z0-9]+", "-", record["name"].lower()).strip("-")[:63]
    title, description, url = record["name"], record["description"], record["url"].strip()
    return {"name": name, "kind": kind, "title": title, "description": description, "url": url}


# --- ESAP -----------------------------------------------------------------------------------


def seed_esap(esap: Production, facilities: Sequence[Mapping[str, Any]]) -> str:
    """The 50 items (bench/web.py's) and the 4 public facilities, through ESAP's API; returns the token."""
    token = seed_basket(esap, scopes=("launch",))
    for facility in facilities:
        answer = requests.post(
            f"{esap.url}/api/v1/facilities", json={**facility, "public": True}, headers=bearer(token), timeout=30
        )
        answer.raise_for_status()
    listed = requests.get(f"{esap.url}/api/v1/facilities", headers=bearer(token), timeout=30).json()["facilities"]
    assert len(listed) == FACILITY_COUNT, listed
    return token


def compat_cart(esap: Production, token: str) -> list[dict[str, Any]]:
    """ESAP's basket in the first ESAP's shape: the items to write there."""
    answer = requests.get(f"{esap.url}/esap-api/accounts/user-profiles/", headers=bearer(token), timeout=30)
    answer.raise_for_status()
    cart = [json.loads(item["item_data"]) for item in answer.json()["results"][0]["shopping_cart"]]
    assert len(cart) == ITEMS, len(cart)
    return cart


# --- the run --------------------------------------------------------------------------------


def paths(side: int, parameter: str, keyword: str) -> dict[str, str]:
    """One side's paths; the facility search with its keyword parameter when there is a keyword."""
    chosen = {endpoint: pair[side] for endpoint, pair in ENDPOINTS.items()}
    if keyword:
        chosen["facility search"] += f"?{urlencode({parameter: keyword})}"
    return chosen


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": median([run["rps"] for run in runs]),
        "p50_ms": median([run["p50_ms"] for run in runs]),
        "p99_ms": median([run["p99_ms"] for run in runs]),
        "cpu_ms_per_request": median([run["cpu_ms_per_request"] for run in runs]),
        "errors": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
        "processes_changed": any(run["processes_changed"] for run in runs),
    }


def targets(summary: Mapping[str, Any], connections: Sequence[int], compared: bool) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it is met (None: not measurable in this run)."""
    checks = []
    for endpoint in ENDPOINTS:
        for count in connections:
            row = summary[endpoint][str(count)]
            esap, other = row["ESAP"], row.get(FIRST)
            met = None
            measured = "no first ESAP in this run"
            if compared:
                met = esap["rps"] >= 2 * other["rps"] and esap["p99_ms"] < other["p99_ms"]
                ratio, paired = esap["rps"] / other["rps"], row["ratio"]["rps_paired"]
                measured = f"{ratio:.2f}× req/s (rounds paired: {paired:.2f}×), p99 {esap['p99_ms']:.1f} vs "
                measured += f"{other['p99_ms']:.1f} ms"
            checks.append({"target": f"{endpoint} @{count}: ≥ 2× req/s, lower p99", "measured": measured, "met": met})
    for endpoint in ENDPOINTS:
        if 16 in connections:
            p99 = summary[endpoint]["16"]["ESAP"]["p99_ms"]
            checks.append({"target": f"{endpoint} @16: p99 < 100 ms", "measured": f"{p99:.1f} ms", "met": p99 < 100})
    for count in connections:
        cpu = summary[BASKET][str(count)]["ESAP"]["cpu_ms_per_request"]
        target = f"basket @{count}: CPU ≤ 1.2 ms/request"
        checks.append({"target": target, "measured": f"{cpu:.2f} ms", "met": cpu <= 1.2})
    for count in connections:
        compat, basket = summary[COMPAT][str(count)]["ESAP"]["rps"], summary[BASKET][str(count)]["ESAP"]["rps"]
        checks.append(
            {
                "target": f"compat @{count}: as fast as the basket (≥ 95 % of its req/s)",
                "measured": f"{compat:.0f} vs {basket:.0f} req/s ({compat / basket:.0%})",
                "met": compat >= 0.95 * basket,
            }
        )
    return checks


def printed_tables(summary: Mapping[str, Any], checks: list[dict[str, Any]]) -> str:
    rows = []
    for endpoint, by_count in summary.items():
        for count, sides in by_count.items():
            for label, figures in sides.items():
                if label == "ratio":
                    continue
                rows.append(
                    (endpoint, count, label, figures["rps"], figures["p50_ms"], figures["p99_ms"])
                    + (figures["cpu_ms_per_request"], figures["errors"])
                )
            if "ratio" in sides:
                ratio = sides["ratio"]
                rows.append(
                    (endpoint, count, f"ESAP / {ratio['against']}", f"{ratio['rps']:.2f}×", f"{ratio['p50_ms']:.2f}×")
                    + (f"{ratio['p99_ms']:.2f}×", f"{ratio['cpu_ms_per_request']:.2f}×", "")
                )
    figures = table(["endpoint", "conns", "server", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "errors"], rows)
    verdict = {True: "met", False: "MISSED", None: "-"}
    listed = table(["target", "measured", ""], [(c["target"], c["measured"], verdict[c["met"]]) for c in checks])
    return f"{figures}\n\n{listed}"


def run_database(database: str, variables: Mapping[str, str] | None, options: argparse.Namespace) -> dict[str, Any]:
    connections = options.connections
    first_facilities = first_esap_facilities(variables) if variables else None
    facilities = [as_esap_facility(record) for record in first_facilities] if first_facilities else FACILITIES
    with contextlib.ExitStack() as stack:
        esap = stack.enter_context(Production(web_workers=WEB_WORKERS, database=database))
        token = seed_esap(esap, facilities)
        sides = [Side("ESAP", esap.url, bearer(token), esap.web.process.pid, paths(0, "q", options.keyword))]
        if variables:
            seed_first_esap(variables, compat_cart(esap, token))
            pid, headers = int(variables["ESAP1_PID"]), knox(variables["ESAP1_TOKEN"])
            sides.append(Side(FIRST, variables["ESAP1_URL"], headers, pid, paths(1, "keyword", options.keyword)))
        if options.earlier:
            earlier = Production(web_workers=WEB_WORKERS, database=database, source=options.earlier)
            stack.enter_context(earlier)
            earlier_token = seed_esap(earlier, facilities)
            sides.append(Side(EARLIER, earlier.url, bearer(earlier_token), earlier.web.process.pid, sides[0].paths))
        for side in sides:  # every answer checked once, then every worker warmed up
            for path in side.paths.values():
                answer = requests.get(side.url + path, headers=side.headers, timeout=30)
                if answer.status_code != 200:
                    raise SystemExit(f"{side.label} {path}: {answer.status_code} {answer.text[:300]}")
                wrk(side.url + path, max(connections), 2, side.headers)
        runs: dict[str, dict[str, dict[str, list]]] = {
            endpoint: {str(n): {side.label: [] for side in sides} for n in connections} for endpoint in ENDPOINTS
        }
        for number in range(options.rounds):
            for endpoint in ENDPOINTS:
                for count in connections:
                    for side in sides:  # interleaved: ESAP, the first ESAP, ESAP, ...
                        run = side.measure(endpoint, count, options.seconds)
                        runs[endpoint][str(count)][side.label].append(run)
                        print(
                            f"round {number + 1}/{options.rounds} {database} {endpoint} @{count} {side.label}: "
                            f"{run['rps']:.0f} req/s, p99 {run['p99_ms']:.1f} ms, "
                            f"{run['cpu_ms_per_request']:.2f} ms CPU",
                            flush=True,
                        )
        settings = {"gunicorn": esap.web.settings, "esap_paths": sides[0].paths}
        if variables:
            settings["first_esap_paths"] = sides[1].paths
    summary: dict[str, Any] = {}
    for endpoint, by_count in runs.items():
        summary[endpoint] = {}
        for count, by_side in by_count.items():
            row = {label: summarise(measured) for label, measured in by_side.items()}
            if len(sides) > 1:
                against = sides[1].label
                keys = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")
                row["ratio"] = {key: row["ESAP"][key] / row[against][key] for key in keys}
                pairs = zip(by_side["ESAP"], by_side[against], strict=True)  # the same round, back to back
                row["ratio"]["rps_paired"] = median([ours["rps"] / theirs["rps"] for ours, theirs in pairs])
                row["ratio"]["against"] = against
            summary[endpoint][count] = row
    checks = targets(summary, connections, variables is not None)
    results = {
        "database": database,
        "settings": {**vars(options), **settings, "facilities": facilities},
        "first_esap": {key: value for key, value in (variables or {}).items() if key != "ESAP1_TOKEN"} or None,
        "earlier_esap": str(options.earlier) if options.earlier else None,
        "summary": summary,
        "targets": checks,
        "runs": runs,
    }
    report(f"compare-{database}", results, printed_tables(summary, checks))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=(*DATABASES, "both"), help="ESAP's (default: ESAP1_DATABASE, or both)")
    parser.add_argument("--connections", type=lambda text: [int(n) for n in text.split(",")], default=[16, 32])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keyword", default="", help="facility search keyword (default: none, all 4 facilities)")
    parser.add_argument("--earlier", type=Path, help="an earlier ESAP checkout to measure against (not the first ESAP)")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: bash bench/install.sh")

    source = None if options.earlier else esap1.source_from_environment()
    if options.earlier and not (options.earlier / "esap_core" / "app.py").is_file():
        raise SystemExit(f"{options.earlier} is not an ESAP checkout (no esap_core/app.py)")
    # SIGTERM leaves through the with blocks too: the servers started here are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if source:  # set up and started here, once per database, stopped after its run
        if any(os.environ.get(name) for name in VARIABLES):
            print(f"ESAP1_SRC is set: the first ESAP is started from it, {', '.join(VARIABLES)} are not used")
        for database in list(DATABASES) if options.database in (None, "both") else [options.database]:
            with esap1.FirstEsap(source, database) as first:
                check_gunicorn(int(first.variables["ESAP1_PID"]))
                run_database(database, first.variables, options)
        return
    variables = None if options.earlier else first_esap_from_environment()
    if variables:
        loopback_only(variables["ESAP1_URL"])
        check_gunicorn(int(variables["ESAP1_PID"]))
        if variables["ESAP1_DATABASE"] not in DATABASES:
            raise SystemExit(f"ESAP1_DATABASE is sqlite or postgresql, not {variables['ESAP1_DATABASE']!r}")
        if options.database not in (None, variables["ESAP1_DATABASE"]):
            raise SystemExit(f"The first ESAP runs on {variables['ESAP1_DATABASE']}: ESAP is compared on the same")
        databases = [variables["ESAP1_DATABASE"]]
    else:
        databases = list(DATABASES) if options.database in (None, "both") else [options.database]
    for database in databases:
        run_database(database, variables, options)


if __name__ == "__main__":
    main()

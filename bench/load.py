"""Load: 200 concurrent users adding to their baskets and launching on a local BinderHub for 60 s.

ESAP runs in production mode (gunicorn, PostgreSQL, Redis, 4 `esap worker`s); each user is
a thread with a token of their own. A user adds items one request at a time (a think time
apart), reads the basket back now and then, and launches ``--launches-per-user`` times.
Afterwards every item the API acknowledged must be in its user's basket (no lost writes),
no answer may be a 5xx, and every launch must end, ready or failed, within ``--bound``
seconds. Run: ``.venv/bin/python -m bench.load`` (not part of the test suite).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.launches import TimedBinderHub, seed_software
from bench.production import Production, bearer, median, percentile, report, seed_users, table

FINISHED = {"ready", "failed", "stopped"}


class Tally:
    """What all users saw, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.codes: Counter[str] = Counter()
        self.latencies: dict[str, list[float]] = {"add": [], "read": [], "launch": []}
        self.errors: list[str] = []

    def note(self, kind: str, seconds: float, status: int | str) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.codes[str(status)] += 1


def user_session(esap: Production, user: dict, software_id: int, options, deadline: float, tally: Tally) -> dict:
    headers = bearer(user["token"])
    acknowledged: list[str] = []
    launches: list[str] = []
    launch_at = sorted(random.uniform(0, options.seconds * 0.8) for _ in range(options.launches_per_user))
    started = time.monotonic()
    with requests.Session() as http:
        number = 0
        while time.monotonic() < deadline:
            if launch_at and time.monotonic() - started >= launch_at[0]:
                launch_at.pop(0)
                kind, method, path = "launch", "POST", "/api/v1/launches"
                body = {"software_id": software_id, "facility": "bench-binder"}
            elif number % 10 == 9:
                kind, method, path, body = "read", "GET", "/api/v1/basket/items", None
            else:
                identifier = f"{user['username']}-{number}"
                kind, method, path = "add", "POST", "/api/v1/basket/items"
                body = {
                    "archive": "load",
                    "identifier": identifier,
                    "title": f"Item {number}",
                    "fetch": {"method": "http", "url": f"https://data.example.org/{identifier}.fits"},
                }
            number += 1
            moment = time.perf_counter()
            try:
                answer = http.request(method, esap.url + path, json=body, headers=headers, timeout=60)
                status: int | str = answer.status_code
            except requests.RequestException as error:
                status, answer = type(error).__name__, None
            tally.note(kind, time.perf_counter() - moment, status)
            if answer is not None and answer.ok:
                if kind == "add":
                    acknowledged.append(identifier)
                elif kind == "launch":
                    launches.append(answer.json()["id"])
            elif answer is not None and len(tally.errors) < 20:
                with tally.lock:
                    tally.errors.append(f"{kind} {status}: {answer.text[:200]}")
            time.sleep(random.uniform(0, 2 * options.think))
    return {"user": user, "acknowledged": acknowledged, "launches": launches}


def check_user(esap: Production, outcome: dict, bound_at: float) -> dict:
    headers = bearer(outcome["user"]["token"])
    stored, page = set(), 1
    while True:
        answer = requests.get(
            f"{esap.url}/api/v1/basket/items", params={"page": page, "page_size": 500}, headers=headers, timeout=60
        ).json()
        stored |= {item["identifier"] for item in answer["items"]}
        if page * 500 >= answer["total"]:
            break
        page += 1
    ended: list[str] = []
    for launch_id in outcome["launches"]:
        while True:
            status = requests.get(f"{esap.url}/api/v1/launches/{launch_id}", headers=headers, timeout=60).json()[
                "status"
            ]
            if status in FINISHED or time.monotonic() > bound_at:
                break
            time.sleep(0.5)
        ended.append(status)
    return {"lost": [i for i in outcome["acknowledged"] if i not in stored], "launch_statuses": ended}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.1, help="mean seconds between a user's requests")
    parser.add_argument("--launches-per-user", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="`esap worker` processes")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="gunicorn gthread threads per web worker")
    parser.add_argument("--bound", type=float, default=180.0, help="seconds after the run for launches to end")
    options = parser.parse_args()

    hub = TimedBinderHub(Path(tempfile.mkdtemp(prefix="esap-bench-binderhub-")))
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    config = {
        "load_plugins": ["binderhub"],
        "facilities": [{"name": "bench-binder", "kind": "binderhub", "title": "Bench BinderHub", "url": hub.url}],
    }
    tally = Tally()
    try:
        hub.jupyter.start()
        with Production(
            web_workers=options.web_workers,
            esap_workers=options.workers,
            config=config,
            worker_class="gthread",
            threads=options.threads,
        ) as esap:
            requests.get(f"{esap.url}/api/v1/health", timeout=30)
            users = seed_users(esap.app(), options.users, ["basket:read", "basket:write", "launch"])
            ((software_id, _),) = seed_software(esap, 1)
            deadline = time.monotonic() + options.seconds
            with ThreadPoolExecutor(options.users) as pool:
                outcomes = list(
                    pool.map(lambda user: user_session(esap, user, software_id, options, deadline, tally), users)
                )
            bound_at = time.monotonic() + options.bound
            with ThreadPoolExecutor(16) as pool:
                checks = list(pool.map(lambda outcome: check_user(esap, outcome, bound_at), outcomes))
    finally:
        hub.stop()

    requests_made = sum(tally.codes.values())
    server_errors = sum(count for code, count in tally.codes.items() if code.startswith("5"))
    failures = sum(count for code, count in tally.codes.items() if not code.isdigit())
    lost = [item for check in checks for item in check["lost"]]
    launch_statuses = Counter(status for check in checks for status in check["launch_statuses"])
    summary = {
        "users": options.users,
        "requests": requests_made,
        "requests_per_s": requests_made / options.seconds,
        "status_codes": dict(tally.codes),
        "server_errors": server_errors,
        "connection_failures": failures,
        "acknowledged_writes": sum(len(outcome["acknowledged"]) for outcome in outcomes),
        "lost_writes": len(lost),
        "launch_statuses": dict(launch_statuses),
        "launches_not_ended": sum(n for status, n in launch_statuses.items() if status not in FINISHED),
        **{f"{kind}_p50_ms": median(values) * 1000 for kind, values in tally.latencies.items()},
        **{f"{kind}_p99_ms": percentile(values, 0.99) * 1000 for kind, values in tally.latencies.items()},
    }
    summary["target_met"] = (
        summary["server_errors"] == 0
        and summary["lost_writes"] == 0
        and summary["connection_failures"] == 0
        and summary["launches_not_ended"] == 0
    )
    rows = [
        ("users / seconds", f"{options.users} / {options.seconds:g}"),
        ("requests (per second)", f"{requests_made} ({summary['requests_per_s']:.0f}/s)"),
        ("status codes", ", ".join(f"{code} {n}" for code, n in sorted(tally.codes.items()))),
        ("5xx / connection failures", f"{server_errors} / {failures}"),
        ("acknowledged writes / lost", f"{summary['acknowledged_writes']} / {len(lost)}"),
        ("launches: how they ended", ", ".join(f"{s} {n}" for s, n in sorted(launch_statuses.items()))),
        *(
            (f"{kind} p50 / p99 ms", f"{summary[f'{kind}_p50_ms']:.0f} / {summary[f'{kind}_p99_ms']:.0f}")
            for kind in tally.latencies
        ),
        ("target: no 5xx, no lost write, every launch ended", "met" if summary["target_met"] else "MISSED"),
    ]
    settings = {
        **vars(options),
        "gunicorn": {"workers": options.web_workers, "worker_class": "gthread", "threads": options.threads},
    }
    report(
        "load", {"settings": settings, "summary": summary, "errors": tally.errors}, table(["measure", "value"], rows)
    )


if __name__ == "__main__":
    main()

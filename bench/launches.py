"""The launch pipeline: 500 launches through gunicorn, Redis and 4 `esap worker`s to a local BinderHub.

The facility is the BinderHub-protocol server of the tests (esap_binderhub/testing.py,
which hands every launch the same real JupyterLab). Each launch has its own software
record (its own ref), so the server's first request of a launch, ``/build/gh/.../<ref>``,
is matched to the launch. ESAP's overhead is the time from sending ``POST /api/v1/launches``
to that first request, measured with as many launches in flight as there are workers (so
no launch waits for a busy worker). A burst then enqueues launches all at once. Every
launch must end, ready or failed, within ``--bound`` seconds: otherwise it is stuck (or,
never seen by the facility nor ended, lost). Targets (issue 10): none lost or stuck;
overhead p50 under 50 ms. Run: ``.venv/bin/python -m bench.launches``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from esap_binderhub.testing import LocalBinderHub

from bench.production import Production, bearer, pipeline_figures, pipeline_table, report, seed_users, target_met

FINISHED = {"ready", "failed", "stopped"}
REPOSITORY = "https://github.com/esap-bench/notebook"


class TimedBinderHub(LocalBinderHub):
    """The local BinderHub, noting when the first request of each build spec arrived (wall clock)."""

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.first_request: dict[str, float] = {}
        self.linger = 5.0

    def scenario_for(self, provider: str, spec: str):
        self.first_request.setdefault(spec.rstrip("/"), time.time())
        return super().scenario_for(provider, spec)


def seed_software(esap: Production, count: int) -> list[tuple[int, str]]:
    """``count`` notebooks, each with its own ref: [(software id, the ref)]."""
    from esap_core.models import Software

    app = esap.app()
    made = []
    with app.app_context():
        session = app.extensions["esap.db"].session
        records = [
            Software(
                source="bench",
                external_id=f"nb-{n:04d}",
                name=f"Bench notebook {n}",
                repository_url=REPOSITORY,
                ref=f"bench-{n:04d}",
                ui_type="notebook",
            )
            for n in range(count)
        ]
        session.add_all(records)
        session.commit()
        made = [(record.id, record.ref) for record in records]
    return made


def launch_and_wait(esap: Production, token: str, software_id: int, bound: float) -> dict:
    """One launch through the API, followed until it ends or ``bound`` seconds pass."""
    headers = bearer(token)
    sent = time.time()
    answer = requests.post(
        f"{esap.url}/api/v1/launches",
        json={"software_id": software_id, "facility": "bench-binder"},
        headers=headers,
        timeout=30,
    )
    accepted = time.time()
    if answer.status_code != 202:
        return {"sent": sent, "state": f"http {answer.status_code}", "message": answer.text[:300]}
    launch = answer.json()
    deadline = time.monotonic() + bound
    while launch["status"] not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.05)
        launch = requests.get(f"{esap.url}/api/v1/launches/{launch['id']}", headers=headers, timeout=30).json()
    return {
        "id": launch["id"],
        "sent": sent,
        "accepted": accepted,
        "ended": time.time(),
        "state": launch["status"],
        "message": launch.get("message", ""),
    }


def run(
    esap: Production, hub: TimedBinderHub, token: str, software: list[tuple[int, str]], in_flight: int, bound: float
) -> dict:
    started = time.monotonic()
    with ThreadPoolExecutor(in_flight) as pool:
        outcomes = list(pool.map(lambda pair: launch_and_wait(esap, token, pair[0], bound), software))
    makespan = time.monotonic() - started
    for (_, ref), outcome in zip(software, outcomes, strict=True):
        outcome["first"] = hub.first_request.get(f"esap-bench/notebook/{ref}")
    return pipeline_figures(outcomes, FINISHED, {"failed"}, in_flight, makespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="`esap worker` processes")
    parser.add_argument("--burst", type=int, default=200, help="launches enqueued at once after the paced ones")
    parser.add_argument("--bound", type=float, default=120.0, help="seconds a launch may take before it is stuck")
    parser.add_argument("--fork", action="store_true", help="workers fork a horse per job (`esap worker --fork`)")
    options = parser.parse_args()

    hub = TimedBinderHub(Path(tempfile.mkdtemp(prefix="esap-bench-binderhub-")))
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    config = {
        "load_plugins": ["binderhub"],
        "facilities": [{"name": "bench-binder", "kind": "binderhub", "title": "Bench BinderHub", "url": hub.url}],
    }
    try:
        hub.jupyter.start()  # the shared JupyterLab, started before the clock runs
        worker_options = ["--fork"] if options.fork else []
        with Production(
            web_workers=4, esap_workers=options.workers, config=config, worker_options=worker_options
        ) as esap:
            requests.get(f"{esap.url}/api/v1/health", timeout=30)  # registers the configured facility
            (user,) = seed_users(esap.app(), 1, ["basket:read", "basket:write", "launch"])
            software = seed_software(esap, options.launches + options.burst)
            paced = run(esap, hub, user["token"], software[: options.launches], options.workers, options.bound)
            burst = run(esap, hub, user["token"], software[options.launches :], max(options.burst, 1), options.bound)
    finally:
        hub.stop()

    paced["target_met"] = target_met(paced, overhead_ms=50)
    burst["target_met"] = target_met(burst)
    runs = {"paced": paced, "burst": burst}
    report("launches", {"settings": vars(options), **runs}, pipeline_table(runs, "launches"))


if __name__ == "__main__":
    main()

"""The jobs pipeline: 200 jobs through gunicorn, Redis and 4 `esap worker`s to a real one-node Slurm.

Slurm is the plugin's own (``esap_slurm.testing.running_slurm``: munged, slurmctld, slurmd
and slurmrestd on a unix socket, on this machine; needs root). Every job runs a one-line
script from a git repository served over loopback. ESAP reaches slurmrestd through a small
unix-socket relay here that notes when each ``POST .../job/submit`` arrived, and for which
ESAP job (the Slurm job name is ``esap-<job id>``). ESAP's overhead is the time from sending
``POST /api/v1/jobs`` to that request, with as many jobs in flight as there are workers (a
worker always free). A burst then submits jobs all at once (``--burst``). Every job must end
within ``--bound`` seconds: otherwise it is stuck (or, never submitted to Slurm nor ended,
lost). Targets (issue 18): none lost or stuck; overhead p50 under 50 ms.
Run as root: ``.venv/bin/python -m bench.jobs``.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from esap_slurm.testing import GitServer, running_slurm, static_server

from bench.production import Production, bearer, pipeline_figures, pipeline_table, report, seed_users, target_met

FINAL = {"COMPLETED", "ERROR", "ABORTED"}
SCRIPT = "echo 'the bench job ran'\n"


class TimedRelay:
    """A unix socket relaying to slurmrestd's, noting when each job's submit request arrived (wall clock)."""

    def __init__(self, path: Path, upstream: str):
        self.path, self.upstream = path, upstream
        self.submitted: dict[str, float] = {}  # ESAP job id -> when its submit request had arrived whole
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            request = self._read_request(client)
            server.connect(self.upstream)
            server.sendall(request)
            self._pipe(client, server)

    def _read_request(self, client: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = [
            line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ]
        length = int(lengths[0]) if lengths else 0
        while len(body) < length:
            chunk = client.recv(65536)
            if not chunk:
                break
            body += chunk
        arrived = time.time()
        if head.startswith(b"POST ") and b"/job/submit" in head.split(b"\r\n", 1)[0]:
            name = json.loads(body).get("job", {}).get("name", "")
            self.submitted.setdefault(name.removeprefix("esap-"), arrived)
        return head + b"\r\n\r\n" + body

    @staticmethod
    def _pipe(client: socket.socket, server: socket.socket) -> None:
        sockets = [client, server]
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for source in readable:
                chunk = source.recv(65536)
                if not chunk:
                    return
                (server if source is client else client).sendall(chunk)

    def stop(self) -> None:
        self.listener.close()


def submit_and_wait(esap: Production, token: str, software_id: int, bound: float) -> dict:
    """One job through the API, followed until it ends or ``bound`` seconds pass."""
    headers = bearer(token)
    body = {"software_id": software_id, "facility": "bench-slurm", "command": "bash run.sh", "items": []}
    sent = time.time()
    answer = requests.post(f"{esap.url}/api/v1/jobs", json=body, headers=headers, timeout=30)
    accepted = time.time()
    if answer.status_code != 202:
        return {"sent": sent, "state": f"http {answer.status_code}", "message": answer.text[:300], "id": ""}
    job = answer.json()
    deadline = time.monotonic() + bound
    while job["phase"] not in FINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        job = requests.get(f"{esap.url}/api/v1/jobs/{job['id']}", headers=headers, timeout=30).json()
    return {
        "id": job["id"],
        "sent": sent,
        "accepted": accepted,
        "ended": time.time(),
        "state": job["phase"],
        "message": job.get("message", ""),
    }


def run(esap: Production, relay: TimedRelay, token: str, software_id: int, count: int, in_flight: int, bound: float):
    started = time.monotonic()
    with ThreadPoolExecutor(in_flight) as pool:
        outcomes = list(pool.map(lambda _: submit_and_wait(esap, token, software_id, bound), range(count)))
    makespan = time.monotonic() - started
    for outcome in outcomes:
        outcome["first"] = relay.submitted.get(outcome["id"])
    return pipeline_figures(outcomes, FINAL, {"ERROR", "ABORTED"}, in_flight, makespan)


def seed_software(esap: Production, repository: str) -> int:
    from esap_core.models import Software

    app = esap.app()
    with app.app_context():
        session = app.extensions["esap.db"].session
        record = Software(
            source="bench",
            external_id="bench-job",
            name="Bench job",
            repository_url=repository,
            ref="main",
            ui_type="cli",
        )
        session.add(record)
        session.commit()
        return record.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="`esap worker` processes")
    parser.add_argument("--burst", type=int, default=0, help="jobs submitted at once after the paced ones")
    parser.add_argument("--bound", type=float, default=180.0, help="seconds a job may take before it is stuck")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="esap-bench-jobs-"))
    (folder / "git").mkdir()
    with running_slurm() as slurm, static_server(folder / "git") as git_url:
        repository = GitServer(folder / "git", git_url).repository("bench-job", {"run.sh": SCRIPT})
        relay = TimedRelay(folder / "slurmrestd.socket", slurm.socket)
        settings = {
            "socket": str(relay.path),
            "partition": slurm.partition,
            "work_root": str(slurm.work_root),
            "python": slurm.python,
            "results_path": str(slurm.work_root),
        }
        facility = {"name": "bench-slurm", "kind": "slurm", "title": "Bench Slurm", "url": "http://localhost/"}
        config = {
            "load_plugins": ["slurm"],
            "facilities": [{**facility, "settings": settings}],
            "job_queued_timeout": options.bound,
            "job_executing_timeout": options.bound,
        }
        try:
            with Production(web_workers=4, esap_workers=options.workers, config=config) as esap:
                requests.get(f"{esap.url}/api/v1/health", timeout=30)  # registers the configured facility
                (user,) = seed_users(esap.app(), 1, ["jobs:read", "jobs:write"])
                software_id = seed_software(esap, repository)
                token = user["token"]
                paced = run(esap, relay, token, software_id, options.jobs, options.workers, options.bound)
                burst = run(esap, relay, token, software_id, options.burst, max(options.burst, 1), options.bound)
        finally:
            relay.stop()

    paced["target_met"] = target_met(paced, overhead_ms=50)
    burst["target_met"] = target_met(burst)
    runs = {"paced": paced, "burst": burst}
    report("jobs", {"settings": vars(options), **runs}, pipeline_table(runs, "jobs"))


if __name__ == "__main__":
    main()

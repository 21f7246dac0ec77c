"""Start-up and memory: `esap --help` wall time, and a warmed-up gunicorn worker's resident memory.

The worker serves ESAP in production mode with every installed plugin loaded and is
warmed up on each page and the OpenAPI document before its RSS is read from /proc.
Targets (issue 10): `esap --help` under 0.8 s; a worker under 150 MB.
Run: ``.venv/bin/python -m bench.startup`` (hyperfine if installed, else a timed loop).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from bench.production import BIN, Production, clean_environment, median, percentile, report, table

WARM_UP_PATHS = (
    "/",
    "/basket",
    "/data",
    "/software",
    "/facilities",
    "/launches",
    "/plugins",
    "/profile",
    "/api/v1/openapi.json",
    "/api/v1/health",
    "/api/v1/plugins",
    "/api/v1/basket",
)


def help_times(runs: int) -> dict:
    """Seconds per `esap --help`: hyperfine's own runs, or a loop of ``runs`` when it is missing."""
    command = [str(BIN / "esap"), "--help"]
    environment = clean_environment()
    if shutil.which("hyperfine"):
        with tempfile.TemporaryDirectory() as folder:
            exported = Path(folder) / "hyperfine.json"
            subprocess.run(
                ["hyperfine", "--warmup", "3", "--runs", str(runs), "--export-json", str(exported), "-N"]
                + [" ".join(command)],
                check=True,
                capture_output=True,
                env=environment,
                timeout=300,
            )
            times = json.loads(exported.read_text())["results"][0]["times"]
        return {"tool": "hyperfine", "times": times}
    for _ in range(3):
        subprocess.run(command, check=True, capture_output=True, env=environment)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=environment)
        times.append(time.perf_counter() - started)
    return {"tool": "loop", "times": times}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_memory(rounds: int) -> dict:
    with Production(web_workers=1) as esap:
        plugins = requests.get(f"{esap.url}/api/v1/plugins", timeout=30).json()["plugins"]
        statuses = {plugin["name"]: plugin["status"] for plugin in plugins}
        after_start = rss_mb(esap.web.worker_pids()[0])
        answers = {}
        for _ in range(rounds):
            for path in WARM_UP_PATHS:
                answers[path] = requests.get(esap.url + path, timeout=60).status_code
        (pid,) = esap.web.worker_pids()
        return {"plugins": statuses, "status_codes": answers, "rss_after_start_mb": after_start, "rss_mb": rss_mb(pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="`esap --help` runs")
    parser.add_argument("--rounds", type=int, default=20, help="warm-up rounds over the pages")
    options = parser.parse_args()

    helped = help_times(options.runs)
    memory = worker_memory(options.rounds)
    help_median = median(helped["times"])
    summary = {
        "esap_help_median_s": help_median,
        "esap_help_p95_s": percentile(helped["times"], 0.95),
        "esap_help_target_met": help_median < 0.8,
        "worker_rss_mb": memory["rss_mb"],
        "worker_rss_target_met": memory["rss_mb"] < 150,
    }
    loaded = sum(status == "loaded" for status in memory["plugins"].values())
    rows = [
        (
            f"`esap --help` ({helped['tool']}, {len(helped['times'])} runs), median s",
            help_median,
            "< 0.8 s",
            "met" if summary["esap_help_target_met"] else "MISSED",
        ),
        ("`esap --help` p95 s", summary["esap_help_p95_s"], "", ""),
        (f"worker RSS after start, MB ({loaded} plugins loaded)", memory["rss_after_start_mb"], "", ""),
        (
            f"worker RSS after {options.rounds} warm-up rounds, MB",
            memory["rss_mb"],
            "< 150 MB",
            "met" if summary["worker_rss_target_met"] else "MISSED",
        ),
    ]
    printed = table(["measure", "value", "target", ""], rows)
    report("startup", {"settings": vars(options), "summary": summary, "help": helped, "memory": memory}, printed)


if __name__ == "__main__":
    main()

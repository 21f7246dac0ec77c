"""Fan-out: one question to 8 archives that each answer in 300 ms, against a sequential loop over them.

ESAP runs in production mode with the plugin of bench/archives.py: 8 archives, each
asking a local server that answers after ``--delay`` seconds. Measured in the same run:
``GET /api/v1/search`` (the fan-out API), the search page with its 8 result panels
fetched as a browser does (6 connections per host), and what a notebook with pyvo does,
one archive after the other. A second ESAP then gets one archive that never answers: the
fan-out must end at the archive timeout with the 8 others' results. Target (issue 10):
the API within 1.2 × 300 ms + 50 ms. Run: ``.venv/bin/python -m bench.fanout``.
"""

from __future__ import annotations

import argparse
import html
import re
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.archives import PLUGIN_NAME, DelayServer
from bench.production import Production, median, percentile, report, table

BROWSER_CONNECTIONS = 6  # Chromium's connections per host over HTTP/1.1


def esap_config(url: str, names: list[str], timeout: float) -> dict:
    return {"load_plugins": [], "archive_timeout": timeout, "plugins": {PLUGIN_NAME: {"url": url, "names": names}}}


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def fan_out_api(esap: Production, keywords: str) -> dict:
    answer = requests.get(f"{esap.url}/api/v1/search", params={"keywords": keywords}, timeout=60)
    answer.raise_for_status()
    return answer.json()


def search_page(esap: Production, keywords: str) -> list[int]:
    """The page, then its panels as HTMX loads them; the panels' status codes."""
    page = requests.get(f"{esap.url}/data", params={"keywords": keywords}, timeout=60)
    page.raise_for_status()
    panels = [html.unescape(url) for url in re.findall(r'hx-get="(/data/archives/[^"]+/results[^"]*)"', page.text)]

    def fetch(url: str) -> int:
        return requests.get(esap.url + url, headers={"HX-Request": "true"}, timeout=60).status_code

    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        return list(pool.map(fetch, panels))


def sequential(server: DelayServer, names: list[str], keywords: str) -> int:
    rows = 0
    for name in names:
        answer = requests.get(f"{server.url}/{name}", params={"keywords": keywords}, timeout=60)
        rows += len(answer.json()["rows"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archives", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds each archive takes")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=2.0, help="ESAP's archive_timeout for the hanging run")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads per worker")
    options = parser.parse_args()
    names = [f"archive{n}" for n in range(options.archives)]
    gunicorn = {
        "web_workers": options.web_workers,
        "worker_class": "gthread",
        "threads": options.threads,
        "app": "bench.archives:create()",
    }

    times: dict[str, list[float]] = {"api": [], "page": [], "sequential": []}
    with DelayServer(options.delay, hang=frozenset({"hanging"})) as server:
        with Production(config=esap_config(server.url, names, 20.0), **gunicorn) as esap:
            for round_number in range(options.rounds + 2):  # two warm-up rounds
                keywords = f"galaxy {round_number}"
                api_time, answer = timed(lambda: fan_out_api(esap, keywords))  # noqa: B023 (called at once)
                statuses = [archive["status"] for archive in answer["archives"]]
                assert statuses == ["ok"] * options.archives, answer
                page_time, panels = timed(lambda: search_page(esap, keywords))  # noqa: B023
                assert panels == [200] * options.archives, panels
                sequential_time, rows = timed(lambda: sequential(server, names, keywords))  # noqa: B023
                assert rows == 10 * options.archives
                if round_number >= 2:
                    times["api"].append(api_time)
                    times["page"].append(page_time)
                    times["sequential"].append(sequential_time)
        with Production(config=esap_config(server.url, [*names, "hanging"], options.timeout), **gunicorn) as esap:
            fan_out_api(esap, "warm up")  # also leaves one hanging request behind, as a real hung archive would
            hang_time, answer = timed(lambda: fan_out_api(esap, "with one archive hanging"))
    hanging = {archive["archive"]: archive for archive in answer["archives"]}

    target = 1.2 * options.delay + 0.05
    summary = {
        "api_median_s": median(times["api"]),
        "api_p95_s": percentile(times["api"], 0.95),
        "page_median_s": median(times["page"]),
        "sequential_median_s": median(times["sequential"]),
        "speed_up_api_vs_sequential": median(times["sequential"]) / median(times["api"]),
        "target_s": target,
        "api_target_met": median(times["api"]) <= target,
        "hanging_total_s": hang_time,
        "hanging_status": hanging["hanging"]["status"],
        "hanging_message": hanging["hanging"]["message"],
        "others_ok_with_one_hanging": all(hanging[name]["status"] == "ok" for name in names),
        "hanging_target_met": hanging["hanging"]["status"] == "timeout"
        and all(hanging[name]["status"] == "ok" for name in names)
        and hang_time <= options.timeout + 1.5,
    }
    rows = [
        (
            "GET /api/v1/search (ESAP fan-out)",
            summary["api_median_s"],
            summary["api_p95_s"],
            f"<= {target:.2f} s",
            "met" if summary["api_target_met"] else "MISSED",
        ),
        (
            f"search page + {options.archives} panels ({BROWSER_CONNECTIONS} connections)",
            summary["page_median_s"],
            percentile(times["page"], 0.95),
            "",
            "",
        ),
        (
            "sequential loop (a notebook)",
            summary["sequential_median_s"],
            percentile(times["sequential"], 0.95),
            "baseline",
            f"ESAP {summary['speed_up_api_vs_sequential']:.1f}x faster",
        ),
        (
            f"one archive hangs (timeout {options.timeout:g} s)",
            hang_time,
            "",
            f"ends at the timeout, {options.archives} ok",
            "met" if summary["hanging_target_met"] else "MISSED",
        ),
    ]
    printed = table(["measure", "median s", "p95 s", "target", ""], rows)
    settings = {**vars(options), "gunicorn": gunicorn}
    report("fanout", {"settings": settings, "summary": summary, "times": times, "hanging": hanging}, printed)


if __name__ == "__main__":
    main()

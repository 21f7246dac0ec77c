"""ESAP in production mode for the benchmarks: gunicorn, a fresh PostgreSQL database, a private Redis, `esap worker`s.

``with Production(web_workers=4, esap_workers=4, config={...}) as esap:`` creates the
database ``esap_bench_<random>`` on PostgreSQL (127.0.0.1:5432, user postgres, trust
authentication; with ``database="sqlite"`` an SQLite file in its folder instead), starts
``redis-server`` on a free loopback port, runs ``esap db upgrade``, then gunicorn on 127.0.0.1
and the workers; on leaving, it stops them all and drops the database. Everything listens on
loopback only. The module also holds what every benchmark shares: the machine's description,
percentiles, a table printer and the JSON writer.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
POSTGRES_SERVER = os.environ.get("ESAP_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
ESAP_APP = "esap_core.app:create_app()"
START_TIMEOUT = 60.0


# --- what every benchmark reports ---------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and load: the figures mean nothing without them."""
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 is the median); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table, numbers rounded for reading."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    text_rows = [[cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in text_rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in text_rows]
    return "\n".join(lines)


def report(name: str, results: Mapping[str, Any], printed: str) -> Path:
    """Print the table and the machine, and write everything to bench/results/<name>-<time>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS / f"{name}-{now:%Y%m%dT%H%M%SZ}.json"
    document = {"benchmark": name, "at": now.isoformat(), "machine": machine(), **results}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    described = ", ".join(f"{key} {value}" for key, value in document["machine"].items())
    print(f"\n== {name} ({described})\n{printed}\n-> {path.relative_to(ROOT)}")
    return path


# --- a pipeline's figures (launches, jobs) ----------------------------------------------------


def pipeline_figures(outcomes: list[dict], ended: set[str], failed: set[str], in_flight: int, makespan: float) -> dict:
    """What a run of launches or jobs came to: each outcome has ``sent``, ``ended`` and ``first`` (when the
    facility first saw it; None if never) as wall-clock times, its final ``state`` and ``message``.

    Stuck: not ended within the bound; lost: stuck and never seen by the facility.
    """
    overheads = [(o["first"] - o["sent"]) * 1000 for o in outcomes if o.get("first") is not None]
    ends = [o["ended"] - o["sent"] for o in outcomes if o["state"] in ended]
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome["state"]] = states.get(outcome["state"], 0) + 1
    stuck = [o for o in outcomes if o["state"] not in ended]
    return {
        "count": len(outcomes),
        "in_flight": in_flight,
        "states": states,
        "lost": sum(1 for o in stuck if o.get("first") is None),
        "stuck": len(stuck),
        "makespan_s": makespan,
        "per_s": len(outcomes) / makespan if makespan else 0.0,
        "overhead_p50_ms": median(overheads),
        "overhead_p95_ms": percentile(overheads, 0.95),
        "end_to_end_p50_s": median(ends),
        "end_to_end_p95_s": percentile(ends, 0.95),
        "failures": [o["message"] for o in outcomes if o["state"] in failed][:10],
        "outcomes": outcomes,
    }


def pipeline_table(runs: Mapping[str, Mapping[str, Any]], noun: str) -> str:
    """The runs of :func:`pipeline_figures` (with ``target_met``), a row each, ``noun`` the plural ("jobs")."""
    headers = [
        "run",
        noun,
        "in flight",
        "ended",
        "lost",
        "stuck",
        "overhead p50 ms",
        "p95 ms",
        "end-to-end p50 s",
        f"{noun}/s",
        "target",
    ]
    rows = [
        (
            name,
            r["count"],
            r["in_flight"],
            ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items())),
            r["lost"],
            r["stuck"],
            r["overhead_p50_ms"],
            r["overhead_p95_ms"],
            r["end_to_end_p50_s"],
            r["per_s"],
            "met" if r["target_met"] else "MISSED",
        )
        for name, r in runs.items()
        if r["count"]
    ]
    return table(headers, rows)


def target_met(figures: dict, overhead_ms: float | None = None) -> bool:
    """None lost or stuck, and the median overhead under ``overhead_ms`` when given."""
    ok = figures["lost"] == 0 and figures["stuck"] == 0
    return ok and (overhead_ms is None or figures["overhead_p50_ms"] < overhead_ms)


# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if predicate():
                return
        except Exception:  # not up yet: connection refused, a half-started server
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {seconds:g} s")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, seconds: float = 20.0) -> None:
    """SIGTERM the process group started for ``process``, SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_toml(path: Path, config: Mapping[str, Any]) -> None:
    """Top-level keys, then ``[[facilities]]`` and ``[plugins."name"]`` tables."""
    lines = [f"{key} = {toml_value(value)}" for key, value in config.items() if key not in ("facilities", "plugins")]
    for facility in config.get("facilities", []):
        lines += ["", "[[facilities]]"] + [f"{key} = {toml_value(value)}" for key, value in facility.items()]
    for name, settings in config.get("plugins", {}).items():
        lines += ["", f'[plugins."{name}"]'] + [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")


class RedisServer:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from redis import Redis

        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: Redis.from_url(self.url).ping(), 10, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Database:
    """A fresh PostgreSQL database of its own, dropped afterwards."""

    def __init__(self, server: str = POSTGRES_SERVER):
        self.name = f"esap_bench_{secrets.token_hex(5)}"
        self.server = server
        self.url = server.rsplit("/", 1)[0] + f"/{self.name}"

    def _admin(self):
        from sqlalchemy import create_engine

        url = self.server.replace("postgresql://", "postgresql+psycopg://", 1)
        return create_engine(url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        from sqlalchemy import text

        engine = self._admin()
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()

    def drop(self) -> None:
        from sqlalchemy import text

        engine = self._admin()
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


class SqliteDatabase:
    """An SQLite file in the benchmark's folder (removed with it): the embedded mode's database."""

    def __init__(self, path: Path):
        self.name = path.name
        self.url = f"sqlite:///{path}"

    def create(self) -> None:
        pass

    def drop(self) -> None:
        pass


def clean_environment() -> dict[str, str]:
    """This process's environment without ESAP_* (they would override the benchmark's settings), offline.

    ESAP_OFFLINE: a benchmark never contacts a public default service (mybinder.org is a
    default facility otherwise); earlier checkouts that predate the switch ignore it.
    """
    for key in [key for key in os.environ if key.startswith("ESAP_")]:
        del os.environ[key]
    os.environ["ESAP_OFFLINE"] = "1"
    return dict(os.environ)


class Gunicorn:
    """``gunicorn APP`` on a free loopback port with the given settings."""

    def __init__(
        self,
        app: str,
        environment: Mapping[str, str],
        workers: int = 4,
        worker_class: str = "sync",
        threads: int = 1,
        log: Path | None = None,
        source: Path = ROOT,
    ):
        self.app = app
        self.source = source
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environment = dict(environment)
        self.settings = {"workers": workers, "worker_class": worker_class, "threads": threads}
        self.log = log
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        settings = self.settings
        return [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(settings["workers"]),
            "--worker-class",
            settings["worker_class"],
            "--threads",
            str(settings["threads"]),
            "--log-level",
            "warning",
            "--chdir",
            str(self.source),
            self.app,
        ]

    def start(self, ready_path: str = "/") -> None:
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 (closed by the child)
        self.process = subprocess.Popen(
            self.command(), env=self.environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(lambda: requests.get(self.url + ready_path, timeout=5).status_code < 500, START_TIMEOUT, "gunicorn")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Started:
    """A context manager over ``start()`` and ``stop()``: a start that fails half-way stops what it began."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Production(Started):
    """ESAP as production runs it; use as a context manager. ``url`` is the web's base URL."""

    def __init__(
        self,
        web_workers: int = 4,
        esap_workers: int = 0,
        config: Mapping[str, Any] | None = None,
        worker_class: str = "sync",
        threads: int = 1,
        app: str = ESAP_APP,
        environment: Mapping[str, str] | None = None,
        worker_options: Sequence[str] = (),
        database: str = "postgresql",
        source: Path = ROOT,
    ):
        """``source``: the ESAP source tree to serve (another checkout runs on this one's virtualenv)."""
        self.workdir = Path(tempfile.mkdtemp(prefix="esap-bench-"))
        if database not in ("postgresql", "sqlite"):
            raise ValueError(f"database is postgresql or sqlite, not {database!r}")
        self.database = Database() if database == "postgresql" else SqliteDatabase(self.workdir / "esap.sqlite3")
        self.redis = RedisServer(self.workdir)
        self.config = {"log_level": "WARNING", **(config or {})}
        self.secret_key = secrets.token_urlsafe(32)
        self.environment = {
            **clean_environment(),
            **(environment or {}),
            "ESAP_CONFIG": str(self.workdir / "esap.toml"),
            "ESAP_DATABASE_URL": self.database.url,
            "ESAP_REDIS_URL": self.redis.url,
            "ESAP_SECRET_KEY": self.secret_key,
            "ESAP_INSTANCE_PATH": str(self.workdir / "instance"),
            "PYTHONPATH": str(source),
        }
        log = self.workdir / "gunicorn.log"
        self.web = Gunicorn(app, self.environment, web_workers, worker_class, threads, log, source)
        self.esap_workers = esap_workers
        self.worker_options = list(worker_options)  # for `esap worker`, such as --fork
        self.workers: list[subprocess.Popen] = []
        self.url = self.web.url
        self._app = None

    def start(self) -> None:
        write_toml(self.workdir / "esap.toml", self.config)
        self.database.create()
        self.redis.start()
        subprocess.run([str(BIN / "esap"), "db", "upgrade"], env=self.environment, check=True, capture_output=True)
        self.web.start("/api/v1/health")
        for number in range(self.esap_workers):
            self.start_worker(number)

    def start_worker(self, number: int) -> subprocess.Popen:
        with open(self.workdir / f"worker-{number}.log", "ab") as log:
            process = subprocess.Popen(
                [str(BIN / "esap"), "worker", *self.worker_options],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(process)
        return process

    def app(self):
        """An ESAP app in this process on the same database and Redis, to seed users, tokens and software."""
        if self._app is None:
            from esap_core import config as configuration
            from esap_core.app import create_app

            overrides = {key: value for key, value in self.config.items() if key in configuration.CORE_KEYS}
            overrides.update(
                database_url=self.database.url,
                redis_url=self.redis.url,
                instance_path=str(self.workdir / "seed"),
                secret_key={"env": "ESAP_BENCH_SEED_SECRET"},
                plugins=self.config.get("plugins", {}),
            )
            os.environ["ESAP_BENCH_SEED_SECRET"] = self.secret_key
            self._app = create_app(overrides)
        return self._app

    def stop(self) -> None:
        for process in self.workers:
            stop_process(process)
        self.web.stop()
        self.redis.stop()
        if self._app is not None:
            self._app.extensions["esap.db"].engine.dispose()
        try:
            self.database.drop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def seed_users(app, count: int, scopes: Sequence[str], prefix: str = "bench") -> list[dict[str, str]]:
    """``count`` users as if they had logged in, each with a token of ``scopes``: [{username, token}]."""
    from esap_core import accounts, tokens

    seeded = []
    with app.app_context():
        for number in range(count):
            name = f"{prefix}{number:04d}"
            claims = {"sub": f"sub-{name}", "preferred_username": name, "email": f"{name}@example.org"}
            user = accounts.user_from_claims("https://issuer.bench.invalid", claims)
            _, secret = tokens.create(user, "bench", list(scopes), None, admin=True)
            seeded.append({"username": user.username, "token": secret})
    return seeded


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

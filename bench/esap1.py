"""The first ESAP gateway (Django 4 + DRF, github.com/cta-epfl/esap-api-gateway at d439e2e), set up for bench.compare.

``with FirstEsap(source, "sqlite") as first:`` takes a checkout of that repository (``ESAP1_SRC``),
installs it into its own virtualenv (``bench/esap1/venv``, once: a stamp file says what is
installed), gives it fresh databases (its five SQLite files migrated and its YAML fixtures
loaded, or five PostgreSQL databases on 127.0.0.1), a benchmark user with a knox token, and
starts it under gunicorn with 2 sync workers on a free 127.0.0.1 port; ``first.variables``
is then what ``ESAP1_URL``, ``ESAP1_TOKEN``, ``ESAP1_PID`` and ``ESAP1_DATABASE`` carry for an
already running one. Leaving stops it and drops its PostgreSQL databases. Nothing of the first
ESAP is in this repository: its checkout, venv, databases and logs are in ``bench/esap1/``
(git-ignored) or wherever ``ESAP1_SRC`` points.

By hand: ``ESAP1_SRC=bench/esap1/src .venv/bin/python -m bench.esap1 --database sqlite`` starts
it, prints the four variables and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bench.production import POSTGRES_SERVER, ROOT, Database, Gunicorn, Started, free_port

COMMIT = "d439e2e"
HOME = ROOT / "bench" / "esap1"
VENV = HOME / "venv"
STAMP = VENV / "bench-installed.json"
CLONE = (
    "git clone https://github.com/cta-epfl/esap-api-gateway bench/esap1/src && "
    f"git -C bench/esap1/src checkout {COMMIT}"
)

# Its pins (requirements/base.txt) predate Python 3.11: numpy 1.22.2 and astropy 5.0.1 have no
# wheels for it, these releases do. eossr 0.6.1 goes in without its dependencies (its own list
# leaves pandas open, and today's pandas wants a newer numpy), then those it needs, in ranges of
# its time. It is an sdist whose setup.py has setuptools_scm write its version to an absolute
# path, which today's setuptools_scm refuses: it is built with an older one, without isolation.
REPLACED = {"numpy": "numpy==1.23.5", "astropy": "astropy==5.2.2", "eossr": None}
BUILD = ["setuptools_scm<8", "wheel"]
NO_DEPS = ["eossr==0.6.1"]
AFTER = ["markdown<4", "pandas<2", "remotezip==0.9.3", "semver<3"]

# Its settings read these nine from the environment, all or none (base.py). Without them the DRF
# OIDC authentication class fails on every request, so they point at a loopback port that nothing
# listens on: a call to them would be refused at once, never leave the machine.
OIDC = [
    "OIDC_RP_CLIENT_ID",
    "OIDC_RP_CLIENT_SECRET",
    "OIDC_OP_JWKS_ENDPOINT",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "LOGIN_REDIRECT_URL",
    "LOGOUT_REDIRECT_URL",
    "LOGIN_REDIRECT_URL_FAILURE",
]
ALIASES = ["default", "accounts", "ida", "batch", "rucio"]
# Migrations and fixtures as its Dockerfile creates its databases: each app in its own alias.
MIGRATIONS = [("accounts", "accounts"), ("rucio", "rucio"), ("ida", "ida"), ("batch", "batch"), (None, "default")]
FIXTURES = [("esap/esap_ida_config.yaml", "ida"), ("esap/esap_batch_config.yaml", "batch")]
FIXTURES.append(("esap/esap_config.yaml", "default"))

TOKEN_CODE = """
from django.contrib.auth.models import User
from knox.models import AuthToken
user, _ = User.objects.get_or_create(username={name!r}, defaults={{"email": {email!r}}})
print(AuthToken.objects.create(user, expiry=None)[1])
"""


def say(text: str) -> None:
    print(f"[first ESAP] {text}", flush=True)


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    """A command whose output is kept, and shown only when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, **options)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def checkout(source: Path) -> tuple[Path, str]:
    """The checkout's Django project folder (with manage.py) and its commit (or 'not a git checkout')."""
    project = source / "esap"
    if not (project / "manage.py").is_file() or not (project / "requirements" / "base.txt").is_file():
        raise SystemExit(f"ESAP1_SRC={source} is not a checkout of the first ESAP (no esap/manage.py): {CLONE}")
    if not (source / ".git").exists():
        say(f"{source} is not a git checkout: its commit cannot be checked (expected {COMMIT})")
        return project, "not a git checkout"
    commit = run(["git", "-C", str(source), "rev-parse", "HEAD"]).stdout.strip()
    dirty = run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    state = " with local changes" if dirty else ""
    if commit.startswith(COMMIT):
        say(f"found {source} at commit {commit[:12]}{state}, the one compared")
    else:
        say(f"WARNING: {source} is at commit {commit[:12]}{state}, not {COMMIT}: the figures are not comparable")
    return project, commit + state


def requirements(project: Path) -> str:
    """Its prod requirements (base.txt and gunicorn) and psycopg2 (its async.txt), with the pins above."""
    lines = []
    for name in ("base.txt", "prod.txt", "async.txt"):
        for line in (project / "requirements" / name).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "-r", "-e")):  # -e: its optional django-uws submodule
                continue
            package = line.split("==")[0].strip().lower()
            if package in REPLACED:
                line = REPLACED[package]
            if line and line not in lines:
                lines.append(line)
    return "\n".join(lines) + "\n"


def install(project: Path) -> Path:
    """Its own venv with its requirements; skipped when the stamp says the same steps were done."""
    listed = HOME / "requirements.txt"
    # Each later step is held to the requirements' pins (-c): the build tools and eossr's
    # dependencies would otherwise upgrade some of them (wheel wants a newer packaging).
    steps = [
        ["-r", str(listed)],
        ["-c", str(listed), *BUILD],
        ["-c", str(listed), "--no-deps", "--no-build-isolation", *NO_DEPS],
        ["-c", str(listed), *AFTER],
    ]
    stamp = {"requirements": requirements(project), "steps": steps}
    if STAMP.is_file() and json.loads(STAMP.read_text()) == stamp:
        say(f"already installed in {VENV.relative_to(ROOT)} (stamp {STAMP.name}), not reinstalling")
        return VENV
    pins = ", ".join(line for line in REPLACED.values() if line)
    say(f"installing the first ESAP into {VENV.relative_to(ROOT)} with pins: {pins}, {NO_DEPS[0]} without its")
    say(f"  dependencies (built with {', '.join(BUILD)}), then {', '.join(AFTER)}: Python 3.11, pip as configured")
    shutil.rmtree(VENV, ignore_errors=True)
    HOME.mkdir(parents=True, exist_ok=True)
    listed.write_text(stamp["requirements"])
    run([shutil.which("python3.11") or sys.executable, "-m", "venv", str(VENV)])
    for step in steps:
        run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *step])
    frozen = run([str(VENV / "bin" / "python"), "-m", "pip", "freeze"]).stdout
    (HOME / "installed.txt").write_text(frozen)
    STAMP.write_text(json.dumps(stamp, indent=1))
    say(f"installed ({len(frozen.splitlines())} packages, listed in {(HOME / 'installed.txt').relative_to(ROOT)})")
    return VENV


class FirstEsap(Started):
    """The first ESAP on ``database`` (sqlite or postgresql) under gunicorn; a context manager."""

    def __init__(self, source: Path, database: str = "sqlite"):
        if database not in ("sqlite", "postgresql"):
            raise ValueError(f"database is sqlite or postgresql, not {database!r}")
        self.source, self.database = Path(source).resolve(), database
        self.project, self.commit = checkout(self.source)
        self.workdir = HOME / database
        self.databases = {alias: Database() for alias in ALIASES} if database == "postgresql" else {}
        self.email = os.environ.get("ESAP1_EMAIL", "bench@example.org")
        self.web: Gunicorn | None = None
        self.variables: dict[str, str] = {}

    def environment(self) -> dict[str, str]:
        """A small environment of its own: nothing of ESAP's or this shell's settings leaks in."""
        nowhere = f"http://127.0.0.1:{free_port()}"
        environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        environment.update({name: f"{nowhere}/{name.lower()}" for name in OIDC})
        environment.update(
            DJANGO_SETTINGS_MODULE="esap1_bench_settings",
            PYTHONPATH=f"{self.workdir}{os.pathsep}{self.project}",
            SECRET_KEY=secrets.token_urlsafe(32),
            PYTHONDONTWRITEBYTECODE="1",  # its checkout stays as it is
        )
        return environment

    def write_settings(self) -> None:
        """esap.settings.dev with DEBUG off (dev has it on, which only slows it), its databases and log here."""
        if self.database == "sqlite":
            databases = {
                alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(self.workdir / f"{alias}.sqlite3")}
                for alias in ALIASES
            }
        else:
            server = urlsplit(POSTGRES_SERVER)
            common = {"ENGINE": "django.db.backends.postgresql", "HOST": server.hostname, "PORT": server.port or 5432}
            common.update(USER=server.username or "postgres", PASSWORD=server.password or "")
            # CONN_MAX_AGE: Django's default (0) reconnects on every request; ESAP keeps a pool.
            common["CONN_MAX_AGE"] = 600
            databases = {alias: {**common, "NAME": db.name} for alias, db in self.databases.items()}
        text = [
            "from esap.settings.dev import *  # noqa: F403",
            "",
            "DEBUG = False",
            f"DATABASES = {databases!r}",
            f"LOGGING['handlers']['my_file_handler']['filename'] = {str(self.workdir / 'esap.log')!r}  # noqa: F405",
        ]
        (self.workdir / "esap1_bench_settings.py").write_text("\n".join(text) + "\n")

    def manage(self, *arguments: str, environment: dict[str, str]) -> str:
        command = [str(VENV / "bin" / "python"), "manage.py", *arguments]
        return run(command, cwd=self.project, env=environment).stdout

    def start(self) -> None:
        install(self.project)
        shutil.rmtree(self.workdir, ignore_errors=True)  # fresh databases every run, seeded the same way
        self.workdir.mkdir(parents=True)
        for db in self.databases.values():
            db.create()
        self.write_settings()
        environment = self.environment()
        where = ", ".join(db.name for db in self.databases.values()) or f"{self.workdir.relative_to(ROOT)}/*.sqlite3"
        say(f"{self.database}: migrating its five databases ({where}): manage.py migrate --database=<alias>")
        for app, alias in MIGRATIONS:
            apps = [app] if app else []
            self.manage("migrate", *apps, f"--database={alias}", "--no-input", environment=environment)
        say(f"loading its YAML fixtures: {', '.join(f'{path} into {alias}' for path, alias in FIXTURES)}")
        for path, alias in FIXTURES:
            self.manage("loaddata", f"--database={alias}", path, environment=environment)
        say(f"creating the user {self.email} and a knox token (manage.py shell)")
        code = TOKEN_CODE.format(name=self.email.split("@")[0], email=self.email)
        token = self.manage("shell", "-c", code, environment=environment).strip().splitlines()[-1]
        log = self.workdir / "gunicorn.log"
        self.web = FirstGunicorn("esap.wsgi:application", environment, 2, "sync", 1, log, self.project)
        say(f"starting gunicorn (2 sync workers) on {self.web.url}, log {log.relative_to(ROOT)}")
        try:
            self.web.start("/esap-api/ida/facilities/search")
        except RuntimeError:
            raise SystemExit(f"the first ESAP did not start; the end of {log}:\n{log.read_text()[-3000:]}") from None
        self.variables = {
            "ESAP1_URL": self.web.url,
            "ESAP1_TOKEN": token,
            "ESAP1_PID": str(self.web.process.pid),
            "ESAP1_DATABASE": self.database,
            "ESAP1_SRC": str(self.source),
            "ESAP1_COMMIT": self.commit,
        }

    def stop(self) -> None:
        if self.web is not None:
            say(f"stopping it ({self.database}, gunicorn {self.web.process.pid if self.web.process else '-'})")
            self.web.stop()
            self.web = None
        for db in self.databases.values():
            db.drop()


class FirstGunicorn(Gunicorn):
    """The same gunicorn command as ESAP's side, from the first ESAP's venv."""

    def command(self) -> list[str]:
        return [str(VENV / "bin" / "gunicorn"), *super().command()[1:]]


def source_from_environment() -> Path | None:
    value = os.environ.get("ESAP1_SRC", "").strip()
    return Path(value) if value else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    options = parser.parse_args()
    source = source_from_environment()
    if source is None:
        raise SystemExit(f"Set ESAP1_SRC to a checkout of the first ESAP: {CLONE}")
    # SIGTERM (and SIGINT, which a background job ignores) leave through the with: gunicorn stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with FirstEsap(source, options.database) as first:
        shown = ("ESAP1_URL", "ESAP1_TOKEN", "ESAP1_PID", "ESAP1_DATABASE")
        print("\n".join(f"export {key}={first.variables[key]}" for key in shown))
        say(f"running; Ctrl-C or kill {os.getpid()} stops it")
        with contextlib.suppress(KeyboardInterrupt):
            first.web.process.wait()


if __name__ == "__main__":
    main()

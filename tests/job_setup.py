"""What the jobs tests share: an ESAP with the real Slurm as a facility, software in git, two basket items.

The root conftest loads these fixtures; a module that uses them sets its ``committed_config`` to ``slurm_config``.
ESAP here is ``committed_app`` served over loopback: a job on Slurm downloads the notebook
client from it, and the tests fetch results back through its API.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from nbformat import v4

from esap_core import basket, facilities, jobs
from esap_core.models import Job, Software
from tests.fixtures import LiveServer, make_user

ANALYSIS = """\
import json, os, pathlib
data = pathlib.Path(os.environ["ESAP_DATA"])
fetched = json.loads((data / "esap_data.json").read_text())
values = [float(pathlib.Path(path).read_text()) for path in fetched.values()]
summary = {"items": sorted(fetched), "total": sum(values) * scale, "scale": scale}
pathlib.Path(os.environ["ESAP_OUTPUT"], "summary.json").write_text(json.dumps(summary))
print("total is", summary["total"])
"""
FAILING = "echo 'about to fail'\necho 'the input is bad' >&2\nexit 3\n"


def analysis_notebook() -> str:
    book = v4.new_notebook()
    book.cells = [v4.new_code_cell("scale = 1", metadata={"tags": ["parameters"]}), v4.new_code_cell(ANALYSIS)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(book)


@pytest.fixture(scope="session")
def analysis_repository(git_server) -> str:
    """A notebook that sums the job's data items times ``scale``, and two scripts: one fails, one sleeps."""
    return git_server.repository(
        "job-analysis",
        {
            "notebooks/sum.ipynb": analysis_notebook(),
            "requirements.txt": "requests\n",
            "fail.sh": FAILING,
            "sleep.sh": "echo sleeping\nsleep 300\n",
        },
    )


@pytest.fixture
def slurm_config() -> dict:
    """The configuration of ``committed_app`` in the jobs tests (a test module makes it its ``committed_config``)."""
    return {"load_plugins": ["slurm", "jupyterhub"], "job_queued_timeout": 120.0, "job_executing_timeout": 300.0}


@pytest.fixture
def slurm_esap(committed_app, slurm) -> Iterator[LiveServer]:
    """ESAP on loopback with the Slurm facility ``slurm`` (and a down partition's, ``slurm-closed``) and a hub."""
    settings = {
        "socket": slurm.socket,
        "partition": slurm.partition,
        "work_root": str(slurm.work_root),
        "python": slurm.python,
        "results_path": str(slurm.work_root),
    }
    with committed_app.app_context():
        for values in (
            {"kind": "slurm", "name": "slurm", "title": "Test Slurm", "url": "http://localhost/", "settings": settings},
            {
                "kind": "slurm",
                "name": "slurm-closed",
                "title": "Closed Slurm",
                "url": "http://localhost/",
                "settings": {**settings, "partition": slurm.down_partition},
            },
            {"kind": "jupyterhub", "name": "hub", "title": "A hub", "url": "http://127.0.0.1:9/", "settings": {}},
        ):
            facilities.register(None, None, values, from_config=True)
    with LiveServer(committed_app) as server:
        yield server


@pytest.fixture
def uws_words(committed_app, dachs_uws) -> str:
    """The name of a UWS facility on the real DaCHS's word counter (for a ``committed_config`` loading "uws")."""
    with committed_app.app_context():
        values = {
            "kind": "uws",
            "name": "words",
            "title": "Word counter",
            "url": dachs_uws.jobs_url,
            "settings": {"description_url": dachs_uws.description_url},
        }
        facilities.register(None, None, values, from_config=True)
    return "words"


@pytest.fixture
def job_owner(committed_app):
    return make_user(committed_app, "job_owner")


@pytest.fixture
def job_software(committed_app, analysis_repository) -> int:
    with committed_app.app_context():
        record = Software(
            source="git",
            external_id="job-analysis",
            name="Job analysis",
            ui_type="notebook",
            repository_url=analysis_repository,
            ref="main",
            path="notebooks/sum.ipynb",
        )
        session = committed_app.extensions["esap.db"].session
        session.add(record)
        session.commit()
        return record.id


@pytest.fixture
def two_basket_items(committed_app, job_owner, tmp_path) -> Iterator[list[int]]:
    """Two data items in the job_owner's basket, files holding 2.5 and 4 on a server of their own."""
    from esap_slurm.testing import static_server  # imported once pytest has loaded it as a plugin

    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "first.txt").write_text("2.5\n")
    (folder / "second.txt").write_text("4\n")
    with static_server(folder) as url:
        with committed_app.app_context():  # closed before the test: SQLite holds its write lock in a transaction
            basket.add(
                job_owner,
                [
                    basket.data_item(
                        "test", "ivo://test/first", "First", {"method": "http", "url": f"{url}/first.txt"}
                    ),
                    basket.data_item(
                        "test", "ivo://test/second", "Second", {"method": "http", "url": f"{url}/second.txt"}
                    ),
                ],
            )
            ids = [item.id for item in basket.all_items(job_owner)]
        yield ids


def run_job(app, job_id: str, api_url: str) -> Job:
    """Run the job's queue job here, as a worker would (the function itself), and return the record."""
    with app.app_context():
        jobs.run(job_id, api_url)
        return app.extensions["esap.db"].session.get(Job, job_id)


def run_in_thread(app, job_id: str, api_url: str) -> threading.Thread:
    thread = threading.Thread(target=run_job, args=(app, job_id, api_url), daemon=True)
    thread.start()
    return thread


def reload(app, job_id: str) -> Job:
    """The record as it is now: in the current app context if there is one (to act on it), else in its own."""
    from flask import has_app_context

    if has_app_context():
        session = app.extensions["esap.db"].session
        session.expire_all()
        return session.get(Job, job_id)
    with app.app_context():
        return app.extensions["esap.db"].session.get(Job, job_id)


def wait_for(app, job_id: str, phases: set[str], timeout: float = 120) -> Job:
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = reload(app, job_id)
        if job.phase in phases or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def submitted(app, user, **choices: Any) -> Job:
    with app.test_request_context():
        return jobs.submit(user, **choices)

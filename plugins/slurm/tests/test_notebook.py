"""A notebook from a git repository runs headless on the real Slurm with two data items and a parameter."""

import json

import nbformat
import pytest
from esap_slurm.testing import static_server
from nbformat import v4

from esap_core import DataItem, JobPhase
from esap_core.testing import check_job_facility

ANALYSIS = """\
import json, os, pathlib
data = pathlib.Path(os.environ["ESAP_DATA"])
fetched = json.loads((data / "esap_data.json").read_text())
values = [float(pathlib.Path(path).read_text()) for path in fetched.values()]
summary = {"items": sorted(fetched), "total": sum(values) * scale, "scale": scale}
pathlib.Path(os.environ["ESAP_OUTPUT"], "summary.json").write_text(json.dumps(summary))
print("total is", summary["total"])
"""


def analysis_notebook() -> str:
    book = v4.new_notebook()
    book.cells = [v4.new_code_cell("scale = 1", metadata={"tags": ["parameters"]}), v4.new_code_cell(ANALYSIS)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(book)


@pytest.fixture(scope="module")
def analysis_repository(git_server) -> str:
    return git_server.repository(
        "analysis",
        {"notebooks/sum.ipynb": analysis_notebook(), "requirements.txt": "requests\n", "README.md": "A sum.\n"},
    )


@pytest.fixture
def two_items(tmp_path):
    """Two data items an archive's server hands out: files holding 2.5 and 4."""
    (tmp_path / "first.txt").write_text("2.5\n")
    (tmp_path / "second.txt").write_text("4\n")
    with static_server(tmp_path) as url:
        yield (
            DataItem("ivo://test/first", "First measurement", {"method": "http", "url": f"{url}/first.txt"}),
            DataItem("ivo://test/second", "Second measurement", {"method": "http", "url": f"{url}/second.txt"}),
        )


def test_a_notebook_runs_with_the_data_and_a_parameter(
    slurm_type, slurm_facility, make_job, analysis_repository, two_items, esap_server, user
):
    facility = slurm_facility()
    request = make_job(
        analysis_repository,
        notebook="notebooks/sum.ipynb",
        data=two_items,
        parameters={"scale": 3},
        api_url=esap_server,
    )

    run = check_job_facility(slurm_type, facility, request, timeout=180)

    assert run.phases[-1] is JobPhase.COMPLETED, run.status.message
    assert JobPhase.EXECUTING in run.phases or JobPhase.QUEUED in run.phases
    assert run.status.details["commit"] and run.status.finished >= run.status.started
    assert {result.name for result in run.results} == {"sum.ipynb", "summary.json"}
    summary = json.loads(run.contents["summary.json"])
    assert summary == {"items": ["ivo://test/first", "ivo://test/second"], "total": 19.5, "scale": 3}
    output = nbformat.reads(run.contents["sum.ipynb"].decode(), as_version=4)
    injected = [cell for cell in output.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert injected and "scale = 3" in injected[0].source
    assert "total is 19.5" in output.cells[-1].outputs[0]["text"]
    assert run.log.endswith("the job is done\n")
    log = slurm_type.log(facility, run.job, user, 10)
    for step in (
        "clone",
        "set up a virtual environment from requirements.txt",
        "stage 2 data items",
        "run the notebook",
    ):
        assert step in log


def test_the_job_took_the_client_from_esap_and_kept_the_token_private(
    slurm, slurm_type, slurm_facility, make_job, analysis_repository, two_items, esap_server
):
    facility = slurm_facility()
    request = make_job(analysis_repository, notebook="notebooks/sum.ipynb", data=two_items, api_url=esap_server)

    run = check_job_facility(slurm_type, facility, request, timeout=180)

    assert run.phases[-1] is JobPhase.COMPLETED, run.status.message
    folder = slurm.work_root / request.job_id
    client = (folder / "esap_client.py").read_text()
    assert "class Basket" in client  # downloaded from <api_url>/api/v1/client/esap_client.py
    assert (folder / "esap_settings.json").stat().st_mode & 0o077 == 0
    assert json.loads((folder / "data" / "esap_data.json").read_text()).keys() == {
        "ivo://test/first",
        "ivo://test/second",
    }

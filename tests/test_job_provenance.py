"""A job's provenance and "run again" at its recorded commit, through real jobs on the real Slurm.

The crate passes roc-validator and the PROV-JSON reads back with the prov package, as a
launch's do (tests/test_provenance.py); "Run again" runs the commit Slurm's job recorded even
after the branch moved on, and "Run again with the latest" the branch as it is now.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import subprocess
import zipfile
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from esap_core import accounts, basket
from esap_core.models import Job, RegisteredFacility, Software
from tests.fixtures import bearer, csrf_headers
from tests.job_setup import analysis_notebook, reload, run_job, submitted, wait_for
from tests.test_provenance import _validate, loopback_only  # noqa: F401  (a fixture)

GIT = ["git", "-c", "user.name=ESAP tests", "-c", "user.email=tests@esap.invalid"]
# What ESAP cannot know: the ROR id of the operator, the researcher's ORCID, a contact point (as for launches).
UNKNOWABLE = {"ro-crate-1.2_89.0", "ro-crate-1.2_90.1", "ro-crate-1.2_91.0", "ro-crate-1.2_93.0"}


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return slurm_config


@pytest.fixture
def job_owner(committed_app):
    """The local single-user mode's user: it owns the basket, and the pages and the API act as it."""
    with committed_app.app_context():
        return accounts.local_user()


@pytest.fixture
def moving_software(committed_app, git_server, tmp_path) -> tuple[int, object]:
    """Software whose branch ``main`` says "first" in marker.txt; the second value is a function moving it on."""
    name = f"moving-{secrets.token_hex(4)}"
    git_server.repository(name, {"marker.txt": "first\n", "notebooks/sum.ipynb": analysis_notebook()})
    bare = git_server.folder / f"{name}.git"

    def move_on(text: str) -> str:
        """A new commit on main whose marker.txt holds ``text``; its hash."""
        work = tmp_path / f"work-{secrets.token_hex(3)}"
        subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
        (work / "marker.txt").write_text(text + "\n")
        subprocess.run([*GIT, "-C", str(work), "commit", "-q", "-am", f"Now {text}"], check=True)
        subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True)
        subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
        return subprocess.run(
            ["git", "-C", str(work), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()

    with committed_app.app_context():
        record = Software(
            source="git",
            external_id=name,
            name="Moving software",
            ui_type="notebook",
            repository_url=f"{git_server.url}/{name}.git",
            ref="main",
            path="notebooks/sum.ipynb",
        )
        session = committed_app.extensions["esap.db"].session
        session.add(record)
        session.commit()
        return record.id, move_on


@pytest.fixture
def described_items(committed_app, job_owner, tmp_path) -> Iterator[list[int]]:
    """Two data items in the basket, files holding 2.5 and 4, whose archive said their size, format and checksum."""
    from esap_slurm.testing import static_server  # imported once pytest has loaded it as a plugin

    folder = tmp_path / "archive"
    folder.mkdir()
    contents = {"first": b"2.5\n", "second": b"4\n"}
    for name, content in contents.items():
        (folder / f"{name}.txt").write_bytes(content)
    with static_server(folder) as url:
        with committed_app.app_context():
            basket.add(
                job_owner,
                [
                    basket.data_item(
                        "test",
                        f"ivo://test/{name}",
                        name.capitalize(),
                        {"method": "http", "url": f"{url}/{name}.txt"},
                        {
                            "size": len(content),
                            "format": "text/plain",
                            "checksum": f"md5:{hashlib.md5(content).hexdigest()}",
                        },
                    )
                    for name, content in contents.items()
                ],
            )
            ids = [item.id for item in basket.all_items(job_owner)]
        yield ids  # the app context closed first: SQLite holds its write lock in a transaction


# rdflib (under roc-validator's pyshacl) warns about its own deprecated class; that is not ours to fix.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_a_real_jobs_crate_passes_roc_validator_and_its_prov_reads_back_with_its_results(
    committed_app,
    slurm_esap,
    job_owner,
    job_software,
    described_items,
    worker,
    tmp_path,
    loopback_only,  # noqa: F811
):
    from prov.model import PROV, ProvActivity, ProvDocument
    from rocrate.rocrate import ROCrate

    job = submitted(
        committed_app,
        job_owner,
        software_id=job_software,
        facility_name="slurm",
        item_ids=described_items,
        parameters={"scale": 3},
        api_url=slurm_esap.url,
    )
    done = wait_for(committed_app, job.id, {"COMPLETED", "ERROR", "ABORTED"}, timeout=240)  # the real worker runs it
    assert done.phase == "COMPLETED", done.message
    commit = done.details["commit"]
    client, auth = committed_app.test_client(), bearer(committed_app, job_owner, ["jobs:read"])

    answer = client.get(f"/api/v1/jobs/{job.id}/provenance.crate.zip", headers=auth)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert f"esap-job-{job.id}.crate.zip" in answer.headers["Content-Disposition"]
    required = _validate(answer.data, tmp_path, "REQUIRED")
    assert required.passed(), [(issue.check.identifier, issue.message) for issue in required.get_issues()]
    recommended = _validate(answer.data, tmp_path, "RECOMMENDED")
    left = {issue.check.identifier for issue in recommended.get_issues()}
    assert left <= UNKNOWABLE, [(issue.check.identifier, issue.message) for issue in recommended.get_issues()]

    metadata = json.loads(zipfile.ZipFile(io.BytesIO(answer.data)).read("ro-crate-metadata.json"))
    crate = ROCrate(metadata)  # the rocrate package reads it back
    (action,) = [entity for entity in crate.get_entities() if entity.type == "CreateAction"]
    assert action.id == f"http://localhost/jobs/{job.id}" and action["name"] == "Job of Job analysis on slurm"
    assert action["instrument"]["version"] == commit and action["instrument"].id.endswith(f"/tree/{commit}")
    assert action["actionStatus"].id == "http://schema.org/CompletedActionStatus" and "error" not in action
    inputs = {e["propertyID"]: e["value"] for e in action["object"] if e.type == "PropertyValue"}
    assert inputs["parameter:scale"] == "3" and inputs["notebook"] == "notebooks/sum.ipynb"
    data = [e for e in action["object"] if e.type == "File"]
    assert sorted(e.id.rsplit("/", 1)[-1] for e in data) == ["first.txt", "second.txt"]
    results = {entity["name"]: entity for entity in action["result"]}
    assert set(results) == {"sum.ipynb", "summary.json"} == {result["name"] for result in done.results}
    summary_url = results["summary.json"].id
    assert summary_url == f"http://localhost/api/v1/jobs/{job.id}/results/summary.json"
    fetched = client.get(urlsplit(summary_url).path, headers=auth)  # the crate's address serves the result
    assert json.loads(fetched.data) == {"items": ["ivo://test/first", "ivo://test/second"], "total": 19.5, "scale": 3}
    facts = {e["propertyID"]: e["value"] for e in _listed(action["additionalProperty"])}
    assert facts and facts == {k: str(v) for k, v in done.details.items() if k not in ("commit", "image")}

    prov_answer = client.get(f"/api/v1/jobs/{job.id}/provenance.prov.json", headers=auth)
    assert prov_answer.status_code == 200 and prov_answer.mimetype == "application/json"
    document = ProvDocument.deserialize(content=prov_answer.get_data(as_text=True), format="json")
    base = f"http://localhost/jobs/{job.id}/"
    records = {str(record.identifier.uri): record for record in document.get_records() if record.identifier}
    activity = records[base + "job"]
    assert isinstance(activity, ProvActivity) and _value(activity, "status") == "COMPLETED"
    assert activity.get_endTime() == done.finished
    assert _value(records[base + "software"], "commit") == commit
    assert _value(records[base + "data/1"], "identifier") == "ivo://test/first"
    assert _value(records[base + "data/1"], "md5") == hashlib.md5(b"2.5\n").hexdigest()
    assert _value(records[base + "data/2"], "identifier") == "ivo://test/second"
    generated = {
        r.get_attribute(PROV["entity"]).pop().uri: r.get_attribute(PROV["activity"]).pop().uri
        for r in document.get_records()
        if r.get_type() == PROV["Generation"]
    }
    assert set(generated.values()) == {base + "job"}
    assert {_label(records[uri]) for uri in generated} == {"sum.ipynb", "summary.json"}
    assert {_value(records[uri], "location") for uri in generated} >= {summary_url}
    settings = {
        _label(records[base + f"input/{n}"]): str(records[base + f"input/{n}"].get_attribute(PROV["value"]).pop())
        for n in range(1, 4)
        if base + f"input/{n}" in records
    }
    assert settings["parameter:scale"] == "3"
    with committed_app.app_context():
        owner = accounts.local_user()
        assert _label(records[base + "submitted-by"]) == (owner.name or owner.username)

    page = BeautifulSoup(client.get(f"/jobs/{job.id}").data, "html.parser")
    links = {a.get_text(strip=True): a["href"] for a in page.select(".provenance-links a")}
    assert links == {
        "RO-Crate (ZIP)": f"/api/v1/jobs/{job.id}/provenance.crate.zip",
        "W3C PROV-JSON": f"/api/v1/jobs/{job.id}/provenance.prov.json",
    }
    assert client.get(links["W3C PROV-JSON"]).status_code == 200  # the browser's login is enough


def _listed(value):
    return value if isinstance(value, list) else [value]


def _value(record, name: str):
    (value,) = [value for key, value in record.attributes if key.localpart == name]
    return value


def _label(record) -> str:
    from prov.model import PROV_LABEL

    (value,) = record.get_attribute(PROV_LABEL)
    return str(value)


def test_a_jobs_provenance_is_only_for_its_owner_with_jobs_read(committed_app, slurm_esap, job_owner, job_software):
    from tests.fixtures import make_user

    job = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm", item_ids=[], command="true"
    )
    client = committed_app.test_client()
    other = make_user(committed_app, "mallory")
    for suffix in ("crate.zip", "prov.json"):
        mine = client.get(
            f"/api/v1/jobs/{job.id}/provenance.{suffix}", headers=bearer(committed_app, job_owner, ["jobs:read"])
        )
        assert mine.status_code == 200
        answer = client.get(
            f"/api/v1/jobs/{job.id}/provenance.{suffix}", headers=bearer(committed_app, other, ["jobs:read"])
        )
        assert answer.status_code == 404 and answer.get_json()["message"] == "You have no job with that id."
    refused = client.get(
        f"/api/v1/jobs/{job.id}/provenance.prov.json", headers=bearer(committed_app, job_owner, ["launch"])
    )
    assert refused.status_code == 403
    # A job not run yet: a potential action, no results, no end.
    metadata = json.loads(
        zipfile.ZipFile(
            io.BytesIO(
                client.get(
                    f"/api/v1/jobs/{job.id}/provenance.crate.zip",
                    headers=bearer(committed_app, job_owner, ["jobs:read"]),
                ).data
            )
        ).read("ro-crate-metadata.json")
    )
    (action,) = [entity for entity in metadata["@graph"] if entity["@type"] == "CreateAction"]
    assert action["actionStatus"] == {"@id": "http://schema.org/PotentialActionStatus"}
    assert "result" not in action and "endTime" not in action


def test_run_again_runs_the_recorded_commit_and_with_the_latest_the_branch(
    committed_app, slurm_esap, job_owner, moving_software
):
    software_id, move_on = moving_software
    client = committed_app.test_client()
    csrf = csrf_headers(client)["X-CSRF-Token"]
    form = {"csrf_token": csrf, "software_id": software_id, "facility": "slurm", "command": "cat marker.txt"}
    first_id = client.post("/jobs", data=form).headers["Location"].rsplit("/", 1)[-1]
    first = run_job(committed_app, first_id, slurm_esap.url)
    assert first.phase == "COMPLETED", first.message
    commit = first.details["commit"]
    assert len(commit) == 40 and "first" in first.log

    later = move_on("second")
    assert later != commit
    page = client.get(f"/jobs/{first_id}").get_data(as_text=True)
    assert f"Run again at commit {commit[:7]}</button>" in page and "Run again with the latest</button>" in page
    assert (
        f"At commit <code>{commit}</code>, as Test Slurm recorded it" in page
        and "<code>main</code> as it is now" in page
    )
    assert f'name="again_of" value="{first_id}"' in page  # "with other parameters" keeps the commit too

    pinned_id = client.post(f"/jobs/{first_id}/again", data={"csrf_token": csrf}).headers["Location"].rsplit("/")[-1]
    pinned = reload(committed_app, pinned_id)
    assert pinned.software["ref"] == commit and pinned.command == "cat marker.txt"
    assert pinned.software["pinned_from"] == {"record": f"job {first_id}", "ref": "main", "commit": commit}
    pinned = run_job(committed_app, pinned_id, slurm_esap.url)
    assert pinned.phase == "COMPLETED", pinned.message
    assert pinned.details["commit"] == commit and "first" in pinned.log and "second" not in pinned.log
    pinned_page = client.get(f"/jobs/{pinned_id}").get_data(as_text=True)
    assert f"pinned from job {first_id} (then at <code>main</code>)" in pinned_page
    assert f"Run again at commit {commit[:7]}</button>" in pinned_page  # a pinned job pins the same again

    latest_id = client.post(f"/jobs/{first_id}/again", data={"csrf_token": csrf, "latest": "1"}).headers["Location"]
    latest = reload(committed_app, latest_id.rsplit("/", 1)[-1])
    assert latest.software["ref"] == "main" and "pinned_from" not in latest.software
    latest = run_job(committed_app, latest.id, slurm_esap.url)
    assert latest.phase == "COMPLETED", latest.message
    assert latest.details["commit"] == later and "second" in latest.log

    other = client.post("/jobs", data={**form, "command": "cat marker.txt; echo other", "again_of": first_id}).headers[
        "Location"
    ]
    assert reload(committed_app, other.rsplit("/", 1)[-1]).software["ref"] == commit
    fresh = client.post("/jobs", data=form).headers["Location"]
    assert reload(committed_app, fresh.rsplit("/", 1)[-1]).software["ref"] == "main"


def test_a_job_without_a_recorded_commit_says_run_again_runs_the_latest(
    committed_app, slurm_esap, job_owner, moving_software
):
    software_id, _ = moving_software
    with committed_app.app_context():
        session = committed_app.extensions["esap.db"].session
        facility_id = session.scalar(select(RegisteredFacility.id).where(RegisteredFacility.name == "slurm"))
        session.add(
            Job(
                id="nocommit01234567",
                user_id=job_owner.id,
                facility_id=facility_id,
                software_id=software_id,
                facility={"name": "slurm", "kind": "slurm", "title": "Test Slurm", "url": "http://localhost/"},
                software={"id": software_id, "name": "Moving software", "ref": "main"},
                command="true",
                phase="ERROR",
                phases=[],
                details={"commit": "not a commit"},  # what a facility says is not taken for a commit
            )
        )
        session.commit()
    page = committed_app.test_client().get("/jobs/nocommit01234567").get_data(as_text=True)
    assert "No commit was recorded for this job: running again runs the latest (<code>main</code>)." in page
    assert "Run again</button>" in page and "Run again at commit" not in page and 'name="again_of"' not in page

"""A job's results into the workspace: a Slurm job's file on the real WebDAV server, bounded, refused at the quota."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace

import pytest

from esap_core import accounts, job_results, jobs, workspace
from esap_core.hookspecs import QuotaExceeded
from esap_core.models import Job
from tests.fixtures import bearer, csrf_headers
from tests.job_setup import run_job, submitted


@pytest.fixture
def committed_config(slurm_config, webdav_server, monkeypatch) -> dict:
    monkeypatch.setenv("ESAP_TEST_WEBDAV_PASSWORD", webdav_server.password)
    webdav = {"url": webdav_server.quota_url, "username": webdav_server.username}
    webdav["password"] = {"env": "ESAP_TEST_WEBDAV_PASSWORD"}
    return {
        **slurm_config,
        "load_plugins": [*slurm_config["load_plugins"], "webdav"],
        "workspace_storage": "webdav",
        "plugins": {"webdav": webdav},
    }


@pytest.fixture
def job_owner(committed_app, webdav_server):
    """The local single-user mode's user (the pages are theirs), with an empty workspace."""
    with committed_app.app_context():
        user = accounts.local_user()
    shutil.rmtree(webdav_server.root / "quota" / user.username, ignore_errors=True)  # the server is the session's
    return user


@pytest.fixture
def finished(committed_app, slurm_esap, job_owner, job_software, two_basket_items) -> Job:
    job = submitted(
        committed_app,
        job_owner,
        software_id=job_software,
        facility_name="slurm",
        item_ids=two_basket_items,
        parameters={"scale": 2},
        api_url=slurm_esap.url,
    )
    done = run_job(committed_app, job.id, slurm_esap.url)
    assert done.phase == "COMPLETED", done.message
    return done


def on_server(webdav_server, user, path: str):
    return webdav_server.root / "quota" / user.username / path


def test_a_result_lands_in_the_workspace_under_the_jobs_folder(committed_app, finished, job_owner, webdav_server):
    with committed_app.app_context():
        job = committed_app.extensions["esap.db"].session.get(Job, finished.id)
        _, stream = jobs.open_result(job, "summary.json")
        expected = stream.read()
        stream.close()
        saved = job_results.save(job_owner, job, "summary.json")
        elsewhere = job_results.save(job_owner, job, "summary.json", folder="kept/run-1")
    assert saved.path == f"jobs/{finished.id}/summary.json" and saved.size == len(expected)
    assert on_server(webdav_server, job_owner, saved.path).read_bytes() == expected
    assert on_server(webdav_server, job_owner, elsewhere.path).read_bytes() == expected


def test_a_result_past_the_quota_or_the_upload_limit_is_refused_and_nothing_is_kept(
    committed_app, finished, job_owner, webdav_server, monkeypatch
):
    with committed_app.app_context():
        job = committed_app.extensions["esap.db"].session.get(Job, finished.id)
        filler = webdav_server.user_quota - workspace.usage(job_owner).used - 10  # less than the result
        workspace.write(job_owner, "filler.bin", io.BytesIO(b"x" * filler), filler)
        with pytest.raises(QuotaExceeded) as full:
            job_results.save(job_owner, job, "summary.json")
        workspace.delete(job_owner, "filler.bin")
        config = committed_app.extensions["esap.config"]
        monkeypatch.setitem(committed_app.extensions, "esap.config", replace(config, workspace_max_upload_mb=1e-6))
        with pytest.raises(workspace.TooLarge) as large:
            job_results.save(job_owner, job, "summary.json")
        with pytest.raises(jobs.JobProblem, match="no result named 'nothing.txt'"):
            job_results.save(job_owner, job, "nothing.txt")
    assert "left" in str(full.value) or "quota" in str(full.value)
    assert "at most" in str(large.value) or "largest" in str(large.value)
    assert not on_server(webdav_server, job_owner, f"jobs/{finished.id}/summary.json").exists()


def test_the_page_and_the_api_save_a_result(committed_app, finished, job_owner, webdav_server):
    client = committed_app.test_client()
    csrf = csrf_headers(client)["X-CSRF-Token"]
    answer = client.post(f"/jobs/{finished.id}/workspace", data={"csrf_token": csrf, "name": "summary.json"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/workspace?folder=jobs/{finished.id}")
    assert on_server(webdav_server, job_owner, f"jobs/{finished.id}/summary.json").is_file()
    listed = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "summary.json" in listed
    button = client.get(f"/jobs/{finished.id}").get_data(as_text=True)
    assert f'action="/jobs/{finished.id}/workspace"' in button and "Save to workspace" in button
    with committed_app.app_context():
        filler = webdav_server.user_quota - workspace.usage(job_owner).used - 5  # less than the result
        workspace.write(job_owner, "filler.bin", io.BytesIO(b"x" * filler), filler)
    full = client.post(f"/jobs/{finished.id}/workspace", data={"csrf_token": csrf, "name": "summary.json"})
    assert full.status_code == 507 and "Free some room in your workspace first" in full.get_data(as_text=True)
    with committed_app.app_context():
        workspace.delete(job_owner, "filler.bin")

    api = committed_app.test_client()
    auth = bearer(committed_app, job_owner, ["jobs:read", "workspace:write"])
    saved = api.post(
        f"/api/v1/jobs/{finished.id}/results/summary.json/workspace", headers=auth, json={"folder": "api-copy"}
    )
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["path"] == "api-copy/summary.json"
    refused = api.post(
        f"/api/v1/jobs/{finished.id}/results/summary.json/workspace",
        headers=bearer(committed_app, job_owner, ["jobs:read"]),
        json={},
    )
    assert refused.status_code == 403

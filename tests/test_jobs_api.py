"""The jobs API and the notebook client's Jobs, against the real Slurm: submit, follow, results, faults, scopes."""

import json

import pytest
from esap_client import Basket, ESAPError, Jobs

from tests.fixtures import bearer, make_user
from tests.job_setup import run_in_thread, wait_for

ALL = ("jobs:read", "jobs:write", "basket:read", "basket:write")


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return slurm_config


def token(app, user, scopes=ALL) -> str:
    return bearer(app, user, scopes)["Authorization"].removeprefix("Bearer ")


def test_a_notebook_job_with_two_items_and_a_parameter_runs_and_its_result_comes_back_through_the_basket(
    committed_app, slurm_esap, job_owner, job_software, two_basket_items, worker
):
    client = Jobs(slurm_esap.url, token(committed_app, job_owner))

    job = client.submit("slurm", job_software, items=two_basket_items, parameters={"scale": 3})
    assert job["phase"] == "PENDING" and job["notebook"] == "notebooks/sum.ipynb" and len(job["data"]) == 2

    done = client.wait(job, timeout=240)  # the real `esap worker` submits and follows it

    assert done["phase"] == "COMPLETED", done["message"]
    assert [phase["phase"] for phase in done["phases"]][-1] == "COMPLETED" and done["details"]["commit"]
    assert {result["name"] for result in client.results(job)} == {"sum.ipynb", "summary.json"}
    assert "the job is done" in client.log(job)
    assert [listed["id"] for listed in client.list(phase="COMPLETED", facility="slurm")] == [job["id"]]
    assert client.list(phase="ERROR") == [] and client.list(facility="slurm-closed") == []
    notebook = client.fetch(job, "sum.ipynb", directory=committed_app.instance_path)
    assert "scale = 3" in notebook.read_text()

    assert client.add_to_basket(job, "summary.json") is True
    reader = Basket(slurm_esap.url, token(committed_app, job_owner, ["basket:read"]))  # a session's token
    [item] = [item for item in reader.items(kind="data") if item["archive"] == "esap-jobs"]
    assert item["fetch"]["method"] == "esap" and item["payload"]["job"] == job["id"]
    summary = json.loads(reader.fetch(item, directory=committed_app.instance_path).read_text())
    assert summary == {"items": ["ivo://test/first", "ivo://test/second"], "total": 19.5, "scale": 3}
    assert json.loads(client.fetch(item, directory=committed_app.instance_path).read_text()) == summary
    with pytest.raises(ESAPError, match="jobs:read"):  # not in the basket: a basket token cannot read it
        reader.fetch(
            {**item, "fetch": {"method": "esap", "url": item["fetch"]["url"].replace("summary.json", "sum.ipynb")}}
        )


def test_a_failing_script_ends_in_error_and_says_why(committed_app, slurm_esap, job_owner, job_software):
    client = Jobs(slurm_esap.url, token(committed_app, job_owner))
    job = client.submit("slurm", job_software, items=[], command="bash fail.sh")
    run_in_thread(committed_app, job["id"], slurm_esap.url)

    done = client.wait(job, timeout=180, poll=0.5)

    assert done["phase"] == "ERROR" and "(exit code 3)" in done["message"]
    assert "the input is bad" in client.log(job) and client.results(job) == []
    with pytest.raises(ESAPError, match="409 .*has ended \\(ERROR\\)"):
        client.cancel(job)


def test_a_job_is_cancelled_through_the_api_once(committed_app, slurm_esap, job_owner, job_software):
    client = Jobs(slurm_esap.url, token(committed_app, job_owner))
    job = client.submit("slurm", job_software, items=[], command="bash sleep.sh")
    follower = run_in_thread(committed_app, job["id"], slurm_esap.url)
    assert wait_for(committed_app, job["id"], {"EXECUTING", "ERROR", "COMPLETED"}).phase == "EXECUTING"

    cancelled = client.cancel(job)
    follower.join(timeout=60)

    assert cancelled["phase"] == "ABORTED" and client.get(job)["message"] == "Cancelled by you"
    with pytest.raises(ESAPError, match="409 .*nothing to cancel"):
        client.cancel(job)
    assert client.wait(job, timeout=1)["phase"] == "ABORTED"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"facility": "nowhere"}, "There is no facility named 'nowhere'"),
        ({"facility": "hub"}, "A hub does not run jobs"),
        ({"parameters": {"two words": 1}}, "'two words' is not a parameter name"),
        ({"options": {"cpus": 99}}, "Cores must be at most"),
        ({"options": {"cpus": "many"}}, "Cores"),
        ({"command": "ls", "notebook": "n.ipynb"}, "not both"),
        ({"items": [123456]}, "Your basket has no data items with ids 123456"),
        ({"software_id": "x"}, "Not a valid integer"),
        ({"facility": None}, "Field may not be null"),
    ],
)
def test_bad_input_is_a_400_with_a_plain_message(committed_app, slurm_esap, job_owner, job_software, body, message):
    client = committed_app.test_client()
    answer = client.post(
        "/api/v1/jobs",
        json={"software_id": job_software, "facility": "slurm", **body},
        headers=bearer(committed_app, job_owner, ALL),
    )
    assert answer.status_code == 400
    assert message in json.dumps(answer.get_json())
    assert client.get("/api/v1/jobs", headers=bearer(committed_app, job_owner, ALL)).get_json() == {"jobs": []}


def test_unknown_jobs_and_filters(committed_app, slurm_esap, job_owner):
    client, headers = committed_app.test_client(), bearer(committed_app, job_owner, ALL)
    assert client.get("/api/v1/jobs/nope", headers=headers).status_code == 404
    assert client.get("/api/v1/jobs/nope", headers=headers).get_json()["message"] == "You have no job with that id."
    assert client.post("/api/v1/jobs/nope/cancel", headers=headers).status_code == 404
    assert client.get("/api/v1/jobs?phase=DONE", headers=headers).status_code == 400
    assert client.post("/api/v1/jobs/nope/basket", json={}, headers=headers).status_code == 400


def test_scopes_are_enforced(committed_app, slurm_esap, job_owner, job_software):
    client = committed_app.test_client()
    writer = Jobs(slurm_esap.url, token(committed_app, job_owner))
    job = writer.submit("slurm", job_software, items=[], command="ls")
    reading = bearer(committed_app, job_owner, ["jobs:read"])
    basket_only = bearer(committed_app, job_owner, ["basket:read", "basket:write"])
    other = bearer(committed_app, make_user(committed_app, "someone-else"), ALL)
    path = f"/api/v1/jobs/{job['id']}"

    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer esap_nonsense"}).status_code == 401
    assert client.get(path, headers=reading).status_code == 200
    refused = client.post("/api/v1/jobs", json={"facility": "slurm"}, headers=reading)
    assert refused.status_code == 403 and "jobs:write" in refused.get_json()["message"]
    assert client.post(f"{path}/cancel", headers=reading).status_code == 403
    assert client.get("/api/v1/jobs", headers=basket_only).status_code == 403
    assert client.get(f"{path}/log", headers=basket_only).status_code == 403
    assert client.get(f"{path}/results/x.txt", headers=basket_only).status_code == 403
    assert client.post(f"{path}/basket", json={"name": "x"}, headers=reading).status_code == 403  # basket:write too
    assert client.get(path, headers=other).status_code == 404  # someone else's job does not exist for them
    assert client.post(f"{path}/cancel", headers=other).status_code == 404
    assert client.get(f"{path}/results/x.txt", headers=other).status_code == 404
    assert client.post(f"{path}/cancel", headers=bearer(committed_app, job_owner, ALL)).status_code == 200


def test_the_openapi_document_describes_the_jobs_api(committed_app, slurm_esap):
    spec = committed_app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/cancel", "/api/v1/jobs/{job_id}/log"):
        assert path in spec["paths"]
    assert "/api/v1/jobs/{job_id}/results/{name}" in spec["paths"]
    assert "409" in spec["paths"]["/api/v1/jobs/{job_id}/cancel"]["post"]["responses"]

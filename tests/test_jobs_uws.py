"""Jobs on a real IVOA UWS service (GAVO DaCHS) through ESAP's core: no software of ours, the service's parameters."""

import json

import pytest

from esap_core import jobs
from tests.fixtures import bearer, make_user
from tests.job_setup import reload, run_in_thread, run_job, wait_for

SCOPES = ("jobs:read", "jobs:write", "basket:read", "basket:write")


@pytest.fixture
def committed_config() -> dict:
    return {"load_plugins": ["uws"]}


@pytest.fixture
def words(uws_words) -> str:
    return uws_words


@pytest.fixture
def counter(committed_app):
    return make_user(committed_app, "counter")


def submit(app, user, status: int = 202, **body):
    answer = app.test_client().post("/api/v1/jobs", json=body, headers=bearer(app, user, SCOPES))
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def test_a_uws_job_runs_with_the_service_parameters_and_its_result_goes_to_the_basket(committed_app, words, counter):
    job = submit(
        committed_app, counter, facility=words, parameters={"text": "Hello World", "repeat": 2, "case": "upper"}
    )
    assert job["software"]["name"] == "Word counter" and job["parameters"]["repeat"] == 2

    done = run_job(committed_app, job["id"], "http://127.0.0.1:9")

    assert done.phase == "COMPLETED", done.message
    assert [result["name"] for result in done.results] == ["count.txt", "result"]
    client, headers = committed_app.test_client(), bearer(committed_app, counter, SCOPES)
    assert client.get(f"/api/v1/jobs/{job['id']}/results/count.txt", headers=headers).data == b"4\n"
    added = client.post(f"/api/v1/jobs/{job['id']}/basket", json={"name": "result"}, headers=headers)
    assert added.get_json() == {"added": 1}
    reader = bearer(committed_app, counter, ["basket:read"])
    items = client.get("/api/v1/basket/items?kind=data", headers=reader).get_json()["items"]
    [item] = [item for item in items if item["archive"] == "esap-jobs"]
    path = "/" + item["fetch"]["url"].split("/", 3)[3]
    assert client.get(path, headers=reader).data == b"HELLO\nWORLD\nHELLO\nWORLD\n"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"parameters": {"text": "x", "colour": "red"}}, "Unknown parameter colour; known: text, repeat"),
        ({"parameters": {"text": "x", "case": "middle"}}, "middle"),
        ({"parameters": {"text": "x", "repeat": "often"}}, "repeat"),
        ({"software_id": 1, "parameters": {"text": "x"}}, "There is no software with id 1"),
    ],
)
def test_parameters_the_service_does_not_take_are_refused(committed_app, words, counter, body, message):
    answer = submit(committed_app, counter, status=400, facility=words, **body)
    assert message in json.dumps(answer)


def test_a_uws_job_is_aborted_through_esap(committed_app, words, counter):
    job = submit(committed_app, counter, facility=words, parameters={"text": "long", "seconds": 60})
    follower = run_in_thread(committed_app, job["id"], "http://127.0.0.1:9")
    assert wait_for(committed_app, job["id"], {"EXECUTING", "ERROR", "COMPLETED"}, timeout=60).phase == "EXECUTING"

    with committed_app.app_context():
        jobs.cancel(reload(committed_app, job["id"]))
    follower.join(timeout=60)

    assert not follower.is_alive() and reload(committed_app, job["id"]).phase == "ABORTED"


def test_a_failing_uws_job_ends_in_error_with_the_service_message(committed_app, words, counter):
    job = submit(committed_app, counter, facility=words, parameters={"text": "x", "fail": True})
    done = run_job(committed_app, job["id"], "http://127.0.0.1:9")
    assert done.phase == "ERROR" and done.message == "the job was asked to fail"

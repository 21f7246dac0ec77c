"""ESAP's own jobs as an IVOA UWS 1.1 service (/uws/jobs), over real HTTP with a real `esap worker`.

The jobs run on the real DaCHS's UWS word counter, so the chain is a UWS client → ESAP's UWS
→ ESAP's worker → DaCHS's UWS. pyvo (a client nobody here wrote) drives one job through;
a second test walks a job with plain HTTP exactly as the UWS 1.1 document's REST binding
says: 303 after every change, WAIT blocking, parameters of a PENDING job, ABORT, DELETE.
"""

from __future__ import annotations

import re
import time
from xml.etree import ElementTree

import pytest
import requests
from pyvo.dal import AsyncTAPJob, DALQueryError
from pyvo.io.uws import parse_job_list

from esap_core import accounts, basket
from tests.fixtures import LiveServer, bearer, csrf_headers, make_user
from tests.job_setup import reload

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
SCOPES = ("jobs:read", "jobs:write", "basket:read")


@pytest.fixture
def committed_config() -> dict:
    return {"load_plugins": ["uws"], "job_queued_timeout": 120.0, "job_executing_timeout": 300.0}


@pytest.fixture
def esap(committed_app):
    with LiveServer(committed_app) as server:
        yield server


@pytest.fixture
def researcher(committed_app):
    return make_user(committed_app, "uws_researcher")


@pytest.fixture
def http(committed_app, researcher) -> requests.Session:
    session = requests.Session()
    session.headers.update(bearer(committed_app, researcher, SCOPES))
    return session


def create(http, esap, **fields) -> requests.Response:
    return http.post(f"{esap.url}/uws/jobs", data=fields, allow_redirects=False)


def created(http, esap, **fields) -> str:
    answer = create(http, esap, **fields)
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def job_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def job_document(http, url: str, **params) -> ElementTree.Element:
    answer = http.get(url, params=params)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml"), answer.text
    return ElementTree.fromstring(answer.content)


def phase_of(http, url: str) -> str:
    answer = http.get(f"{url}/phase")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return answer.text


def wait_until(http, url: str, phases: set[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while (phase := phase_of(http, url)) not in phases and time.monotonic() < deadline:
        time.sleep(0.3)
    return phase


def test_pyvo_runs_waits_reads_results_and_deletes_an_esap_job(committed_app, uws_words, worker, esap, http):
    url = created(http, esap, facility=uws_words, text="Hello World", repeat="2", case="upper", RUNID="pyvo-run")

    job = AsyncTAPJob(url, session=http, delete=False)
    assert job.phase == "PENDING" and job.job.runid == "pyvo-run"
    job.run()
    job.wait(timeout=120)

    assert job.phase == "COMPLETED", job.job.errorsummary
    assert sorted(result.id_ for result in job.results) == ["count.txt", "result"]
    assert job.job.ownerid == "uws_researcher" and job.job.starttime is not None and job.job.endtime is not None
    parameters = {parameter.id_: parameter.content for parameter in job.job.parameters}
    assert parameters["text"] == "Hello World" and parameters["repeat"] == "2" and parameters["facility"] == "words"
    counted = {result.id_: result.href for result in job.results}["count.txt"]
    assert http.get(counted).content == b"4\n"
    assert http.get(job.result_uri).content == b"HELLO\nWORLD\nHELLO\nWORLD\n"  # the result named "result", as TAP

    listed = parse_job_list(http.get(f"{esap.url}/uws/jobs", stream=True).raw.read)
    assert [(ref.jobid, ref.phase) for ref in listed] == [(job.job_id, "COMPLETED")]

    job.delete()
    assert http.get(url).status_code == 404
    assert list(parse_job_list(http.get(f"{esap.url}/uws/jobs", stream=True).raw.read)) == []


def test_a_job_walked_with_plain_http_as_uws_11_says(committed_app, uws_words, worker, esap, http):
    url = created(http, esap, facility=uws_words, text="slow words", seconds="60", RUNID="walk")
    assert url == f"{esap.url}/uws/jobs/{job_id(url)}"
    document = job_document(http, url)
    assert document.tag == f"{UWS}job" and document.get("version") == "1.1"
    assert document.findtext(f"{UWS}phase") == "PENDING" and document.findtext(f"{UWS}runId") == "walk"

    started = time.monotonic()  # WAIT blocks on a PENDING job that does not change, for as long as asked
    assert job_document(http, url, WAIT="1").findtext(f"{UWS}phase") == "PENDING"
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()  # ... but not when it is in another phase than the one named
    assert job_document(http, url, WAIT="20", PHASE="EXECUTING").findtext(f"{UWS}phase") == "PENDING"
    assert time.monotonic() - started < 5

    changed = http.post(f"{url}/parameters", data={"repeat": "3"}, allow_redirects=False)
    assert changed.status_code == 303 and changed.headers["Location"] == url
    assert http.get(f"{url}/parameters/repeat").text == "3"
    assert http.get(f"{url}/parameters/text").text == "slow words"

    ran = http.post(f"{url}/phase", data={"PHASE": "RUN"}, allow_redirects=False)
    assert ran.status_code == 303 and ran.headers["Location"] == url
    document = job_document(http, url, WAIT="30", PHASE="PENDING")  # returns once it leaves PENDING
    assert document.findtext(f"{UWS}phase") in {"QUEUED", "EXECUTING"}
    assert wait_until(http, url, {"EXECUTING", "COMPLETED", "ERROR"}) == "EXECUTING"
    late = http.post(f"{url}/parameters", data={"repeat": "4"}, allow_redirects=False)
    assert late.status_code == 409 and "only a job waiting to be run" in late.json()["message"]

    aborted = http.post(f"{url}/phase", data={"PHASE": "ABORT"}, allow_redirects=False)
    assert aborted.status_code == 303 and aborted.headers["Location"] == url
    assert phase_of(http, url) == "ABORTED"
    document = job_document(http, url)
    assert document.find(f"{UWS}endTime").text and document.find(f"{UWS}errorSummary") is not None
    again = http.post(f"{url}/phase", data={"PHASE": "RUN"}, allow_redirects=False)
    assert again.status_code == 409 and "cannot run again" in again.json()["message"]

    gone = http.delete(url, allow_redirects=False)
    assert gone.status_code == 303 and gone.headers["Location"] == f"{esap.url}/uws/jobs"
    assert http.get(url).status_code == 404


def test_the_job_list_filters_by_phase_time_and_count_and_post_action_deletes(committed_app, uws_words, esap, http):
    first = created(http, esap, facility=uws_words, text="one")
    time.sleep(0.05)
    second = created(http, esap, facility=uws_words, text="two")
    root = ElementTree.fromstring(http.get(f"{esap.url}/uws/jobs").content)
    refs = root.findall(f"{UWS}jobref")
    assert root.get("version") == "1.1" and [ref.get("id") for ref in refs] == [job_id(second), job_id(first)]
    assert refs[0].get("{http://www.w3.org/1999/xlink}href") == second
    assert len(parse_job_list(http.get(f"{esap.url}/uws/jobs", params={"LAST": "1"}, stream=True).raw.read)) == 1
    running = ElementTree.fromstring(http.get(f"{esap.url}/uws/jobs", params={"PHASE": "EXECUTING"}).content)
    assert running.findall(f"{UWS}jobref") == []
    created_at = ElementTree.fromstring(http.get(first).content).findtext(f"{UWS}creationTime")
    later = ElementTree.fromstring(http.get(f"{esap.url}/uws/jobs", params={"AFTER": created_at}).content)
    assert [ref.get("id") for ref in later.findall(f"{UWS}jobref")] == [job_id(second)]

    by_software = http.get(f"{esap.url}/api/v1/jobs", params={"software": "Word counter"}).json()["jobs"]
    assert [job["id"] for job in by_software] == [job_id(second), job_id(first)]
    assert http.get(f"{esap.url}/api/v1/jobs", params={"software": "Other"}).json() == {"jobs": []}

    deleted = http.post(first, data={"ACTION": "DELETE"}, allow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["Location"] == f"{esap.url}/uws/jobs"
    assert http.get(first).status_code == 404 and http.get(second).status_code == 200


@pytest.mark.parametrize(
    "fields, status, message",
    [
        ({"text": "x"}, 400, "Say which job facility runs it"),
        ({"facility": "nowhere", "text": "x"}, 400, "nowhere"),
        ({"facility": "words", "text": "x", "colour": "red"}, 400, "Unknown parameter colour"),
        ({"facility": "words", "text": "x", "software": "many"}, 400, "'software' takes a software id"),
        ({"facility": "words", "text": "x", "items": "1,two"}, 400, "'items' takes basket item ids"),
        ({"facility": "words", "text": "x", "items": "99999999999999999999"}, 400, "'items' takes basket item ids"),
        ({"facility": "words", "text": "x", "PHASE": "ABORT"}, 400, "PENDING or with PHASE=RUN"),
        ({"facility": "words", "text": "x", "RUNID": "r" * 65}, 400, "A run id is at most 64 characters"),
    ],
)
def test_a_job_that_cannot_be_made_is_a_400_that_says_why_and_keeps_nothing(
    committed_app, uws_words, esap, http, fields, status, message
):
    answer = create(http, esap, **fields)
    assert answer.status_code == status and message in answer.json()["message"]
    assert ElementTree.fromstring(http.get(f"{esap.url}/uws/jobs").content).findall(f"{UWS}jobref") == []


@pytest.mark.parametrize(
    "query, message",
    [
        ("WAIT=soon", "WAIT takes a number of seconds"),
        ("WAIT=-5", "WAIT takes a number of seconds"),
        ("WAIT=nan", "WAIT takes a number of seconds"),
    ],
)
def test_bad_wait_values_are_400s(committed_app, uws_words, esap, http, query, message):
    url = created(http, esap, facility=uws_words, text="x")
    answer = http.get(f"{url}?{query}")
    assert answer.status_code == 400 and message in answer.json()["message"]


@pytest.mark.parametrize(
    "query, message",
    [("PHASE=FINISHED", "is not a UWS phase"), ("LAST=0", "LAST takes"), ("AFTER=yesterday", "AFTER takes")],
)
def test_bad_list_filters_are_400s(committed_app, esap, http, query, message):
    answer = http.get(f"{esap.url}/uws/jobs?{query}")
    assert answer.status_code == 400 and message in answer.json()["message"]


def test_tokens_keep_to_their_scopes_and_users_to_their_jobs(committed_app, uws_words, esap, http, researcher):
    url = created(http, esap, facility=uws_words, text="mine")
    reader = bearer(committed_app, make_user(committed_app, "uws_reader"), ["jobs:read"])
    own_reader = bearer(committed_app, researcher, ["jobs:read"])

    forged = requests.get(f"{esap.url}/uws/jobs", headers={"Authorization": "Bearer esap_forged"})
    assert forged.status_code == 401 and forged.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(url, headers=reader).status_code == 404  # another user's job is not there for them
    refused = requests.post(f"{url}/phase", data={"PHASE": "RUN"}, headers=own_reader, allow_redirects=False)
    assert refused.status_code == 403 and "jobs:write" in refused.json()["message"]
    later = {"DESTRUCTION": "2030-01-01T00:00:00Z"}
    assert requests.post(f"{url}/destruction", data=later, headers=own_reader).status_code == 403
    assert requests.delete(url, headers=own_reader, allow_redirects=False).status_code == 403
    assert phase_of(http, url) == "PENDING"


def test_a_job_made_with_phase_run_runs_at_once_and_its_result_reaches_the_basket(
    committed_app, uws_words, worker, esap, http, researcher
):
    url = created(http, esap, facility=uws_words, text="at once", PHASE="RUN")
    job = AsyncTAPJob(url, session=http, delete=False)
    assert job.phase in {"PENDING", "QUEUED", "EXECUTING", "COMPLETED"}
    job.wait(timeout=120)
    assert job.phase == "COMPLETED"
    assert http.get(f"{url}/quote").text == "" and http.get(f"{url}/owner").text == "uws_researcher"
    assert http.get(f"{url}/executionduration").text == "300"
    kept = http.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "10"}, allow_redirects=False)
    assert kept.status_code == 303 and http.get(f"{url}/executionduration").text == "300"  # ESAP's bound stays
    assert http.get(f"{url}/error").status_code == 404

    # the same job through the jobs API: its result into the basket
    added = http.post(f"{esap.url}/api/v1/jobs/{job.job_id}/basket", json={"name": "result"})
    assert added.status_code == 403  # this token has no basket:write
    writer = bearer(committed_app, researcher, ["jobs:read", "basket:write"])
    added = requests.post(f"{esap.url}/api/v1/jobs/{job.job_id}/basket", json={"name": "result"}, headers=writer)
    assert added.json() == {"added": 1}
    with committed_app.app_context():
        assert [item.identifier for item in basket.all_items(researcher)] == [f"{job.job_id}/result"]


def test_pyvo_sees_an_esap_job_that_failed_as_an_error_with_its_message(committed_app, uws_words, worker, esap, http):
    url = created(http, esap, facility=uws_words, text="x", fail="True", PHASE="RUN")
    job = AsyncTAPJob(url, session=http, delete=False)
    job.wait(timeout=120)
    assert job.phase == "ERROR"
    assert http.get(f"{url}/error").text == "the job was asked to fail"
    with pytest.raises(Exception, match="the job was asked to fail"):
        job.raise_if_error()
    with pytest.raises(DALQueryError, match="the job was asked to fail"):
        job.fetch_result()  # no result: pyvo asks the job and reports its error


def test_a_job_made_to_wait_is_run_from_its_page(committed_app, uws_words, esap):
    with committed_app.app_context():
        owner = accounts.local_user()  # the pages run in the local single-user mode
    token = bearer(committed_app, owner, SCOPES)
    url = requests.post(f"{esap.url}/uws/jobs", data={"facility": uws_words, "text": "x"}, headers=token).url
    client = committed_app.test_client()
    status = (
        client.get(f"/jobs/{job_id(url)}").get_data(as_text=True).split('id="job-status"')[1].split("</section>")[0]
    )
    assert 'id="run-job"' in status and "PHASE=RUN" in status and "hx-get" not in status  # it waits: nothing to follow

    answer = client.post(f"/jobs/{job_id(url)}/run", headers=csrf_headers(client))

    assert answer.status_code == 302
    job = reload(committed_app, job_id(url))
    assert job.queue_id and job.phase == "PENDING" and job.message == "Waiting for a worker to submit it"
    page = client.get(f"/jobs/{job_id(url)}").get_data(as_text=True)
    assert 'id="run-job"' not in page and f'hx-get="/jobs/{job_id(url)}/status"' in page


def test_a_job_runs_again_with_edited_parameters_from_its_page(committed_app, uws_words, esap):
    with committed_app.app_context():
        owner = accounts.local_user()
    token = bearer(committed_app, owner, SCOPES)
    fields = {"facility": uws_words, "text": "first words", "repeat": "2", "case": "upper"}
    url = requests.post(f"{esap.url}/uws/jobs", data=fields, headers=token).url
    client = committed_app.test_client()
    page = client.get(f"/jobs/{job_id(url)}").get_data(as_text=True)
    again = page.split('id="run-again"')[1].split("</details>")[0]
    # what the browser sends: the form's hidden fields and its text, edited by the researcher
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', again))
    written = re.search(r'name="parameters"[^>]*>([^<]*)</textarea>', again).group(1)
    first = reload(committed_app, job_id(url)).parameters  # as given, and the service's defaults for the rest
    assert {"text = first words", "repeat = 2", "case = upper"} <= set(written.splitlines())
    form["parameters"] = written.replace("first words", "second words")

    answer = client.post(re.search(r'<form method="post" action="([^"]+)">', again).group(1), data=form)

    assert answer.status_code == 302
    new = reload(committed_app, answer.headers["Location"].rsplit("/", 1)[1])
    assert new.id != job_id(url) and new.facility["name"] == uws_words
    assert new.parameters == {**first, "text": "second words"}

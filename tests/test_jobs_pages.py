"""Job pages on the real Slurm: "Run as a job" at checkout, a job page following itself, results to the basket."""

import re

import pytest

from esap_core import accounts
from tests.fixtures import csrf_headers
from tests.job_setup import reload, run_job


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return slurm_config


@pytest.fixture
def job_owner(committed_app):
    """The pages run in the local single-user mode: its user owns the basket and the jobs."""
    with committed_app.app_context():
        return accounts.local_user()


def test_run_as_a_job_from_the_checkout_to_its_results_in_the_basket(
    committed_app, slurm_esap, job_owner, job_software, two_basket_items
):
    client = committed_app.test_client()
    csrf = csrf_headers(client)["X-CSRF-Token"]
    checkout = client.get(f"/launches/new?software={job_software}&facility=slurm").get_data(as_text=True)
    assert 'id="run-job"' in checkout and 'value="notebooks/sum.ipynb"' in checkout
    assert 'name="parameters"' in checkout and 'name="option-time_limit"' in checkout
    assert ">Launch</button>" not in checkout  # Slurm starts no sessions: the job form alone
    assert ">Jobs</a>" in checkout  # the navigation

    answer = client.post(
        "/jobs",
        data={
            "csrf_token": csrf,
            "software_id": job_software,
            "facility": "slurm",
            "notebook": "notebooks/sum.ipynb",
            "parameters": "scale = 3\nlabel = <b>bold</b>",
            "option-time_limit": "5",
            "items": two_basket_items,
        },
    )
    assert answer.status_code == 302
    job_id = answer.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "PENDING" in page and f'hx-get="/jobs/{job_id}/status"' in page and 'id="cancel-job"' in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page  # the researcher's text, escaped
    assert reload(committed_app, job_id).parameters == {"scale": 3, "label": "<b>bold</b>"}

    done = run_job(committed_app, job_id, slurm_esap.url)
    assert done.phase == "COMPLETED", done.message

    fragment = client.get(f"/jobs/{job_id}/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-get" not in fragment.split("</section>")[0]  # an ended job stops following itself
    assert "<code>summary.json</code>" in fragment and "Add to basket" in fragment and "cancel-job" not in fragment
    assert 'hx-swap-oob="true"' in fragment and "the job is done" in fragment
    added = client.post(f"/jobs/{job_id}/basket", data={"csrf_token": csrf, "name": "summary.json"})
    assert added.status_code == 302
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert re.search(r"<code>summary.json</code>.*in your basket", page, re.S)
    assert "summary.json (job" in client.get("/basket").get_data(as_text=True)

    listed = client.get("/jobs?phase=COMPLETED&facility=slurm").get_data(as_text=True)
    assert f"/jobs/{job_id}" in listed
    assert f"/jobs/{job_id}" not in client.get("/jobs?phase=ERROR").get_data(as_text=True)
    assert client.get("/jobs?phase=DONE").status_code == 400
    ended = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    assert ended.status_code == 409 and "nothing to cancel" in ended.get_data(as_text=True)

    again = client.post(f"/jobs/{job_id}/again", data={"csrf_token": csrf})
    assert again.status_code == 302
    copy = reload(committed_app, again.headers["Location"].rsplit("/", 1)[-1])
    assert copy.parameters == done.parameters and copy.notebook == done.notebook and len(copy.data) == 2


def test_cancel_from_the_page_and_bad_forms(committed_app, slurm_esap, job_owner, job_software):
    client = committed_app.test_client()
    csrf = csrf_headers(client)["X-CSRF-Token"]
    form = {"csrf_token": csrf, "software_id": job_software, "facility": "slurm", "command": "bash sleep.sh"}
    for extra, message in (
        ({"parameters": "no equals sign"}, "has no &#39;=&#39;"),
        ({"parameters": "9lives = 1"}, "is not a parameter name"),
        ({"facility": "hub"}, "A hub does not run jobs"),
        ({"option-cpus": "0"}, "Cores must be at least 1"),
    ):
        refused = client.post("/jobs", data={**form, **extra})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), extra
    answer = client.post("/jobs", data=form)
    job_id = answer.headers["Location"].rsplit("/", 1)[-1]
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf}).status_code == 302
    assert reload(committed_app, job_id).phase == "ABORTED"
    assert "Cancelled by you" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert client.get("/jobs/unknown").status_code == 404


def test_a_session_facility_offers_no_job(committed_app, slurm_esap, job_owner, job_software):
    page = committed_app.test_client().get(f"/launches/new?software={job_software}&facility=hub").get_data(as_text=True)
    assert 'id="run-job"' not in page and ">Launch</button>" in page

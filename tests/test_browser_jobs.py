"""A job in Chromium: basket → software → the real Slurm → "Run as a job" → the job page follows it to COMPLETED →
a result into the basket, read back by the notebook client."""

import json

import pytest
from esap_client import Basket
from playwright.sync_api import expect

from esap_core import accounts
from tests.fixtures import bearer

pytestmark = pytest.mark.browser


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return slurm_config


@pytest.fixture
def job_owner(committed_app):
    with committed_app.app_context():
        return accounts.local_user()


def test_run_as_a_job_from_the_basket_to_a_result_in_the_basket(
    page, committed_app, slurm_esap, job_owner, job_software, two_basket_items, worker, tmp_path
):
    page.goto(f"{slurm_esap.url}/basket")
    expect(page.get_by_role("rowheader", name="First")).to_be_visible()
    page.goto(f"{slurm_esap.url}/launches/new")
    page.get_by_role("link", name="Job analysis").click()
    page.get_by_role("link", name="Test Slurm").click()
    expect(page.get_by_role("heading", name="Run as a job")).to_be_visible()
    expect(page.get_by_role("button", name="Launch")).to_have_count(0)
    page.get_by_label("name = value").fill("scale = 3")
    page.get_by_role("button", name="Run as a job").click()

    page.wait_for_url(f"{slurm_esap.url}/jobs/*")
    expect(page.locator("#job-phase")).to_have_text("COMPLETED", timeout=240_000)  # the page follows the worker
    expect(page.locator("#job-status .phases")).to_contain_text("QUEUED")
    expect(page.locator("#build-log")).to_contain_text("the job is done")
    page.set_viewport_size({"width": 390, "height": 800})
    # Only the content: the navigation bar of every page is wider than 390 px (the layout's, not the job page's).
    wider = "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 390).length"
    assert page.evaluate(wider) == 0  # long log lines, names and messages wrap
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    result = page.locator("#job-status .results li", has_text="summary.json")
    result.get_by_role("button", name="Add to basket").click()
    expect(page.locator("#job-status .results li", has_text="summary.json")).to_contain_text("in your basket")

    job_id = page.url.rsplit("/", 1)[-1].split("#")[0]
    token = bearer(committed_app, job_owner, ["basket:read"])["Authorization"].removeprefix("Bearer ")
    reader = Basket(slurm_esap.url, token)
    [item] = [item for item in reader.items(kind="data") if item["archive"] == "esap-jobs"]
    assert item["payload"]["job"] == job_id
    assert json.loads(reader.fetch(item, directory=tmp_path).read_text())["total"] == 19.5

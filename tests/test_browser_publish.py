"""Workspace → publish → the DOI on the launch page, in Chromium, through the zenodo plugin and its local Zenodo.

The researcher uploads a result into their workspace, keeps their Zenodo token on their profile,
opens the launch, reviews what ESAP prefilled, publishes, and lands back on the launch with the
DOI shown. The publish page passes axe-core and stays within the window at both sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from esap_core.app import create_app
from esap_core.models import Launch
from tests.accessibility import described, serious_violations
from tests.fixtures import LiveServer, emptied_after
from tests.folder_storage import FolderStoragePlugin
from tests.test_browser_layout import SIZES

pytestmark = pytest.mark.browser


@pytest.fixture
def esap(database_url, redis_url, tmp_path, zenodo_deposit_api) -> Iterator[tuple[LiveServer, str]]:
    config = {
        "database_url": database_url,
        "redis_url": redis_url,
        "instance_path": str(tmp_path / "instance"),
        "load_plugins": ["zenodo"],
        "plugins": {"zenodo": {"url": zenodo_deposit_api.url, "title": "Local Zenodo"}},
    }
    app = create_app(config, extra_plugins=[("folder-storage", FolderStoragePlugin(tmp_path / "storage"))])
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        with app.app_context():
            from esap_core import accounts

            db = app.extensions["esap.db"].session
            launch = Launch(
                id="browserpublish1",
                user_id=accounts.local_user().id,
                facility={"name": "hub", "kind": "binderhub", "url": "http://127.0.0.1:1", "title": "Local hub"},
                software={"name": "Spectra", "repository_url": "https://github.com/esap-tests/spectra", "ref": "main"},
                data=[{"title": "obs 1", "archive": "test-obs", "identifier": "ivo://esap.test/obs?1"}],
                details={"commit": "0123456789abcdef"},
                status="ready",
                phase="ready",
                phases=[{"phase": "ready", "at": "2026-12-04T10:00:00", "message": "Ready"}],
                created=datetime(2026, 12, 4, 10, tzinfo=UTC),
            )
            db.add(launch)
            db.commit()
        yield server, launch.id


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_a_result_goes_from_the_workspace_to_zenodo_and_its_doi_to_the_launch(
    page, esap, zenodo_deposit_api, tmp_path, size
):
    server, launch_id = esap
    page.set_viewport_size(size)
    result = tmp_path / "spectrum.csv"
    result.write_text("wavelength,flux\n500,1.5\n")

    page.goto(server.url + "/workspace")
    page.get_by_label(re.compile("^File")).set_input_files(str(result))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".workspace-files")).to_contain_text("spectrum.csv")

    page.goto(server.url + "/profile")
    page.get_by_label(re.compile("Local Zenodo")).fill(zenodo_deposit_api.token)
    page.locator("#publisher-tokens").get_by_role("button", name="Save").click()
    expect(page.locator("#publisher-tokens")).to_contain_text("kept")

    page.goto(server.url + f"/launches/{launch_id}")
    page.get_by_role("button", name="Publish results with a DOI").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish results")
    expect(page.get_by_label("Title")).to_have_value("Results of Spectra")
    page.wait_for_load_state("networkidle")
    violations = serious_violations(page, server.url)
    assert not violations, described(violations)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths

    page.get_by_label("spectrum.csv").check()
    page.get_by_role("button", name="Publish").click()

    expect(page).to_have_url(re.compile(rf"/launches/{launch_id}#publications$"))
    doi = page.locator("#publications .doi a")
    expect(doi).to_have_text(re.compile(r"^10\.5281/zenodo\.\d+$"))
    record_id = doi.inner_text().rpartition(".")[2]
    published = zenodo_deposit_api.server.published(record_id)
    assert sorted(published.files) == ["ro-crate-metadata.json", "spectrum.csv"]
    assert published.metadata["title"] == "Results of Spectra"

"""A fresh install's defaults in Chromium, at both sizes: a position and a target search answer.

The configuration is empty but for the plugins: the public defaults apply (ASTRON VO and GAVO
Data Center ObsCore, CDS Sesame, mybinder.org), each pointed at its local stand-in (the test
DaCHS's ObsCore table, the local name resolver, the local BinderHub), as in test_public_defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core.app import create_app
from tests.fixtures import LiveServer, emptied_after
from tests.test_browser_layout import SIZES
from tests.test_public_defaults import PLUGINS, stand_ins  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh(database_url, redis_url, tmp_path, stand_ins) -> Iterator[LiveServer]:  # noqa: F811
    base = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**base, "load_plugins": PLUGINS, "offline": False})
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_the_default_archives_answer_a_position_and_a_target_search(page, fresh, dachs, size):
    page.set_viewport_size(size)
    ra, dec = dachs.cluster_centre
    for fill in ({"RA (deg)": str(ra), "Dec (deg)": str(dec)}, {"Target": "M31"}):
        page.goto(fresh.url + "/data")
        for label, value in fill.items():
            page.get_by_label(label).fill(value)
        page.get_by_label("Radius (deg)").fill("0.3")
        page.get_by_role("button", name="Search all archives").click()
        for archive in ("astron-vo", "gavo-dc"):
            panel = page.locator(f"section.archive-panel[data-archive={archive}]")
            expect(panel.locator("tbody tr").first).to_be_visible(timeout=15_000)
            expect(panel).to_have_attribute("data-status", "ok")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (fill, widths)

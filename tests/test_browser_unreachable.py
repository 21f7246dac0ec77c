"""An archive that cannot be reached, in Chromium at both sizes: one plain sentence, the detail apart.

ESAP asks every archive one question; one of them is on a closed loopback port. Its panel says
which service cannot be reached and what that means, once; "Technical detail" opens on the
socket's own words; the page stays within the window.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core.app import create_app
from tests.data_settings import RUCIO_PASSWORD_VARIABLE, data_config
from tests.fixtures import LiveServer, emptied_after
from tests.test_browser_layout import SIZES

pytestmark = pytest.mark.browser


@pytest.fixture
def unreachable(database_url, redis_url, tmp_path, dachs, sesame, rucio_server, monkeypatch) -> Iterator[tuple]:
    monkeypatch.setenv(RUCIO_PASSWORD_VARIABLE, rucio_server.password)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = data_config(dachs, sesame, rucio_server)
    gone_url = f"http://127.0.0.1:{port}/tap"
    config["plugins"]["vo"]["services"].append(
        {"name": "gone-obs", "title": "Gone observations", "tap_url": gone_url, "table": "ivoa.obscore"}
    )
    base = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**base, "archive_timeout": 10, **config})
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server, gone_url


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_an_unreachable_archive_reads_plainly_beside_one_that_answers(page, unreachable, size):
    server, gone_url = unreachable
    page.set_viewport_size(size)
    page.goto(server.url + "/data")
    page.get_by_label("RA (deg)").fill("10")
    page.get_by_label("Dec (deg)").fill("10")
    page.get_by_role("button", name="Search all archives").click()

    gone = page.locator("#panel-gone-obs")
    message = gone.locator(".archive-message")
    expect(message).to_have_text(f"{gone_url} cannot be reached: it is down, or this machine has no network to it.")
    expect(page.locator("#panel-test-obs table")).to_be_visible()  # the others answer as ever
    detail = gone.locator("details.technical")
    expect(detail.locator("pre")).to_be_hidden()  # closed until asked for
    detail.locator("summary").click()
    expect(detail.locator("pre")).to_have_text(re.compile("refused", re.IGNORECASE))
    assert gone.inner_text().count("cannot be reached") == 1
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths

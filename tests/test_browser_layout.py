"""Pages that survive real data: 1,000-character titles, identifiers and descriptions stay within the screen.

Every page a researcher sees with an archive's or a user's long text is opened at a desktop
(1280x800) and a phone (390x844) size; none may be wider than the window, and a shortened value
can still be read in full.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from esap_core import Archive, Column, DataItem, QueryKind, ResultPage, hookimpl
from esap_core.app import create_app
from esap_core.models import BasketItem, Job, Launch, RegisteredFacility, Software
from tests.fixtures import LiveServer, emptied_after

pytestmark = pytest.mark.browser

LONG = "Long" + "x" * 996  # 1,000 characters without a space: nothing to break at but the CSS
SIZES = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
ROWS = [
    {"name": "S1", "obs_id": "obs-" + LONG[:990], "note": "A short note", "mag": 12.5},
    {"name": "S2", "obs_id": "obs-2", "note": LONG, "mag": 13.5},
]


class LongValues(Archive):
    """An archive whose rows carry 1,000-character values, as real archives' identifiers and notes can."""

    name = "long-values"
    title = "Long values"
    description = "Rows with very long values"
    answers = frozenset({QueryKind.KEYWORDS})

    def search(self, query, page, user, timeout):
        columns = [Column("name"), Column("obs_id", ucd="meta.id"), Column("note"), Column("mag", "mag")]
        return ResultPage(columns, [dict(row) for row in ROWS], page_size=50, total=len(ROWS))

    def basket_item(self, row):
        return DataItem(row["obs_id"], row["note"], {"method": "http", "url": f"https://archive.invalid/{row['name']}"})


class Plugin:
    @hookimpl
    def register_archives(self, register):
        register(LongValues())


@pytest.fixture
def esap(database_url, redis_url, tmp_path) -> Iterator[tuple[LiveServer, dict]]:
    """ESAP on loopback with a long-valued archive, and a basket, software, a facility and a launch of long values."""
    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": ["binderhub"]}, extra_plugins=[("long-values", Plugin())])
    app.testing = True
    with emptied_after(app), LiveServer(app) as server:
        yield server, seed(app)


def seed(app) -> dict:
    with app.app_context():
        from esap_core import accounts

        db = app.extensions["esap.db"].session
        user = accounts.local_user()
        software = Software(
            source="git",
            external_id="long",
            name=LONG[:500],
            description=LONG,
            repository_url="https://example.org/" + LONG[:900],
            ref="r" * 255,
            keywords=[LONG[:200]],
            ui_type="notebook",
        )
        facility = RegisteredFacility(
            name="long-binder",
            kind="binderhub",
            title=LONG[:255],
            description=LONG,
            url="http://127.0.0.1:9/" + LONG[:900],
            check_up=False,
            check_message=LONG,
            check_metadata={"failure_detail": LONG},  # behind the "Technical detail" disclosure
        )
        db.add_all([software, facility])
        db.flush()
        for number in range(2):
            db.add(
                BasketItem(
                    user_id=user.id,
                    kind="data",
                    archive="long-values",
                    identifier=f"{number}-{LONG}"[:1000],
                    title=f"{number} {LONG}"[:1000],
                    fetch={"method": "http", "url": "https://archive.invalid/" + LONG[:900]},
                )
            )
        snapshot = {"name": software.name, "repository_url": software.repository_url, "ref": software.ref}
        launch = Launch(
            id="l" * 32,
            user_id=user.id,
            facility_id=facility.id,
            software_id=software.id,
            facility={"name": facility.name, "kind": "binderhub", "url": facility.url, "title": facility.title},
            software=snapshot,
            data=[{"title": LONG, "archive": "long-values", "identifier": LONG}],
            options={"note": LONG},
            status="failed",
            phase="failed",
            phases=[{"phase": "failed", "at": "2026-01-01T00:00:00", "message": LONG, "detail": LONG}],
            log=LONG,
            details={"image": LONG},
            message=LONG,
        )
        db.add(launch)
        job = Job(
            id="j" * 16,
            user_id=user.id,
            facility={"name": "long-slurm", "kind": "slurm", "url": facility.url, "title": LONG[:255]},
            software=snapshot,
            data=[{"id": 1, "title": LONG, "archive": "long-values", "identifier": LONG}],
            parameters={"note": LONG},
            options={"queue": LONG},
            command=LONG,
            phase="ERROR",
            phases=[{"phase": "ERROR", "at": "2026-01-01T00:00:00", "message": LONG}],
            log=LONG,
            message=LONG,
            details={"commit": LONG},
            queue_id="done",
        )
        db.add(job)
        db.commit()
        return {"software": software.id, "facility": facility.name, "launch": launch.id, "job": job.id}


def pages(ids: dict) -> dict[str, str]:
    """Each page that shows the long values, and what must be on it (so an error page cannot pass)."""
    return {
        "/basket": "0 Longxxx",
        f"/launches/new?software={ids['software']}&facility={ids['facility']}": "Data to take along",
        f"/launches/{ids['launch']}": "What was launched",
        "/launches": "Your launches",
        "/data?keywords=long": "A short note",
        "/data/archives/long-values?search=1": "A short note",
        "/software": "Longxxx",
        f"/software/{ids['software']}": "Longxxx",
        "/facilities": "Longxxx",
        "/jobs": "Your jobs",
        f"/jobs/{ids['job']}": "What runs",
    }


WIDER_THAN_THE_WINDOW = """() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    past: [...document.querySelectorAll("body *")]
        .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1
            && !element.closest(".table-scroll, details:not([open]) > :not(summary)"))
        .slice(0, 5).map((element) => element.tagName + "." + element.className),
})"""


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size['width']}px")
def test_long_values_stay_within_the_window(page, esap, size):
    server, ids = esap
    page.set_viewport_size(size)
    for path, expected in pages(ids).items():
        page.goto(server.url + path)
        expect(page.locator("#content")).to_contain_text(expected)
        page.wait_for_load_state("networkidle")
        measured = page.evaluate(WIDER_THAN_THE_WINDOW)
        assert measured["scrollWidth"] <= measured["innerWidth"], (path, measured)


def test_a_shortened_cell_can_be_read_in_full(page, esap):
    server, _ids = esap
    page.set_viewport_size(SIZES[1])
    page.goto(server.url + "/data/archives/long-values?search=1")
    row = page.get_by_role("row", name=re.compile("^Select row 2"))
    cell = row.locator("details.long-value")
    expect(cell).to_have_count(1)
    cell.locator("summary").focus()
    page.keyboard.press("Enter")  # the keyboard opens it, as a click does
    expect(cell).to_have_attribute("open", "")
    expect(cell).to_contain_text(LONG)


def test_the_navigation_wraps_on_a_phone(page, esap):
    server, _ids = esap
    page.set_viewport_size(SIZES[1])
    page.goto(server.url + "/")
    navigation = page.get_by_role("navigation", name="Main")
    for name in ("Data", "Software", "Facilities", "Launches", "Plugins", "API docs"):
        link = navigation.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_breadcrumb_before_a_long_name_stays_whole(page, esap):
    server, ids = esap
    page.set_viewport_size(SIZES[1])
    page.goto(f"{server.url}/software/{ids['software']}")
    step = page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Software")
    box = step.bounding_box()
    assert box["width"] > 60, box  # "Software" on one line, not a column of letters


def test_checkout_lines_do_not_overlap(page, esap):
    """Each item's "archive · method" line sits below its title and above the next item's checkbox."""
    server, ids = esap
    for size in SIZES:
        page.set_viewport_size(size)
        page.goto(f"{server.url}/launches/new?software={ids['software']}&facility={ids['facility']}")
        labels = page.locator("fieldset:has(legend:text('Data to take along')) label")
        expect(labels).to_have_count(2)
        title = labels.nth(0).locator(".item-title").bounding_box()
        origin = labels.nth(0).locator("small").bounding_box()
        next_checkbox = labels.nth(1).locator("input").bounding_box()
        assert title["y"] + title["height"] <= origin["y"] + 0.5, (size, title, origin)
        assert origin["y"] + origin["height"] <= next_checkbox["y"] + 0.5, (size, origin, next_checkbox)

"""Small things a newcomer meets first, in Chromium: the site icon, the facility form's own validation, and an
empty data search that says what to fill in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser_layout import esap  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser


def test_the_site_icon_answers(page, esap):  # noqa: F811
    server, _ids = esap
    icons = []
    page.on("response", lambda response: icons.append(response) if "favicon" in response.url else None)
    page.goto(server.url + "/")
    answer = page.request.get(server.url + "/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in answer.text()
    linked = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(server.url + linked).status == 200
    assert all(response.status == 200 for response in icons)


def test_the_facility_name_pattern_validates_in_the_browser(page, esap):  # noqa: F811
    server, _ids = esap
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server.url + "/facilities/new")
    name = page.locator("input[name=name]")
    name.fill("Not A Name!")
    # An invalid pattern (Chromium compiles it with the `v` flag) is ignored: everything would be valid.
    assert name.evaluate("(input) => input.validity.patternMismatch") is True
    assert name.evaluate("(input) => input.checkValidity()") is False
    for good in ("my-binderhub", "hub2", "a"):
        name.fill(good)
        assert name.evaluate("(input) => input.checkValidity()") is True, good
    for bad in ("-hub", "Hub", "my_hub"):
        name.fill(bad)
        assert name.evaluate("(input) => input.validity.patternMismatch") is True, bad
    assert not [error for error in errors if "pattern" in error]


def test_an_empty_data_search_says_what_to_fill_in(page, esap):  # noqa: F811
    server, _ids = esap
    page.goto(server.url + "/data")
    page.get_by_role("button", name="Search all archives").click()
    alert = page.locator("form.fanout-form").get_by_role("alert")
    expect(alert).to_have_text("Give a position (RA, Dec and radius), a target name, or keywords.")
    assert page.locator("section.archive-panel").count() == 0

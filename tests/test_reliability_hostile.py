"""Hostile content: HTML and JavaScript in facility titles, software, basket titles and archive results stay text.

Chromium shows each page that carries them; no payload may run (``window.__pwned`` stays
unset), none may turn into markup (no element it would create, no CSP violation reported),
and the text is shown as written. The API returns the same strings, unchanged, as data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from esap_core import Archive, DataItem, QueryField, QueryKind, ResultPage, Settings, hookimpl
from esap_core.app import create_app
from esap_core.hookspecs import Column, UserContext
from esap_core.models import Software
from tests.fixtures import LiveServer, bearer, emptied_after

pytestmark = pytest.mark.browser

PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>"><svg onload=window.__pwned=1>'
INJECTED = "img[src='x'], svg[onload], [onerror], main script:not([src])"


class HostileArchive(Archive):
    name, title, description = "hostile", "Hostile archive", "Answers with markup in its results"
    fields = (QueryField("keywords", "Keywords", required=True),)
    answers = frozenset({QueryKind.KEYWORDS})

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        rows = [{"id": "row-1", "title": PAYLOAD, "link": "javascript:window.__pwned=1"}]
        return ResultPage(columns=[Column("id"), Column("title", description=PAYLOAD), Column("link")], rows=rows)

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        return DataItem(identifier=row["id"], title=row["title"], fetch={"method": "http", "url": "http://127.0.0.1/"})


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    register(HostileArchive())


@pytest.fixture
def hostile_app(database_url, redis_url, tmp_path, binderhub_server) -> Iterator:
    config = {
        "database_url": database_url,
        "redis_url": redis_url,
        "instance_path": str(tmp_path / "instance"),
        "load_plugins": ["binderhub"],
        "facilities": [
            {
                "name": "hostile-hub",
                "kind": "binderhub",
                "title": PAYLOAD,
                "description": PAYLOAD,
                "url": binderhub_server.url,
            }
        ],
    }
    with emptied_after(create_app(config, extra_plugins=[("hostile-archive", sys.modules[__name__])])) as app:
        yield app


def test_payloads_render_inert_and_the_api_returns_them_as_data(page, hostile_app):
    from esap_core import accounts

    with hostile_app.app_context():
        session = hostile_app.extensions["esap.db"].session
        software = Software(
            source="git",
            external_id="hostile",
            name=f"Tool {PAYLOAD}",
            description=PAYLOAD,
            repository_url="https://github.com/esap-tests/hostile",
            ref="main",
        )
        session.add(software)
        session.commit()
        software_id = software.id
        local = accounts.local_user()
    auth = bearer(hostile_app, local, ["basket:read", "basket:write", "launch"])
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    with LiveServer(hostile_app) as server:
        item = {"archive": "hostile", "identifier": "x1", "title": PAYLOAD, "payload": {"note": PAYLOAD}}
        assert requests.post(f"{server.url}/api/v1/basket/items", json=item, headers=auth, timeout=10).ok
        api = {
            "basket": requests.get(f"{server.url}/api/v1/basket/items", headers=auth, timeout=10).json(),
            "facility": requests.get(f"{server.url}/api/v1/facilities/hostile-hub", headers=auth, timeout=10).json(),
            "software": requests.get(f"{server.url}/api/v1/software/{software_id}", headers=auth, timeout=10).json(),
            "search": requests.get(
                f"{server.url}/api/v1/search", params={"keywords": "x"}, headers=auth, timeout=30
            ).json(),
        }
        assert api["basket"]["items"][0]["title"] == PAYLOAD and api["basket"]["items"][0]["payload"]["note"] == PAYLOAD
        assert api["facility"]["title"] == PAYLOAD
        assert api["software"]["description"] == PAYLOAD
        (outcome,) = api["search"]["archives"]
        assert outcome["result"]["rows"][0]["title"] == PAYLOAD

        for path in (
            "/basket",
            "/facilities",
            f"/software/{software_id}",
            "/software?q=Tool",
            "/launches/new",
            "/data?keywords=m31",
        ):
            page.goto(server.url + path)
            expect(page.locator("main")).to_contain_text(PAYLOAD)  # shown as the text it is
            assert page.locator(INJECTED).count() == 0, path
            assert page.evaluate("() => window.__pwned === undefined"), path
        assert page.locator("a[href^='javascript:']").count() == 0
    assert violations == []  # no payload even became markup that the CSP had to block

"""Facilities: registration from config, admins and users (no SSRF), health checks, finding by software kind."""

import pytest

from esap_core.models import RegisteredFacility
from tests.fixtures import bearer, csrf_headers, make_user


@pytest.fixture
def hub_app(app_factory, binderhub_server):
    config_facility = {
        "name": "local-binder",
        "kind": "binderhub",
        "title": "Local BinderHub",
        "url": binderhub_server.url,
        "description": "Builds repositories",
    }
    return app_factory(
        installed=True, load_plugins=["binderhub"], facilities=[config_facility], oidc={"admin_groups": ["admins"]}
    )


def test_config_facilities_are_public_and_checked(hub_app, db):
    auth = bearer(hub_app, make_user(hub_app, "alice"), ["launch"])
    client = hub_app.test_client()
    client.get("/api/v1/health")  # the configured facilities are registered when the app first serves
    facility = db.query(RegisteredFacility).filter_by(name="local-binder").one()
    assert facility.owner_id is None and facility.from_config
    health = client.post("/api/v1/facilities/local-binder/check", headers=auth).get_json()
    assert health["up"] is True and health["version"] == "1.0.0+esap.local" and health["latency_ms"] >= 0
    listed = client.get("/api/v1/facilities?ui_type=notebook&q=builds", headers=auth).get_json()["facilities"]
    assert [f["name"] for f in listed] == ["local-binder"] and listed[0]["accepts"] == ["notebook", "web"]
    assert client.get("/api/v1/facilities?ui_type=desktop", headers=auth).get_json()["facilities"] == []


def test_down_facility_gets_a_down_badge(app_factory, db):
    app = app_factory(
        installed=True,
        load_plugins=["binderhub"],
        facilities=[{"name": "gone", "kind": "binderhub", "url": "http://127.0.0.1:1"}],
    )
    client = app.test_client()
    headers = {**csrf_headers(client), "HX-Request": "true"}
    badge = client.post("/facilities/gone/check", headers=headers).get_data(as_text=True)
    assert "down" in badge and "cannot be reached" in badge
    assert "Technical detail" in badge and "refused" in badge  # the socket's words, behind a disclosure
    assert db.query(RegisteredFacility).filter_by(name="gone").one().check_up is False


def test_admins_may_register_public_facilities_anywhere(hub_app, binderhub_server):
    admin = make_user(hub_app, "root", admin=True)
    client = hub_app.test_client()
    answer = client.post(
        "/api/v1/facilities",
        headers=bearer(hub_app, admin, ["launch"]),
        json={"name": "inside", "kind": "binderhub", "url": binderhub_server.url, "public": True},
    )
    assert answer.status_code == 201 and answer.get_json()["private"] is False
    other = bearer(hub_app, make_user(hub_app, "carol"), ["launch"])
    assert client.get("/api/v1/facilities/inside", headers=other).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Bad Name", "kind": "binderhub", "url": "https://x.example"}, "lower-case letters"),
        ({"name": "ok", "kind": "teleporter", "url": "https://x.example"}, "Unknown facility type 'teleporter'"),
        ({"name": "ok", "kind": "binderhub", "url": "ftp://x.example"}, "needs an http(s) URL"),
        (
            {"name": "local-binder", "kind": "binderhub", "url": "https://binder.example.org"},
            "already a facility named",
        ),
    ],
)
def test_bad_registrations(hub_app, body, message):
    auth = bearer(hub_app, make_user(hub_app, "dan", admin=True), ["launch"])
    answer = hub_app.test_client().post("/api/v1/facilities", headers=auth, json=body)
    assert answer.status_code == 400 and message in answer.get_json()["message"]


def test_facility_pages(hub_app):
    client = hub_app.test_client()
    page = client.get("/facilities?ui_type=notebook").get_data(as_text=True)
    assert "Local BinderHub" in page and "not checked yet" in page
    assert "Local BinderHub" not in client.get("/facilities?ui_type=desktop").get_data(as_text=True)
    headers = csrf_headers(client)
    form = {
        "kind": "binderhub",
        "name": "mine",
        "url": "https://binder.example.org/",
        "csrf_token": headers["X-CSRF-Token"],
    }
    assert client.post("/facilities/new", data=form).status_code == 302  # the local user is an admin: no SSRF rule
    again = client.post("/facilities/new", data=form)
    assert again.status_code == 400 and "already a facility named" in again.get_data(as_text=True)

"""No server-side request forgery: a user's facility never makes ESAP reach an internal address.

Every shape here points only at loopback, where a listener counts what arrives; the shapes
that need a public address (a parser mismatch, redirects from outside, DNS rebinding) run
in a loopback-only network namespace (tests/netns, run by test_outbound.py).
"""

import pytest

from esap_core import facilities, launches, schedule
from esap_core.models import Launch, RegisteredFacility, Software
from tests.fixtures import bearer, csrf_headers, make_user, sign_in
from tests.listeners import Listener


@pytest.fixture
def listener():
    with Listener() as inside:
        yield inside


@pytest.fixture
def app(app_factory):
    return app_factory(installed=True, load_plugins=["jupyterhub", "rosetta"])


def loopback_shapes(port: int) -> list[str]:
    """Ways of writing 127.0.0.1 that a check reading the text might let through."""
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://127.1:{port}/",
        f"http://0x7f.0.0.1:{port}/",
        f"http://user@127.0.0.1:{port}/",
        f"HTTP://LOCALHOST:{port}/",
    ]


def test_registration_refuses_every_shape_of_loopback(app, listener, db):
    client = app.test_client()
    auth = bearer(app, make_user(app, "mallory"), ["launch"])
    for number, url in enumerate(loopback_shapes(listener.port)):
        answer = client.post(
            "/api/v1/facilities", headers=auth, json={"name": f"f{number}", "kind": "jupyterhub", "url": url}
        )
        assert answer.status_code == 400, url
        assert "Traceback" not in answer.get_data(as_text=True)
    for key in ("hub_url", "api_url"):  # the settings the type declares as URLs are checked the same way
        answer = client.post(
            "/api/v1/facilities",
            headers=auth,
            json={"name": "s", "kind": "jupyterhub", "url": listener.url, "settings": {key: listener.url}},
        )
        assert answer.status_code == 400
    assert db.query(RegisteredFacility).count() == 0
    assert listener.connections == []


def private_facility(app, db, owner, kind: str, url: str, settings: dict) -> RegisteredFacility:
    """A user's facility already in the database (registered before a fix, or re-pointed by DNS since)."""
    with app.app_context():  # its typed secrets kept as registration keeps them
        settings = facilities.sealed(facilities.types()[kind], settings)
    facility = RegisteredFacility(
        name=f"{kind}-x", kind=kind, title="Mine", url=url, settings=settings, owner_id=owner.id
    )
    db.add(facility)
    db.commit()
    return facility


def cases(listener: Listener, decoy: Listener) -> list[tuple[str, str, dict]]:
    """(kind, url, settings): the facility URL on loopback, or a setting that overrides a harmless-looking URL."""
    return [
        ("jupyterhub", listener.url, {"api_token": "t"}),
        ("jupyterhub", decoy.url, {"api_token": "t", "hub_url": listener.url}),
        ("jupyterhub", decoy.url, {"api_token": "t", "api_url": listener.url + "/hub/api"}),
        ("rosetta", listener.url, {"username": "u", "password": "p"}),
        ("rosetta", decoy.url, {"username": "u", "password": "p", "url": listener.url}),
    ]


@pytest.mark.parametrize("case", range(5))
def test_the_check_the_scheduled_check_and_a_launch_reach_nothing_inside(app, listener, db, case):
    with Listener() as decoy:
        kind, url, settings = cases(listener, decoy)[case]
        owner = make_user(app, "mallory")
        facility = private_facility(app, db, owner, kind, url, settings)
        client = app.test_client()
        auth = bearer(app, owner, ["launch"])

        with app.app_context():  # a new facility is due: the worker checks it unprompted
            assert schedule.check_due_facilities() == 1
        db.expire_all()
        assert db.get(RegisteredFacility, facility.id).check_up is False

        checked = client.post(f"/api/v1/facilities/{facility.name}/check", headers=auth).get_json()
        assert checked["up"] is False and "internal address" in checked["message"]

        ui = "desktop" if kind == "rosetta" else "notebook"
        software = Software(source="git", external_id=kind, name="S", repository_url="https://x.example/r", ui_type=ui)
        db.add(software)
        db.commit()
        answer = client.post(
            "/api/v1/launches", headers=auth, json={"software_id": software.id, "facility": facility.name}
        )
        assert answer.status_code == 202, answer.get_json()
        with app.app_context():
            launches.run(answer.get_json()["id"], "http://127.0.0.1:5999")
        launch = db.get(Launch, answer.get_json()["id"])
        db.refresh(launch)
        assert launch.status == "failed" and "internal address" in launch.message
        assert listener.connections == [] and decoy.connections == []


def test_the_page_check_shows_the_refusal_without_the_answer(oidc_app_factory, listener, db):
    app = oidc_app_factory(installed=True, load_plugins=["jupyterhub"])
    owner = make_user(app, "mallory")
    facility = private_facility(app, db, owner, "jupyterhub", listener.url, {"api_token": "t"})
    client = app.test_client()
    sign_in(app, client, owner)
    badge = client.post(f"/facilities/{facility.name}/check", headers={**csrf_headers(client), "HX-Request": "true"})
    text = badge.get_data(as_text=True)
    assert "internal address" in text and "secret" not in text and listener.connections == []


def test_an_admins_facility_may_be_inside(oidc_app_factory, listener, db):
    """Admins and the configuration are trusted with internal addresses (an institute's own hub)."""
    app = oidc_app_factory(installed=True, load_plugins=["jupyterhub"])
    admin = make_user(app, "root", admin=True)
    answer = app.test_client().post(
        "/api/v1/facilities",
        headers=bearer(app, admin, ["launch"]),
        json={
            "name": "inside",
            "kind": "jupyterhub",
            "url": listener.url,
            "public": True,
            "settings": {"api_token": "t"},
        },
    )
    assert answer.status_code == 201
    app.test_client().post("/api/v1/facilities/inside/check", headers=bearer(app, admin, ["launch"]))
    assert len(listener.connections) >= 1  # the guard let it through: the listener stands in for a real hub


def test_private_facilities_may_be_inside_where_the_operator_allows(app_factory, listener, db):
    app = app_factory(installed=True, load_plugins=["jupyterhub"], allow_private_facilities=True)
    owner = make_user(app, "erin")
    auth = bearer(app, owner, ["launch"])
    answer = app.test_client().post(
        "/api/v1/facilities",
        headers=auth,
        json={"name": "mine", "kind": "jupyterhub", "url": listener.url, "settings": {"api_token": "t"}},
    )
    assert answer.status_code == 201
    app.test_client().post("/api/v1/facilities/mine/check", headers=auth)
    assert len(listener.connections) >= 1

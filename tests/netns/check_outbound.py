"""The outbound guard against the shapes that need a public address: parser mismatch, redirects, DNS rebinding.

Runs inside a loopback-only network namespace (see conftest.py here); "public" servers
listen on a globally routable address assigned to ``lo``.
"""

import contextlib

import pytest
import requests

from esap_core import AddressRefused, GuardedSession, outbound
from esap_core.models import RegisteredFacility
from tests.fixtures import bearer, make_user
from tests.listeners import Listener, Redirector
from tests.netns.conftest import INTERNAL, PUBLIC


@pytest.fixture
def inside():
    with Listener() as listener:
        yield listener


@pytest.fixture
def outside():
    with Listener(PUBLIC) as listener:
        yield listener


def test_a_public_address_is_reached(outside):
    with GuardedSession(private_ok=False) as http:
        assert http.get(outside.url + "/ok").json()["version"] == "inside"
    assert len(outside.connections) == 1


def test_a_redirect_from_outside_to_inside_is_refused_at_the_hop(inside):
    with Redirector(inside.url, host=PUBLIC) as redirector, GuardedSession(private_ok=False) as http:
        with pytest.raises(AddressRefused, match="internal address"):
            http.get(redirector.url + "/health")
        assert redirector.requests == 1
    assert inside.connections == []


def test_a_redirect_between_public_hosts_is_followed(outside):
    with Redirector(outside.url, host=PUBLIC) as redirector, GuardedSession(private_ok=False) as http:
        assert http.get(redirector.url + "/a").status_code == 200
    assert len(outside.connections) == 1


def test_a_url_that_parsers_read_differently_goes_nowhere(inside, outside):
    for url in (
        f"http://127.0.0.1:{inside.port}\\@{PUBLIC}:{outside.port}/",
        f"http://{PUBLIC}:{outside.port}\\@127.0.0.1:{inside.port}/",
        f"http://127.0.0.1:{inside.port}@{PUBLIC}:{outside.port}/",
        f"http://{PUBLIC}:{outside.port}#@127.0.0.1:{inside.port}/",
    ):
        with GuardedSession(private_ok=False) as http, contextlib.suppress(requests.RequestException):
            http.get(url)  # refused (an AddressRefused is a RequestException), or sent to the public host
    assert inside.connections == []


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_ranges_are_refused(address):
    with Listener(address) as internal, GuardedSession(private_ok=False) as http:
        with pytest.raises(AddressRefused, match=f"internal address \\({address}\\)"):
            http.get(internal.url + "/latest/meta-data/")
        assert internal.connections == []


def test_a_name_is_resolved_once_and_its_checked_address_is_the_one_connected_to(monkeypatch, inside, outside):
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])
    monkeypatch.setattr(outbound, "resolver", lambda host, port: next(answers))
    with GuardedSession(private_ok=False) as http:
        assert http.get(f"http://rebinding.test:{outside.port}/").status_code == 200  # pinned to the first answer
        with pytest.raises(AddressRefused):
            http.get(f"http://rebinding.test:{inside.port}/")  # the name now points inside
    assert inside.connections == [] and len(outside.connections) == 1
    assert b"Host: rebinding.test" in outside.connections[0]  # the name travels, the checked address is dialled


@pytest.fixture
def app(app_factory):
    return app_factory(installed=True, load_plugins=["jupyterhub"])


def test_a_facility_re_pointed_by_dns_after_registration_reaches_nothing(app, db, monkeypatch, inside):
    where = {"hub.example.org": [PUBLIC]}
    monkeypatch.setattr(outbound, "resolver", lambda host, port: where[host])
    client = app.test_client()
    auth = bearer(app, make_user(app, "mallory"), ["launch"])
    url = f"http://hub.example.org:{inside.port}/"
    registered = client.post(
        "/api/v1/facilities",
        headers=auth,
        json={"name": "mine", "kind": "jupyterhub", "url": url, "settings": {"api_token": "t"}},
    )
    assert registered.status_code == 201  # public when registered
    where["hub.example.org"] = ["127.0.0.1"]  # then the name moves inside
    checked = client.post("/api/v1/facilities/mine/check", headers=auth).get_json()
    assert checked["up"] is False and "internal address (127.0.0.1)" in checked["message"]
    assert inside.connections == []


def test_registration_refuses_settings_that_point_inside_and_urls_parsers_disagree_on(app, db, inside, outside):
    client = app.test_client()
    auth = bearer(app, make_user(app, "mallory"), ["launch"])
    bodies = [
        {"url": outside.url, "settings": {"api_token": "t", "hub_url": inside.url}},
        {"url": outside.url, "settings": {"api_token": "t", "api_url": inside.url + "/hub/api"}},
        {"url": f"http://127.0.0.1:{inside.port}\\@{PUBLIC}:{outside.port}/", "settings": {"api_token": "t"}},
    ]
    for body in bodies:
        answer = client.post("/api/v1/facilities", headers=auth, json={"name": "mine", "kind": "jupyterhub", **body})
        assert answer.status_code == 400, body
    assert db.query(RegisteredFacility).count() == 0
    assert inside.connections == [] and outside.connections == []


@pytest.fixture
def binderhub_app(app_factory, binderhub_server):
    """As tests/test_facilities.py's hub_app: one configured facility, the local BinderHub."""
    config_facility = {
        "name": "local-binder",
        "kind": "binderhub",
        "title": "Local BinderHub",
        "url": binderhub_server.url,
    }
    return app_factory(
        installed=True, load_plugins=["binderhub"], facilities=[config_facility], oidc={"admin_groups": ["admins"]}
    )


def test_users_register_private_facilities_without_reaching_inside(binderhub_app, binderhub_server, db):
    hub_app = binderhub_app
    client = hub_app.test_client()
    user = make_user(hub_app, "bob")
    auth = bearer(hub_app, user, ["launch"])
    internal = client.post(
        "/api/v1/facilities", headers=auth, json={"name": "sneaky", "kind": "binderhub", "url": binderhub_server.url}
    )
    assert internal.status_code == 400 and "internal address (127.0.0.1)" in internal.get_json()["message"]
    for url in ("http://10.1.2.3/", "http://169.254.169.254/latest", "http://[::1]:8080/"):
        answer = client.post("/api/v1/facilities", headers=auth, json={"name": "x", "kind": "binderhub", "url": url})
        assert answer.status_code == 400 and "internal address" in answer.get_json()["message"], url
    secret = client.post(
        "/api/v1/facilities",
        headers=auth,
        json={
            "name": "reader",
            "kind": "binderhub",
            "url": "https://93.184.215.14/",
            "settings": {"token": {"env": "HOME"}},
        },
    )
    assert secret.status_code == 400 and "Only admins can reference secrets" in secret.get_json()["message"]
    public = client.post(
        "/api/v1/facilities",
        headers=auth,
        json={"name": "mine", "kind": "binderhub", "url": "https://93.184.215.14/", "public": True},
    )
    assert public.status_code == 403
    mine = client.post(
        "/api/v1/facilities", headers=auth, json={"name": "mine", "kind": "binderhub", "url": "https://93.184.215.14/"}
    )
    assert mine.status_code == 201 and mine.get_json()["private"] is True
    assert db.query(RegisteredFacility).count() == 2

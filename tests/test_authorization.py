"""Who may touch what: user A never reads or changes user B's things, through pages or the API.

Each row of ``CASES`` is one kind of thing a user owns: how B makes one, and the requests
by which A tries to reach it. Later features add their rows here.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from esap_core import basket, tokens
from esap_core.models import Launch, RegisteredFacility
from tests.fixtures import bearer, csrf_headers, make_user, sign_in


@dataclass
class Case:
    name: str
    make: Callable  # (app, owner) -> the thing's id
    attempts: list[tuple[str, str]]  # (method, URL with {id}) that must fail for someone else
    listing: str  # a URL listing the caller's things, which must not show the other's
    marker: Callable  # (id) -> text that would reveal the thing in the listing


def make_token(app, owner):
    with app.app_context():
        token, _ = tokens.create(owner, "owner-only-token", ["basket:read"], None, admin=False)
    return token.id


def make_basket_item(app, owner):
    with app.app_context():
        basket.add(owner, [basket.data_item("secret-archive", "owner-only-item", "Owner's item")])
        return basket.all_items(owner)[0].id


def make_launch(app, owner):
    with app.app_context():
        session = app.extensions["esap.db"].session
        launch = Launch(
            id="owners0launch",
            user_id=owner.id,
            facility={"name": "f", "title": "F"},
            software={"name": "owner-only-software"},
            data=[{"title": "owner-only-data"}],
        )
        session.add(launch)
        session.commit()
        return launch.id


def make_private_facility(app, owner):
    with app.app_context():
        session = app.extensions["esap.db"].session
        session.add(
            RegisteredFacility(
                name="owner-only-facility", kind="binderhub", title="Mine", url="https://x.example", owner_id=owner.id
            )
        )
        session.commit()
    return "owner-only-facility"


CASES = [
    Case(
        "api token",
        make_token,
        [("DELETE", "/api/v1/tokens/{id}"), ("POST", "/profile/tokens/{id}/revoke")],
        "/api/v1/tokens",
        lambda _id: "owner-only-token",
    ),
    Case(
        "basket item",
        make_basket_item,
        [
            ("GET", "/api/v1/basket/items/{id}"),
            ("DELETE", "/api/v1/basket/items/{id}"),
            ("POST", "/basket/items/{id}/remove"),
        ],
        "/api/v1/basket?format=csv",
        lambda _id: "owner-only-item",
    ),
    Case(
        "launch",
        make_launch,
        [
            ("GET", "/api/v1/launches/{id}"),
            ("GET", "/api/v1/launches/{id}/data"),
            ("POST", "/api/v1/launches/{id}/stop"),
            ("GET", "/launches/{id}"),
            ("GET", "/launches/{id}/status"),
            ("POST", "/launches/{id}/again"),
            ("POST", "/launches/{id}/stop"),
        ],
        "/api/v1/launches",
        lambda _id: "owner-only-software",
    ),
    Case(
        "private facility",
        make_private_facility,
        [
            ("GET", "/api/v1/facilities/{id}"),
            ("DELETE", "/api/v1/facilities/{id}"),
            ("POST", "/api/v1/facilities/{id}/check"),
            ("POST", "/facilities/{id}/check"),
        ],
        "/api/v1/facilities",
        lambda _id: "owner-only-facility",
    ),
]


@pytest.fixture
def oidc_app(oidc_app_factory):
    return oidc_app_factory(installed=True, load_plugins=["binderhub"])  # the private facility's kind


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_other_users_things_are_out_of_reach(oidc_app, case):
    owner, other = make_user(oidc_app, "owner"), make_user(oidc_app, "intruder")
    thing = case.make(oidc_app, owner)
    client = oidc_app.test_client()
    everything = [scope for scope in tokens.SCOPES if scope != "admin"]  # isolation, not scopes, must stop them
    intruder = bearer(oidc_app, other, everything)
    sign_in(oidc_app, client, other)
    for method, url in case.attempts:
        path = url.format(id=thing)
        through_api = client.open(path, method=method, headers=intruder)
        through_session = client.open(path, method=method, headers=csrf_headers(client))
        assert through_api.status_code == 404, (method, path)
        assert through_session.status_code == 404, (method, path)
    listed = client.get(case.listing, headers=intruder).get_data(as_text=True)
    assert case.marker(thing) not in listed
    owners_view = client.get(case.listing, headers=bearer(oidc_app, owner, everything)).get_data(as_text=True)
    assert case.marker(thing) in owners_view  # it is still there, untouched

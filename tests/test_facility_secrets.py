"""A researcher's own facility keeps the token they typed encrypted: never stored or shown in clear."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from esap_core import Secret, facilities
from esap_core.models import RegisteredFacility
from tests.fixtures import bearer, make_user


@pytest.fixture
def own_hub(app_factory, jupyterhub):
    # Private facilities on this machine's addresses, as a site that runs its hubs inside allows.
    app = app_factory(installed=True, load_plugins=["jupyterhub"], allow_private_facilities=True)
    auth = bearer(app, make_user(app, "erin"), ["launch"])
    body = {"name": "erins-hub", "kind": "jupyterhub", "url": jupyterhub.hub_url, "settings": {"api_token": "t0ken"}}
    answer = app.test_client().post("/api/v1/facilities", headers=auth, json=body)
    assert answer.status_code == 201, answer.get_json()
    return app, auth, answer.get_json()


def test_the_typed_token_is_stored_encrypted_and_never_shown_back(own_hub, connection):
    app, auth, created = own_hub
    assert created["settings"] == {"api_token": "(kept encrypted)"}
    shown = app.test_client().get("/api/v1/facilities/erins-hub", headers=auth).get_json()
    assert shown["settings"] == {"api_token": "(kept encrypted)"}
    stored = connection.execute(text("SELECT settings FROM facilities WHERE name = 'erins-hub'")).scalar_one()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert "t0ken" not in json.dumps(stored) and set(stored["api_token"]) == {"sealed"}


def test_the_facility_type_gets_it_as_a_secret(own_hub):
    app, _, _ = own_hub
    with app.app_context():
        facility = app.extensions["esap.db"].session.query(RegisteredFacility).filter_by(name="erins-hub").one()
        token = facilities.for_plugin(facility).settings.secret("api_token")
    assert isinstance(token, Secret) and token.reveal() == "t0ken"


def test_a_token_sealed_with_another_key_is_not_set_any_more(own_hub, app_factory, monkeypatch):
    monkeypatch.setenv("TEST_ROTATED_KEY", "another key entirely")
    rotated = app_factory(installed=True, load_plugins=["jupyterhub"], encryption_key={"env": "TEST_ROTATED_KEY"})
    with rotated.app_context():
        facility = rotated.extensions["esap.db"].session.query(RegisteredFacility).filter_by(name="erins-hub").one()
        assert facilities.for_plugin(facility).settings.secret("api_token") is None

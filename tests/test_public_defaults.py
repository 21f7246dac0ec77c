"""The public defaults: a fresh install answers a position or target search and offers a facility; offline, none.

The defaults' real addresses are public (ASTRON VO and GAVO Data Center ObsCore, CDS Sesame, the
IVOA registry, mybinder.org, the OSSR on Zenodo); here each points at a local stand-in (the test
DaCHS's ObsCore table, the local name resolver, the local BinderHub), so the tests show how the
defaults apply without leaving this machine.
"""

from __future__ import annotations

import pytest

from esap_core import config
from tests.fixtures import bearer, make_user

PLUGINS = ["vo", "ossr", "binderhub"]


@pytest.fixture
def stand_ins(monkeypatch, dachs, sesame, binderhub_server):
    from esap_vo import defaults

    monkeypatch.delenv("ESAP_OFFLINE")  # the suite's switch; each test sets offline itself

    monkeypatch.setattr(defaults, "REGISTRY", dachs.registry_tap_url)
    monkeypatch.setattr(defaults, "NAME_RESOLVER", sesame)
    local = tuple({**service, "tap_url": dachs.tap_url, "table": "esap.obs"} for service in defaults.SERVICES)
    monkeypatch.setattr(defaults, "SERVICES", local)
    facilities = tuple({**facility, "url": binderhub_server.url} for facility in config.PUBLIC_FACILITIES)
    monkeypatch.setattr(config, "PUBLIC_FACILITIES", facilities)


def registered(app) -> dict[str, list[str]]:
    plugins = app.extensions["esap.plugins"]
    return {"archives": list(plugins.archives), "software": list(plugins.software_sources)}


def test_a_fresh_install_answers_a_position_and_a_target_search(app_factory, stand_ins, dachs):
    app = app_factory(installed=True, load_plugins=PLUGINS, offline=False)
    assert registered(app) == {
        "archives": ["vo-registry", "astron-vo", "gavo-dc"],
        "software": ["blank-notebook", "git-repositories", "ossr"],
    }
    client, auth = app.test_client(), bearer(app, make_user(app, "ada"), ["basket:read", "launch"])
    ra, dec = dachs.cluster_centre
    for query in ({"ra": ra, "dec": dec, "radius": 0.3}, {"target": "M31", "radius": 0.3}):
        outcomes = client.get("/api/v1/search", query_string=query, headers=auth).get_json()["archives"]
        assert [(outcome["archive"], outcome["status"]) for outcome in outcomes] == [
            ("astron-vo", "ok"),
            ("gavo-dc", "ok"),
        ]
        assert all(outcome["result"]["rows"] for outcome in outcomes)
    facilities = client.get("/api/v1/facilities", headers=auth).get_json()
    assert [(facility["name"], facility["kind"]) for facility in facilities["facilities"]] == [
        ("mybinder", "binderhub")
    ]


def test_offline_nothing_public_is_registered_and_plugins_say_why(app_factory, stand_ins):
    app = app_factory(installed=True, load_plugins=PLUGINS, offline=True)
    assert registered(app) == {"archives": [], "software": ["blank-notebook", "git-repositories"]}
    client, auth = app.test_client(), bearer(app, make_user(app, "ada"), ["basket:read", "launch"])
    assert client.get("/api/v1/facilities", headers=auth).get_json()["facilities"] == []
    notes = {plugin["name"]: plugin["note"] for plugin in client.get("/api/v1/plugins").get_json()["plugins"]}
    for name in ("vo", "ossr"):
        assert (
            notes[name]
            == f"registered nothing: ESAP is offline (ESAP_OFFLINE) and no [plugins.{name}] settings name a service"
        )


def test_each_default_switches_off_on_its_own(app_factory, stand_ins, dachs):
    own = {"name": "own-hub", "kind": "binderhub", "url": "http://127.0.0.1:9/"}
    app = app_factory(
        installed=True,
        load_plugins=PLUGINS,
        offline=False,
        facilities=[own],  # configured facilities replace the public one
        plugins={"vo": {"registry_tap_url": "", "services": []}},
    )
    assert registered(app)["archives"] == []
    client, auth = app.test_client(), bearer(app, make_user(app, "ada"), ["launch"])
    names = [facility["name"] for facility in client.get("/api/v1/facilities", headers=auth).get_json()["facilities"]]
    assert names == ["own-hub"]
    quiet = app_factory(installed=True, load_plugins=PLUGINS, offline=False, default_facilities=False)
    listed = quiet.test_client().get("/api/v1/facilities", headers=auth).get_json()["facilities"]
    assert [facility["name"] for facility in listed] == ["own-hub"]  # the first app's, in this test's database
    assert quiet.extensions["esap.config"].public_facilities() == []

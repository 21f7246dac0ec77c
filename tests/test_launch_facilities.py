"""Launching on JupyterHub (real) and Rosetta (its protocol) through the engine, faults included."""

import pytest
from sqlalchemy import select

from esap_core import credentials, facilities, launches
from esap_core.models import Launch, Software
from tests.fixtures import bearer, csrf_headers, make_user

PROFILES = [
    {"name": "standard", "title": "Standard", "user_options": {}},
    {"name": "broken", "title": "A broken image", "user_options": {"fail": True}},
]
OFFERED = [{"name": "default_url", "label": "Open in", "choices": ["/lab", "/tree"], "default": "/lab"}]


@pytest.fixture
def app(app_factory, jupyterhub, rosetta_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_HUB_TOKEN", jupyterhub.token)
    monkeypatch.setenv("ESAP_TEST_WEAK_TOKEN", jupyterhub.weak_token)
    monkeypatch.setenv("ESAP_TEST_ROSETTA_PASSWORD", rosetta_server.password)
    app = app_factory(installed=True, load_plugins=["jupyterhub", "rosetta"])
    hub = {"kind": "jupyterhub", "url": jupyterhub.hub_url}
    with app.app_context():
        for values in (
            {
                **hub,
                "name": "hub",
                "title": "Data lake hub",
                "settings": {
                    "api_token": {"env": "ESAP_TEST_HUB_TOKEN"},
                    "profiles": PROFILES,
                    "user_options": OFFERED,
                },
            },
            {**hub, "name": "weak-hub", "settings": {"api_token": {"env": "ESAP_TEST_WEAK_TOKEN"}}},
            {
                "kind": "jupyterhub",
                "name": "dead-hub",
                "url": "http://127.0.0.1:1",
                "settings": {"api_token": {"env": "ESAP_TEST_HUB_TOKEN"}},
            },
            {
                "kind": "rosetta",
                "name": "rosetta",
                "title": "Rosetta",
                "url": rosetta_server.url,
                "settings": {"username": rosetta_server.username, "password": {"env": "ESAP_TEST_ROSETTA_PASSWORD"}},
            },
            {"kind": "rosetta", "name": "rosetta-personal", "url": rosetta_server.url},
        ):
            facilities.register(None, None, values, from_config=True)
    return app


@pytest.fixture
def software(db):
    notebook = Software(
        source="git",
        external_id="hello",
        name="Hello notebook",
        ui_type="notebook",
        repository_url="https://example.org/hello.git",
    )
    topcat = Software(
        source="git",
        external_id="topcat",
        name="TOPCAT",
        ui_type="desktop",
        repository_url="https://github.com/Starlink/topcat-docker",
        ref="v4.9",
    )
    db.add_all([notebook, topcat])
    db.commit()
    return {"notebook": notebook.id, "topcat": topcat.id}


def launch(app, user, software_id, facility, **options):
    client = app.test_client()
    answer = client.post(
        "/api/v1/launches",
        headers=bearer(app, user, ["launch"]),
        json={"software_id": software_id, "facility": facility, "options": options},
    )
    assert answer.status_code == 202, answer.get_json()
    launch_id = answer.get_json()["id"]
    with app.app_context():
        launches.run(launch_id, "http://127.0.0.1:5999")
        return app.extensions["esap.db"].session.get(Launch, launch_id)


def test_jupyterhub_launch_with_options_lands_in_the_users_server(app, software, jupyterhub):
    user = make_user(app, "hubber")
    try:
        done = launch(app, user, software["notebook"], "hub", profile="standard", default_url="/tree")
        assert done.status == "ready", done.message
        assert done.url == f"{jupyterhub.hub_url}/user/hubber/lab/tree/esap_data.ipynb"
        assert (jupyterhub.home("hubber") / "esap_data.ipynb").exists()
        assert jupyterhub.server_model("hubber")["user_options"]["default_url"] == "/tree"
        again = launch(app, user, software["notebook"], "hub", profile="standard")
        assert again.status == "ready" and "already running" in " ".join(p["message"] for p in again.phases).lower()
        with app.app_context():
            launches.stop(app.extensions["esap.db"].session.get(Launch, again.id))
        assert jupyterhub.server_model("hubber") is None
    finally:
        jupyterhub.stop_all("hubber")


def test_checkout_asks_the_hub_for_its_choices(app, software):
    client = app.test_client()
    page = client.get(f"/launches/new?software={software['notebook']}&facility=hub").get_data(as_text=True)
    assert 'name="option-profile"' in page and "broken" in page and 'name="option-default_url"' in page
    body = {"software_id": software["notebook"], "facility": "hub", "options": {"default_url": "/etc"}}
    refused = client.post("/api/v1/launches", headers=csrf_headers(client), json=body)
    assert refused.status_code == 400
    assert refused.get_json()["message"] == "Open in must be one of /lab, /tree, not '/etc'."


@pytest.mark.parametrize(
    ("facility", "options", "message"),
    [
        ("hub", {"profile": "broken"}, "could not start the server"),
        ("weak-hub", {}, "refused the service token"),
        ("dead-hub", {}, "cannot be reached"),
    ],
)
def test_jupyterhub_faults_end_as_failed_with_the_hubs_message(app, software, jupyterhub, facility, options, message):
    user = make_user(app, f"faulty-{facility}")
    try:
        done = launch(app, user, software["notebook"], facility, **options)
        assert done.status == "failed" and message in done.message and done.finished
    finally:
        jupyterhub.stop_all(f"faulty-{facility}")


def test_rosetta_launch_ends_on_the_task_creation_page(app, software, rosetta_server):
    done = launch(app, make_user(app, "astro"), software["topcat"], "rosetta")
    assert done.status == "ready", done.message
    assert done.url.startswith(f"{rosetta_server.url}/new_task/?step=two&task_container_uuid=")
    assert rosetta_server.imports()[-1]["repository_url"] == "https://github.com/Starlink/topcat-docker"


def test_rosetta_uses_the_token_kept_on_the_profile(app, software, rosetta_server, db):
    user = make_user(app, "keeper")
    client = app.test_client()
    missing = launch(app, user, software["topcat"], "rosetta-personal")
    assert missing.status == "failed" and "keep your Rosetta token on your ESAP profile" in missing.message
    with app.app_context():
        credentials.put(user.id, launches.PERSONAL_TOKEN + "rosetta-personal", rosetta_server.authtoken)
    done = launch(app, user, software["topcat"], "rosetta-personal")
    assert done.status == "ready", done.message
    with app.app_context():
        credentials.put(user.id, launches.PERSONAL_TOKEN + "rosetta-personal", "wrong")
    wrong = launch(app, user, software["topcat"], "rosetta-personal")
    assert wrong.status == "failed" and "Rosetta refused the credentials" in wrong.message
    assert rosetta_server.authtoken not in str(db.scalars(select(Launch.options)).all())
    assert client.get("/profile").status_code == 200


def test_profile_keeps_facility_tokens_encrypted(app, db):
    client = app.test_client()
    headers = csrf_headers(client)
    page = client.get("/profile").get_data(as_text=True)
    assert "your Rosetta token" in page
    client.post(
        "/profile/facility-tokens/rosetta-personal", data={"token": "sekrit-123", "csrf_token": headers["X-CSRF-Token"]}
    )
    assert "kept" in client.get("/profile").get_data(as_text=True)
    from esap_core.models import UserSecret

    stored = db.scalars(select(UserSecret)).all()
    assert len(stored) == 1 and b"sekrit-123" not in stored[0].ciphertext
    assert "sekrit-123" not in client.get("/profile").get_data(as_text=True)
    client.post("/profile/facility-tokens/rosetta-personal", data={"token": "", "csrf_token": headers["X-CSRF-Token"]})
    db.expire_all()
    assert db.scalars(select(UserSecret)).all() == []
    assert (
        client.post(
            "/profile/facility-tokens/hub", data={"token": "x", "csrf_token": headers["X-CSRF-Token"]}
        ).status_code
        == 404
    )

"""Launching with data: the engine over a real (local) BinderHub, provenance, faults, and the reaper."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from esap_core import launches, tokens
from esap_core.models import BasketItem, Launch, Software
from tests.fixtures import bearer, csrf_headers, make_user

pytestmark = pytest.mark.usefixtures("binderhub_server")


@pytest.fixture
def hub_app(app_factory, binderhub_server):
    app = app_factory(installed=True, load_plugins=["binderhub"], allow_private_facilities=True)
    with app.app_context():
        from esap_core import facilities

        facilities.register(
            None,
            None,
            {"name": "local-binder", "kind": "binderhub", "title": "Local BinderHub", "url": binderhub_server.url},
            from_config=True,
        )
    return app


@pytest.fixture
def notebook(db):
    software = Software(
        source="blank-notebook",
        external_id="blank",
        name="Blank notebook",
        repository_url="https://github.com/binder-examples/requirements",
        ref="main",
        ui_type="notebook",
    )
    db.add(software)
    db.commit()
    return software


def run_now(app, launch_id):
    """Run the launch's job here, as a worker would (the job function itself, not a copy)."""
    with app.app_context():
        return launches.run(launch_id, "http://127.0.0.1:5999")


def test_launch_api_runs_on_binderhub_with_provenance(hub_app, notebook, db, binderhub_server):
    client = hub_app.test_client()
    user = make_user(hub_app, "alice")
    auth = bearer(hub_app, user, ["basket:read", "basket:write", "launch"])
    client.post(
        "/api/v1/basket/items",
        headers=auth,
        json={
            "items": [
                {
                    "archive": "a",
                    "identifier": "one",
                    "title": "First",
                    "fetch": {"method": "http", "url": "http://x/1"},
                },
                {"archive": "a", "identifier": "two", "title": "Second"},
            ]
        },
    )
    answer = client.post(
        "/api/v1/launches", json={"software_id": notebook.id, "facility": "local-binder"}, headers=auth
    )
    assert answer.status_code == 202, answer.get_json()
    launch_id = answer.get_json()["id"]
    assert answer.get_json()["status"] == "queued"
    queue = hub_app.extensions["esap.queue"].queue()
    assert queue.count == 1 and queue.jobs[0].args[0] == "esap_core.launches.run"

    assert run_now(hub_app, launch_id) == "ready"
    launch = client.get(f"/api/v1/launches/{launch_id}", headers=auth).get_json()
    phases = [step["phase"] for step in launch["phases"]]
    assert phases[0] == "queued" and phases[-1] == "ready"
    assert phases.index("building") < phases.index("pushing") < phases.index("launching") < phases.index("loading")
    assert launch["details"]["commit"] and launch["details"]["image"].startswith("local-binderhub/")
    assert [item["title"] for item in launch["data"]] == ["First", "Second"]
    assert launch["url"].startswith(binderhub_server.jupyter.url) and "lab/tree/esap_data.ipynb?token=" in launch["url"]
    assert launch["software"]["ref"] == "main" and launch["finished"]

    session_root = binderhub_server.jupyter.root_dir
    staged = json.loads((session_root / "esap_settings.json").read_text())
    assert staged["launch"] == launch_id and staged["api_url"] == "http://127.0.0.1:5999"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {staged['token']}"}).get_json()
    assert me["scopes"] == tokens.SESSION_SCOPES and me["username"] == "alice"
    data = client.get(
        f"/api/v1/launches/{launch_id}/data", headers={"Authorization": f"Bearer {staged['token']}"}
    ).get_json()
    assert [item["identifier"] for item in data["items"]] == ["one", "two"]
    assert "First" in (session_root / "esap_data.ipynb").read_text()

    # The record leaves ESAP as W3C PROV: the commit and image the BinderHub resolved, the data taken along.
    record = client.get(f"/api/v1/launches/{launch_id}/provenance.prov.json", headers=auth).get_json()
    software = record["entity"]["software"]
    assert software["esap:commit"] == launch["details"]["commit"]
    assert software["esap:image"] == launch["details"]["image"]
    assert [record["entity"][f"data/{n}"]["esap:identifier"] for n in (1, 2)] == ["one", "two"]
    assert "token=" not in json.dumps(record)  # the session's address (with its token) stays out


def test_chosen_items_only_and_the_basket_is_untouched(hub_app, notebook, db):
    client = hub_app.test_client()
    auth = bearer(hub_app, make_user(hub_app, "bob"), ["basket:read", "basket:write", "launch"])
    client.post(
        "/api/v1/basket/items",
        headers=auth,
        json={"items": [{"archive": "a", "identifier": f"i{n}"} for n in range(3)]},
    )
    ids = [item["id"] for item in client.get("/api/v1/basket/items", headers=auth).get_json()["items"]]
    answer = client.post(
        "/api/v1/launches",
        headers=auth,
        json={"software_id": notebook.id, "facility": "local-binder", "items": ids[1:2]},
    )
    assert [item["identifier"] for item in answer.get_json()["data"]] == ["i1"]
    assert db.scalar(select(func.count()).select_from(BasketItem)) == 3
    foreign = client.post(
        "/api/v1/launches",
        headers=auth,
        json={"software_id": notebook.id, "facility": "local-binder", "items": [999999]},
    )
    assert foreign.status_code == 400 and "no data items with ids 999999" in foreign.get_json()["message"]


def test_failed_build_ends_with_binderhubs_message(hub_app, notebook, binderhub_server):
    binderhub_server.script("gh/binder-examples/requirements/broken*", fail="requirements.txt: no such package")
    with hub_app.app_context():
        notebook.ref = "broken-ref"
        hub_app.extensions["esap.db"].session.merge(notebook)
        hub_app.extensions["esap.db"].session.commit()
    client = hub_app.test_client()
    auth = bearer(hub_app, make_user(hub_app, "carol"), ["launch"])
    launch_id = client.post(
        "/api/v1/launches", headers=auth, json={"software_id": notebook.id, "facility": "local-binder"}
    ).get_json()["id"]
    assert run_now(hub_app, launch_id) == "failed"
    launch = client.get(f"/api/v1/launches/{launch_id}", headers=auth).get_json()
    assert "no such package" in launch["message"] and launch["phase"] == "failed" and launch["finished"]


def test_facility_down_fails_with_a_message(app_factory, notebook, db):
    app = app_factory(installed=True, load_plugins=["binderhub"])
    with app.app_context():
        from esap_core import facilities

        facilities.register(
            None, None, {"name": "gone", "kind": "binderhub", "url": "http://127.0.0.1:1"}, from_config=True
        )
    auth = bearer(app, make_user(app, "dan"), ["launch"])
    launch_id = (
        app.test_client()
        .post("/api/v1/launches", headers=auth, json={"software_id": notebook.id, "facility": "gone"})
        .get_json()["id"]
    )
    assert run_now(app, launch_id) == "failed"
    launch = db.get(Launch, launch_id)
    db.refresh(launch)
    assert "127.0.0.1:1" in launch.message and "Traceback" not in launch.message
    assert "cannot be reached" in launch.message and "refused" not in launch.message.lower()
    assert "refused" in launch.phases[-1]["detail"].lower()  # the socket's words, for the disclosure


def test_a_facility_that_failed_its_check_is_warned_of_before_launching_not_blocked(app_factory, notebook, db):
    app = app_factory(installed=True, load_plugins=["binderhub"])
    client = app.test_client()
    with app.app_context():
        from esap_core import facilities

        gone = facilities.register(
            None,
            None,
            {"name": "gone", "kind": "binderhub", "title": "Gone hub", "url": "http://127.0.0.1:1"},
            from_config=True,
        )
        review = client.get(f"/launches/new?software={notebook.id}&facility=gone").get_data(as_text=True)
        assert 'id="facility-down"' not in review  # not checked yet: nothing to warn of
        facilities.check(gone)
    review = BeautifulSoup(
        client.get(f"/launches/new?software={notebook.id}&facility=gone").get_data(as_text=True), "html.parser"
    )
    warning = review.select_one("#facility-down")
    assert warning["role"] == "status" and "Gone hub failed its last check" in warning.get_text()
    assert "cannot be reached" in warning.get_text()
    assert review.select_one("form[action='/launches'] button[type=submit]").get_text() == "Launch"


def test_redis_down_refuses_the_launch_and_keeps_everything(app_factory, notebook, db, binderhub_server):
    app = app_factory(installed=True, load_plugins=["binderhub"], redis_url="redis://127.0.0.1:1/0")
    with app.app_context():
        from esap_core import facilities

        facilities.register(
            None, None, {"name": "hub", "kind": "binderhub", "url": binderhub_server.url}, from_config=True
        )
    client = app.test_client()
    auth = bearer(app, make_user(app, "erin"), ["basket:read", "basket:write", "launch"])
    client.post("/api/v1/basket/items", headers=auth, json={"archive": "a", "identifier": "kept"})
    answer = client.post("/api/v1/launches", headers=auth, json={"software_id": notebook.id, "facility": "hub"})
    assert answer.status_code == 503 and "basket is unchanged" in answer.get_json()["message"]
    assert db.scalar(select(func.count()).select_from(Launch)) == 0
    assert db.scalar(select(func.count()).select_from(BasketItem)) == 1


def test_software_the_facility_cannot_run_is_refused(hub_app, db):
    tool = Software(source="git", external_id="topcat", name="TOPCAT", ui_type="desktop")
    db.add(tool)
    db.commit()
    auth = bearer(hub_app, make_user(hub_app, "fay"), ["launch"])
    answer = hub_app.test_client().post(
        "/api/v1/launches", headers=auth, json={"software_id": tool.id, "facility": "local-binder"}
    )
    assert answer.status_code == 400 and "does not run desktop software" in answer.get_json()["message"]


def test_reaper_fails_launches_whose_job_is_gone(hub_app, notebook, db):
    auth = bearer(hub_app, make_user(hub_app, "gus"), ["launch"])
    answer = hub_app.test_client().post(
        "/api/v1/launches", headers=auth, json={"software_id": notebook.id, "facility": "local-binder"}
    )
    launch_id = answer.get_json()["id"]
    hub_app.extensions["esap.queue"].connection().flushdb()  # Redis restarted and lost its queue
    with hub_app.app_context():
        assert launches.reap(dead_after=timedelta(hours=1)) == 0  # too early to call it dead
        stale = hub_app.extensions["esap.db"].session.get(Launch, launch_id)
        stale.created = datetime.now(UTC) - timedelta(minutes=5)
        hub_app.extensions["esap.db"].session.commit()
        assert launches.reap() == 1
    launch = db.get(Launch, launch_id)
    db.refresh(launch)
    assert launch.status == "failed" and "the job queue lost it" in launch.message


def test_staging_notebook_is_valid_and_shows_titles_literally():
    import nbformat
    from markdown_it import MarkdownIt

    from esap_core import staging

    items = [
        {
            "title": "<script>alert(1)</script> [click](javascript:x) ``tick`` *bold*",
            "archive": "a*b",
            "identifier": "1",
            "fetch": {"method": "http", "url": "http://x"},
            "payload": {},
        }
    ]
    files = staging.files(
        "abc",
        {"name": "Tool `x`", "repository_url": "http://127.0.0.1:9/esap_repo.git", "ref": "v1.0_final"},
        items,
        "https://esap.example.org/",
        "esap_secret",
    )
    book = nbformat.reads(files[staging.NOTEBOOK], as_version=4)
    nbformat.validate(book)
    html = MarkdownIt("commonmark").render(book.cells[0].source)
    # Every untrusted text is shown as it is, in code, with no markup and no visible escapes.
    assert "<code>http://127.0.0.1:9/esap_repo.git</code>" in html and "<code>v1.0_final</code>" in html
    assert "<code>Tool `x`</code>" in html and "<code>a*b</code>" in html
    title = "&lt;script&gt;alert(1)&lt;/script&gt; [click](javascript:x) ``tick`` *bold*"
    assert f"<code>{title}</code>" in html
    assert "<script" not in html and "<a " not in html and "<em>" not in html and "\\" not in html
    assert json.loads(files[staging.SETTINGS]) == {
        "api_url": "https://esap.example.org",
        "token": "esap_secret",
        "launch": "abc",
    }
    compile(book.cells[1].source, "first cell", "exec")


def test_client_module_is_served_for_sessions_without_it(client):
    answer = client.get("/api/v1/client/esap_client.py")
    assert answer.status_code == 200 and "class Basket" in answer.get_data(as_text=True)


def test_launch_pages(hub_app, notebook, db):
    client = hub_app.test_client()
    headers = csrf_headers(client)
    client.post("/api/v1/basket/items", headers=headers, json={"archive": "a", "identifier": "x", "title": "Item X"})
    page = client.get(f"/launches/new?software={notebook.id}").get_data(as_text=True)
    assert "Local BinderHub" in page
    review = client.get(f"/launches/new?software={notebook.id}&facility=local-binder").get_data(as_text=True)
    assert "Item X" in review and "Tell me when it" in review
    item_id = db.scalar(select(BasketItem.id))
    created = client.post(
        "/launches",
        data={
            "software_id": notebook.id,
            "facility": "local-binder",
            "items": [item_id],
            "csrf_token": headers["X-CSRF-Token"],
        },
    )
    assert created.status_code == 302
    launch_id = created.headers["Location"].rsplit("/", 1)[-1]
    status = client.get(f"/launches/{launch_id}/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in status and "queued" in status
    run_now(hub_app, launch_id)
    done = client.get(f"/launches/{launch_id}/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in done and "Open your session" in done and 'id="build-log"' in done
    assert "Blank notebook" in client.get("/launches").get_data(as_text=True)
    refused = client.post(f"/launches/{launch_id}/stop", headers=headers)
    assert refused.status_code == 409 and "cannot stop" in refused.get_data(as_text=True)


def launch_as(app, username: str, software_id: int, facility: str = "local-binder") -> tuple[str, dict]:
    auth = bearer(app, make_user(app, username), ["launch"])
    answer = app.test_client().post(
        "/api/v1/launches", headers=auth, json={"software_id": software_id, "facility": facility}
    )
    return answer.get_json()["id"], auth


def test_a_rate_limited_binderhub_says_so_on_the_facility_page(hub_app, notebook, binderhub_server):
    binderhub_server.rate_limit = 1
    try:
        first, _ = launch_as(hub_app, "erin", notebook.id)
        assert run_now(hub_app, first) == "ready"
        second, auth = launch_as(hub_app, "frank", notebook.id)
        assert run_now(hub_app, second) == "failed"
    finally:
        binderhub_server.reset()
    client = hub_app.test_client()
    message = client.get(f"/api/v1/launches/{second}", headers=auth).get_json()["message"]
    assert "Rate limit exceeded. Try again in 3600 seconds." in message
    with hub_app.app_context():
        from esap_core import facilities

        facility = facilities.get_visible(None, "local-binder")
        facilities.check(facility)  # BinderHub is healthy: the refusal stays shown until it expires
        assert facilities.busy_notice(facility)["message"] == message
    page = client.get("/facilities").get_data(as_text=True)
    assert "Refusing launches until" in page and "Rate limit exceeded. Try again in 3600 seconds." in page


def test_the_launch_page_says_who_ends_a_session_esap_cannot_stop(hub_app, notebook, db):
    client = hub_app.test_client()
    launch_id = (
        client.post(
            "/launches",
            data={
                "software_id": notebook.id,
                "facility": "local-binder",
                "csrf_token": csrf_headers(client)["X-CSRF-Token"],
            },
        )
        .headers["Location"]
        .rsplit("/", 1)[-1]
    )
    run_now(hub_app, launch_id)

    page = client.get(f"/launches/{launch_id}").get_data(as_text=True)

    assert "BinderHub&#39;s culler ends it after 60 minutes without use" in page
    assert "Stop the session" not in page


def test_a_binderhub_with_a_hub_token_stops_its_sessions(app_factory, notebook, binderhub_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_BINDER_HUB_TOKEN", binderhub_server.admin_token)
    app = app_factory(installed=True, load_plugins=["binderhub"])
    with app.app_context():
        from esap_core import facilities

        values = {"name": "stops", "kind": "binderhub", "url": binderhub_server.url + "/"}
        facilities.register(
            None, None, {**values, "settings": {"hub_token": {"env": "ESAP_TEST_BINDER_HUB_TOKEN"}}}, from_config=True
        )
    client = app.test_client()
    headers = csrf_headers(client)
    launch_id = (
        client.post(
            "/launches", data={"software_id": notebook.id, "facility": "stops", "csrf_token": headers["X-CSRF-Token"]}
        )
        .headers["Location"]
        .rsplit("/", 1)[-1]
    )
    run_now(app, launch_id)
    assert "Stop the session" in client.get(f"/launches/{launch_id}").get_data(as_text=True)
    stopped_before = len(binderhub_server.stopped)

    answer = client.post(f"/launches/{launch_id}/stop", headers=headers)

    assert answer.status_code == 302
    assert binderhub_server.stopped[stopped_before:] == [("binder-session", "")]
    binderhub_server.stopped.clear()


def test_launch_again_starts_at_the_recorded_commit_and_with_the_latest_at_the_branch(
    hub_app, notebook, db, binderhub_server
):
    client = hub_app.test_client()
    csrf = csrf_headers(client)["X-CSRF-Token"]
    created = client.post(
        "/launches", data={"software_id": notebook.id, "facility": "local-binder", "csrf_token": csrf}
    )
    first_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert run_now(hub_app, first_id) == "ready"
    commit = db.get(Launch, first_id).details["commit"]  # as the BinderHub resolved "main"
    assert len(commit) == 40

    notebook.ref = "release"  # the record moves on to another branch
    db.commit()
    page = client.get(f"/launches/{first_id}").get_data(as_text=True)
    assert f"Launch again at commit {commit[:7]}</button>" in page and "Launch again with the latest</button>" in page
    assert f"At commit <code>{commit}</code>, as Local BinderHub recorded it" in page
    assert "with the latest, at <code>release</code> as it is now" in page

    pinned_id = client.post(f"/launches/{first_id}/again", data={"csrf_token": csrf}).headers["Location"]
    pinned_id = pinned_id.rsplit("/", 1)[-1]
    pinned = db.get(Launch, pinned_id)
    assert pinned.software["ref"] == commit
    assert pinned.software["pinned_from"] == {"record": f"launch {first_id}", "ref": "main", "commit": commit}
    assert run_now(hub_app, pinned_id) == "ready"
    # The hub was asked to build that commit, not "release". (The test hub resolves a 40-hex ref of
    # gh/... to another fake commit, though its docstring says it keeps one, so its report is not compared.)
    assert binderhub_server.builds_of("gh")[-1].spec == f"binder-examples/requirements/{commit}"
    pinned_page = client.get(f"/launches/{pinned_id}").get_data(as_text=True)
    assert f"at <code>{commit}</code>" in pinned_page and f"pinned from launch {first_id}" in pinned_page
    assert "(then at <code>main</code>)" in pinned_page

    latest_id = client.post(f"/launches/{first_id}/again", data={"csrf_token": csrf, "latest": "1"}).headers["Location"]
    latest_id = latest_id.rsplit("/", 1)[-1]
    latest = db.get(Launch, latest_id)
    assert latest.software["ref"] == "release" and "pinned_from" not in latest.software
    assert run_now(hub_app, latest_id) == "ready"
    assert binderhub_server.builds_of("gh")[-1].spec == "binder-examples/requirements/release"
    db.expire_all()
    resolved = db.get(Launch, latest_id).details["commit"]
    assert len(resolved) == 40 and resolved != commit


def test_a_launch_without_a_recorded_commit_says_launching_again_starts_the_latest(hub_app, notebook, db):
    from esap_core import accounts

    with hub_app.app_context():
        local = accounts.local_user()
    db.add(
        Launch(
            id="nocommit01234567",
            user_id=local.id,
            software_id=notebook.id,
            facility={"name": "local-binder", "kind": "binderhub", "title": "Local BinderHub", "url": ""},
            software={"id": notebook.id, "name": "Blank notebook", "ref": "main"},
            status="failed",
            phase="failed",
            details={"image": "local-binderhub/blank:abc"},  # an image alone pins nothing: BinderHub builds refs
        )
    )
    db.commit()
    page = hub_app.test_client().get("/launches/nocommit01234567").get_data(as_text=True)
    assert "No commit was recorded for this launch: launching again starts the latest (<code>main</code>)." in page
    assert "Launch again</button>" in page and "Launch again at commit" not in page

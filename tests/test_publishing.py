"""Publishing results: workspace files and a launch's record out to Zenodo's deposit API, by page and by API.

The repository is the zenodo plugin's local server, which follows Zenodo's published deposit API
(and is itself checked by eossr and zenodo-client in the plugin's tests); the workspace is a real
folder on this machine through a storage plugin written as a partner would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from esap_core import publishing
from esap_core.models import Job, Launch, PublishedRecord
from tests.fixtures import bearer, csrf_headers, make_user, sign_in
from tests.folder_storage import FolderStoragePlugin

IVOID = "ivo://esap.test/obs?obs-01"
DID = "escape:demo_1_00.fits"


@pytest.fixture
def publish_app(app_factory, tmp_path, zenodo_deposit_api, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", "x")  # several users: an issuer that is never asked here
    return app_factory(
        installed=True,
        oidc={
            "issuer": "http://127.0.0.1:9/issuer",
            "client_id": "esap",
            "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
        },
        load_plugins=["zenodo"],
        plugins={"zenodo": {"url": zenodo_deposit_api.url, "title": "Local Zenodo"}},
        extra_plugins=[("folder-storage", FolderStoragePlugin(tmp_path / "storage"))],
    )


@pytest.fixture
def alice(publish_app):
    user = make_user(publish_app, "alice")
    with publish_app.app_context():
        db = publish_app.extensions["esap.db"].session
        user = db.merge(user)
        user.name = "Alice Astronomer"
        user.claims = {"family_name": "Astronomer", "given_name": "Alice", "orcid": "0000-0002-1825-0097"}
        db.commit()
    return user


@pytest.fixture
def launch(publish_app, alice):
    with publish_app.app_context():
        db = publish_app.extensions["esap.db"].session
        record = Launch(
            id="publishme0001",
            user_id=alice.id,
            facility={"name": "hub", "kind": "binderhub", "url": "http://127.0.0.1:1", "title": "Local hub"},
            software={
                "name": "Spectra <b>fit</b>",
                "description": "Fits spectra.",
                "repository_url": "https://github.com/esap-tests/spectra.git",
                "ref": "main",
                "doi": "10.5281/zenodo.3572293",
                "keywords": ["spectra", "fitting"],
            },
            data=[
                {"title": "obs 1", "archive": "test-obs", "identifier": IVOID},
                {"title": "file 0", "archive": "test-rucio", "identifier": DID},
            ],
            details={"commit": "0123456789abcdef"},
            status="ready",
            phase="ready",
            phases=[{"phase": "ready", "at": "2026-12-04T10:00:00", "message": "Ready"}],
            created=datetime(2026, 12, 4, 10, tzinfo=UTC),
        )
        db.add(record)
        db.commit()
    return record


def signed_in(app, user):
    client = app.test_client()
    sign_in(app, client, user)
    return client


def put_file(client, path: str, content: bytes):
    answer = client.put(
        f"/api/v1/workspace/files/{path}",
        data=content,
        headers={**csrf_headers(client), "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


def keep_token(client, token: str):
    answer = client.post("/profile/publisher-tokens/zenodo", data={"token": token}, headers=csrf_headers(client))
    assert answer.status_code == 302


def form_values(page) -> dict:
    """The review form's fields as a browser would send them (but the radio buttons and checkboxes)."""
    form = page.select_one("form#publish-form")
    values = {
        field["name"]: field.get("value", "")
        for field in form.select("input[name]")
        if field.get("type") not in ("radio", "checkbox")
    }
    values.update({area["name"]: area.get_text() for area in form.select("textarea")})
    for select in form.select("select"):
        chosen = select.select_one("option[selected]") or select.select_one("option")
        values[select["name"]] = chosen.get("value", chosen.get_text())
    return values


def test_the_review_is_prefilled_from_the_login_the_software_and_the_data(publish_app, alice, launch):
    client = signed_in(publish_app, alice)
    put_file(client, "fits/result.csv", b"a,b\n1,2\n")
    page = BeautifulSoup(client.get(f"/publish?launch={launch.id}").get_data(as_text=True), "html.parser")
    values = form_values(page)
    assert values["title"] == "Results of Spectra <b>fit</b>"  # escaped on the page, kept as text
    assert values["creators"] == "Astronomer, Alice; ; 0000-0002-1825-0097"
    assert values["keywords"] == "spectra, fitting" and values["licence"] == "cc-by-4.0"
    related = values["related"].splitlines()
    assert related[:2] == [
        "isCompiledBy 10.5281/zenodo.3572293",
        "isCompiledBy https://github.com/esap-tests/spectra/tree/0123456789abcdef",
    ]
    assert f"isDerivedFrom {IVOID}" in related and f"isDerivedFrom {DID}" in related
    assert related[-1] == f"isDocumentedBy http://localhost/launches/{launch.id}"
    assert "Made with ESAP: Spectra <b>fit</b> launched on Local hub, 2026-12-04 10:00 UTC" in values["description"]
    assert page.select_one("a[href='/publish?folder=fits&launch=publishme0001']").get_text() == "fits/"
    assert "no token of yours yet" in page.select_one("form#publish-form").get_text()


def test_publishing_from_the_page_puts_the_files_and_the_crate_on_zenodo_and_the_doi_on_the_launch(
    publish_app, alice, launch, zenodo_deposit_api
):
    client = signed_in(publish_app, alice)
    put_file(client, "fits/result.csv", b"a,b\n1,2\n")
    keep_token(client, zenodo_deposit_api.token)
    page = BeautifulSoup(client.get(f"/publish?launch={launch.id}&folder=fits").get_data(as_text=True), "html.parser")
    assert "your token is kept" in page.get_text()
    values = {**form_values(page), "publisher": "zenodo", "files": ["fits/result.csv"]}
    published = client.post("/publish", data=values)
    assert published.status_code == 303 and published.headers["Location"].endswith(
        f"/launches/{launch.id}#publications"
    )

    with publish_app.app_context():
        [record] = publish_app.extensions["esap.db"].session.query(PublishedRecord).all()
        kept = (record.publisher, record.launch_id, record.files, record.doi)
    assert kept == ("zenodo", launch.id, ["result.csv"], f"10.5281/zenodo.{record.record_id}")
    deposition = zenodo_deposit_api.server.published(record.record_id)
    assert sorted(deposition.files) == ["result.csv", "ro-crate-metadata.json"]
    assert deposition.files["result.csv"].path.read_bytes() == b"a,b\n1,2\n"
    crate = json.loads(deposition.files["ro-crate-metadata.json"].path.read_text())
    assert any(entity.get("@type") == "CreateAction" for entity in crate["@graph"])
    metadata = deposition.metadata
    assert metadata["creators"] == [{"name": "Astronomer, Alice", "orcid": "0000-0002-1825-0097"}]
    identifiers = {item["identifier"] for item in metadata["related_identifiers"]}
    assert "10.5281/zenodo.3572293" in identifiers and f"http://localhost/launches/{launch.id}" in identifiers
    assert IVOID in metadata["notes"] and DID in metadata["notes"]  # Zenodo resolves neither: ESAP lists them

    shown = BeautifulSoup(client.get(f"/launches/{launch.id}").get_data(as_text=True), "html.parser")
    doi = shown.select_one("#publications .doi a")
    assert doi.get_text() == record.doi and doi["href"] == f"https://doi.org/{record.doi}"


def test_a_jobs_results_are_published_with_the_jobs_crate_and_the_doi_on_the_job(
    publish_app, alice, zenodo_deposit_api
):
    with publish_app.app_context():
        db = publish_app.extensions["esap.db"].session
        job = Job(
            id="publishjob001",
            user_id=alice.id,
            facility={"name": "cluster", "kind": "slurm", "url": "http://127.0.0.1:1", "title": "Local cluster"},
            software={"name": "Spectra fit", "repository_url": "https://github.com/esap-tests/spectra.git"},
            data=[{"title": "obs 1", "archive": "test-obs", "identifier": IVOID}],
            parameters={"threshold": "3"},
            command="python fit.py",
            details={"commit": "fedcba9876543210", "exit_code": 0},
            results=[{"name": "fit.csv", "size": 8, "media_type": "text/csv"}],
            phase="COMPLETED",
            created=datetime(2026, 12, 4, 11, tzinfo=UTC),
        )
        db.add(job)
        db.commit()
    client = signed_in(publish_app, alice)
    put_file(client, "jobs/publishjob001/fit.csv", b"x,y\n3,4\n")
    keep_token(client, zenodo_deposit_api.token)
    page = BeautifulSoup(
        client.get("/publish?job=publishjob001&folder=jobs/publishjob001").get_data(as_text=True), "html.parser"
    )
    assert "run as a job" in form_values(page)["description"]
    values = {**form_values(page), "publisher": "zenodo", "files": ["jobs/publishjob001/fit.csv"]}
    published = client.post("/publish", data=values)
    assert published.status_code == 303 and published.headers["Location"].endswith("/jobs/publishjob001#publications")

    with publish_app.app_context():
        [record] = publish_app.extensions["esap.db"].session.query(PublishedRecord).all()
        kept = (record.job_id, record.launch_id, record.files)
    assert kept == ("publishjob001", None, ["fit.csv"])
    deposition = zenodo_deposit_api.server.published(record.record_id)
    crate = json.loads(deposition.files["ro-crate-metadata.json"].path.read_text())
    graph = {entity["@id"]: entity for entity in crate["@graph"]}
    [action] = [entity for entity in graph.values() if entity.get("@type") == "CreateAction"]
    used = [graph[reference["@id"]] for reference in action["object"]]
    assert {"name": "command", "value": "python fit.py"}.items() <= next(
        e for e in used if e.get("name") == "command"
    ).items()
    [result] = action["result"] if isinstance(action["result"], list) else [action["result"]]
    assert result["@id"].endswith("/api/v1/jobs/publishjob001/results/fit.csv")
    shown = BeautifulSoup(client.get("/jobs/publishjob001").get_data(as_text=True), "html.parser")
    assert shown.select_one("#publications .doi a").get_text() == record.doi


def test_bad_metadata_names_the_field_and_nothing_reaches_zenodo(publish_app, alice, launch, zenodo_deposit_api):
    client = signed_in(publish_app, alice)
    put_file(client, "result.csv", b"x")
    keep_token(client, zenodo_deposit_api.token)
    before = set(zenodo_deposit_api.server.depositions)
    values = {
        "launch": launch.id,
        "publisher": "zenodo",
        "files": ["result.csv"],
        "title": "A title",
        "description": "What it is.",
        "creators": "Astronomer, Alice; ESAP; 1234",
        "related": "isDerivedFrom",
    }
    answer = client.post("/publish", data={**values, "csrf_token": csrf_headers(client)["X-CSRF-Token"]})
    page = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    assert answer.status_code == 400
    assert page.select_one("#creators-problem").get_text() == "Line 1: '1234' is not an ORCID (0000-0002-1825-0097)."
    assert page.select_one("#related-problem").get_text().startswith("Line 1: a relation (")
    assert page.select_one("#title")["value"] == "A title"  # what was typed is kept
    assert page.select_one("input[name=files][value='result.csv']").has_attr("checked")
    assert set(zenodo_deposit_api.server.depositions) == before


def test_without_a_token_or_with_a_refused_one_it_says_so_and_keeps_nothing(
    publish_app, alice, launch, zenodo_deposit_api
):
    client = signed_in(publish_app, alice)
    put_file(client, "result.csv", b"x")
    csrf = csrf_headers(client)["X-CSRF-Token"]
    base = {"launch": launch.id, "publisher": "zenodo", "files": ["result.csv"], "csrf_token": csrf}
    values = {**base, "title": "T", "description": "D", "creators": "Astronomer, Alice"}
    no_token = client.post("/publish", data=values)
    assert no_token.status_code == 400
    assert "Keep your Local Zenodo token on your profile first" in no_token.get_data(as_text=True)
    keep_token(client, "not-a-token-zenodo-knows")
    refused = BeautifulSoup(client.post("/publish", data=values).get_data(as_text=True), "html.parser")
    assert "token" in refused.select_one("#publish-error").get_text().lower()
    with publish_app.app_context():
        assert publish_app.extensions["esap.db"].session.query(PublishedRecord).count() == 0


def test_someone_elses_launch_or_a_missing_file_is_refused(publish_app, alice, launch, zenodo_deposit_api):
    bob = make_user(publish_app, "bob")
    assert signed_in(publish_app, bob).get(f"/publish?launch={launch.id}").status_code == 404
    client = signed_in(publish_app, alice)
    keep_token(client, zenodo_deposit_api.token)
    csrf = csrf_headers(client)["X-CSRF-Token"]
    values = {"launch": launch.id, "publisher": "zenodo", "title": "T", "description": "D", "creators": "A, B"}
    missing = client.post("/publish", data={**values, "files": ["gone.csv"], "csrf_token": csrf})
    error = BeautifulSoup(missing.get_data(as_text=True), "html.parser").select_one("#publish-error").get_text()
    assert missing.status_code == 404 and error == "Your workspace has no file 'gone.csv'."
    nothing = client.post("/publish", data={**values, "csrf_token": csrf})
    assert nothing.status_code == 400 and "Choose at least one file" in nothing.get_data(as_text=True)


def test_the_api_publishes_with_the_prefilled_metadata_and_a_new_version(
    publish_app, alice, launch, zenodo_deposit_api
):
    client = signed_in(publish_app, alice)
    put_file(client, "result.csv", b"first")
    keep_token(client, zenodo_deposit_api.token)
    api = publish_app.test_client()
    auth = bearer(publish_app, alice, ["publish"])
    assert api.get("/api/v1/publishers", headers=auth).get_json() == [
        {
            "name": "zenodo",
            "title": "Local Zenodo",
            "description": f"Publishes with a DOI on {zenodo_deposit_api.url}",
            "token_kept": True,
        }
    ]
    body = {"publisher": "zenodo", "launch_id": launch.id, "files": ["result.csv"]}
    first = api.post("/api/v1/publications", headers=auth, json=body)
    assert first.status_code == 201, first.get_json()
    record = first.get_json()
    assert record["title"] == "Results of Spectra <b>fit</b>" and record["files"] == ["result.csv"]
    assert zenodo_deposit_api.server.published(record["record_id"]).metadata["title"] == record["title"]

    put_file(client, "result.csv", b"second")
    again = {**body, "new_version_of": record["record_id"], "title": "Results, second run"}
    second = api.post("/api/v1/publications", headers=auth, json=again).get_json()
    old = zenodo_deposit_api.server.published(record["record_id"])
    new = zenodo_deposit_api.server.published(second["record_id"])
    assert new.conceptrecid == old.conceptrecid and second["doi"] != record["doi"]
    assert new.files["result.csv"].path.read_bytes() == b"second"
    listed = api.get("/api/v1/publications", headers=auth).get_json()
    assert [item["record_id"] for item in listed] == [second["record_id"], record["record_id"]]

    stranger = api.post("/api/v1/publications", headers=auth, json={**body, "new_version_of": "999999"}).get_json()
    assert "only of a record you published through ESAP" in stranger["message"]
    no_scope = api.post("/api/v1/publications", headers=bearer(publish_app, alice, ["workspace:read"]), json=body)
    assert no_scope.status_code == 403


def test_the_creator_line_reads_what_the_login_gives(publish_app):
    user = make_user(publish_app, "carol")
    user.name, user.claims = "Carol C.", {"schac_home_organization": ["astron.nl"]}
    assert publishing.creator_line(user) == "Carol C.; astron.nl"
    user.claims = {"orcid": "https://orcid.org/0000-0002-1825-0097"}
    assert publishing.creator_line(user) == "Carol C.; ; 0000-0002-1825-0097"
    user.claims = {"orcid": "not an orcid"}
    assert publishing.creator_line(user) == "Carol C."

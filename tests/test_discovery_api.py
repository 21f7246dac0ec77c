"""The data API against the real test servers: archives with their fields, one archive paged, the fan-out."""

from __future__ import annotations

import pytest

from tests.data_settings import RUCIO_PASSWORD_VARIABLE, data_config
from tests.fixtures import bearer, make_user


@pytest.fixture
def app(app_factory, dachs, sesame, rucio_server, faulty_services, monkeypatch):
    monkeypatch.setenv(RUCIO_PASSWORD_VARIABLE, rucio_server.password)
    return app_factory(installed=True, archive_timeout=1, **data_config(dachs, sesame, rucio_server, faulty_services))


@pytest.fixture
def auth(app):
    return bearer(app, make_user(app, "ada"), ["basket:read"])


def test_archives_with_their_fields_and_query_schema(client, auth):
    answer = client.get("/api/v1/archives", headers=auth).get_json()
    archives = {archive["name"]: archive for archive in answer["archives"]}
    assert list(archives) == ["test-rucio", "vo-registry", "test-obs", "slow-obs", "broken-obs"]
    registry = archives["vo-registry"]
    assert registry["answers"] == ["keywords"]
    assert [field["name"] for field in registry["fields"]] == ["keywords", "service_type", "waveband"]
    schema = registry["query_schema"]
    assert schema["required"] == ["keywords"]
    assert schema["properties"]["service_type"] == {
        "type": "string",
        "title": "Service type",
        "description": registry["fields"][1]["help"],
        "default": "any",
        "enum": ["any", "tap", "scs", "sia", "ssa"],
    }
    radius = archives["test-obs"]["query_schema"]["properties"]["radius"]
    assert (radius["type"], radius["minimum"], radius["maximum"]) == ("number", 0, 10)
    assert archives["test-obs"]["answers"] == ["position", "target"]
    assert client.get("/api/v1/archives/test-obs", headers=auth).get_json()["title"] == "Test observations"
    assert client.get("/api/v1/archives/nothing", headers=auth).status_code == 404


def test_search_one_archive_a_page_at_a_time(client, auth):
    query = {"scope": "user.alice", "name": "file_*", "did_type": "file"}
    first = client.get("/api/v1/archives/test-rucio/search", query_string=query, headers=auth).get_json()
    second = client.get("/api/v1/archives/test-rucio/search", query_string={**query, "page": 2}, headers=auth)
    assert (first["total"], first["page"], len(first["rows"])) == (300, 1, 50)
    assert second.get_json()["rows"][0]["did"] == "user.alice:file_050.dat"
    assert {column["name"] for column in first["columns"]} >= {"did", "bytes"}
    assert {column["name"]: column["unit"] for column in first["columns"]}["bytes"] == "byte"


@pytest.mark.parametrize(
    ("url", "query", "status", "message"),
    [
        ("/api/v1/archives/test-obs/search", {"ra": "x", "dec": "1"}, 400, "RA (deg) must be a number"),
        ("/api/v1/archives/test-obs/search", {"ra": "1", "dec": "1", "radius": "-1"}, 400, "must be at least 0"),
        ("/api/v1/archives/test-obs/search", {"ra": "1", "dec": "1", "page": "0"}, 400, "page"),
        ("/api/v1/archives/vo-registry/search", {}, 400, "Keywords is required"),
        ("/api/v1/archives/broken-obs/search", {"ra": "1", "dec": "1"}, 502, "VO"),
        ("/api/v1/archives/slow-obs/search", {"ra": "1", "dec": "1"}, 504, "did not answer within 1 s"),
        ("/api/v1/archives/test-rucio/search", {"scope": "nosuch"}, 502, "no scope named 'nosuch'"),
        ("/api/v1/search", {}, 400, "Give a position"),
        ("/api/v1/search", {"ra": "1", "dec": "100"}, 400, "Dec (deg) must be at most 90"),
        ("/api/v1/search", {"target": "M31", "keywords": "x"}, 400, "one kind of question at a time"),
    ],
)
def test_bad_input_and_failing_archives_are_explained(client, auth, url, query, status, message):
    response = client.get(url, query_string=query, headers=auth)
    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_fan_out_answers_for_each_archive(client, auth, dachs):
    ra, dec = dachs.cluster_centre
    answer = client.get("/api/v1/search", query_string={"ra": ra, "dec": dec, "radius": 0.3}, headers=auth)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["kind"] == "position" and body["query"] == {"ra": ra, "dec": dec, "radius": 0.3}
    outcomes = {outcome["archive"]: outcome for outcome in body["archives"]}
    assert list(outcomes) == ["test-obs", "slow-obs", "broken-obs"]
    assert outcomes["test-obs"]["status"] == "ok" and outcomes["test-obs"]["result"]["rows"]
    assert outcomes["slow-obs"]["status"] == "timeout" and outcomes["slow-obs"]["result"] is None
    assert "did not answer within 1 s" in outcomes["slow-obs"]["message"]
    assert outcomes["broken-obs"]["status"] == "error"


def test_the_fan_out_needs_a_user(client):
    assert client.get("/api/v1/search?keywords=x", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/archives", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_an_expired_login_is_a_401_saying_so(app_factory, dachs, sesame, rucio_server, monkeypatch):
    config = data_config(dachs, sesame, rucio_server)
    instance = config["plugins"]["rucio"]["instances"][0]
    for key in ("account", "username", "password"):
        instance.pop(key)
    instance["auth"] = "token"
    app = app_factory(installed=True, **config)
    auth = bearer(app, make_user(app, "olivia"), ["basket:read"])
    response = app.test_client().get("/api/v1/archives/test-rucio/search?scope=escape", headers=auth)
    assert response.status_code == 401 and "log in again" in response.get_json()["message"]


def test_the_openapi_document_describes_the_data_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/archives", "/api/v1/archives/{archive_name}/search", "/api/v1/search"} <= set(spec["paths"])
    parameters = {p["name"] for p in spec["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert parameters >= {"ra", "dec", "radius", "target", "keywords"}
    assert "504" in spec["paths"]["/api/v1/archives/{archive_name}/search"]["get"]["responses"]

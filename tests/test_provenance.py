"""A launch's provenance: an RO-Crate that roc-validator passes, and PROV-JSON that the prov package reads back."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest
from bs4 import BeautifulSoup

from esap_core import provenance
from esap_core.models import Launch
from tests.fixtures import bearer, make_user

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
CONTEXT = "https://w3id.org/ro/crate/1.3/context"


def _launch(user, status="ready", **changes) -> Launch:
    values = dict(
        id="prov0123456789ab",
        user_id=user.id,
        facility={
            "name": "local-binder",
            "kind": "binderhub",
            "url": "http://127.0.0.1:8585/",
            "title": "Local Binder",
        },
        software={
            "id": 7,
            "name": "Spectral fit",
            "repository_url": "https://github.com/escape/spectral-fit",
            "ref": "main",
            "doi": "10.5281/zenodo.123",
        },
        data=[
            {
                "archive": "apertif",
                "identifier": "ivo://astron.nl/apertif?190807041_AP_B001",
                "title": "Continuum image",
                "fetch": {"method": "http", "url": "https://vo.astron.nl/getproduct/APERTIF_DR1/image.fits"},
                "payload": {"size": 37006, "format": "image/fits", "checksum": "md5:9e107d9d372bb6826bd81d3542a419d6"},
            },
            {
                "archive": "rucio",
                "identifier": "escape:run42.h5",
                "title": "run42.h5 (FILE, escape)",
                "fetch": {"method": "rucio", "did": "escape:run42.h5", "host": "https://rucio.example.org"},
                "payload": {
                    "bytes": 2048,
                    "checksums": {"adler32": "0a1b2c3d", "md5": "d41d8cd98f00b204e9800998ecf8427e"},
                },
            },
        ],
        options={},
        status=status,
        phase=status,
        phases=[
            {"phase": "queued", "at": T0.isoformat(), "message": "Waiting for a worker"},
            {"phase": "building", "at": (T0 + timedelta(seconds=4)).isoformat(), "message": "Building the image"},
            {"phase": status, "at": (T0 + timedelta(seconds=40)).isoformat(), "message": "Done"},
        ],
        details={"commit": "4f2a9c1e0b7d", "image": "registry.example.org/spectral-fit:4f2a9c1e0b7d"},
        url="http://127.0.0.1:8888/lab?token=never-in-provenance",
        message="the build failed" if status == "failed" else "",
        created=T0,
        started=T0 + timedelta(seconds=1),
        finished=T0 + timedelta(seconds=40),
    )
    values.update(changes)
    return Launch(**values)


@pytest.fixture
def recorded(app, db):
    user = make_user(app, "alice")
    launch = _launch(user)
    db.add(launch)
    db.commit()
    return app, user, launch


@pytest.fixture
def loopback_only(monkeypatch):
    """Name lookups other than loopback fail: the validators and readers must not go out."""
    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        if str(host) not in LOOPBACK_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: only loopback names resolve in these tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def _validator_cache(folder) -> str:
    """roc-validator's HTTP cache holding the RO-Crate 1.3 context, from the copy the rocrate package ships.

    The validator reads the crate's @context; offline (as here) it takes it from its cache only,
    which ``rocrate-validator cache warm`` fills online. This fills it with the same document.
    """
    import requests
    import requests_cache
    import urllib3

    cache = str(folder / "validator-cache")
    context = files("rocrate").joinpath("data/ro-crate.jsonld").read_bytes()
    assert json.loads(context)["@id"] == CONTEXT
    response = requests.Response()
    response.status_code, response.reason, response.url, response._content = 200, "OK", CONTEXT, context
    response.headers["Content-Type"] = "application/ld+json"
    response.request = requests.Request("GET", CONTEXT).prepare()
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(context), headers=dict(response.headers), status=200, preload_content=False, request_url=CONTEXT
    )
    with requests_cache.CachedSession(cache_name=cache, backend="sqlite", expire_after=-1) as session:
        session.cache.save_response(response)
    return cache


def _validate(crate: bytes, folder, severity: str):
    from rocrate_validator import models, services

    path = folder / "crate.zip"
    path.write_bytes(crate)
    settings = models.ValidationSettings(
        rocrate_uri=str(path),
        profile_identifier="ro-crate-1.3",
        requirement_severity=severity,
        offline=True,
        cache_path=_validator_cache(folder),
        skip_availability_check=True,
    )
    return services.validate(settings)


# rdflib (under roc-validator's pyshacl) warns about its own deprecated class; that is not ours to fix.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_the_crate_passes_roc_validator(recorded, tmp_path, loopback_only):
    app, user, launch = recorded
    client = app.test_client()
    answer = client.get(f"/api/v1/launches/{launch.id}/provenance.crate.zip", headers=bearer(app, user, ["launch"]))
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert "esap-launch-prov0123456789ab.crate.zip" in answer.headers["Content-Disposition"]

    required = _validate(answer.data, tmp_path, "REQUIRED")
    assert required.passed(), [(issue.check.identifier, issue.message) for issue in required.get_issues()]
    recommended = _validate(answer.data, tmp_path, "RECOMMENDED")
    left = {issue.check.identifier for issue in recommended.get_issues()}
    # What ESAP cannot know: the ROR id of the operator, the researcher's ORCID, a contact point.
    assert left <= {"ro-crate-1.2_89.0", "ro-crate-1.2_90.1", "ro-crate-1.2_91.0", "ro-crate-1.2_93.0"}, [
        (issue.check.identifier, issue.message) for issue in recommended.get_issues()
    ]


def test_the_crate_says_what_ran_on_what(recorded):
    from rocrate.rocrate import ROCrate

    app, user, launch = recorded
    with app.test_request_context():
        data = provenance.crate_zip(launch, "http://127.0.0.1:5000/launches/prov0123456789ab", "Alice")
    metadata = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("ro-crate-metadata.json"))
    assert "never-in-provenance" not in json.dumps(metadata)  # the session's token stays out
    graph = {entity["@id"]: entity for entity in metadata["@graph"]}
    crate = ROCrate(metadata)  # the rocrate package reads it back
    (action,) = [entity for entity in crate.get_entities() if entity.type == "CreateAction"]
    program = action["instrument"]
    assert program.id == "https://github.com/escape/spectral-fit/tree/4f2a9c1e0b7d"
    assert program["version"] == "4f2a9c1e0b7d" and program["image"].endswith(":4f2a9c1e0b7d")
    assert action["actionStatus"].id == "http://schema.org/CompletedActionStatus"
    assert action["startTime"] == "2026-12-02T10:00:01+00:00" and action["endTime"] == "2026-12-02T10:00:40+00:00"
    assert action["location"]["serviceType"] == "binderhub"
    image, did = action["object"]
    assert (
        image.id == "https://vo.astron.nl/getproduct/APERTIF_DR1/image.fits" and image["encodingFormat"] == "image/fits"
    )
    assert {(p["propertyID"], p["value"]) for p in image["identifier"]} == {
        ("identifier", "ivo://astron.nl/apertif?190807041_AP_B001"),
        ("md5", "9e107d9d372bb6826bd81d3542a419d6"),
    }
    assert {(p["propertyID"], p["value"]) for p in did["identifier"]} >= {
        ("identifier", "escape:run42.h5"),
        ("adler32", "0a1b2c3d"),
    }
    phases = [graph[ref["@id"]] for ref in graph["./"]["mentions"][1:]]
    assert [(p["name"], p["startTime"]) for p in phases] == [
        ("queued", "2026-12-02T10:00:00+00:00"),
        ("building", "2026-12-02T10:00:04+00:00"),
        ("ready", "2026-12-02T10:00:40+00:00"),
    ]


def test_prov_reads_the_prov_json_back(recorded):
    from prov.model import PROV, ProvActivity, ProvAgent, ProvDocument, ProvEntity

    app, user, launch = recorded
    answer = app.test_client().get(
        f"/api/v1/launches/{launch.id}/provenance.prov.json", headers=bearer(app, user, ["launch"])
    )
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    document = ProvDocument.deserialize(content=answer.get_data(as_text=True), format="json")
    base = "http://localhost/launches/prov0123456789ab/"
    records = {str(record.identifier.uri): record for record in document.get_records() if record.identifier}

    launch_activity = records[base + "launch"]
    assert isinstance(launch_activity, ProvActivity)
    assert launch_activity.get_startTime() == T0 + timedelta(seconds=1)
    assert launch_activity.get_endTime() == T0 + timedelta(seconds=40)
    assert _value(launch_activity, "status") == "ready"

    software = records[base + "software"]
    assert isinstance(software, ProvEntity)
    assert _value(software, "commit") == "4f2a9c1e0b7d" and _value(software, "image").endswith(":4f2a9c1e0b7d")
    first, second = records[base + "data/1"], records[base + "data/2"]
    assert _value(first, "identifier") == "ivo://astron.nl/apertif?190807041_AP_B001"
    assert _value(first, "md5") == "9e107d9d372bb6826bd81d3542a419d6"
    assert _value(second, "adler32") == "0a1b2c3d" and _value(second, "fetch") == "rucio"
    assert isinstance(records[base + "facility"], ProvAgent) and isinstance(records[base + "launched-by"], ProvAgent)
    assert [_label(records[base + f"phase/{n}"]) for n in (1, 2, 3)] == ["queued", "building", "ready"]

    used = {
        (str(r.get_attribute(PROV["activity"]).pop()), str(r.get_attribute(PROV["entity"]).pop()))
        for r in document.get_records()
        if r.get_type() == PROV["Usage"]
    }
    assert {str(records[base + name].identifier) for name in ("software", "data/1", "data/2")} == {e for _, e in used}
    associated = [r for r in document.get_records() if r.get_type() == PROV["Association"]]
    assert len(associated) == 2
    informed = [r for r in document.get_records() if r.get_type() == PROV["Communication"]]
    assert len(informed) == 3
    assert "never-in-provenance" not in answer.get_data(as_text=True)


def _value(record, name: str):
    (value,) = [value for key, value in record.attributes if key.localpart == name]
    return value


def _label(record) -> str:
    from prov.model import PROV_LABEL

    (value,) = record.get_attribute(PROV_LABEL)
    return str(value)


def test_a_failed_launch_says_so_in_both(app, db):
    user = make_user(app, "bob")
    launch = _launch(user, status="failed", id="failed0123456789")
    db.add(launch)
    db.commit()
    client, auth = app.test_client(), bearer(app, user, ["launch"])
    crate = client.get(f"/api/v1/launches/{launch.id}/provenance.crate.zip", headers=auth).data
    metadata = json.loads(zipfile.ZipFile(io.BytesIO(crate)).read("ro-crate-metadata.json"))
    (action,) = [entity for entity in metadata["@graph"] if entity["@type"] == "CreateAction"]
    assert action["actionStatus"] == {"@id": "http://schema.org/FailedActionStatus"}
    assert action["error"] == "the build failed"
    prov_json = json.loads(client.get(f"/api/v1/launches/{launch.id}/provenance.prov.json", headers=auth).data)
    assert prov_json["activity"]["launch"]["esap:status"] == "failed"
    assert "session" not in prov_json.get("entity", {})  # nothing was generated


def test_provenance_is_only_for_the_launchs_owner(recorded):
    app, _, launch = recorded
    other = make_user(app, "mallory")
    client = app.test_client()
    for suffix in ("crate.zip", "prov.json"):
        answer = client.get(f"/api/v1/launches/{launch.id}/provenance.{suffix}", headers=bearer(app, other, ["launch"]))
        assert answer.status_code == 404 and answer.get_json()["message"] == "You have no launch with that id."
    refused = client.get(
        f"/api/v1/launches/{launch.id}/provenance.prov.json", headers=bearer(app, other, ["basket:read"])
    )
    assert refused.status_code == 403


def test_the_launch_page_links_both(app, db):
    from esap_core import accounts

    with app.app_context():
        local = accounts.local_user()
    launch = _launch(local, id="page0123456789ab")
    db.add(launch)
    db.commit()
    page = BeautifulSoup(app.test_client().get(f"/launches/{launch.id}").data, "html.parser")
    links = {a.get_text(strip=True): a["href"] for a in page.select(".provenance-links a")}
    assert links == {
        "RO-Crate (ZIP)": f"/api/v1/launches/{launch.id}/provenance.crate.zip",
        "W3C PROV-JSON": f"/api/v1/launches/{launch.id}/provenance.prov.json",
    }
    client = app.test_client()
    assert client.get(links["W3C PROV-JSON"]).status_code == 200  # the browser's login is enough


def test_checksums_are_read_from_both_payload_shapes():
    assert provenance.checksums({"checksums": {"adler32": "1", "md5": "2", "crc": "x"}}) == {"adler32": "1", "md5": "2"}
    assert provenance.checksums({"checksum": "SHA256:abc"}) == {"sha256": "abc"}
    assert provenance.checksums({"checksum": "nonsense"}) == {}

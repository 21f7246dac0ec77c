"""The local Zenodo checked by clients nobody here wrote: eossr (the OSSR's tooling) and zenodo-client publish
through it, and make new versions, as they do on zenodo.org.

Neither client takes a base URL. eossr reads its module globals ``zenodo_api_base_url`` (when a
``ZenodoAPI`` is made and at every query), so the test sets that global; zenodo-client's
``Zenodo`` keeps its URLs in instance attributes (``api_base``, ``depositions_base``) set in
its constructor, so the test sets those on the instance. No client code is changed.
"""

from __future__ import annotations

import json

import pytest
import requests


@pytest.fixture
def eossr_api(zenodo_deposit_api, monkeypatch):
    from eossr.api.zenodo import zenodo

    monkeypatch.setattr(zenodo, "zenodo_api_base_url", f"{zenodo_deposit_api.url}/api/")
    return zenodo.ZenodoAPI(access_token=zenodo_deposit_api.token)


@pytest.fixture
def zenodo_client(zenodo_deposit_api):
    from zenodo_client import Zenodo

    client = Zenodo(access_token=zenodo_deposit_api.token)
    client.base = zenodo_deposit_api.url
    client.api_base = f"{zenodo_deposit_api.url}/api"
    client.depositions_base = f"{client.api_base}/deposit/depositions"
    return client


EOSSR_METADATA = {
    "title": "An OSSR analysis",
    "upload_type": "software",
    "description": "<p>Made with eossr.</p>",
    "creators": [{"name": "Vuillaume, Thomas", "affiliation": "LAPP"}],
    "access_right": "open",
    "license": "MIT",
    "keywords": ["ESCAPE", "OSSR"],
}


def test_eossr_uploads_a_directory_and_publishes_it(eossr_api, zenodo_deposit_api, tmp_path, capsys):
    (tmp_path / "codemeta.json").write_text(json.dumps({"name": "demo"}))
    (tmp_path / "analysis.py").write_text("print('hello')\n")
    record_id = eossr_api.upload_dir_content(tmp_path, metadata=EOSSR_METADATA, publish=True)

    published = zenodo_deposit_api.server.published(record_id)
    assert sorted(published.files) == ["analysis.py", "codemeta.json"]
    assert published.metadata["doi"] == f"10.5281/zenodo.{record_id}"
    deposit = eossr_api.query_deposit(record_id).json()
    assert deposit["submitted"] is True and deposit["state"] == "done"
    assert deposit["doi_url"] == f"https://doi.org/10.5281/zenodo.{record_id}"
    assert f"Record {record_id} published" in capsys.readouterr().out


def test_eossr_makes_a_new_version_with_new_files(eossr_api, zenodo_deposit_api, tmp_path):
    (tmp_path / "v1.txt").write_text("one")
    first = eossr_api.upload_dir_content(tmp_path, metadata=EOSSR_METADATA, publish=True)
    (tmp_path / "v1.txt").unlink()
    (tmp_path / "v2.txt").write_text("two")
    second = eossr_api.upload_dir_content(tmp_path, record_id=first, metadata=EOSSR_METADATA, publish=True)

    old, new = zenodo_deposit_api.server.published(first), zenodo_deposit_api.server.published(int(second))
    assert int(second) != int(first) and new.conceptrecid == old.conceptrecid
    assert sorted(new.files) == ["v2.txt"] and sorted(old.files) == ["v1.txt"]  # eossr erased the inherited file
    with pytest.raises(Exception, match="400"):  # only the latest version can have a new one
        eossr_api.new_version_deposit(first)


def test_eossr_hears_zenodos_validation_errors(eossr_api):
    from eossr.api.zenodo.http_status import HTTPStatusError

    deposit_id = eossr_api.create_new_deposit().json()["id"]
    with pytest.raises(HTTPStatusError, match=r"metadata\.creators\.0\.name"):
        eossr_api.set_deposit_metadata(deposit_id, {**EOSSR_METADATA, "creators": [{"affiliation": "LAPP"}]})
    with pytest.raises(HTTPStatusError, match="Minimum one file must be provided"):
        eossr_api.set_deposit_metadata(deposit_id, EOSSR_METADATA)
        eossr_api.publish_deposit(deposit_id)
    eossr_api.erase_deposit(deposit_id)


def test_zenodo_client_creates_publishes_and_updates_a_record(zenodo_client, zenodo_deposit_api, tmp_path):
    from zenodo_client import Creator, Metadata

    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n")
    metadata = Metadata(
        title="A table from ESAP's test",
        upload_type="dataset",
        description="Published by zenodo-client",
        creators=[Creator(name="Hoyt, Charles Tapley", orcid="0000-0003-4423-4370")],
        version="2026-01-01",
    )
    created = zenodo_client.create(metadata, data).json()
    assert created["submitted"] is True and created["doi"] == f"10.5281/zenodo.{created['id']}"

    data.write_text("a,b\n1,2\n3,4\n")
    zenodo_client.update(str(created["id"]), data)
    versions = [
        d for d in zenodo_deposit_api.server.depositions.values() if d.conceptrecid == int(created["conceptrecid"])
    ]
    assert len(versions) == 2 and all(v.submitted for v in versions)
    newest = max(versions, key=lambda v: v.id)
    assert newest.files["table.csv"].size == len("a,b\n1,2\n3,4\n") and newest.metadata["version"] != "2026-01-01"


def test_a_published_deposition_cannot_be_changed(zenodo_client, zenodo_deposit_api, tmp_path):
    data = tmp_path / "one.txt"
    data.write_text("1")
    created = zenodo_client.create({"metadata": {**EOSSR_METADATA, "upload_type": "dataset"}}, data).json()
    headers = {"Authorization": f"Bearer {zenodo_deposit_api.token}"}
    put = requests.put(created["links"]["self"], json={"metadata": EOSSR_METADATA}, headers=headers, timeout=5)
    assert put.status_code == 400 and "edit action" in put.json()["message"]
    file_put = requests.put(f"{created['links']['bucket']}/two.txt", data=b"2", headers=headers, timeout=5)
    assert file_put.status_code == 403 and file_put.json()["status"] == 403
    assert requests.delete(created["links"]["self"], headers=headers, timeout=5).status_code == 403
    other = {"Authorization": f"Bearer {zenodo_deposit_api.other_token}"}
    assert requests.get(created["links"]["self"], headers=other, timeout=5).status_code == 404

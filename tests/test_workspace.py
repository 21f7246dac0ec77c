"""The workspace: its API, its page, its limits, a file into the basket and back out through the notebook client."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from esap_core import QuotaExceeded, Storage, StorageError, StoredFile, Usage, UserContext
from esap_core.testing import ConformanceError, check_storage
from tests.fixtures import LiveServer, bearer, csrf_headers, emptied_after, make_user
from tests.folder_storage import FolderStorage, FolderStoragePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
from esap_client import Basket  # noqa: E402

SCOPES = ("workspace:read", "workspace:write", "basket:read", "basket:write")


@pytest.fixture
def storage_root(tmp_path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def workspace_app(app_factory, storage_root):
    def make(quota=None, **config):
        return app_factory(extra_plugins=[("folder-storage", FolderStoragePlugin(storage_root, quota))], **config)

    return make


def _api(app, username="alice", scopes=SCOPES):
    user = make_user(app, username)
    return app.test_client(), bearer(app, user, scopes), user


def _put(client, headers, path, content: bytes):
    return client.put(
        f"/api/v1/workspace/files/{path}",
        data=content,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )


# --- the conformance check ---------------------------------------------------------------


def test_the_folder_storage_passes_the_storage_check(storage_root):
    storage = FolderStorage(storage_root, quota=100_000)
    usage = check_storage(storage, UserContext(username="alice"), UserContext(username="bob"))
    assert usage.quota == 100_000 and usage.used >= 3000
    assert list((storage_root / "alice").iterdir()) == []  # the check tidies up after itself


class Leaky(FolderStorage):
    """Ignores its quota and lets '..' out of a user's folder: what the check is there to catch."""

    def _file(self, user, path):
        return self._home(user) / path

    def write(self, user, path, stream, size, timeout):
        target = self._file(user, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = stream.read()
        target.write_bytes(data)
        return StoredFile(path, len(data))


def test_the_storage_check_catches_a_leaky_storage(storage_root):
    with pytest.raises(ConformanceError) as caught:
        check_storage(Leaky(storage_root, quota=100_000), UserContext(username="alice"), UserContext(username="bob"))
    message = str(caught.value)
    assert "did not raise StorageError" in message and "past the quota" in message


# --- the API ------------------------------------------------------------------------------


def test_without_a_storage_the_workspace_says_so(app):
    client, headers, _ = _api(app)
    answer = client.get("/api/v1/workspace/files", headers=headers)
    assert answer.status_code == 503 and "no workspace storage" in answer.get_json()["message"]


def test_a_named_storage_that_is_not_loaded_is_reported(workspace_app):
    app = workspace_app(workspace_storage="webdav")
    client, headers, _ = _api(app)
    answer = client.get("/api/v1/workspace/usage", headers=headers)
    assert answer.status_code == 503 and "'webdav' is not loaded" in answer.get_json()["message"]


def test_upload_list_download_usage_delete(workspace_app, storage_root):
    app = workspace_app(quota=10_000)
    client, headers, _ = _api(app)
    content = b"flux,error\n1.5,0.1\n"
    saved = _put(client, headers, "results/run%201/table.csv", content)
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["path"] == "results/run 1/table.csv" and saved.get_json()["size"] == len(content)
    assert (storage_root / "alice" / "results" / "run 1" / "table.csv").read_bytes() == content

    top = client.get("/api/v1/workspace/files", headers=headers).get_json()
    assert [(f["name"], f["folder"]) for f in top["files"]] == [("results", True)]
    inner = client.get("/api/v1/workspace/files", query_string={"folder": "results/run 1"}, headers=headers)
    (entry,) = inner.get_json()["files"]
    assert entry["name"] == "table.csv" and entry["size"] == len(content) and entry["modified"]

    usage = client.get("/api/v1/workspace/usage", headers=headers).get_json()
    assert usage == {"storage": "folders", "used": len(content), "quota": 10_000, "max_upload": 1024**3}

    download = client.get("/api/v1/workspace/files/results/run%201/table.csv", headers=headers)
    assert download.status_code == 200 and download.data == content
    assert "attachment" in download.headers["Content-Disposition"] and download.headers["Content-Length"] == "19"

    assert client.delete("/api/v1/workspace/files/results/run%201/table.csv", headers=headers).status_code == 204
    again = client.delete("/api/v1/workspace/files/results/run%201/table.csv", headers=headers)
    assert again.status_code == 404 and "no file" in again.get_json()["message"]
    missing = client.get("/api/v1/workspace/files/results/nothing.txt", headers=headers)
    assert missing.status_code == 404


def test_users_see_only_their_own_files(workspace_app):
    app = workspace_app()
    alice, alice_headers, _ = _api(app, "alice")
    _, bob_headers, _ = _api(app, "bob")
    assert _put(alice, alice_headers, "secret.txt", b"mine").status_code == 201
    assert alice.get("/api/v1/workspace/files", headers=bob_headers).get_json()["files"] == []
    assert alice.get("/api/v1/workspace/files/secret.txt", headers=bob_headers).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["..%2Fbob%2Fx.txt", "a/%2E%2E/%2E%2E/x.txt", "a//b.txt", "a%5Cb.txt", "bad%01name.txt", "./x.txt", "x" * 300],
)
def test_paths_that_leave_the_workspace_or_are_malformed_are_refused(workspace_app, storage_root, path):
    app = workspace_app()
    client, headers, _ = _api(app)
    answer = _put(client, headers, path, b"x")
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["message"] and "Traceback" not in answer.get_data(as_text=True)
    assert not any(p.is_file() for p in storage_root.rglob("*"))


def test_a_listing_of_a_parent_folder_is_refused(workspace_app):
    client, headers, _ = _api(workspace_app())
    answer = client.get("/api/v1/workspace/files", query_string={"folder": "../"}, headers=headers)
    assert answer.status_code == 400 and "stays inside your workspace" in answer.get_json()["message"]


def test_an_upload_past_the_quota_is_refused_with_what_is_left(workspace_app, storage_root):
    app = workspace_app(quota=100)
    client, headers, _ = _api(app)
    assert _put(client, headers, "first.bin", b"x" * 60).status_code == 201
    answer = _put(client, headers, "second.bin", b"y" * 60)
    assert answer.status_code == 507
    assert "40 bytes are left of your quota" in answer.get_json()["message"]
    whole = _put(client, headers, "huge.bin", b"z" * 200)
    assert whole.status_code == 507 and "whole workspace quota is 100 bytes" in whole.get_json()["message"]
    assert sorted(p.name for p in (storage_root / "alice").iterdir()) == ["first.bin"]


def test_an_upload_larger_than_allowed_or_of_unknown_size_is_refused(workspace_app, storage_root):
    app = workspace_app(workspace_max_upload_mb=0.001)  # 1048 bytes
    client, headers, _ = _api(app)
    answer = _put(client, headers, "big.bin", b"x" * 2000)
    assert answer.status_code == 413 and "at most 1.0 KiB" in answer.get_json()["message"]
    fits = _put(client, headers, "small.bin", b"x" * 1000)
    assert fits.status_code == 201
    chunked = client.put(
        "/api/v1/workspace/files/chunked.bin",
        input_stream=io.BytesIO(b"abc"),
        headers={**headers, "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"},
    )
    assert chunked.status_code == 411 and "Content-Length" in chunked.get_json()["message"]
    assert sorted(p.name for p in (storage_root / "alice").iterdir()) == ["small.bin"]


def test_uploads_above_the_usual_request_limit_pass(workspace_app):
    client, headers, _ = _api(workspace_app())
    content = bytes(range(256)) * 8192  # 2 MiB, over the 1 MiB other requests may carry
    assert _put(client, headers, "large.bin", content).status_code == 201
    assert client.get("/api/v1/workspace/files/large.bin", headers=headers).data == content
    too_big = client.post(
        "/api/v1/basket/items", data=b"x" * (2 * 1024 * 1024), headers={**headers, "Content-Type": "application/json"}
    )
    assert too_big.status_code == 413  # only the workspace's uploads get the larger limit


def test_the_workspace_scopes_are_required(workspace_app):
    app = workspace_app()
    client, reader, _ = _api(app, scopes=("workspace:read",))
    assert client.get("/api/v1/workspace/files", headers=reader).status_code == 200
    refused = _put(client, reader, "x.txt", b"x")
    assert refused.status_code == 403 and "'workspace:write'" in refused.get_json()["message"]
    _, basket_only, _ = _api(app, "bob", scopes=("basket:read",))
    assert client.get("/api/v1/workspace/usage", headers=basket_only).status_code == 403


def test_the_api_is_in_the_openapi_document(workspace_app):
    spec = workspace_app().test_client().get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/workspace/usage", "/api/v1/workspace/files", "/api/v1/workspace/files/{path}"} <= set(
        spec["paths"]
    )
    assert "put" in spec["paths"]["/api/v1/workspace/files/{path}"]


def test_a_storage_failure_is_a_502_with_its_message(app_factory, storage_root):
    class Broken(FolderStorage):
        def list(self, user, folder, timeout):
            raise StorageError("the server answered 500")

    plugin = FolderStoragePlugin(storage_root)
    plugin.storage = Broken(storage_root)
    app = app_factory(extra_plugins=[("broken-storage", plugin)])
    client, headers, _ = _api(app)
    answer = client.get("/api/v1/workspace/files", headers=headers)
    assert (
        answer.status_code == 502
        and "could not list its files: the server answered 500" in answer.get_json()["message"]
    )


# --- into the basket -------------------------------------------------------------------------


def test_a_workspace_file_becomes_a_basket_item(workspace_app):
    app = workspace_app()
    client, headers, _ = _api(app)
    _put(client, headers, "spectra/a.fits", b"SIMPLE  =")
    answer = client.post("/api/v1/workspace/basket", json={"path": "spectra/a.fits"}, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["added"] == 1 and body["identifier"] == "workspace:spectra/a.fits"
    assert body["fetch"] == {"method": "http", "url": "http://localhost/api/v1/workspace/files/spectra/a.fits"}
    (item,) = client.get("/api/v1/basket/items", headers=headers).get_json()["items"]
    assert item["archive"] == "workspace" and item["title"] == "a.fits" and item["payload"]["size"] == 9
    again = client.post("/api/v1/workspace/basket", json={"path": "spectra/a.fits"}, headers=headers)
    assert again.get_json()["added"] == 0
    missing = client.post("/api/v1/workspace/basket", json={"path": "spectra/none.fits"}, headers=headers)
    assert missing.status_code == 404


def test_the_notebook_client_fetches_a_workspace_item_and_saves_a_file(database_url, redis_url, tmp_path, storage_root):
    from esap_core.app import create_app

    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": []}, extra_plugins=[("folder", FolderStoragePlugin(storage_root))])
    with emptied_after(app), LiveServer(app) as server:
        user = make_user(app, "carol")
        from esap_core import tokens

        with app.app_context():
            token = tokens.mint_session_token(user, "launch-1")  # what a launched session holds
        result = tmp_path / "session" / "result.csv"
        result.parent.mkdir()
        result.write_text("a,b\n1,2\n")
        client = Basket(server.url, token)
        saved = client.save(result, "results/result.csv")
        assert saved["path"] == "results/result.csv" and saved["size"] == 8
        assert (storage_root / "carol" / "results" / "result.csv").read_text() == "a,b\n1,2\n"

        headers = bearer(app, user, ("workspace:read", "basket:write"))
        with app.test_client() as browser:
            added = browser.post(
                "/api/v1/workspace/basket", json={"path": "results/result.csv"}, headers=headers, base_url=server.url
            )
        assert added.status_code == 201 and added.get_json()["fetch"]["url"].startswith(server.url)
        (item,) = client.items()
        fetched = client.fetch(item, directory=tmp_path / "data")
        assert fetched.read_text() == "a,b\n1,2\n" and fetched.name.startswith("result-")


def test_save_says_why_it_was_refused(database_url, redis_url, tmp_path, storage_root):
    from esap_client import ESAPError

    from esap_core.app import create_app

    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    plugin = FolderStoragePlugin(storage_root, quota=5)
    app = create_app({**config, "load_plugins": []}, extra_plugins=[("folder", plugin)])
    with emptied_after(app), LiveServer(app) as server:
        user = make_user(app, "dave")
        from esap_core import tokens

        with app.app_context():
            token = tokens.mint_session_token(user, "launch-2")
        big = tmp_path / "big.txt"
        big.write_text("more than five bytes")
        with pytest.raises(ESAPError, match="507 .*whole workspace quota is 5 bytes"):
            Basket(server.url, token).save(big)
        with pytest.raises(ESAPError, match="no file"):
            Basket(server.url, token).save(tmp_path / "absent.txt")
        assert not (storage_root / "dave").exists() or list((storage_root / "dave").iterdir()) == []


# --- the page ---------------------------------------------------------------------------------


def _browser(app):
    """A browser on the app's local single-user mode: its user is "local"."""
    return app.test_client(), "local"


def test_the_page_lists_files_with_sizes_dates_and_usage(workspace_app, storage_root):
    app = workspace_app(quota=1_000_000)
    client, user = _browser(app)
    long_name = "a-very-long-file-name-" * 8 + ".txt"
    home = storage_root / "local"
    (home / "plots").mkdir(parents=True)
    (home / long_name).write_bytes(b"x" * 2048)
    (home / "<img src=x onerror=alert(1)>.txt").write_bytes(b"y")
    page = client.get("/workspace")
    assert page.status_code == 200
    soup = BeautifulSoup(page.data, "html.parser")
    rows = soup.select("table.workspace-files tbody tr")
    names = [row.select_one("th").get_text(strip=True) for row in rows]
    assert names[0] == "plots/" and long_name in names and "<img src=x onerror=alert(1)>.txt" in names
    assert not soup.select("img[onerror]")  # the file name was escaped, not markup
    row = rows[names.index(long_name)]
    assert "2.0 KiB" in row.get_text() and row.select_one("time")["datetime"]
    assert "file-name" in row.select_one("th")["class"]  # wraps (overflow-wrap in esap.css)
    bar = soup.select_one("progress#workspace-usage-bar")
    assert bar["max"] == "1000000" and bar["value"] == "2049"
    assert soup.select_one('nav a[href="/workspace"]').get_text(strip=True) == "Workspace"
    download = row.select_one("a[download]")["href"]
    assert client.get(download).data == b"x" * 2048  # the page's link works with the browser's login
    inner = client.get("/workspace", query_string={"folder": "plots"})
    assert "This folder is empty." in inner.get_data(as_text=True)


def test_the_page_uploads_adds_to_the_basket_and_deletes(workspace_app, storage_root):
    app = workspace_app(quota=1_000_000)
    client, user = _browser(app)
    headers = {**csrf_headers(client), "HX-Request": "true"}
    content = b"0" * (3 * 1024 * 1024)  # over the 1 MiB other forms may carry
    # Encoded here, in memory: the test client's own encoding leaves a temporary file open for large bodies.
    stream, length, boundary = stream_encode_multipart(
        {"folder": "", "file": FileStorage(io.BytesIO(content), filename="big.bin")}, use_tempfile=False
    )
    upload = client.post(
        "/workspace/upload",
        data=stream.read(),
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert upload.status_code == 507 and "quota" in upload.get_data(as_text=True)  # 3 MiB > 1 MB quota
    upload = client.post(
        "/workspace/upload",
        data={"folder": "", "file": (io.BytesIO(b"hello"), "../../evil/notes.txt")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 200 and "Saved notes.txt" in upload.get_data(as_text=True)
    assert (storage_root / "local" / "notes.txt").read_bytes() == b"hello"  # only the name, never the path sent

    added = client.post("/workspace/basket", data={"path": "notes.txt"}, headers=headers)
    assert added.status_code == 200 and added.headers["HX-Trigger"] == "basket-changed"
    assert "Added notes.txt to your basket" in added.get_data(as_text=True)
    bad = client.post("/workspace/basket", data={"path": "../x"}, headers=headers)
    assert bad.status_code == 400 and "stays inside your workspace" in bad.get_data(as_text=True)

    deleted = client.post("/workspace/delete", data={"path": "notes.txt"}, headers=headers)
    assert deleted.status_code == 200 and "Deleted notes.txt" in deleted.get_data(as_text=True)
    assert not (storage_root / "local" / "notes.txt").exists()
    gone = client.post("/workspace/delete", data={"path": "notes.txt"}, headers=headers)
    assert gone.status_code == 404


def test_the_page_refuses_a_form_without_its_csrf_token(workspace_app, storage_root):
    client, _ = _browser(workspace_app())
    answer = client.post(
        "/workspace/upload", data={"file": (io.BytesIO(b"x"), "x.txt")}, content_type="multipart/form-data"
    )
    assert answer.status_code == 403 and not (storage_root / "local" / "x.txt").exists()


def test_the_page_without_a_storage_says_so(app):
    client, _ = _browser(app)
    page = client.get("/workspace")
    assert page.status_code == 503 and "no workspace storage" in page.get_data(as_text=True)


def test_the_storage_types_are_the_public_ones():
    assert issubclass(FolderStorage, Storage) and QuotaExceeded.__mro__[1] is StorageError
    assert StoredFile("a").size == 0 and Usage(used=1).quota is None


# --- the staging notebook's save cell ------------------------------------------------------------


def test_the_staging_notebooks_save_cell_shows_an_example_that_works(
    database_url, redis_url, tmp_path, storage_root, monkeypatch
):
    import nbformat

    from esap_core import staging, tokens
    from esap_core.app import create_app

    files = staging.files("abc", {"name": "Tool"}, [], "http://127.0.0.1:9", "esap_secret")
    book = nbformat.reads(files[staging.NOTEBOOK], as_version=4)
    sources = [cell.source for cell in book.cells]
    assert sources[2].startswith("## Saving results") and sources[3] == staging.SAVE_CELL
    compile(staging.SAVE_CELL, "save cell", "exec")

    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, "load_plugins": []}, extra_plugins=[("folder", FolderStoragePlugin(storage_root))])
    with emptied_after(app), LiveServer(app) as server:
        user = make_user(app, "kim")
        with app.app_context():
            token = tokens.mint_session_token(user, "abc")
        session = tmp_path / "session"
        session.mkdir()
        (session / "result.fits").write_bytes(b"SIMPLE")
        (session / "plot.png").write_bytes(b"\x89PNG")
        monkeypatch.chdir(session)
        # The cell's example lines, as a researcher uncomments them, after the first cell made `basket`.
        examples = [line.removeprefix("#").split("#")[0].strip() for line in staging.SAVE_CELL.splitlines()]
        namespace = {"basket": Basket(server.url, token), "settings": {"api_url": server.url}}
        exec("\n".join(line for line in examples if line.startswith("basket.save(")), namespace)
        exec(staging.SAVE_CELL, namespace)  # as it is, it saves nothing and says where the workspace is
    assert (storage_root / "kim" / "result.fits").read_bytes() == b"SIMPLE"
    assert (storage_root / "kim" / "run-1" / "plot.png").read_bytes() == b"\x89PNG"
    assert sorted(p.name for p in (storage_root / "kim").iterdir()) == ["result.fits", "run-1"]

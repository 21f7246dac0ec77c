"""The Rucio workspace against the real Rucio test server: scopes, uploads to an RSE, account limits, refusals."""

from __future__ import annotations

import hashlib
import io
import secrets
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest
from esap_rucio.connection import Deadline, connect
from esap_rucio.plugin import register_storages
from esap_rucio.storage import UPLOAD_PREFIX, RucioStorage, did_name, path_of
from esap_rucio.testing import add_workspace_account
from rucio.common.exception import DataIdentifierNotFound

from esap_core import QuotaExceeded, Settings, StorageError, UserContext
from esap_core.testing import check_storage

RSE = "LOCAL_B"


@pytest.fixture
def rucio_server(rucio_workspace_server):
    """The workspace tests add accounts and scopes, so they have a server of their own: the others' stays as seeded."""
    return rucio_workspace_server


@pytest.fixture
def make_storage(make_instance):
    def make(**overrides) -> RucioStorage:
        return RucioStorage(make_instance(workspace_rse=RSE, **overrides))

    return make


@pytest.fixture
def esap_plugin_name():
    return "rucio"


@pytest.fixture
def esap_plugin_settings(rucio_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_RUCIO_PASSWORD", rucio_server.password)
    instance = {
        "name": "lake",
        "host": rucio_server.host,
        "auth": "userpass",
        "account": rucio_server.account,
        "username": rucio_server.username,
        "password": {"env": "ESAP_TEST_RUCIO_PASSWORD"},
        "workspace_rse": RSE,
    }
    return {"instances": [instance]}


@pytest.fixture
def storage(make_storage) -> RucioStorage:
    return make_storage()


@pytest.fixture
def make_user(rucio_server):
    """A user with a Rucio account of their own (a fresh name each time), its scope and ``limit`` bytes at RSE."""

    def make(limit: int | None = 1_000_000) -> UserContext:
        name = "ws" + secrets.token_hex(4)
        add_workspace_account(rucio_server, name, limit, RSE)
        return UserContext(username=name)

    return make


@pytest.fixture
def root(make_instance):
    """The server's root client, to see what really is in Rucio."""
    with connect(make_instance(), UserContext(username="root"), Deadline(30)) as client:
        yield client


def test_write_list_read_delete(storage, make_user, root, rucio_server):
    user = make_user()
    scope = f"user.{user.username}"
    content = b"a,b\n1,2\n"
    stored = storage.write(user, "runs/2026/out put.csv", io.BytesIO(content), len(content), 10)
    assert stored.path == "runs/2026/out put.csv" and stored.size == 8 and stored.modified is not None

    name = "runs/2026/out_-20-put.csv"
    meta = root.get_metadata(scope, name)
    assert (meta["bytes"], meta["adler32"]) == (8, f"{zlib.adler32(content) & 0xFFFFFFFF:08x}")
    assert meta["md5"] == hashlib.md5(content).hexdigest()
    (replica,) = root.list_replicas([{"scope": scope, "name": name}], schemes=["file"])
    (pfn,) = replica["rses"][RSE]
    on_disk = Path(pfn.removeprefix("file://localhost"))
    assert on_disk.read_bytes() == content and on_disk.is_relative_to(rucio_server.rse_root / RSE)
    (rule,) = root.list_replication_rules({"scope": scope, "name": name})
    assert (rule["account"], rule["rse_expression"], rule["state"]) == (user.username, RSE, "OK")

    assert [(f.path, f.folder) for f in storage.list(user, "", 10)] == [("runs", True)]
    assert [(f.path, f.folder) for f in storage.list(user, "runs", 10)] == [("runs/2026", True)]
    (entry,) = storage.list(user, "runs/2026", 10)
    assert (entry.path, entry.size, entry.folder) == ("runs/2026/out put.csv", 8, False)
    with storage.open(user, "runs/2026/out put.csv", 10) as stream:
        assert stream.read() == content
    assert storage.fetch_hint(user, "runs/2026/out put.csv") == {
        "method": "rucio",
        "did": f"{scope}:{name}",
        "host": rucio_server.host,
    }

    storage.delete(user, "runs/2026/out put.csv", 10)
    assert storage.list(user, "", 10) == []
    (rule,) = root.list_replication_rules({"scope": scope, "name": name})
    assert rule["expires_at"] is not None and rule["purge_replicas"]  # Rucio's soft delete: gone within the hour
    with pytest.raises(StorageError, match="There is no file"):
        storage.open(user, "runs/2026/out put.csv", 10)
    with pytest.raises(StorageError, match="There is no file"):
        storage.delete(user, "runs/2026/out put.csv", 10)
    with pytest.raises(StorageError, match="a name your Rucio scope has used"):
        storage.write(user, "runs/2026/out put.csv", io.BytesIO(b"new"), 3, 10)


def test_a_new_workspace_is_empty_and_a_folder_is_only_a_name_prefix(storage, make_user):
    user = make_user()
    assert storage.list(user, "", 10) == []
    assert storage.usage(user, 10).used == 0
    assert storage.list(user, "nowhere", 10) == []  # Rucio has no folders: names with '/'
    storage.write(user, "a/b.txt", io.BytesIO(b"b"), 1, 10)
    assert [f.path for f in storage.list(user, "a", 10)] == ["a/b.txt"]
    storage.delete(user, "a/b.txt", 10)
    assert storage.list(user, "", 10) == storage.list(user, "a", 10) == []


def test_a_file_is_not_replaced(storage, make_user):
    user = make_user()
    storage.write(user, "same.txt", io.BytesIO(b"first"), 5, 10)
    with pytest.raises(StorageError, match="already in your workspace.*another name"):
        storage.write(user, "same.txt", io.BytesIO(b"second"), 6, 10)
    with storage.open(user, "same.txt", 10) as stream:
        assert stream.read() == b"first"


class Untouchable(io.RawIOBase):
    def read(self, size=-1):
        raise AssertionError("a refused upload must not be read")


def test_the_account_limit_is_the_quota_and_refuses_before_sending(storage, make_user, root):
    user = make_user(limit=10_000)
    storage.write(user, "half.bin", io.BytesIO(b"x" * 6_000), 6_000, 10)
    usage = storage.usage(user, 10)
    assert (usage.used, usage.quota) == (6_000, 10_000)
    refusal = r"4\.9 KiB \(5000 bytes\) do not fit: 4000 bytes are left of your quota of 9\.8 KiB at LOCAL_B"
    with pytest.raises(QuotaExceeded, match=refusal):
        storage.write(user, "more.bin", Untouchable(), 5_000, 10)
    with pytest.raises(QuotaExceeded, match="4000 bytes are left"):
        storage.write(user, "exactly.bin", Untouchable(), 4_000, 10)  # Rucio wants more left than the file
    storage.write(user, "fits.bin", io.BytesIO(b"y" * 3_999), 3_999, 10)
    assert storage.usage(user, 10).used == 9_999
    assert sorted(f.path for f in storage.list(user, "", 10)) == ["fits.bin", "half.bin"]
    with pytest.raises(DataIdentifierNotFound):
        root.get_did(f"user.{user.username}", "more.bin")


def test_an_account_without_a_limit_has_no_room(storage, make_user):
    user = make_user(limit=None)
    assert storage.usage(user, 10).quota == 0
    with pytest.raises(QuotaExceeded, match="no quota at LOCAL_B: ask the Rucio administrators"):
        storage.write(user, "a.txt", Untouchable(), 1, 10)


def test_rucios_own_refusal_is_a_quota_refusal_and_leaves_no_bytes(storage, make_user, root, monkeypatch):
    user = make_user(limit=None)
    monkeypatch.setattr(storage, "_refuse_past_quota", lambda known, size: None)  # let Rucio itself judge
    with pytest.raises(QuotaExceeded, match="your account's quota at LOCAL_B is full"):
        storage.write(user, "refused.txt", io.BytesIO(b"no room"), 7, 10)
    assert storage.list(user, "", 10) == []
    scope = f"user.{user.username}"
    pfn = root.lfns2pfns(RSE, [f"{scope}:refused.txt"], operation="write", scheme="file")[f"{scope}:refused.txt"]
    assert not Path(pfn.removeprefix("file://localhost")).exists()


def test_a_short_upload_leaves_nothing(storage, make_user, root):
    user = make_user()
    with pytest.raises(StorageError, match="ended after 10 of its 1000 bytes"):
        storage.write(user, "cut.bin", io.BytesIO(b"only ten b"), 1000, 10)
    scope = f"user.{user.username}"
    with pytest.raises(DataIdentifierNotFound):
        root.get_did(scope, "cut.bin")
    pfn = root.lfns2pfns(RSE, [f"{scope}:cut.bin"], operation="write", scheme="file")[f"{scope}:cut.bin"]
    folder = Path(pfn.removeprefix("file://localhost")).parent
    assert not folder.exists() or not [p for p in folder.iterdir() if p.name.startswith(UPLOAD_PREFIX)]
    assert storage.list(user, "", 10) == []


def test_users_do_not_see_each_other(storage, make_user):
    alice, bob = make_user(), make_user()
    storage.write(alice, "private/diary.txt", io.BytesIO(b"mine"), 4, 10)
    assert [f.path for f in storage.list(alice, "", 10)] == ["private"]
    assert storage.list(bob, "", 10) == []
    with pytest.raises(StorageError, match="There is no file"):
        storage.open(bob, "private/diary.txt", 10)
    with pytest.raises(StorageError, match="There is no file"):
        storage.delete(bob, "private/diary.txt", 10)
    assert storage.fetch_hint(bob, "private/diary.txt")["did"] == f"user.{bob.username}:private/diary.txt"


@pytest.mark.parametrize("path", ["../bob/secret.txt", "a/../../bob/secret.txt", "./x", "a//b", "a\\b", "\x00", ""])
def test_paths_leaving_the_workspace_are_refused(storage, make_user, path):
    user = make_user()
    for call in (storage.open, storage.delete):
        with pytest.raises(StorageError, match="not a path inside your workspace|needs a name"):
            call(user, path, 10)
    with pytest.raises(StorageError, match="not a path inside your workspace|needs a name"):
        storage.write(user, path, io.BytesIO(b"x"), 1, 10)


@pytest.mark.parametrize(
    ("path", "words"),
    [(".hidden", "begins with a letter or a digit"), ("ü.txt", "begins with a letter"), ("x" * 251, "at most 250")],
)
def test_paths_rucio_cannot_name_are_refused_with_a_reason(storage, make_user, path, words):
    with pytest.raises(StorageError, match=words):
        storage.write(make_user(), path, Untouchable(), 1, 10)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("plain/file_000.dat", "plain/file_000.dat"),
        ("result ü.txt", "result_-20-_-fc-.txt"),
        ("a_-b", "a_-b"),  # Rucio holds it as it is: no encoding to mistake it for
        ("a_-20-b", "a_-5f--20-b"),  # looks like an encoding: its '_' is encoded
        ("a _-x", "a_-20-_-5f--x"),
        ("x/.y/€", "x/.y/_-20ac-"),
    ],
)
def test_paths_and_did_names_map_both_ways(path, name):
    assert did_name(path) == name
    assert path_of(name) == path


def test_names_in_the_scope_that_esap_did_not_write_are_listed_as_they_are(storage, make_user, root):
    user = make_user()
    scope = f"user.{user.username}"
    for name, data in (("raw/run_20-_-zz-.fits", b"one"), ("/abs/path.fits", b"two")):
        record = {"scope": scope, "name": name, "bytes": len(data), "adler32": f"{zlib.adler32(data):08x}"}
        root.add_replicas(RSE, [record])
        root.add_replication_rule([{"scope": scope, "name": name}], 1, RSE, account=user.username)
    assert [f.path for f in storage.list(user, "raw", 10)] == ["raw/run_20-_-zz-.fits"]
    assert [f.path for f in storage.list(user, "", 10)] == ["raw"]  # '/abs/...' has no workspace path


@pytest.mark.parametrize(
    ("username", "words"),
    [
        ("Alice", "does not make a Rucio account name"),
        ("alice@example.org", "does not make a Rucio account name"),
        ("a" * 26, "does not make a Rucio account name"),
        ("a" * 21, "would be the scope"),
        ("root", "ESAP's own Rucio account"),
    ],
)
def test_usernames_that_make_no_account_or_scope_are_refused(storage, username, words):
    with pytest.raises(StorageError, match=words):
        storage.list(UserContext(username=username), "", 10)


def test_a_user_without_a_rucio_account_is_told_so(storage):
    with pytest.raises(StorageError, match="has no account 'nosuchuser' for your workspace"):
        storage.usage(UserContext(username="nosuchuser"), 10)


def test_the_account_and_scope_templates_are_the_settings(make_storage, make_user, root):
    user = make_user()
    named = UserContext(username=user.username.removeprefix("ws"))
    storage = make_storage(workspace_account="ws{username}", workspace_scope="user.{account}")
    storage.write(named, "t.txt", io.BytesIO(b"t"), 1, 10)
    assert root.get_did(f"user.{user.username}", "t.txt")["bytes"] == 1


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"workspace_scope": "shared"}, "must hold {account} or {username}"),
        ({"workspace_scope": "user.{account}{acount}"}, "may hold only"),
        ({"workspace_account": "esap"}, "must hold {username}"),
        ({"workspace_account": "{username"}, "cannot be read"),
        ({"workspace_max_files": 0}, "positive integer"),
    ],
)
def test_bad_workspace_settings_name_the_key(make_instance, values, words):
    with pytest.raises(ValueError, match=words):
        make_instance(workspace_rse=RSE, **values)


def test_a_storage_is_registered_only_where_an_instance_asks_for_one(rucio_server):
    base = {"host": rucio_server.host, "auth": "token"}
    found = []
    register_storages(found.append, Settings("rucio", {"instances": [{"name": "plain", **base}]}))
    assert found == []
    settings = {"instances": [{"name": "plain", **base}, {"name": "lake", "workspace_rse": RSE, **base}]}
    register_storages(found.append, Settings("rucio", settings))
    assert [(s.name, s.rse, s.title) for s in found] == [("lake", RSE, "lake workspace")]


def test_the_storage_passes_the_conformance_check(storage, make_user):
    usage = check_storage(storage, make_user(limit=200_000), make_user())
    assert usage.quota == 200_000


def test_the_conformance_check_passes_with_an_unlimited_account(storage, make_user):
    assert check_storage(storage, make_user(limit=-1), make_user()).quota is None


def test_the_storage_as_esap_loads_it_passes_the_conformance_check(esap_app, make_user):
    storage = esap_app.extensions["esap.plugins"].storages["lake"]
    assert check_storage(storage, make_user(limit=500_000), make_user()).quota == 500_000


def test_a_session_saves_into_the_rucio_workspace_and_the_file_becomes_a_rucio_basket_item(
    esap_app, esap_client, esap_user, rucio_server, root
):
    """Through ESAP's API as the notebook client's ``save()`` calls it: the bytes land in the user's scope at
    the workspace RSE, the quota is the account's limit, and the basket item names the DID a session fetches."""
    from esap_core import tokens

    add_workspace_account(rucio_server, esap_user.username, 2_000, RSE)
    with esap_app.app_context():
        session_token = tokens.mint_session_token(esap_user, "launch-1")  # what a session's client sends
    headers = {"Authorization": f"Bearer {session_token}", "Content-Type": "application/octet-stream"}
    content = b"wavelength,flux\n656.3,1.0\n"
    saved = esap_client.put(
        "/api/v1/workspace/files/results/spectrum.csv",
        data=content,
        headers=headers,
    )
    assert saved.status_code == 201, saved.get_json()

    scope = f"user.{esap_user.username}"
    [replica] = list(root.list_replicas([{"scope": scope, "name": did_name("results/spectrum.csv")}]))
    assert replica["bytes"] == len(content) and replica["adler32"] == f"{zlib.adler32(content):08x}"
    assert esap_client.get("/api/v1/workspace/files/results/spectrum.csv").data == content

    too_big = esap_client.put("/api/v1/workspace/files/big.bin", data=b"0" * 2_500, headers=headers)
    assert too_big.status_code == 507 and "quota" in too_big.get_json()["message"]
    assert [entry["path"] for entry in esap_client.get("/api/v1/workspace/files").get_json()["files"]] == ["results"]

    with esap_client.session_transaction() as browser:  # the page's way: the browser's login and its CSRF token
        browser["csrf"] = "test-csrf-token"
    added = esap_client.post(
        "/api/v1/workspace/basket", json={"path": "results/spectrum.csv"}, headers={"X-CSRF-Token": "test-csrf-token"}
    )
    assert added.status_code == 201, added.get_json()
    fetch = added.get_json()["fetch"]
    assert fetch == {"method": "rucio", "did": f"{scope}:{did_name('results/spectrum.csv')}", "host": rucio_server.host}

    # What a Rucio download in the next session copies: the replica at the workspace RSE holds the bytes.
    [replica] = list(root.list_replicas([{"scope": scope, "name": did_name("results/spectrum.csv")}], schemes=["file"]))
    [pfn] = list(replica["pfns"])
    assert replica["rses"].keys() == {RSE} and Path(urlparse(pfn).path).read_bytes() == content

"""The webdav storage against a real WsgiDAV server: files, folders, quotas, refusals, and users kept apart."""

from __future__ import annotations

import io

import pytest
from esap_webdav.storage import UPLOAD_PREFIX, folder_name

from esap_core import QuotaExceeded, Secret, StorageError, UserContext


def test_write_list_read_delete(make_storage, alice, webdav_server):
    storage = make_storage("plain")
    stored = storage.write(alice, "runs/2026/out put.csv", io.BytesIO(b"a,b\n1,2\n"), 8, 10)
    assert stored.path == "runs/2026/out put.csv" and stored.size == 8 and stored.modified is not None
    assert (webdav_server.root / "plain" / "alice" / "runs" / "2026" / "out put.csv").read_bytes() == b"a,b\n1,2\n"
    assert [(f.path, f.folder) for f in storage.list(alice, "", 10) if f.path == "runs"] == [("runs", True)]
    (entry,) = storage.list(alice, "runs/2026", 10)
    assert entry.path == "runs/2026/out put.csv" and entry.size == 8 and not entry.folder
    with storage.open(alice, "runs/2026/out put.csv", 10) as stream:
        assert stream.read() == b"a,b\n1,2\n"
    storage.delete(alice, "runs/2026/out put.csv", 10)
    assert storage.list(alice, "runs/2026", 10) == []
    with pytest.raises(StorageError, match="no file"):
        storage.delete(alice, "runs/2026/out put.csv", 10)


def test_a_new_users_folder_is_made_on_first_use(make_storage, webdav_server):
    newcomer = UserContext(username="newcomer")
    storage = make_storage("plain")
    assert storage.list(newcomer, "", 10) == []
    assert (webdav_server.root / "plain" / "newcomer").is_dir()
    assert storage.usage(newcomer, 10).used == 0


def test_a_missing_folder_is_an_error(make_storage, alice):
    with pytest.raises(StorageError, match="no folder 'nowhere'"):
        make_storage("plain").list(alice, "nowhere", 10)


def test_replacing_a_file_keeps_one(make_storage, alice):
    storage = make_storage("plain")
    storage.write(alice, "same.txt", io.BytesIO(b"first"), 5, 10)
    storage.write(alice, "same.txt", io.BytesIO(b"second!"), 7, 10)
    with storage.open(alice, "same.txt", 10) as stream:
        assert stream.read() == b"second!"
    assert [f.path for f in storage.list(alice, "", 10)].count("same.txt") == 1


def test_the_servers_quota_is_read_and_refuses_before_sending(make_storage, webdav_server):
    user = UserContext(username="quota-user")
    storage = make_storage("quota")
    storage.write(user, "half.bin", io.BytesIO(b"x" * 40_000), 40_000, 10)
    usage = storage.usage(user, 10)
    assert (usage.used, usage.quota) == (40_000, webdav_server.user_quota)

    class Untouchable(io.RawIOBase):
        def read(self, size=-1):
            raise AssertionError("a refused upload must not be read")

    refusal = r"24\.9 KiB \(25537 bytes\) do not fit: 25536 bytes are left of your quota of 64\.0 KiB"
    with pytest.raises(QuotaExceeded, match=refusal):
        storage.write(user, "more.bin", Untouchable(), 30_000 - 4_464 + 1, 10)
    # Replacing needs room for both copies while the new one uploads beside the old (then MOVE).
    storage.write(user, "half.bin", io.BytesIO(b"y" * 20_000), 20_000, 10)
    assert storage.usage(user, 10).used == 20_000


def test_a_507_from_the_server_is_a_quota_refusal_and_leaves_nothing(make_storage, webdav_server):
    user = UserContext(username="trusting-user")
    storage = make_storage("quota", server_quota=False)  # ESAP does not look first: the server says no
    with pytest.raises(QuotaExceeded, match="your quota there is full"):
        storage.write(user, "big.bin", io.BytesIO(b"z" * 70_000), 70_000, 10)
    folder = webdav_server.root / "quota" / "trusting-user"
    assert [path.name for path in folder.iterdir()] == []


def test_the_configured_quota_counts_the_listing(make_storage):
    user = UserContext(username="counted-user")
    storage = make_storage("plain", quota_mb=0.05)  # 52428 bytes
    storage.write(user, "a/b/c.bin", io.BytesIO(b"1" * 30_000), 30_000, 10)
    storage.write(user, "d.bin", io.BytesIO(b"2" * 20_000), 20_000, 10)
    assert storage.usage(user, 10).used == 50_000
    with pytest.raises(QuotaExceeded, match="2428 bytes are left"):
        storage.write(user, "e.bin", io.BytesIO(b"3" * 3_000), 3_000, 10)


def test_a_short_upload_leaves_nothing_under_its_name(make_storage, webdav_server):
    user = UserContext(username="short-user")
    storage = make_storage("plain")
    with pytest.raises(StorageError):
        storage.write(user, "cut.bin", io.BytesIO(b"only ten b"), 1000, 10)
    folder = webdav_server.root / "plain" / "short-user"
    assert not (folder / "cut.bin").exists()
    assert not [path for path in folder.iterdir() if path.name.startswith(UPLOAD_PREFIX)]
    assert storage.list(user, "", 10) == []


@pytest.mark.parametrize("path", ["../bob/secret.txt", "a/../../bob/secret.txt", "./x", "a//b", "a\\b", "\x00"])
def test_paths_leaving_the_users_folder_are_refused(make_storage, alice, path):
    storage = make_storage("plain")
    with pytest.raises(StorageError, match="not a path inside your workspace"):
        storage.open(alice, path, 10)
    with pytest.raises(StorageError):
        storage.write(alice, path, io.BytesIO(b"x"), 1, 10)


@pytest.mark.parametrize("username", ["..", "bob/../carol", "a%2Fb", "with space", "x" * 200])
def test_awkward_usernames_get_a_folder_of_their_own(username):
    name = folder_name(username)
    assert name.startswith("u-") and "/" not in name and ".." not in name
    assert folder_name("alice") == "alice" and folder_name("alice@example.org") == "alice@example.org"


def test_users_do_not_see_each_other(make_storage, alice, bob):
    storage = make_storage("plain")
    storage.write(alice, "private/diary.txt", io.BytesIO(b"mine"), 4, 10)
    assert all(not entry.path.startswith("private") for entry in storage.list(bob, "", 10))
    with pytest.raises(StorageError):
        storage.open(bob, "private/diary.txt", 10)


def test_wrong_credentials_are_reported_plainly(make_storage, alice):
    storage = make_storage("plain", password=Secret("wrong", "test"))
    with pytest.raises(StorageError, match=r"does not let ESAP list \(401\)"):
        storage.list(alice, "", 10)


def test_an_unreachable_server_is_a_storage_error(alice):
    from esap_webdav.settings import webdav_settings
    from esap_webdav.storage import WebDavStorage

    from esap_core import Settings
    from esap_core.testing import free_port

    url = f"http://127.0.0.1:{free_port()}/dav/"
    storage = WebDavStorage(webdav_settings(Settings("webdav", {"url": url, "auth": "none"})))
    with pytest.raises(StorageError, match="does not answer"):
        storage.usage(alice, 2)

"""The Rucio workspace: a user's own scope, files uploaded to one RSE, the account's limit there as the quota.

What Rucio really does with each call (rucio 41, generic policy):

- a **file** of the workspace is a file DID in the user's scope that the user's account keeps at
  the workspace RSE with a replication rule of no expiry (``rucio upload`` makes the same);
- **write** puts the bytes at the replica's PFN, which the server computes
  (``lfns2pfns``; the RSE's posix ``file`` protocol, so the storage is mounted on ESAP's
  machine), registers the replica with its size, adler32 and md5 (``add_replicas``) and adds
  the rule for the user's account (``add_replication_rule``), which Rucio checks against the
  account's limit at the RSE;
- **delete** deletes that rule with ``purge_replicas``: Rucio makes it expire in an hour (a soft
  delete), then its judge-cleaner removes it and the reaper the bytes. The DID's name stays taken:
  Rucio never gives a name to other bytes, so a deleted or existing path is not written again;
- **usage** is the account's usage at the RSE, which Rucio's abacus daemon counts from the
  rules' locks a while after they change, or the bytes of the account's rules at the RSE when
  those are more (rules abacus has not counted yet), against the account's local limit there.

Rucio names take letters, digits, ``.``, ``-``, ``_`` and ``/`` only: a workspace path is the DID
name with ``/`` between folders, and any other character written ``_-<hex code point>-``
(``result ü.txt`` is ``result_-20-_-fc-.txt``); names in the scope that are no such encoding
are shown as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import secrets
import string
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from esap_core import (
    ArchiveError,
    QuotaExceeded,
    Storage,
    StorageError,
    StoredFile,
    Usage,
    UserContext,
    detail_of,
)
from esap_rucio.connection import Deadline, connect, tighten
from esap_rucio.settings import Instance

PLAIN = frozenset(string.ascii_letters + string.digits + "._-")
ESCAPE = re.compile(r"_-([0-9a-f]{1,6})-")
VALID_NAME = re.compile(r"^[A-Za-z0-9][/A-Za-z0-9._-]*$")  # the generic schema's, without a leading '/'
NAME_LENGTH = 250
ACCOUNT = re.compile(r"^[a-z0-9_-]{1,25}$")
SCOPE = re.compile(r"^[A-Za-z0-9_.-]{1,25}$")
UPLOAD_PREFIX = ".esap-upload-"  # an upload under way, beside its PFN; never registered
CHUNK = 1 << 16
COMMENT = "ESAP workspace"


# --- names ------------------------------------------------------------------------------


def segments(path: str, folder: bool = False) -> list[str]:
    """The parts of a workspace path; :class:`StorageError` for one that would leave the user's scope."""
    parts = path.strip("/").split("/") if isinstance(path, str) and path.strip("/") else []
    if not isinstance(path, str) or (not parts and not folder):
        raise StorageError("A file needs a name.")
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise StorageError(f"{path!r} is not a path inside your workspace.")
    return parts


def _escape(text: str) -> str:
    out = []
    for index, character in enumerate(text):
        if character == "/" or (character in PLAIN and not (character == "_" and text[index + 1 : index + 2] == "-")):
            out.append(character)
        else:
            out.append(f"_-{ord(character):x}-")
    return "".join(out)


def _unescape(name: str) -> str | None:
    def character(match: re.Match) -> str:
        return chr(int(match.group(1), 16))

    try:
        return ESCAPE.sub(character, name)
    except (ValueError, OverflowError):  # past U+10FFFF
        return None


def path_of(name: str) -> str:
    """The workspace path of a DID name: decoded when it is ESAP's encoding of one, else the name itself."""
    decoded = _unescape(name)
    return decoded if decoded is not None and _escape(decoded) == name else name


def did_name(path: str) -> str:
    """The DID name of a workspace path (checked); :class:`StorageError` when Rucio could not hold it."""
    clean = "/".join(segments(path))
    name = _escape(clean)
    if name != clean and VALID_NAME.match(clean) and path_of(clean) == clean:
        name = clean  # a name Rucio holds as it is, which merely has a '_-' that is no encoding
    if not name[0].isascii() or not name[0].isalnum():
        raise StorageError(f"{clean!r}: in a Rucio workspace a path begins with a letter or a digit.")
    if len(name) > NAME_LENGTH:
        raise StorageError(
            f"{clean[:60]!r}...: Rucio takes names of at most {NAME_LENGTH} characters "
            f"(this one is {len(name)}, characters other than letters, digits, '.', '-' and '_' count 5 or more)."
        )
    return name


def _listed_path(name: str) -> str | None:
    """The path a DID name is listed under, or None when no workspace path reaches it (a leading '/', say)."""
    path = path_of(name)
    try:
        return path if did_name(path) == name else None
    except StorageError:
        return None


def _human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _bytes(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


# --- the storage ----------------------------------------------------------------------------


class RucioStorage(Storage):
    """One Rucio instance's workspaces: ``user.<account>`` scopes, files kept at ``workspace_rse``."""

    def __init__(self, instance: Instance):
        self.instance = instance
        self.name = instance.name
        self.rse = instance.workspace_rse
        self.title = instance.workspace_title or f"{instance.title} workspace"
        self.description = f"Workspaces as users' own Rucio scopes at {instance.host}, stored at the RSE {self.rse}"
        self.where = f"Rucio ({instance.title})"

    # --- connection and identity ----------------------------------------------------------

    @contextmanager
    def _rucio(self, user: UserContext, timeout: float) -> Iterator[tuple[Any, Deadline]]:
        """A client for ``user`` through the plugin's connection; its failures leave as StorageError."""
        deadline = Deadline(timeout)
        try:
            with connect(self.instance, user, deadline) as client:
                yield client, deadline
        except ArchiveError as error:
            cause = error.__cause__
            raise StorageError(str(error), detail_of(error) or (repr(cause) if cause else "")) from None

    def _workspace(self, client: Any, user: UserContext, deadline: Deadline) -> tuple[str, str]:
        """The user's Rucio account and scope: the token's account, or the settings' template for a service account."""
        if self.instance.auth == "token":
            tighten(client, deadline)
            account = str(client.whoami().get("account") or "")
        else:
            account = self.instance.workspace_account.format(username=user.username)
            if account == self.instance.account:
                raise StorageError(f"Your login maps to ESAP's own Rucio account {account!r}: it has no workspace.")
        if not ACCOUNT.match(account):
            raise StorageError(
                f"Your username {user.username!r} does not make a Rucio account name ({account!r}): Rucio takes "
                "lower-case letters, digits, '-' and '_', at most 25. Ask the administrator for a workspace account."
            )
        scope = self.instance.workspace_scope.format(account=account, username=user.username)
        if not SCOPE.match(scope):
            raise StorageError(
                f"Your workspace would be the scope {scope!r}, which Rucio does not take (letters, digits, "
                "'.', '-' and '_', at most 25): ask the administrator for a shorter account name."
            )
        return account, scope

    def _no_account(self, account: str, scope: str) -> StorageError:
        return StorageError(
            f"{self.where} has no account {account!r} for your workspace: ask its administrators to add it, "
            f"with the scope {scope!r} and a limit at {self.rse}."
        )

    # --- rules: what the workspace holds ---------------------------------------------------

    def _rules(self, client: Any, account: str, scope: str, deadline: Deadline, name: str | None = None) -> list[dict]:
        """The account's live file rules at the RSE in the scope (of one name, if given)."""
        filters = {"account": account, "scope": scope, "rse_expression": self.rse}
        if name is not None:
            filters["name"] = name
        tighten(client, deadline)
        limit = self.instance.workspace_max_files
        found = list(itertools.islice(client.list_replication_rules(filters), limit + 1))
        if len(found) > limit:
            raise StorageError(f"Your workspace holds over {limit} files, more than ESAP lists: tidy it in Rucio.")
        return [
            rule
            for rule in found
            if str(rule.get("did_type") or "").rpartition(".")[2] == "FILE"
            and rule.get("expires_at") is None  # a rule with an expiry is a deletion under way (or a staging)
            and isinstance(rule.get("name"), str)
        ]

    def _rule(self, client: Any, account: str, scope: str, name: str, deadline: Deadline) -> dict | None:
        rules = self._rules(client, account, scope, deadline, name)
        return next((rule for rule in rules if rule["name"] == name), None)

    # --- usage ------------------------------------------------------------------------------

    def usage(self, user: UserContext, timeout: float) -> Usage:
        with self._rucio(user, timeout) as (client, deadline):
            account, scope = self._workspace(client, user, deadline)
            return self._usage(client, account, scope, deadline)

    def _usage(self, client: Any, account: str, scope: str, deadline: Deadline) -> Usage:
        from rucio.common.exception import AccountNotFound

        try:
            tighten(client, deadline)
            limit = client.get_local_account_limit(account, self.rse).get(self.rse)
            tighten(client, deadline)
            counted = sum(
                _bytes(row.get("bytes"))
                for row in client.get_local_account_usage(account, self.rse)
                if row.get("rse") == self.rse
            )
        except AccountNotFound:
            raise self._no_account(account, scope) from None
        tighten(client, deadline)
        held = sum(
            _bytes(rule.get("bytes"))
            for rule in client.list_replication_rules({"account": account, "rse_expression": self.rse})
        )
        used = max(counted, held)
        if limit is None:
            return Usage(used=used, quota=0)  # no limit at the RSE: Rucio takes no rule of the account there
        if isinstance(limit, float) and limit == float("inf"):
            return Usage(used=used)  # -1: unlimited
        return Usage(used=used, quota=int(limit))

    # --- listing and reading ----------------------------------------------------------------

    def list(self, user: UserContext, folder: str, timeout: float) -> list[StoredFile]:
        wanted = "/".join(segments(folder, folder=True))
        prefix = wanted + "/" if wanted else ""
        with self._rucio(user, timeout) as (client, deadline):
            account, scope = self._workspace(client, user, deadline)
            rules = self._rules(client, account, scope, deadline)
        files: dict[str, StoredFile] = {}
        for rule in rules:
            path = _listed_path(rule["name"])
            if path is None or not path.startswith(prefix):
                continue
            first, _, rest = path[len(prefix) :].partition("/")
            modified = _moment(rule.get("created_at"))
            if rest:  # a folder: the newest date of what it holds
                known = files.get(prefix + first)
                dates = [modified, known.modified if known and known.folder else None]
                files[prefix + first] = StoredFile(prefix + first, 0, max(filter(None, dates), default=None), True)
            elif path not in files:
                files[path] = StoredFile(path, _bytes(rule.get("bytes")), modified, False)
        return sorted(files.values(), key=lambda entry: entry.path)

    def open(self, user: UserContext, path: str, timeout: float) -> BinaryIO:
        name = did_name(path)
        with self._rucio(user, timeout) as (client, deadline):
            account, scope = self._workspace(client, user, deadline)
            if self._rule(client, account, scope, name, deadline) is None:
                raise StorageError(f"There is no file {path!r}.")
            tighten(client, deadline)
            replicas = list(
                client.list_replicas(
                    [{"scope": scope, "name": name}], schemes=["file"], rse_expression=self.rse, sort="random"
                )
            )
            pfns = [pfn for replica in replicas for pfn in (replica.get("rses") or {}).get(self.rse, [])]
            if not pfns:
                raise StorageError(f"{self.where} lists no copy of {path!r} at {self.rse} that ESAP can read.")
            local = self._local(client, pfns[0], deadline)
        try:
            return local.open("rb")
        except OSError as error:
            raise StorageError(f"The copy of {path!r} at {self.rse} cannot be read from here.", str(error)) from None

    def _local(self, client: Any, pfn: str, deadline: Deadline) -> Path:
        """The file a ``file://`` PFN names, checked to lie under the RSE's posix prefix."""
        parts = urlsplit(pfn)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise StorageError(
                f"ESAP reaches {self.rse} through its posix 'file' protocol only, and Rucio gives another.", pfn
            )
        tighten(client, deadline)
        prefixes = [
            str(protocol.get("prefix") or "")
            for protocol in client.get_protocols(self.rse)
            if protocol.get("scheme") == "file"
        ]
        local = Path(unquote(parts.path)).resolve()
        for prefix in filter(None, prefixes):
            if local.is_relative_to(Path(prefix).resolve()):
                return local
        raise StorageError(f"{self.where} gave a path outside the storage of {self.rse}.", pfn)

    # --- writing and deleting -----------------------------------------------------------------

    def write(self, user: UserContext, path: str, stream: BinaryIO, size: int, timeout: float) -> StoredFile:
        from rucio.common.exception import (
            AccountNotFound,
            DataIdentifierNotFound,
            InsufficientAccountLimit,
            ScopeNotFound,
        )

        clean, name = "/".join(segments(path)), did_name(path)
        with self._rucio(user, timeout) as (client, deadline):
            account, scope = self._workspace(client, user, deadline)
            tighten(client, deadline)
            try:
                client.get_did(scope, name)
            except DataIdentifierNotFound:
                pass
            else:
                held = self._rule(client, account, scope, name, deadline) is not None
                raise StorageError(
                    f"{clean!r} is "
                    + ("already in your workspace" if held else "a name your Rucio scope has used")
                    + ": Rucio never gives a file's name to other bytes, so save it under another name."
                )
            self._refuse_past_quota(self._usage(client, account, scope, deadline), size)
            tighten(client, deadline)
            pfn = client.lfns2pfns(self.rse, [f"{scope}:{name}"], operation="write", scheme="file")[f"{scope}:{name}"]
            local = self._local(client, pfn, deadline)
            adler32, md5 = self._store(local, stream, size)
            replica = {"scope": scope, "name": name, "bytes": size, "adler32": adler32, "md5": md5}
            try:
                tighten(client, deadline)
                client.add_replicas(self.rse, [replica])
                tighten(client, deadline)
                client.add_replication_rule(
                    [{"scope": scope, "name": name}], 1, self.rse, account=account, comment=COMMENT
                )
            except BaseException as error:
                self._forget(client, scope, name, local)
                if isinstance(error, InsufficientAccountLimit):
                    raise QuotaExceeded(
                        f"{self.where} refused {_human(size)}: your account's quota at {self.rse} is full.",
                        str(error),
                    ) from None
                if isinstance(error, ScopeNotFound):
                    raise StorageError(
                        f"{self.where} has no scope {scope!r} for your workspace: ask its administrators to add it.",
                        str(error),
                    ) from None
                if isinstance(error, AccountNotFound):
                    raise self._no_account(account, scope) from None
                raise
            rule = self._rule(client, account, scope, name, deadline)
        return StoredFile(clean, size, _moment(rule.get("created_at")) if rule else None, False)

    def _refuse_past_quota(self, known: Usage, size: int) -> None:
        if known.quota is None:
            return
        if known.quota == 0:
            raise QuotaExceeded(
                f"Your Rucio account has no quota at {self.rse}: ask the Rucio administrators for an account limit."
            )
        left = known.quota - known.used
        if size >= left:  # Rucio takes a rule only while more than its size is left
            raise QuotaExceeded(
                f"{_human(size)} ({size} bytes) do not fit: {max(left, 0)} bytes are left of your quota of "
                f"{_human(known.quota)} at {self.rse}, and Rucio takes only a file smaller than what is left."
            )

    def _store(self, local: Path, stream: BinaryIO, size: int) -> tuple[str, str]:
        """Write ``size`` bytes of ``stream`` at ``local``, through a temporary name; their adler32 and md5."""
        part = local.with_name(UPLOAD_PREFIX + secrets.token_hex(8))
        adler, md5, left = 1, hashlib.md5(), size
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            with part.open("xb") as out:
                while left > 0:
                    piece = stream.read(min(left, CHUNK))
                    if not piece:
                        raise StorageError(f"The upload ended after {size - left} of its {size} bytes.")
                    piece = piece[:left]
                    adler = zlib.adler32(piece, adler)
                    md5.update(piece)
                    out.write(piece)
                    left -= len(piece)
            os.replace(part, local)
        except OSError as error:
            raise StorageError(f"ESAP cannot write to the storage of {self.rse} here.", str(error)) from None
        finally:
            part.unlink(missing_ok=True)
        return f"{adler & 0xFFFFFFFF:08x}", md5.hexdigest()

    def _forget(self, client: Any, scope: str, name: str, local: Path) -> None:
        """Undo an upload Rucio did not take: the bytes go, and a replica it registered gets a tombstone."""
        local.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            client.set_tombstone([{"rse": self.rse, "scope": scope, "name": name}])

    def delete(self, user: UserContext, path: str, timeout: float) -> None:
        name = did_name(path)
        with self._rucio(user, timeout) as (client, deadline):
            account, scope = self._workspace(client, user, deadline)
            rule = self._rule(client, account, scope, name, deadline)
            if rule is None:
                raise StorageError(f"There is no file {path!r}.")
            tighten(client, deadline)
            client.delete_replication_rule(rule["id"], purge_replicas=True)

    # --- for sessions and jobs ----------------------------------------------------------------

    def fetch_hint(self, user: UserContext, path: str) -> Mapping[str, Any] | None:
        """The file as the rucio archive's basket items have it: its DID on this instance."""
        name = did_name(path)
        if self.instance.auth == "token":
            with self._rucio(user, 10) as (client, deadline):
                _, scope = self._workspace(client, user, deadline)
        else:
            _, scope = self._workspace(None, user, Deadline(0))
        return {"method": "rucio", "did": f"{scope}:{name}", "host": self.instance.host}

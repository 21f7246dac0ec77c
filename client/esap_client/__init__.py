"""ESAP's notebook client: your basket and its items, your jobs, saving results, your Dask cluster (stdlib only).

Sessions whose image lacks the client download this very module from ESAP, so it must
not need anything that an image may lack: HTTP goes through ``urllib``, and :func:`dask` imports
the Dask client only when it is called.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

__all__ = ["Basket", "ESAPError", "Jobs", "dask", "save", "settings"]
__version__ = "0.1.0"

SETTINGS_FILE = "esap_settings.json"
PAGE_SIZE = 500


class ESAPError(Exception):
    """ESAP or an item's source answered with an error; the message is theirs."""


def settings(api_url: str | None = None, token: str | None = None) -> tuple[str, str]:
    """The ESAP API URL and token: arguments, then the environment, then a settings file."""
    api_url = api_url or os.environ.get("ESAP_API_URL")
    token = token or os.environ.get("ESAP_TOKEN")
    if not (api_url and token):
        saved = _saved_settings()
        api_url, token = api_url or saved.get("api_url"), token or saved.get("token")
    if not (api_url and token):
        raise ESAPError("No ESAP settings: set ESAP_API_URL and ESAP_TOKEN, or put esap_settings.json here.")
    return api_url.rstrip("/"), token


def _settings_files() -> list[Path]:
    named = os.environ.get("ESAP_SETTINGS")
    return [Path(named)] if named else [Path.cwd() / SETTINGS_FILE, Path.home() / SETTINGS_FILE]


def _saved_settings() -> dict[str, Any]:
    """The first settings file found (``ESAP_SETTINGS``, here, or the home folder), or {}."""
    for path in _settings_files():
        if path.is_file():
            return json.loads(path.read_text())
    return {}


def dask(timeout: float = 30):
    """A ``distributed.Client`` connected to the Dask cluster ESAP launched beside this session.

    The settings file names the cluster, the gateway's scheduler proxy, and the cluster's own
    TLS certificate and key (they end with the cluster). Needs dask-gateway and distributed
    of the cluster's version in this kernel; they are imported only here.
    """
    cluster = _saved_settings().get("cluster") or {}
    if cluster.get("kind") != "dask":
        raise ESAPError("This session has no Dask cluster from ESAP: add one to the launch on ESAP's checkout page.")
    try:
        import dask_gateway  # noqa: F401  (it registers gateway://, the protocol of the gateway's scheduler proxy)
        from distributed import Client
        from distributed.security import Security
    except ImportError:
        raise ESAPError("Reaching the Dask cluster needs its client: pip install dask-gateway distributed") from None
    certificate, key = cluster["tls_cert"], cluster["tls_key"]
    security = Security(
        tls_ca_file=certificate, tls_client_cert=certificate, tls_client_key=key, require_encryption=True
    )
    return Client(f"{cluster['proxy_address']}/{cluster['cluster']}", security=security, timeout=timeout)


class Basket:
    """Your ESAP basket. ``api_url`` is ESAP's address, such as ``https://esap.example.org``."""

    def __init__(self, api_url: str | None = None, token: str | None = None, timeout: float = 60):
        self.api_url, token = settings(api_url, token)
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> bytes:
        url = f"{self.api_url}/api/v1{path}" + (f"?{urlencode(params)}" if params else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        with _open(urllib.request.Request(url, data=data, headers=headers, method=method), self.timeout) as response:
            return response.read()

    def _get_json(self, path: str, **params: Any) -> Any:
        return json.loads(self._call("GET", path, **params))

    def items(self, kind: str | None = None, archive: str | None = None) -> list[dict[str, Any]]:
        """Every item of the basket (``kind`` "data" or "software", or one ``archive``'s)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "page_size": PAGE_SIZE, "kind": kind, "archive": archive}
            answer = self._get_json("/basket/items", **{k: v for k, v in params.items() if v})
            found += answer["items"]
            if len(found) >= answer["total"] or not answer["items"]:
                return found
            page += 1

    def launch_items(self, launch_id: str) -> list[dict[str, Any]]:
        """The data items an ESAP launch took along (what its staging notebook fetches)."""
        return self._get_json(f"/launches/{launch_id}/data")["items"]

    def add(
        self, archive: str, identifier: str, title: str = "", fetch: dict | None = None, payload: dict | None = None
    ) -> bool:
        """Put an item of your own into the basket; ``True`` if it was not there yet."""
        item = {"archive": archive, "identifier": identifier, "title": title, "payload": payload or {}}
        if fetch:
            item["fetch"] = fetch
        return json.loads(self._call("POST", "/basket/items", item))["added"] == 1

    def remove(self, item: dict[str, Any] | int) -> None:
        item_id = item["id"] if isinstance(item, dict) else item
        self._call("DELETE", f"/basket/items/{item_id}")

    def table(self):
        """The basket as an astropy Table (from ESAP's VOTable)."""
        from astropy.table import Table

        return Table.read(io.BytesIO(self._call("GET", "/basket", format="votable")), format="votable")

    def dataframe(self):
        """The basket as a pandas DataFrame (from ESAP's CSV)."""
        import pandas

        return pandas.read_csv(io.StringIO(self._call("GET", "/basket", format="csv").decode("utf-8")))

    def send_samp(self, client: str | None = None, name: str = "ESAP basket", timeout: float = 30) -> dict[str, str]:
        """Send the basket's table to a SAMP client (TOPCAT, Aladin) through the hub on this machine.

        Uses the standard profile with astropy's SAMP client (``pyvo.samp``, where astropy's SAMP code
        lives since astropy 8, or ``astropy.samp`` before; ``pip install pyvo``), so it works
        where Jupyter runs on the researcher's own computer, beside the hub. ``client`` is a client's
        name (``"topcat"``) or id; ``None`` sends to every client that takes tables. The hub is the
        one ``SAMP_HUB`` names, else the one in ``~/.samp``. The table goes to a temporary file the
        client reads, so no ESAP token leaves this process. Returns ``{client id: SAMP status}``.
        """
        import tempfile

        package = _samp_package()
        package.conf.use_internet = False  # it would otherwise ask an outside host for this machine's name
        document = self._call("GET", "/basket", format="votable")
        folder = Path(tempfile.mkdtemp(prefix="esap-samp-"))
        path = folder / "basket.xml"
        path.write_bytes(document)
        samp = package.SAMPIntegratedClient(name="ESAP notebook", description="ESAP's notebook client")
        try:
            samp.connect()
        except package.SAMPHubError as error:
            shutil.rmtree(folder)
            raise ESAPError(f"No SAMP hub to send to ({error}): start TOPCAT or Aladin first.") from None
        try:
            message = {"samp.mtype": "table.load.votable", "samp.params": {"url": path.as_uri(), "name": name}}
            targets = _samp_targets(samp, client)
            return {target: _samp_call(samp, target, message, timeout) for target in targets}
        finally:  # each client answered once it had read the file
            samp.disconnect()
            shutil.rmtree(folder)

    def fetch(self, item: dict[str, Any], directory: str | os.PathLike = "."):
        """Get an item's data by its fetch hint: a file path (http, datalink, rucio) or a Table (tap)."""
        hint = item.get("fetch") or {}
        method = hint.get("method")
        key = str(item.get("identifier") or hint.get("url") or "")
        if method is None and "votable" in (item.get("payload") or {}):
            return _inline_table(item["payload"]["votable"])  # a table received over SAMP, kept in its item
        if method == "http":
            own = hint["url"].startswith(self.api_url + "/api/")  # a workspace file: ESAP wants the token
            headers = self.headers if own else {}
            return download(hint["url"], Path(directory), timeout=self.timeout, key=key, headers=headers)
        if method == "esap":  # ESAP's own API (a job's result): only there does the token go
            if not str(hint["url"]).startswith(self.api_url + "/api/"):
                raise ESAPError(f"{hint['url']!r} is not on this ESAP ({self.api_url}): its token is not sent there.")
            return download(hint["url"], Path(directory), timeout=self.timeout, key=key, headers=self.headers)
        if method == "datalink":
            return download(_datalink_product(hint["url"]), Path(directory), timeout=self.timeout, key=key)
        if method == "tap":
            return _tap(hint["service"], hint["adql"])
        if method == "rucio":
            staged = Path(item.get("staged_path") or "/nonexistent")
            return staged if staged.exists() else _rucio(hint["did"], Path(directory))  # staged here already
        raise ESAPError(
            f"Cannot fetch {item.get('title') or item.get('identifier')!r}: no known fetch method ({method!r})."
        )

    def save(self, path: str | os.PathLike, name: str | None = None) -> dict[str, Any]:
        """Upload the file at ``path`` to your ESAP workspace, as ``name`` (its file name unless given).

        ``name`` may hold folders (``results/run1.fits``). Streams the file; returns what the
        workspace lists for it (path, size, modified). Refused with ESAP's message when the file
        is larger than one upload may be or would pass your quota.
        """
        source = Path(path)
        if not source.is_file():
            raise ESAPError(f"There is no file {str(source)!r} to save.")
        target = (name or source.name).strip("/")
        url = f"{self.api_url}/api/v1/workspace/files/{quote(target, safe='/')}"
        headers = {
            **self.headers,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(source.stat().st_size),
        }
        with source.open("rb") as body:
            request = urllib.request.Request(url, data=body, headers=headers, method="PUT")
            with _open(request, self.timeout) as response:
                return json.loads(response.read())


def save(path: str | os.PathLike, name: str | None = None, api_url: str | None = None, token: str | None = None):
    """Upload a file from this session to your ESAP workspace (settings as for :class:`Basket`)."""
    return Basket(api_url, token).save(path, name)


FINAL_PHASES = ("COMPLETED", "ERROR", "ABORTED", "ARCHIVED")


class Jobs(Basket):
    """Your ESAP jobs: submit software with basket items to a job facility, wait for it, fetch its results.

    Needs a token with the ``jobs:read`` scope (and ``jobs:write`` to submit and cancel).
    """

    def submit(
        self,
        facility: str,
        software_id: int | None = None,
        items: list[int] | None = None,
        parameters: dict[str, Any] | None = None,
        command: str = "",
        notebook: str = "",
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Submit a job; returns it (``job["id"]``, ``job["phase"]``). ``items`` are basket item ids (all when None)."""
        body: dict[str, Any] = {"facility": facility, "parameters": parameters or {}, "options": options or {}}
        body.update({"command": command, "notebook": notebook})
        if software_id is not None:
            body["software_id"] = software_id
        if items is not None:
            body["items"] = list(items)
        return json.loads(self._call("POST", "/jobs", body))

    def get(self, job: dict[str, Any] | str) -> dict[str, Any]:
        return self._get_json(f"/jobs/{_job_id(job)}")

    def list(self, phase: str | None = None, facility: str | None = None) -> list[dict[str, Any]]:
        params = {key: value for key, value in (("phase", phase), ("facility", facility)) if value}
        return self._get_json("/jobs", **params)["jobs"]

    def wait(self, job: dict[str, Any] | str, timeout: float = 3600, poll: float = 2) -> dict[str, Any]:
        """The job once it has ended (COMPLETED, ERROR, ABORTED); ESAPError when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.get(job)
            if current["phase"] in FINAL_PHASES:
                return current
            if time.monotonic() > deadline:
                raise ESAPError(f"Job {current['id']} is still {current['phase']} after {timeout:g} s.")
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())) or poll)

    def cancel(self, job: dict[str, Any] | str) -> dict[str, Any]:
        return json.loads(self._call("POST", f"/jobs/{_job_id(job)}/cancel"))

    def log(self, job: dict[str, Any] | str) -> str:
        return self._get_json(f"/jobs/{_job_id(job)}/log")["log"]

    def results(self, job: dict[str, Any] | str) -> list[dict[str, Any]]:
        """The files the job produced: ``name``, ``size``, ``media_type``."""
        return self._get_json(f"/jobs/{_job_id(job)}/results")["results"]

    def fetch(self, job: dict[str, Any] | str, name: str | None = None, directory: str | os.PathLike = "."):
        """Download result ``name`` of ``job`` into ``directory`` and return its path.

        With one argument that is a basket item (a job's result put into the basket, or any other),
        fetch that item as :meth:`Basket.fetch` does.
        """
        if name is None and isinstance(job, dict) and "fetch" in job:
            return super().fetch(job, directory)
        if name is None:
            raise ESAPError("Say which result to fetch: jobs.fetch(job, 'name').")
        if name.startswith("/") or ".." in Path(name).parts:
            raise ESAPError(f"{name!r} is not a result's name.")
        url = f"{self.api_url}/api/v1/jobs/{_job_id(job)}/results/{quote(name)}"
        target = Path(directory) / Path(name).parent
        return download(url, target, timeout=self.timeout, key=f"{_job_id(job)}/{name}", headers=self.headers)

    def add_to_basket(self, job: dict[str, Any] | str, name: str) -> bool:
        """Put a result into your basket (needs ``basket:write``); ``True`` if it was not there yet."""
        return json.loads(self._call("POST", f"/jobs/{_job_id(job)}/basket", {"name": name}))["added"] == 1


def _job_id(job: dict[str, Any] | str) -> str:
    return quote(str(job["id"] if isinstance(job, dict) else job), safe="")


def download(url: str, directory: Path, timeout: float = 60, key: str = "", headers: dict | None = None) -> Path:
    """Download ``url`` into ``directory`` (streamed); returns the file's path.

    The file keeps the name the server gives it, with a short digest of ``key`` (the item's
    identifier) before its suffix: items whose files share a name (every cone search answers
    ``result.vot``) land in files of their own, and the same item in the same file each run.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ESAPError(f"Only http(s) URLs are downloaded, not {url!r}.")
    directory.mkdir(parents=True, exist_ok=True)
    with _open(urllib.request.Request(url, headers=headers or {}), timeout) as response:
        path = directory / _file_name(response.headers, url, key or url)
        with path.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 16)
    return path


def _open(request: urllib.request.Request, timeout: float):
    """Send ``request``; an HTTP error or an unreachable host becomes ESAPError with the server's message."""
    where = urlsplit(request.full_url).netloc
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        raise ESAPError(f"{error.code} from {where}: {message or error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ESAPError(f"{where} does not answer: {getattr(error, 'reason', error)}") from None


def _file_name(headers: Message, url: str, key: str) -> str:
    disposition = re.search(r'filename="?([^";]+)"?', headers.get("Content-Disposition", ""))
    name = disposition.group(1) if disposition else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^\w.-]+", "_", Path(name).name).strip("._") or "download"
    stem, dot, suffix = name.partition(".")
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{stem[:80]}-{digest}{dot}{suffix[:20]}"


def _samp_package():
    try:
        import pyvo.samp as package
    except ImportError:
        try:
            import astropy.samp as package
        except ImportError:
            raise ESAPError("Sending over SAMP needs pyvo (or astropy before 8): pip install pyvo") from None
    return package


def _samp_targets(samp, client: str | None) -> list[str]:
    """The ids of the clients that take tables, or of the one named ``client`` (by name or id)."""
    takers = list(samp.get_subscribed_clients("table.load.votable"))
    if client is None:
        if not takers:
            raise ESAPError("No SAMP client takes tables: start TOPCAT or Aladin.")
        return takers
    for target in takers:
        if client == target or client.lower() == str(samp.get_metadata(target).get("samp.name", "")).lower():
            return [target]
    raise ESAPError(f"No SAMP client named {client!r} takes tables.")


def _samp_call(samp, target: str, message: dict, timeout: float) -> str:
    try:
        answer = samp.call_and_wait(target, message, str(int(timeout)))
    except _samp_package().SAMPProxyError as error:
        raise ESAPError(f"The SAMP client {target} did not take the table: {error}") from None
    if answer.get("samp.status") == "samp.error":
        reason = answer.get("samp.error", {}).get("samp.errortxt", "no reason given")
        raise ESAPError(f"The SAMP client {target} refused the table: {reason}")
    return str(answer.get("samp.status"))


def _inline_table(document: str):
    from astropy.table import Table

    return Table.read(io.BytesIO(document.encode()), format="votable")


def _tap(service: str, adql: str):
    try:
        import pyvo
    except ImportError:
        raise ESAPError("Fetching a TAP item needs pyvo: pip install pyvo") from None
    return pyvo.dal.TAPService(service).search(adql).to_table()


def _datalink_product(url: str) -> str:
    try:
        from pyvo.dal.adhoc import DatalinkResults
    except ImportError:
        raise ESAPError("Following DataLink needs pyvo: pip install pyvo") from None
    for row in DatalinkResults.from_result_url(url):
        if row["semantics"] == "#this" and row["access_url"]:
            return str(row["access_url"])
    raise ESAPError(f"The DataLink document {url} has no #this product.")


def _rucio(did: str, directory: Path) -> Path:
    try:
        from rucio.client.downloadclient import DownloadClient
    except ImportError:
        raise ESAPError("Fetching a Rucio item needs the Rucio client: pip install rucio-clients") from None
    DownloadClient().download_dids([{"did": did, "base_dir": str(directory)}])
    scope, _, name = did.partition(":")
    return directory / scope / name

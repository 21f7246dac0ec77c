"""ESAP's notebook client: read your basket and fetch its items (needs only requests)."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

__all__ = ["Basket", "ESAPError", "settings"]
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
        for path in _settings_files():
            if path.is_file():
                saved = json.loads(path.read_text())
                api_url, token = api_url or saved.get("api_url"), token or saved.get("token")
                break
    if not (api_url and token):
        raise ESAPError("No ESAP settings: set ESAP_API_URL and ESAP_TOKEN, or put esap_settings.json here.")
    return api_url.rstrip("/"), token


def _settings_files() -> list[Path]:
    named = os.environ.get("ESAP_SETTINGS")
    return [Path(named)] if named else [Path.cwd() / SETTINGS_FILE, Path.home() / SETTINGS_FILE]


class Basket:
    """Your ESAP basket. ``api_url`` is ESAP's address, such as ``https://esap.example.org``."""

    def __init__(self, api_url: str | None = None, token: str | None = None, timeout: float = 60):
        self.api_url, token = settings(api_url, token)
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _get(self, path: str, **params: Any) -> requests.Response:
        response = self.http.get(f"{self.api_url}/api/v1{path}", params=params, timeout=self.timeout)
        _raise_for(response)
        return response

    def items(self, kind: str | None = None, archive: str | None = None) -> list[dict[str, Any]]:
        """Every item of the basket (``kind`` "data" or "software", or one ``archive``'s)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "page_size": PAGE_SIZE, "kind": kind, "archive": archive}
            answer = self._get("/basket/items", **{k: v for k, v in params.items() if v}).json()
            found += answer["items"]
            if len(found) >= answer["total"] or not answer["items"]:
                return found
            page += 1

    def launch_items(self, launch_id: str) -> list[dict[str, Any]]:
        """The data items an ESAP launch took along (what its staging notebook fetches)."""
        return self._get(f"/launches/{launch_id}/data").json()["items"]

    def add(
        self, archive: str, identifier: str, title: str = "", fetch: dict | None = None, payload: dict | None = None
    ) -> bool:
        """Put an item of your own into the basket; ``True`` if it was not there yet."""
        item = {"archive": archive, "identifier": identifier, "title": title, "payload": payload or {}}
        if fetch:
            item["fetch"] = fetch
        response = self.http.post(f"{self.api_url}/api/v1/basket/items", json=item, timeout=self.timeout)
        _raise_for(response)
        return response.json()["added"] == 1

    def remove(self, item: dict[str, Any] | int) -> None:
        item_id = item["id"] if isinstance(item, dict) else item
        _raise_for(self.http.delete(f"{self.api_url}/api/v1/basket/items/{item_id}", timeout=self.timeout))

    def table(self):
        """The basket as an astropy Table (from ESAP's VOTable)."""
        from astropy.table import Table

        return Table.read(io.BytesIO(self._get("/basket", format="votable").content), format="votable")

    def dataframe(self):
        """The basket as a pandas DataFrame (from ESAP's CSV)."""
        import pandas

        return pandas.read_csv(io.StringIO(self._get("/basket", format="csv").text))

    def fetch(self, item: dict[str, Any], directory: str | os.PathLike = "."):
        """Get an item's data by its fetch hint: a file path (http, datalink, rucio) or a Table (tap)."""
        hint = item.get("fetch") or {}
        method = hint.get("method")
        if method == "http":
            return download(hint["url"], Path(directory), timeout=self.timeout)
        if method == "datalink":
            return download(_datalink_product(hint["url"]), Path(directory), timeout=self.timeout)
        if method == "tap":
            return _tap(hint["service"], hint["adql"])
        if method == "rucio":
            staged = Path(item.get("staged_path") or "/nonexistent")
            return staged if staged.exists() else _rucio(hint["did"], Path(directory))  # staged here already
        raise ESAPError(
            f"Cannot fetch {item.get('title') or item.get('identifier')!r}: no known fetch method ({method!r})."
        )


def download(url: str, directory: Path, timeout: float = 60) -> Path:
    """Download ``url`` into ``directory`` (streamed); returns the file's path."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ESAPError(f"Only http(s) URLs are downloaded, not {url!r}.")
    directory.mkdir(parents=True, exist_ok=True)
    with requests.get(url, stream=True, timeout=timeout) as response:
        _raise_for(response)
        path = directory / _file_name(response, url)
        with path.open("wb") as out:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)
    return path


def _file_name(response: requests.Response, url: str) -> str:
    disposition = re.search(r'filename="?([^";]+)"?', response.headers.get("Content-Disposition", ""))
    name = disposition.group(1) if disposition else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return Path(name).name or "download"


def _raise_for(response: requests.Response) -> None:
    if response.ok:
        return
    try:
        message = response.json().get("message")
    except ValueError:
        message = None
    raise ESAPError(f"{response.status_code} from {urlsplit(response.url).netloc}: {message or response.reason}")


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

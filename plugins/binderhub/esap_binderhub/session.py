"""Put files into a running Jupyter server through its contents API (``PUT api/contents/<path>``).

The contents API writes a file with the server's own permissions: it has no way to
make the settings file private (mode 0600). Jupyter servers also refuse hidden
files (``.name``) unless ``ContentsManager.allow_hidden`` is set; that refusal is
reported as it is.
"""

import json
import posixpath
import urllib.parse
from collections.abc import Mapping

import requests

from esap_core import FacilityError


def put_files(http: requests.Session, server_url: str, token: str, files: Mapping[str, str], timeout: float) -> None:
    """Write ``files`` (path -> text) into the server with ``token``; notebooks go in as notebooks."""
    headers = {"Authorization": f"token {token}"}
    created: set[str] = set()
    # Settings files first, so the notebook never appears without them.
    for path in sorted(files, key=lambda name: name.endswith(".ipynb")):
        clean = _checked_path(path)
        for folder in _parents(clean):
            if folder not in created:
                _put(http, server_url, folder, {"type": "directory"}, headers, timeout)
                created.add(folder)
        _put(http, server_url, clean, _model(clean, files[path]), headers, timeout)


def _checked_path(path: str) -> str:
    clean = posixpath.normpath(path)
    if path.startswith("/") or clean.startswith("..") or clean in {".", ""}:
        raise FacilityError(f"Refusing to write {path!r} outside the session's home folder.")
    return clean


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


def _model(path: str, text: str) -> dict:
    if path.endswith(".ipynb"):
        try:
            return {"type": "notebook", "format": "json", "content": json.loads(text)}
        except ValueError as error:
            raise FacilityError(f"The staging notebook {path!r} is not valid JSON: {error}") from None
    return {"type": "file", "format": "text", "content": text}


def _put(
    http: requests.Session, server_url: str, path: str, model: dict, headers: Mapping[str, str], timeout: float
) -> None:
    url = urllib.parse.urljoin(server_url, "api/contents/" + urllib.parse.quote(path))
    try:
        response = http.put(url, json=model, headers=dict(headers), timeout=timeout)
    except requests.RequestException as error:
        raise FacilityError(f"Could not write {path!r} into the Jupyter session: {error}") from None
    if response.status_code not in (200, 201):
        hint = ""
        if posixpath.basename(path).startswith("."):
            hint = " (Jupyter refuses hidden files unless ContentsManager.allow_hidden is set)"
        raise FacilityError(
            f"The Jupyter session refused {path!r} (HTTP {response.status_code}): {_reason(response)}{hint}"
        )


def _reason(response: requests.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text[:200] or response.reason)

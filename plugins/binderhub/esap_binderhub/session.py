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


def put_files(server_url: str, token: str, files: Mapping[str, str], timeout: float) -> None:
    """Write ``files`` (path -> text) into the server; notebooks go in as notebooks."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {token}"
        created: set[str] = set()
        # Settings files first, so the notebook never appears without them.
        for path in sorted(files, key=lambda name: name.endswith(".ipynb")):
            clean = _checked_path(path)
            for folder in _parents(clean):
                if folder not in created:
                    _put(session, server_url, folder, {"type": "directory"}, timeout)
                    created.add(folder)
            _put(session, server_url, clean, _model(clean, files[path]), timeout)


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


def _put(session: requests.Session, server_url: str, path: str, model: dict, timeout: float) -> None:
    url = urllib.parse.urljoin(server_url, "api/contents/" + urllib.parse.quote(path))
    try:
        response = session.put(url, json=model, timeout=timeout)
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

"""A client for Rosetta's REST API (login, logout, repository import), failing with FacilityError.

Rosetta answers ``{"results": ...}`` on success and ``{"detail": "<message>"}`` on
errors; its private APIs authenticate a GET by the session cookie that login sets.
"""

from __future__ import annotations

from typing import Any

import requests

from esap_core import AddressRefused, FacilityError, network_failure

MESSAGE_LIMIT = 500  # Rosetta's answers are shown on pages: keep them short


class Rosetta:
    """One Rosetta instance for the length of one call, through the facility's guarded session."""

    def __init__(self, url: str, timeout: float, session: requests.Session):
        self.url = url
        self.timeout = timeout
        self.session = session

    def close(self) -> None:
        self.session.close()

    def login(self, credentials: dict[str, str]) -> str:
        """Log in with ``username`` and ``password`` or an ``authtoken``; return the auth token."""
        response = self._call("POST", "/api/v1/base/login/", data=credentials, allowed=(200, 400, 401))
        if response.status_code != 200:
            raise FacilityError(f"Rosetta refused the credentials: {_detail(response)}")
        token = _results(response).get("authtoken") if isinstance(_results(response), dict) else None
        if not isinstance(token, str):
            raise FacilityError("Rosetta's login answer has no authtoken")
        return token

    def probe(self) -> str:
        """Knock at the login endpoint without credentials; a running Rosetta refuses with its own detail."""
        return _detail(self._call("POST", "/api/v1/base/login/", allowed=(400, 401)))

    def logout(self) -> None:
        self._call("GET", "/api/v1/base/logout/", allowed=(200, 401))

    def import_repository(self, repository_url: str, tag: str) -> str:
        """Import (build) a repository as a container; return the container's uuid."""
        params = {"repository_url": repository_url}
        if tag:
            params["repository_tag"] = tag
        response = self._call(
            "GET",
            "/api/v1/import_repository/",
            params=params,
            slow=f"Rosetta did not finish importing {repository_url} within {self.timeout:.0f} s",
        )
        results = _results(response)
        if not isinstance(results, dict) or "import_succeded" not in results:
            raise FacilityError("Rosetta's import answer is not what its API gives (no import_succeded)")
        if not results["import_succeded"]:
            raise FacilityError(f"Rosetta could not import {repository_url}: {_text(results.get('error_message'))}")
        container_uuid = results.get("container_uuid")
        if not isinstance(container_uuid, str) or not container_uuid:
            raise FacilityError("Rosetta imported the repository but gave no container_uuid")
        return container_uuid

    def _call(
        self, method: str, path: str, allowed: tuple[int, ...] = (200,), slow: str = "", **kwargs: Any
    ) -> requests.Response:
        """One request; ``slow`` is the message for a timeout, when a better one than the default fits."""
        try:
            response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise FacilityError(slow or f"Rosetta did not answer {method} {path} within {self.timeout:.0f} s") from None
        except AddressRefused as error:
            raise FacilityError(f"ESAP will not reach this Rosetta: {error}") from None
        except requests.ConnectionError as error:
            raise FacilityError(*network_failure(f"Rosetta at {self.url}", error)) from None
        if response.status_code not in allowed:
            raise FacilityError(f"Rosetta answered {response.status_code} to {method} {path}: {_detail(response)}")
        return response


def _results(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise FacilityError(f"Rosetta's answer to {response.request.path_url} is not JSON") from None
    return body.get("results") if isinstance(body, dict) else None


def _detail(response: requests.Response) -> str:
    """Rosetta's own message (``detail``), or the start of its answer."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("detail"):
        return _text(body["detail"])
    return _text(response.text) or response.reason or "(no message)"


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MESSAGE_LIMIT]

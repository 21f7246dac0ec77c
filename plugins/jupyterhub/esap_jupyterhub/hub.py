"""A client for the JupyterHub REST API and the user servers' contents API, failing with FacilityError.

Every call is bounded by the launch's deadline; the hub's own message (its JSON
``message``) is what the researcher sees when the hub refuses something.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from esap_core import AddressRefused, FacilityError, network_failure

REQUEST_TIMEOUT = 30.0
MESSAGE_LIMIT = 500  # the hub's answers are shown on pages: keep them short


class DeadlineExceeded(FacilityError):
    """The overall time allowed for a launch ran out."""


class Hub:
    """One hub, seen through a service token, for the length of one call (``deadline`` is monotonic).

    ``session`` is the facility's guarded session (``Facility.http()``): every request goes through it.
    """

    def __init__(self, api_url: str, hub_url: str, token: str, deadline: float, session: requests.Session):
        self.api_url = api_url
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(hub_url))
        self.deadline = deadline
        self.session = session
        self.session.headers["Authorization"] = f"token {token}"

    def close(self) -> None:
        self.session.close()

    # --- the hub's REST API ---------------------------------------------------------

    def version(self) -> str:
        return str(self._call("GET", f"{self.api_url}/").json().get("version", ""))

    def get(self, path: str, allowed: tuple[int, ...] = (200,)) -> requests.Response:
        return self._call("GET", f"{self.api_url}{path}", allowed=allowed)

    def ensure_user(self, name: str) -> None:
        """Create the hub user ``name`` unless it exists (another launch may create it meanwhile)."""
        if self._call("GET", self._user_path(name), allowed=(200, 404)).status_code == 404:
            self._call("POST", self._user_path(name), allowed=(201, 409))

    def server(self, name: str, server_name: str) -> dict[str, Any] | None:
        """The hub's model of a user's server, or None when it is not running or starting."""
        model = self._call("GET", self._user_path(name)).json()
        servers = model.get("servers") if isinstance(model, dict) else None
        server = servers.get(server_name) if isinstance(servers, dict) else None
        return server if isinstance(server, dict) else None

    def start(self, name: str, server_name: str, user_options: Mapping[str, Any]) -> None:
        """Ask the hub to start the server; a failed spawn raises with the hub's reason."""
        response = self._call(
            "POST", self._server_path(name, server_name), json=dict(user_options), allowed=(201, 202, 500)
        )
        if response.status_code == 500:
            # The hub answers only "Internal Server Error"; its progress stream has the reason.
            for event in self.progress(name, server_name):
                if event.get("failed"):
                    raise FacilityError(f"JupyterHub could not start the server: {_text(event.get('message'))}")
            raise FacilityError(f"JupyterHub could not start the server: {_message(response)}")

    def progress(self, name: str, server_name: str) -> Iterator[dict[str, Any]]:
        """Yield the events of the server's progress stream until it ends or the deadline comes."""
        url = f"{self._server_path(name, server_name)}/progress"
        response = self._call("GET", url, stream=True)
        try:
            for line in response.iter_lines(decode_unicode=True):
                if self._remaining() <= 0:
                    raise DeadlineExceeded("the server was not ready in time")
                if not line or not line.startswith("data:"):
                    continue
                try:
                    event = json.loads(line[len("data:") :])
                except ValueError:
                    continue  # a garbled line: the next event says the same and more
                if isinstance(event, dict):
                    yield event
        except (requests.ConnectionError, requests.Timeout) as error:
            if self._remaining() <= 0:
                raise DeadlineExceeded("the server was not ready in time") from None
            raise FacilityError(f"JupyterHub's progress stream broke off: {error}") from None
        finally:
            response.close()

    def stop(self, name: str, server_name: str) -> None:
        """Stop the server; one that is not there (or a user that is not) counts as stopped."""
        self._call("DELETE", self._server_path(name, server_name), allowed=(202, 204, 404))

    # --- a user server's contents API -------------------------------------------------

    def put_file(self, server_url: str, path: str, model: Mapping[str, Any]) -> None:
        """Write one file into a user's server through its contents API (``server_url``: ``/user/<u>/``)."""
        url = f"{self.origin}{server_url}api/contents/{quote(path)}"
        self._call("PUT", url, json=dict(model), allowed=(200, 201))

    def public_url(self, server_url: str, path: str) -> str:
        return f"{self.origin}{server_url}{path}"

    # --- plumbing ---------------------------------------------------------------------

    def _user_path(self, name: str) -> str:
        return f"{self.api_url}/users/{quote(name, safe='')}"

    def _server_path(self, name: str, server_name: str) -> str:
        if server_name:
            return f"{self._user_path(name)}/servers/{quote(server_name, safe='')}"
        return f"{self._user_path(name)}/server"

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _call(self, method: str, url: str, allowed: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        remaining = self._remaining()
        if remaining <= 0:
            raise DeadlineExceeded("the time allowed for the launch ran out")
        try:
            response = self.session.request(method, url, timeout=min(REQUEST_TIMEOUT, remaining), **kwargs)
        except requests.Timeout:
            if self._remaining() <= 0:
                raise DeadlineExceeded("the time allowed for the launch ran out") from None
            raise FacilityError(f"JupyterHub did not answer {method} {url} within {REQUEST_TIMEOUT:.0f} s") from None
        except AddressRefused as error:
            raise FacilityError(f"ESAP will not reach this JupyterHub: {error}") from None
        except requests.ConnectionError as error:
            raise FacilityError(*network_failure(f"JupyterHub at {self.api_url}", error)) from None
        if response.status_code in allowed:
            return response
        if response.status_code == 403:
            raise FacilityError(f"JupyterHub refused the service token: {_message(response)}")
        raise FacilityError(f"JupyterHub answered {response.status_code} to {method} {url}: {_message(response)}")


def _message(response: requests.Response) -> str:
    """The hub's own message from an error answer (JSON ``message``), or the start of its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return _text(body["message"])
    return _text(response.text) or response.reason or "(no message)"


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MESSAGE_LIMIT]

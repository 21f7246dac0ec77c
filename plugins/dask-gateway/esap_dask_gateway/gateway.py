"""A client for a Dask Gateway's REST API, the one its own client library speaks, through ESAP's outbound guard.

Every call goes through ``Facility.http()`` (checked and pinned addresses, no environment
proxies), is bounded by the caller's deadline, and fails with :class:`FacilityError` carrying
the gateway's own message (its JSON ``error``). The routes are those of dask-gateway-server
2026.3 (``dask_gateway_server/routes.py``), which ``dask_gateway.Gateway`` calls.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

from esap_core import AddressRefused, Facility, FacilityError, network_failure

REQUEST_TIMEOUT = 30.0
MESSAGE_LIMIT = 500  # the gateway's answers are shown on pages: keep them short


class DeadlineExceeded(FacilityError):
    """The time allowed for the call ran out."""


class Gateway:
    """One gateway, as one of its users, for the length of one call (``deadline`` is ``time.monotonic()``-based)."""

    def __init__(self, facility: Facility, api_url: str, username: str, password: str, deadline: float):
        self.api_url = api_url
        self.username = username
        self.deadline = deadline
        self.session = facility.http()
        self.session.auth = (username, password)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- without a login -----------------------------------------------------------------

    def health(self) -> str:
        """``pass`` or the gateway's own word for what fails (it answers 503 then)."""
        response = self._call("GET", "/api/health", allowed=(200, 503), auth=False)
        body = _json(response)
        return str(body.get("status", "")) if isinstance(body, dict) else ""

    def version(self) -> str:
        body = _json(self._call("GET", "/api/version", auth=False))
        return str(body.get("version", "")) if isinstance(body, dict) else ""

    def workers(self, name: str) -> int | None:
        """How many workers the cluster's scheduler has, from its dashboard's counts; None when it shows none."""
        response = self._call("GET", f"/clusters/{quote(name)}/json/counts.json", allowed=(200, 404, 502), auth=False)
        body = _json(response) if response.status_code == 200 else None
        count = body.get("workers") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None

    # --- as the user ------------------------------------------------------------------------

    def cluster_options(self) -> list[dict[str, Any]]:
        """The cluster options the gateway offers this user, as its specification (field, label, default, spec)."""
        body = _json(self._call("GET", "/api/v1/options"))
        options = body.get("cluster_options") if isinstance(body, dict) else None
        if not isinstance(options, list):
            raise FacilityError(f"Dask Gateway at {self.api_url} answered its options in a form ESAP does not know")
        return [option for option in options if isinstance(option, dict)]

    def create(self, options: dict[str, Any]) -> str:
        """Ask for a new cluster with ``options``; return the name the gateway gave it."""
        body = _json(self._call("POST", "/api/v1/clusters/", json={"cluster_options": options}, allowed=(201,)))
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise FacilityError("Dask Gateway accepted the cluster but did not name it")
        return name

    def cluster(self, name: str) -> dict[str, Any] | None:
        """The gateway's report on the cluster (``status``, ``dashboard_route``, TLS credentials), or None."""
        response = self._call("GET", f"/api/v1/clusters/{quote(name)}", allowed=(200, 404))
        body = _json(response) if response.status_code == 200 else None
        return body if isinstance(body, dict) else None

    def scale(self, name: str, count: int) -> str:
        """Ask for ``count`` workers; return what the gateway said if it gave fewer ("" when it agreed)."""
        body = _json(self._call("POST", f"/api/v1/clusters/{quote(name)}/scale", json={"count": count}))
        if isinstance(body, dict) and not body.get("ok", True):
            return _text(body.get("msg"))
        return ""

    def stop(self, name: str) -> None:
        """Shut the cluster down; one the gateway does not know counts as stopped."""
        self._call("DELETE", f"/api/v1/clusters/{quote(name)}", allowed=(204, 404))

    # --- plumbing ---------------------------------------------------------------------

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _call(
        self, method: str, path: str, allowed: tuple[int, ...] = (200,), auth: bool = True, **kwargs: Any
    ) -> requests.Response:
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineExceeded("the time allowed ran out")
        url = f"{self.api_url}{path}"
        try:
            response = self.session.request(
                method, url, timeout=min(REQUEST_TIMEOUT, remaining), auth=None if auth else False, **kwargs
            )
        except AddressRefused as error:
            raise FacilityError(f"ESAP does not connect to the Dask Gateway at {self.api_url}: {error}") from None
        except requests.Timeout:
            if self.remaining() <= 0:
                raise DeadlineExceeded("the time allowed ran out") from None
            raise FacilityError(f"Dask Gateway did not answer {method} {url} within {REQUEST_TIMEOUT:.0f} s") from None
        except requests.ConnectionError as error:
            raise FacilityError(*network_failure(f"Dask Gateway at {self.api_url}", error)) from None
        if response.status_code in allowed:
            return response
        if response.status_code == 401:
            raise FacilityError(
                f"Dask Gateway refused ESAP's credentials for user {self.username!r}: {_message(response)}"
            )
        raise FacilityError(f"Dask Gateway answered {response.status_code}: {_message(response)}")


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: requests.Response) -> str:
    """The gateway's own message from an error answer (JSON ``error``), or the start of its text."""
    body = _json(response)
    if isinstance(body, dict) and body.get("error"):
        return _text(body["error"])
    return _text(response.text) or response.reason or "(no message)"


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MESSAGE_LIMIT]

"""The ``jupyterhub`` facility type: start the user's server on a hub and put the staging notebook in it."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from esap_core import (
    CheckResult,
    Facility,
    FacilityError,
    FieldType,
    LaunchReport,
    LaunchRequest,
    Phase,
    QueryField,
    StopsSessions,
    UIType,
    UserContext,
)
from esap_jupyterhub.hub import DeadlineExceeded, Hub
from esap_jupyterhub.settings import HubSettings, chosen_user_options, hub_settings
from esap_jupyterhub.username import hub_username

# What the gateway's service role needs (see the README); check() names the missing ones.
NEEDED_SCOPES = ("admin:users", "admin:servers", "access:servers")


class JupyterHubFacility(StopsSessions):
    kind = "jupyterhub"
    title = "JupyterHub"
    description = "Starts your own server on a JupyterHub and opens a notebook that fetches your data."
    accepts = frozenset({UIType.NOTEBOOK, UIType.WEB})
    url_settings = frozenset({"hub_url", "api_url"})
    secret_settings = frozenset({"api_token"})

    def options(self, facility: Facility) -> tuple[QueryField, ...]:
        """The choices the checkout page offers: a ``profile`` field, then the offered user options.

        The values chosen come back in ``LaunchRequest.options`` under the fields' names.
        """
        settings = hub_settings(facility)
        fields = []
        if settings.profiles:
            fields.append(
                QueryField(
                    name="profile",
                    label="Profile",
                    type=FieldType.CHOICE,
                    choices=tuple(profile.name for profile in settings.profiles),
                    default=settings.profiles[0].name,
                    help="; ".join(f"{profile.name}: {profile.title}" for profile in settings.profiles),
                )
            )
        for offered in settings.offered_options:
            fields.append(
                QueryField(
                    name=offered.name,
                    label=offered.label,
                    type=FieldType.CHOICE if offered.choices else FieldType.TEXT,
                    choices=offered.choices,
                    default=offered.default,
                    help=offered.help,
                )
            )
        return tuple(fields)

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        """Ask the hub its version, what the token may do, and (if allowed) ``/info``."""
        settings = hub_settings(facility)
        hub = _hub(facility, settings, timeout)
        try:
            version = hub.version()
            whoami = hub.get("/user", allowed=(200, 403)).json()
            scopes = sorted(whoami.get("scopes", ())) if isinstance(whoami, dict) else []
            info = hub.get("/info", allowed=(200, 403))
        except FacilityError as error:
            return CheckResult(up=False, message=str(error), detail=error.detail)
        finally:
            hub.close()
        metadata: dict[str, Any] = {"scopes": scopes}
        if info.status_code == 200 and isinstance(info.json(), dict):
            details = info.json()
            metadata.update(
                spawner=_class_name(details.get("spawner")),
                authenticator=_class_name(details.get("authenticator")),
                python=str(details.get("python", "")).split(" ")[0],
            )
        missing = [scope for scope in NEEDED_SCOPES if scope not in scopes]
        message = f"JupyterHub {version}"
        if missing:
            message += f"; the service token lacks {', '.join(missing)}, so launches will fail"
        return CheckResult(up=True, message=message, version=version, metadata=metadata)

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        settings = hub_settings(facility)
        username = hub_username(settings.username_template, request.user)
        server_name = _server_name(settings, request.launch_id)
        user_options = chosen_user_options(settings, request.options)
        hub = _hub(facility, settings, settings.timeout)
        try:
            report.phase(Phase.LAUNCHING, f"asking the hub for a server for {username}", 0.0)
            report.detail(hub_user=username, server_name=server_name)
            hub.ensure_user(username)
            server = _start_or_reuse(hub, username, server_name, user_options, report)
            report.phase(Phase.LOADING, "putting the notebook and the data list into your server")
            notebook = _stage(hub, server["url"], request.staging_notebook())
        except DeadlineExceeded as error:
            _stop_quietly(hub, username, server_name)
            raise FacilityError(f"JupyterHub: {error}: gave up after {settings.timeout:.0f} s") from None
        finally:
            hub.close()
        path = f"lab/tree/{quote(notebook)}" if notebook else "lab"
        report.ready(hub.public_url(server["url"], path), f"your server on {facility.label}")

    def stop(
        self, facility: Facility, launch_id: str, user: UserContext, details: Mapping[str, str] | None = None
    ) -> None:
        settings = hub_settings(facility)
        hub = _hub(facility, settings, settings.timeout)
        try:
            hub.stop(hub_username(settings.username_template, user), _server_name(settings, launch_id))
        finally:
            hub.close()


def _server_name(settings: HubSettings, launch_id: str) -> str:
    """The default server, or with ``named_servers`` one server per launch, named after it.

    The hub takes new server names of at most 30 lowercase letters, digits and single hyphens.
    """
    if not settings.named_servers:
        return ""
    return "esap-" + re.sub(r"[^a-z0-9]+", "-", launch_id.lower())[:25].strip("-")


def _start_or_reuse(
    hub: Hub, username: str, server_name: str, user_options: Mapping[str, Any], report: LaunchReport
) -> dict[str, Any]:
    """Start the server and follow its progress, or reuse the one that runs; return the hub's model."""
    server = hub.server(username, server_name)
    if server and server.get("pending") == "stop":
        _wait_until_stopped(hub, username, server_name)
        server = None
    if server and server.get("ready"):
        report.phase(Phase.LAUNCHING, "your server is already running: reusing it (its options are unchanged)", 1.0)
        return server
    if server is None:
        hub.start(username, server_name, user_options)
    for event in hub.progress(username, server_name):
        message = str(event.get("message") or "")[:500]
        if event.get("failed"):
            raise FacilityError(f"JupyterHub could not start the server: {message}")
        progress = event.get("progress")
        percent = min(max(float(progress), 0.0), 100.0) if isinstance(progress, int | float) else None
        report.phase(Phase.LAUNCHING, message, percent)
        if event.get("ready"):
            break
    server = hub.server(username, server_name)
    if not server or not server.get("ready") or not isinstance(server.get("url"), str):
        raise FacilityError("JupyterHub's progress stream ended but the server is not ready")
    return server


def _wait_until_stopped(hub: Hub, username: str, server_name: str) -> None:
    while (server := hub.server(username, server_name)) and server.get("pending") == "stop":
        if hub.deadline - time.monotonic() <= 0:
            raise DeadlineExceeded("the previous server was still stopping")
        time.sleep(0.5)


def _stage(hub: Hub, server_url: str, files: Mapping[str, str]) -> str:
    """Write the staging files through the contents API; return the notebook's name ("" if none)."""
    notebook = ""
    for name, text in files.items():
        if name.startswith("/") or ".." in name.split("/"):
            raise FacilityError(f"refusing to write {name!r} outside the home directory")
        if name.endswith(".ipynb"):
            try:
                model = {"type": "notebook", "format": "json", "content": json.loads(text)}
            except ValueError as error:
                raise FacilityError(f"the staging notebook {name!r} is not valid JSON: {error}") from None
            notebook = notebook or name
        else:
            model = {"type": "file", "format": "text", "content": text}
        hub.put_file(server_url, name, model)
    return notebook


def _stop_quietly(hub: Hub, username: str, server_name: str) -> None:
    """Give a server that missed the deadline back; it may already be gone, which is fine."""
    hub.deadline = time.monotonic() + 10
    with contextlib.suppress(FacilityError):
        hub.stop(username, server_name)


def _class_name(component: Any) -> str:
    if isinstance(component, dict):
        return f"{component.get('class', '')} {component.get('version', '')}".strip()
    return ""


def _hub(facility: Facility, settings: HubSettings, seconds: float) -> Hub:
    """The facility's hub for a call of at most ``seconds``, through its guarded session."""
    return Hub(settings.api_url, settings.hub_url, settings.api_token, time.monotonic() + seconds, facility.http())

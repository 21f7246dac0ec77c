"""The BinderHub facility type: check a hub, launch software on it with the data-staging notebook, stop it."""

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from esap_binderhub.build import BuildFailed, BuildLimits, follow_build, is_proxy_page
from esap_binderhub.session import put_files
from esap_binderhub.specs import provider_spec
from esap_core import (
    CheckResult,
    Facility,
    FacilityBusy,
    FacilityError,
    LaunchReport,
    LaunchRequest,
    Phase,
    Secret,
    Settings,
    SettingsError,
    StopsSessions,
    UIType,
    UserContext,
    network_failure,
)

GIT_PROVIDERS = {"gh", "gl", "git"}
SESSION_PATH = re.compile(r"/user/([^/]+)/(?:([^/]+)/)?")  # the hub's /user/<name>/[<server name>/]


@dataclass(frozen=True)
class HubSettings:
    """A facility's settings, over the plugin's defaults (README.md, "Settings")."""

    build_api: bool
    timeout: float
    read_timeout: float
    upload_timeout: float
    auth_enabled: bool
    hub_token: Secret | None
    hub_api_url: str
    culler_timeout: float

    @classmethod
    def read(cls, settings: Settings) -> "HubSettings":
        return cls(
            build_api=settings.flag("build_api", True),
            timeout=settings.number("timeout", 600, positive=True),
            # Just above BinderHub's keep-alive interval: a live BinderHub is never silent that long.
            read_timeout=settings.number("read_timeout", 35, positive=True),
            upload_timeout=settings.number("upload_timeout", 30, positive=True),
            auth_enabled=settings.flag("auth_enabled", False),
            hub_token=settings.secret("hub_token"),
            hub_api_url=settings.url("hub_api_url").rstrip("/"),
            # JupyterHub's idle culler as BinderHub's Helm chart runs it (zero-to-jupyterhub: cull.timeout).
            culler_timeout=settings.number("culler_timeout", 3600, positive=True),
        )


class BinderHub(StopsSessions):
    kind = "binderhub"
    title = "BinderHub"
    description = "Builds the software's repository into an image and starts a Jupyter session from it."
    accepts = frozenset({UIType.NOTEBOOK, UIType.WEB})
    personal_token_label = "your JupyterHub API token (only for BinderHubs that require login)"
    url_settings = frozenset({"hub_api_url"})
    secret_settings = frozenset({"hub_token"})

    def __init__(self, defaults: Mapping[str, Any] | None = None):
        self.defaults = dict(defaults or {})

    def settings(self, facility: Facility) -> HubSettings:
        """The facility's settings over the plugin's; FacilityError naming the one that is wrong."""
        merged = Settings(facility.settings.plugin, {**self.defaults, **facility.settings})
        try:
            return HubSettings.read(merged)
        except SettingsError as error:
            raise FacilityError(str(error)) from None

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        hub = facility.url.rstrip("/")
        with facility.http() as http:
            try:
                health = http.get(hub + "/health", timeout=timeout, allow_redirects=False)
                versions = http.get(hub + "/versions", timeout=timeout, allow_redirects=False)
            except requests.RequestException as error:
                message, detail = network_failure(f"BinderHub at {facility.url}", error)
                return CheckResult(up=False, message=message, detail=detail)
        if health.is_redirect:
            return CheckResult(
                up=False,
                message=f"{facility.url} is not a BinderHub: its /health redirects to "
                f"{health.headers.get('Location')!r}. Behind JupyterHub, BinderHub answers under the hub's "
                "/services/<name>/ (often /services/binder/).",
            )
        if is_proxy_page(health):
            return CheckResult(up=False, message=_not_running(facility, health))
        checks = _json(health).get("checks", [])
        version_info = _json(versions)
        metadata = {"checks": checks, "builder_info": version_info.get("builder_info", {})}
        version = str(version_info.get("binderhub", ""))
        if health.status_code != 200:
            failing = ", ".join(str(c.get("service")) for c in checks if isinstance(c, dict) and not c.get("ok"))
            message = f"BinderHub is unhealthy (HTTP {health.status_code})" + (f": {failing}" if failing else "")
            return CheckResult(up=False, message=message, version=version, metadata=metadata)
        if not version:
            return CheckResult(up=False, message=f"{facility.url} does not answer like a BinderHub (/versions).")
        return CheckResult(up=True, message="BinderHub is healthy", version=version, metadata=metadata)

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        settings = self.settings(facility)
        spec = provider_spec(request.software)
        hub = facility.url.rstrip("/")
        if not settings.build_api:
            report.log("This BinderHub is used through its public launch links: no data-staging notebook.")
            report.ready(_launch_link(hub, spec, request.software.path), message="Opens on BinderHub")
            return
        user_token = request.personal_token.reveal() if request.personal_token else ""
        if settings.auth_enabled and not user_token:
            raise FacilityError(
                f"{facility.label} requires login: add your JupyterHub API token for it on your "
                "profile page (create one on the hub's token page), then launch again."
            )
        limits = BuildLimits(timeout=settings.timeout, read_timeout=settings.read_timeout)
        # With login, BinderHub starts the session as the token's hub user and counts no rate limit.
        headers = {"Authorization": f"token {user_token}"} if settings.auth_enabled else {}
        with facility.http() as http:
            try:
                ready = follow_build(http, hub, spec, limits, report, headers, lambda: _health_now(facility, http))
            except BuildFailed as failure:
                raise _refusal(facility, settings, failure) from None
            url, session_token = _session(ready)
            report.detail(**_provenance(spec, ready), **_hub_server(url))
            files = request.staging_notebook()
            notebooks = sorted(name for name in files if name.endswith(".ipynb"))
            # A session started with login is a JupyterHub single-user server: it takes its user's hub token,
            # and the researcher's browser logs in through the hub rather than with a token in the URL.
            token = user_token if settings.auth_enabled else session_token
            if files:
                report.phase(Phase.LOADING, "Putting the notebook and its data settings into the session")
                put_files(http, url, token, files, settings.upload_timeout)
        target = notebooks[0] if notebooks else request.software.path
        report.ready(
            _lab_url(url, "" if settings.auth_enabled else session_token, target), message=_ready_message(settings)
        )

    def can_stop(self, facility: Facility) -> bool:
        return self.settings(facility).hub_token is not None

    def stop(
        self, facility: Facility, launch_id: str, user: UserContext, details: Mapping[str, str] | None = None
    ) -> None:
        settings = self.settings(facility)
        if settings.hub_token is None:
            raise FacilityError(_culler_sentence(settings))
        name, server_name = (details or {}).get("hub_user", ""), (details or {}).get("hub_server", "")
        if not name:
            raise FacilityError("ESAP does not know which of the hub's servers this launch started.")
        api = settings.hub_api_url or _hub_api_url(facility.url)
        if not api:
            raise FacilityError(f"Facility {facility.name!r} needs hub_api_url: where its JupyterHub's REST API is.")
        path = f"users/{urllib.parse.quote(name, safe='')}/"
        path += f"servers/{urllib.parse.quote(server_name, safe='')}" if server_name else "server"
        headers = {"Authorization": f"token {settings.hub_token.reveal()}"}
        with facility.http() as http:
            try:
                answer = http.delete(f"{api}/{path}", headers=headers, timeout=settings.upload_timeout)
            except requests.RequestException as error:
                raise FacilityError(*network_failure(f"The hub at {api}", error)) from None
        if answer.status_code in (202, 204, 404):  # 404: the server or its temporary user is gone already
            return
        if answer.status_code in (401, 403):
            raise FacilityError("The hub refused ESAP's hub_token: stopping servers needs the 'servers' scope.")
        raise FacilityError(f"The hub answered HTTP {answer.status_code} when asked to stop the session.")


def _not_running(facility: Facility, response: requests.Response) -> str:
    return (
        f"BinderHub is not running behind the hub at {facility.url}: the hub's proxy answered HTTP "
        f"{response.status_code} with its own page."
    )


def _health_now(facility: Facility, http: requests.Session) -> str:
    """How BinderHub's health check answers now, in a sentence, for a stream that fell silent."""
    try:
        health = http.get(facility.url.rstrip("/") + "/health", timeout=10, allow_redirects=False)
    except requests.RequestException:
        return f"BinderHub went away: {facility.url} does not answer."
    if is_proxy_page(health):
        return "BinderHub went away. " + _not_running(facility, health)
    if health.status_code != 200:
        return f"BinderHub is unhealthy now (its health check answers HTTP {health.status_code})."
    return "its health check still answers, so the connection between ESAP and BinderHub is at fault."


def _refusal(facility: Facility, settings: HubSettings, failure: BuildFailed) -> FacilityError:
    """BinderHub's refusals in words a researcher can act on."""
    if failure.status_code == 429:
        seconds = re.search(r"in (\d+) seconds", failure.reason)
        return FacilityBusy(
            f"BinderHub refused the build: {failure.reason} BinderHub limits builds per client address, and every "
            "ESAP launch comes from ESAP's own address, so all of ESAP's users share that limit; its operators can "
            "raise c.RateLimiter.limit, or enable login (builds with a hub token are not limited).",
            retry_after=float(seconds.group(1)) if seconds else None,
        )
    if failure.status_code == 403:
        if settings.auth_enabled:
            return FacilityError(
                "BinderHub refused your JupyterHub token: renew it on your profile page (it needs access to the "
                "BinderHub service, access:services)."
            )
        return FacilityError(
            f"BinderHub at {facility.url} requires login (its auth_enabled is set): an admin must set "
            "auth_enabled = true on this facility in ESAP, and each user keeps their own JupyterHub token on "
            "their profile page."
        )
    return failure


def _culler_sentence(settings: HubSettings) -> str:
    minutes = settings.culler_timeout / 60
    return (
        "ESAP cannot stop this session (the facility has no hub_token): BinderHub's culler ends it after "
        f"{minutes:g} minutes without use."
    )


def _ready_message(settings: HubSettings) -> str:
    return "Ready" if settings.hub_token is not None else "Ready. " + _culler_sentence(settings)


def _hub_api_url(facility_url: str) -> str:
    """The REST API of the JupyterHub a BinderHub service lives in: ``<hub>/services/<name>/`` → ``<hub>/hub/api``."""
    parts = urllib.parse.urlsplit(facility_url)
    prefix, found, _ = parts.path.partition("/services/")
    if not found:
        return ""
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, prefix + "/hub/api", "", ""))


def _hub_server(url: str) -> dict[str, str]:
    """The hub user and server name of a session URL (``/user/<name>/`` or ``/user/<name>/<server>/``)."""
    match = SESSION_PATH.search(urllib.parse.urlsplit(url).path)
    if match is None:
        return {}
    facts = {"hub_user": urllib.parse.unquote(match.group(1))}
    if match.group(2):
        facts["hub_server"] = urllib.parse.unquote(match.group(2))
    return facts


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _session(ready: Mapping[str, Any]) -> tuple[str, str]:
    url, token = ready.get("url"), ready.get("token")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(token, str):
        raise FacilityError("BinderHub said the session is ready but gave no server URL and token.")
    return (url if url.endswith("/") else url + "/"), token


def _provenance(spec: str, ready: Mapping[str, Any]) -> dict[str, str]:
    facts = {
        "image": str(ready.get("image", "")),
        "repo_url": str(ready.get("repo_url", "")),
        "ref_url": str(ready.get("binder_ref_url", "")),
    }
    persistent = str(ready.get("binder_persistent_request", ""))
    if spec.split("/", 1)[0] in GIT_PROVIDERS and persistent:
        facts["commit"] = persistent.rsplit("/", 1)[-1]
    return {key: value for key, value in facts.items() if value}


def _lab_url(server_url: str, token: str, path: str) -> str:
    target = "lab/tree/" + urllib.parse.quote(path.strip("/")) if path else "lab"
    return f"{server_url}{target}" + (f"?token={urllib.parse.quote(token, safe='')}" if token else "")


def _launch_link(hub: str, spec: str, path: str) -> str:
    link = f"{hub}/v2/{spec}"
    return f"{link}?labpath={urllib.parse.quote(path.strip('/'))}" if path else link

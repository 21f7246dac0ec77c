"""The BinderHub facility type: check a hub, launch software on it with the data-staging notebook."""

import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests

from esap_binderhub.build import BuildLimits, follow_build
from esap_binderhub.session import put_files
from esap_binderhub.specs import provider_spec
from esap_core import (
    CheckResult,
    Facility,
    FacilityError,
    FacilityType,
    LaunchReport,
    LaunchRequest,
    Phase,
    UIType,
)

# Facility settings, overridable per plugin (the plugin's own settings) and per facility.
DEFAULTS: dict[str, Any] = {
    "build_api": True,  # false: hand out public /v2/ launch links (mybinder.org style)
    "timeout": 600.0,  # seconds for the whole build and launch
    "read_timeout": 90.0,  # seconds without a byte, keep-alives included (BinderHub sends one every 25 s)
    "upload_timeout": 30.0,  # seconds for each file put into the session
}
GIT_PROVIDERS = {"gh", "gl", "git"}


class BinderHub(FacilityType):
    kind = "binderhub"
    title = "BinderHub"
    description = "Builds the software's repository into an image and starts a Jupyter session from it."
    accepts = frozenset({UIType.NOTEBOOK, UIType.WEB})

    def __init__(self, defaults: Mapping[str, Any] | None = None):
        self.defaults = dict(defaults or {})

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        hub = facility.url.rstrip("/")
        try:
            health = requests.get(hub + "/health", timeout=timeout)
            versions = requests.get(hub + "/versions", timeout=timeout)
        except requests.RequestException as error:
            return CheckResult(up=False, message=f"BinderHub at {facility.url} does not answer: {error}")
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
        spec = provider_spec(request.software)
        hub = facility.url.rstrip("/")
        if not self._setting(facility, "build_api", bool):
            report.log("This BinderHub is used through its public launch links: no data-staging notebook.")
            report.ready(_launch_link(hub, spec, request.software.path), message="Opens on BinderHub")
            return
        limits = BuildLimits(
            timeout=self._setting(facility, "timeout", float),
            read_timeout=self._setting(facility, "read_timeout", float),
        )
        ready = follow_build(hub, spec, limits, report)
        url, token = _session(ready)
        report.detail(**_provenance(spec, ready))
        files = request.staging_notebook()
        notebooks = sorted(name for name in files if name.endswith(".ipynb"))
        if files:
            report.phase(Phase.LOADING, "Putting the notebook and its data settings into the session")
            put_files(url, token, files, self._setting(facility, "upload_timeout", float))
        report.ready(_lab_url(url, token, notebooks[0] if notebooks else request.software.path), message="Ready")

    def _setting(self, facility: Facility, key: str, kind: type) -> Any:
        value = facility.settings.get(key, self.defaults.get(key, DEFAULTS[key]))
        if kind is bool:
            if not isinstance(value, bool):
                raise FacilityError(f"Facility {facility.name!r}: setting {key!r} must be true or false.")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise FacilityError(f"Facility {facility.name!r}: setting {key!r} must be a positive number.")
        return float(value)


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
    return f"{server_url}{target}?token={urllib.parse.quote(token, safe='')}"


def _launch_link(hub: str, spec: str, path: str) -> str:
    link = f"{hub}/v2/{spec}"
    return f"{link}?labpath={urllib.parse.quote(path.strip('/'))}" if path else link

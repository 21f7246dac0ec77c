"""Follow a BinderHub build (``GET /build/<provider>/<spec>``) to its ``ready`` event.

Each BinderHub phase is reported as an ESAP phase, repo2docker's log lines as log
lines. BinderHub keeps the stream open after ``ready`` and after a failure (its
clients close it), so this module closes it itself. BinderHub sends a keep-alive
comment every 25 s; a stream silent for longer is a BinderHub gone, which behind
JupyterHub's proxy looks like an open connection where nothing arrives.
"""

import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

from esap_binderhub.events import read_events
from esap_core import FacilityError, LaunchReport, Phase, network_failure, network_reason

PHASES = {
    "waiting": Phase.WAITING,
    "pending": Phase.WAITING,  # FakeBuild's and Kubernetes' word for a build pod not yet running
    "fetching": Phase.FETCHING,
    "running": Phase.BUILDING,  # the build pod runs (FakeBuild says so before its build steps)
    "building": Phase.BUILDING,
    "pushing": Phase.PUSHING,
    "built": Phase.BUILT,
    "launching": Phase.LAUNCHING,
}
CONNECT_TIMEOUT = 10.0
CHUNK_SIZE = 16 * 1024
# repo2docker's status words for a layer that needs no more pushing.
LAYER_DONE = {"Pushed", "Layer already exists"}


@dataclass(frozen=True)
class BuildLimits:
    """``timeout`` bounds the whole build and launch; ``read_timeout`` a silent stream."""

    timeout: float
    read_timeout: float


class BuildFailed(FacilityError):
    """BinderHub's ``failed`` event; ``status_code`` is the HTTP error it stands for (403, 429), if any."""

    def __init__(self, reason: str, status_code: int | None):
        super().__init__(f"BinderHub: {reason}")
        self.reason, self.status_code = reason, status_code


class Follower:
    """The state of one followed build: the last phase and the last error message."""

    def __init__(self, report: LaunchReport, spec: str):
        self.report = report
        self.spec = spec
        self.phase = ""
        self.progress: float | None = None
        self.failure = ""

    def handle(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Report one event; return it when it is ``ready``, raise when the build failed."""
        phase = str(event.get("phase", "")).lower()
        message = readable_spec(str(event.get("message") or "").rstrip("\n"), self.spec)
        if phase == "ready":
            return event
        if phase == "failed":
            code = event.get("status_code")
            status = code if isinstance(code, int) and not isinstance(code, bool) else None
            raise BuildFailed(message or self.failure or "the build failed without saying why", status)
        if phase == "failure":
            # repo2docker's own error line; BinderHub's "failed" may follow without a message.
            self.failure = message
        if message and phase != "built":
            for line in message.splitlines():
                self.report.log(line)
        if "imageName" in event:
            self.report.detail(image=str(event["imageName"]))
        if phase in PHASES:
            self._phase(phase, message, _push_progress(event.get("progress")))
        return None

    def _phase(self, phase: str, message: str, progress: float | None) -> None:
        if PHASES[phase] == PHASES.get(self.phase) and progress in (None, self.progress):
            return
        first_line = message.splitlines()[0] if message else ""
        self.report.phase(PHASES[phase], first_line, progress)
        self.phase, self.progress = phase, progress


def readable_spec(message: str, spec: str) -> str:
    """BinderHub names a build ``<provider>:<spec>`` as sent, %-escaped: show the repository as people write it."""
    provider, _, rest = spec.partition("/")
    return message.replace(f"{provider}:{rest}", f"{provider}:{urllib.parse.unquote(rest)}")


def follow_build(
    http: requests.Session,
    hub_url: str,
    spec: str,
    limits: BuildLimits,
    report: LaunchReport,
    headers: Mapping[str, str],
    health: Callable[[], str],
) -> dict[str, Any]:
    """Build and launch ``spec`` on the hub; return BinderHub's ``ready`` event.

    ``health`` says in a sentence how BinderHub's health check answers now, for the
    message when the stream falls silent.
    """
    build_url = f"{hub_url.rstrip('/')}/build/{spec}"
    follower = Follower(report, spec)
    deadline = time.monotonic() + limits.timeout

    def check_deadline() -> None:
        if time.monotonic() > deadline:
            raise FacilityError(
                f"BinderHub did not have the session ready within {limits.timeout:g} s "
                f"(last phase: {follower.phase or 'none'})."
            )

    try:
        response = http.get(
            build_url,
            headers={"Accept": "text/event-stream", **headers},
            stream=True,
            timeout=(CONNECT_TIMEOUT, min(limits.read_timeout, limits.timeout)),
        )
    except requests.RequestException as error:
        raise FacilityError(*network_failure(f"BinderHub at {hub_url}", error)) from None
    with response:
        _check_response(response, hub_url, build_url)
        _log_rate_limit(response, report)
        try:
            for event in read_events(response.iter_content(CHUNK_SIZE), check_deadline):
                ready = follower.handle(event)
                if ready is not None:
                    return ready
        except requests.exceptions.ConnectionError as error:
            if error.args and isinstance(error.args[0], ReadTimeoutError):
                raise FacilityError(
                    f"BinderHub sent nothing for {limits.read_timeout:g} s during the {follower.phase or 'first'} "
                    f"phase (it sends a keep-alive every 25 s): {health()}"
                ) from None
            raise _broken(follower, error) from None
        except requests.RequestException as error:
            raise _broken(follower, error) from None
    raise FacilityError(
        f"BinderHub closed the build stream before the session was ready (last phase: {follower.phase or 'none'})."
    )


def is_proxy_page(response: requests.Response) -> bool:
    """An HTML answer where BinderHub answers JSON or events: the page of JupyterHub's proxy, BinderHub is not there."""
    return response.headers.get("Content-Type", "").startswith("text/html")


def _check_response(response: requests.Response, hub_url: str, build_url: str) -> None:
    if response.status_code != 200:
        if is_proxy_page(response) and response.status_code in (502, 503, 504):
            raise FacilityError(
                f"BinderHub is not running behind the hub at {hub_url}: the hub's proxy answered "
                f"HTTP {response.status_code} for the build."
            )
        raise FacilityError(f"BinderHub answered HTTP {response.status_code} to {build_url}")
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("text/event-stream"):
        raise FacilityError(f"{build_url} did not answer with an event stream (Content-Type {content_type!r}).")


def _log_rate_limit(response: requests.Response, report: LaunchReport) -> None:
    remaining, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
    if remaining and re.fullmatch(r"\d+", remaining) and reset and re.fullmatch(r"\d+", reset):
        at = time.strftime("%H:%M UTC", time.gmtime(int(reset)))
        report.log(f"BinderHub allows {remaining} more builds from ESAP's address until {at}.")


def _broken(follower: Follower, error: Exception) -> FacilityError:
    phase = follower.phase or "first"
    return FacilityError(
        f"The connection to BinderHub broke during the {phase} phase: launch again in a moment.",
        network_reason(error),
    )


def _push_progress(progress: Any) -> float | None:
    """Percent pushed, from repo2docker's per-layer ``progress`` dict."""
    if not isinstance(progress, dict) or not progress:
        return None
    fractions = []
    for layer in progress.values():
        if isinstance(layer, dict):
            current, total = layer.get("current"), layer.get("total")
            valid = isinstance(current, int | float) and isinstance(total, int | float) and total > 0
            fractions.append(min(current / total, 1.0) if valid else 0.0)
        else:
            fractions.append(1.0 if layer in LAYER_DONE else 0.0)
    return round(100 * sum(fractions) / len(fractions), 1)

"""Follow a BinderHub build (``GET /build/<provider>/<spec>``) to its ``ready`` event.

Each BinderHub phase is reported as an ESAP phase, repo2docker's log lines as log
lines. BinderHub keeps the stream open after ``ready`` and after a failure (its
clients close it), so this module closes it itself.
"""

import time
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

from esap_binderhub.events import read_events
from esap_core import FacilityError, LaunchReport, Phase

PHASES = {
    "waiting": Phase.WAITING,
    "fetching": Phase.FETCHING,
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


class Follower:
    """The state of one followed build: the last phase and the last error message."""

    def __init__(self, report: LaunchReport):
        self.report = report
        self.phase = ""
        self.progress: float | None = None
        self.failure = ""

    def handle(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Report one event; return it when it is ``ready``, raise when the build failed."""
        phase = str(event.get("phase", "")).lower()
        message = str(event.get("message") or "").rstrip("\n")
        if phase == "ready":
            return event
        if phase == "failed":
            reason = message or self.failure or "the build failed without saying why"
            raise FacilityError(f"BinderHub: {reason}")
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
        if phase == self.phase and progress in (None, self.progress):
            return
        first_line = message.splitlines()[0] if message else ""
        self.report.phase(PHASES[phase], first_line, progress)
        self.phase, self.progress = phase, progress


def follow_build(hub_url: str, spec: str, limits: BuildLimits, report: LaunchReport) -> dict[str, Any]:
    """Build and launch ``spec`` on the hub; return BinderHub's ``ready`` event."""
    build_url = f"{hub_url.rstrip('/')}/build/{spec}"
    follower = Follower(report)
    deadline = time.monotonic() + limits.timeout

    def check_deadline() -> None:
        if time.monotonic() > deadline:
            raise FacilityError(
                f"BinderHub did not have the session ready within {limits.timeout:g} s "
                f"(last phase: {follower.phase or 'none'})."
            )

    try:
        response = requests.get(
            build_url,
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=(CONNECT_TIMEOUT, min(limits.read_timeout, limits.timeout)),
        )
    except requests.RequestException as error:
        raise FacilityError(f"BinderHub at {hub_url} does not answer: {error}") from None
    with response:
        _check_response(response, build_url)
        try:
            for event in read_events(response.iter_content(CHUNK_SIZE), check_deadline):
                ready = follower.handle(event)
                if ready is not None:
                    return ready
        except requests.exceptions.ConnectionError as error:
            if error.args and isinstance(error.args[0], ReadTimeoutError):
                raise FacilityError(
                    f"BinderHub sent nothing for {limits.read_timeout:g} s (last phase: {follower.phase or 'none'})."
                ) from None
            raise FacilityError(_broken(follower, error)) from None
        except requests.RequestException as error:
            raise FacilityError(_broken(follower, error)) from None
    raise FacilityError(
        f"BinderHub closed the build stream before the session was ready (last phase: {follower.phase or 'none'})."
    )


def _check_response(response: requests.Response, build_url: str) -> None:
    if response.status_code != 200:
        raise FacilityError(f"BinderHub answered HTTP {response.status_code} to {build_url}")
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("text/event-stream"):
        raise FacilityError(f"{build_url} did not answer with an event stream (Content-Type {content_type!r}).")


def _broken(follower: Follower, error: Exception) -> str:
    return f"The connection to BinderHub broke during the {follower.phase or 'first'} phase: {error}"


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

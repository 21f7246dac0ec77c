"""A LaunchReport that records every call, for tests of facility types."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from esap_core.hookspecs import Phase

PHASE_ORDER = {phase: index for index, phase in enumerate(Phase)}
ENDINGS = ("ready", "failed")


@dataclass
class RecordingReport:
    """Implements :class:`esap_core.LaunchReport` and keeps each call, in order, as ``(method, values)``.

    It accepts whatever a launch reports (a facility type's own error handling must not
    see a surprise); :meth:`problems` then says what breaks the contract.
    """

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    # --- the LaunchReport protocol ---------------------------------------------------

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        self.calls.append(("phase", {"phase": phase, "message": message, "progress": progress}))

    def log(self, line: str) -> None:
        self.calls.append(("log", {"line": line}))

    def detail(self, **facts: Any) -> None:
        self.calls.append(("detail", dict(facts)))

    def ready(self, url: str, message: str = "") -> None:
        self.calls.append(("ready", {"url": url, "message": message}))

    def failed(self, message: str, detail: str = "") -> None:
        self.calls.append(("failed", {"message": message, "detail": detail}))

    # --- what a test reads -----------------------------------------------------------

    def of(self, method: str) -> list[dict[str, Any]]:
        """The values of every call to ``method``, in order."""
        return [values for name, values in self.calls if name == method]

    @property
    def phases(self) -> list[Phase]:
        """The phases in the order they began (a phase reported again in a row counts once)."""
        begun: list[Phase] = []
        for values in self.of("phase"):
            if not begun or begun[-1] != values["phase"]:
                begun.append(values["phase"])
        return begun

    @property
    def lines(self) -> list[str]:
        return [values["line"] for values in self.of("log")]

    @property
    def details(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for facts in self.of("detail"):
            merged.update(facts)
        return merged

    @property
    def ready_url(self) -> str | None:
        ready = self.of("ready")
        return ready[-1]["url"] if ready else None

    @property
    def failure(self) -> str | None:
        failed = self.of("failed")
        return failed[-1]["message"] if failed else None

    def problems(self, raised: bool = False) -> list[str]:
        """What breaks the launch contract; ``raised``: the launch ended by raising FacilityError."""
        found = [problem for index, call in enumerate(self.calls) for problem in _call_problems(index, *call)]
        found += _order_problems(self.of("phase"))
        endings = [index for index, (name, _) in enumerate(self.calls) if name in ENDINGS]
        if len(endings) > 1:
            found.append(f"the launch ended {len(endings)} times ({', '.join(self.calls[i][0] for i in endings)})")
        if endings and endings[-1] != len(self.calls) - 1:
            after = ", ".join(name for name, _ in self.calls[endings[-1] + 1 :])
            found.append(f"the launch reported {after} after {self.calls[endings[-1]][0]}(): the end must come last")
        if raised and self.of("ready"):
            found.append("the launch called ready() and then raised FacilityError")
        if not raised and not endings:
            found.append("the launch returned without report.ready(url) or report.failed(message)")
        return found


def _call_problems(index: int, name: str, values: dict[str, Any]) -> list[str]:
    where = f"call {index + 1}, {name}()"
    if name == "phase":
        return _phase_problems(where, values)
    if name == "log":
        return [] if isinstance(values["line"], str) else [f"{where}: the line is not a string"]
    if name == "detail":
        return [f"{where}: {problem}" for problem in json_problems(values, "facts")]
    if name == "ready":
        url = values["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return [f"{where}: the URL {url!r} is not an http(s) URL the user can open"]
        return []
    if name == "failed" and (not isinstance(values["message"], str) or not values["message"].strip()):
        return [f"{where}: give a message the researcher can act on"]
    return []


def _phase_problems(where: str, values: dict[str, Any]) -> list[str]:
    found = []
    phase, message, progress = values["phase"], values["message"], values["progress"]
    if not isinstance(phase, Phase):
        found.append(f"{where}: {phase!r} is not an esap_core.Phase")
    elif phase in (Phase.READY, Phase.FAILED):
        found.append(f"{where}: end a launch with report.{phase.value}(...), not report.phase(Phase.{phase.name})")
    if not isinstance(message, str):
        found.append(f"{where}: the message is not a string")
    if progress is not None:
        number = isinstance(progress, int | float) and not isinstance(progress, bool) and math.isfinite(progress)
        if not number or not 0 <= progress <= 100:
            found.append(f"{where}: progress {progress!r} is not a percentage from 0 to 100")
    return found


def _order_problems(phases: list[dict[str, Any]]) -> list[str]:
    found = []
    known = [values["phase"] for values in phases if values["phase"] in PHASE_ORDER]
    for before, after in zip(known, known[1:], strict=False):
        if PHASE_ORDER[after] < PHASE_ORDER[before]:
            found.append(
                f"phase {after.value!r} came after {before.value!r}: report phases in the order of "
                f"esap_core.Phase ({', '.join(p.value for p in Phase)})"
            )
    return found


def json_problems(value: Any, where: str) -> list[str]:
    """Where ``value`` is not plain JSON (dicts with string keys, lists, strings, finite numbers, booleans, None)."""
    if value is None or isinstance(value, str | bool | int):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where}: {value!r} is not JSON (use None for a missing value)"]
    if isinstance(value, list):
        return [problem for i, item in enumerate(value) for problem in json_problems(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        found = [f"{where}: the key {key!r} is not a string" for key in value if not isinstance(key, str)]
        return found + [problem for key, item in value.items() for problem in json_problems(item, f"{where}.{key}")]
    return [f"{where}: {type(value).__name__} {value!r} is not JSON (dicts, lists, strings, numbers, booleans)"]

"""Fixtures for the rosetta plugin's tests: facilities on the protocol server, launch requests, a recording report."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from esap_core import Facility, LaunchRequest, Phase, Secret, Settings, SoftwareRecord, UIType, UserContext


@dataclass
class RecordingReport:
    """A LaunchReport that keeps every call, in order, for the test to look at."""

    phases: list[tuple[Phase, str, float | None]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    ready_url: str | None = None
    failure: str | None = None

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        self.phases.append((phase, message, progress))

    def log(self, line: str) -> None:
        self.lines.append(line)

    def detail(self, **facts: Any) -> None:
        self.details.update(facts)

    def ready(self, url: str, message: str = "") -> None:
        self.ready_url = url

    def failed(self, message: str) -> None:
        self.failure = message


@pytest.fixture
def rosetta_facility(rosetta_server) -> Callable[..., Facility]:
    """Make a facility on the protocol server with its service account; keyword arguments override settings."""

    def make(**values: Any) -> Facility:
        values.setdefault("username", rosetta_server.username)
        values.setdefault("password", Secret(rosetta_server.password, "test"))
        return Facility(
            name="test-rosetta",
            kind="rosetta",
            url=rosetta_server.url,
            settings=Settings("rosetta", values),
        )

    return make


def launch_request(repository_url: str, ref: str = "v1.0", personal_token: Secret | None = None) -> LaunchRequest:
    return LaunchRequest(
        launch_id=uuid.uuid4().hex,
        software=SoftwareRecord(
            external_id="test:topcat",
            name="TOPCAT",
            repository_url=repository_url,
            ref=ref,
            ui_type=UIType.DESKTOP,
        ),
        data=(),
        user=UserContext(username="esap-user", claims={"preferred_username": "jdoe"}),
        personal_token=personal_token,
    )

"""Fixtures for the rosetta plugin's tests: facilities on the protocol server, launch requests, a recording report."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from esap_core import Facility, LaunchRequest, Secret, Settings, SoftwareRecord, UIType, UserContext
from esap_core.testing import load_fixtures


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
            trusted=True,  # registered by an admin: ESAP may reach its loopback address
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


def pytest_configure(config):
    load_fixtures(config, "esap_rosetta.testing")  # its servers, once

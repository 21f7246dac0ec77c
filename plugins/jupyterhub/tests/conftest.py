"""Fixtures for the jupyterhub plugin's tests: facilities on the test hub, launch requests, a recording report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from esap_core import (
    DataItem,
    Facility,
    LaunchRequest,
    Secret,
    Settings,
    SoftwareRecord,
    UserContext,
)
from esap_core.testing import load_fixtures

NOTEBOOK = "esap-launch.ipynb"
SETTINGS_FILE = "esap-launch.json"


def staging_files(launch_id: str) -> dict[str, str]:
    """What the core's staging_notebook() hands over: a notebook and its settings file."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "fetch-data",
                "metadata": {},
                "outputs": [],
                "source": f"# ESAP launch {launch_id}\nimport json\nitems = json.load(open('{SETTINGS_FILE}'))",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    settings = {"launch": launch_id, "items": [{"method": "http", "url": "http://127.0.0.1/data.fits"}]}
    return {NOTEBOOK: json.dumps(notebook), SETTINGS_FILE: json.dumps(settings)}


@pytest.fixture
def hub_facility(jupyterhub) -> Callable[..., Facility]:
    """Make a facility on the test hub; keyword arguments become its settings."""

    def make(**values: Any) -> Facility:
        values.setdefault("api_token", Secret(jupyterhub.token, "test"))
        return Facility(
            name="test-hub",
            kind="jupyterhub",
            url=jupyterhub.hub_url,
            settings=Settings("jupyterhub", values),
            title="Test hub",
            trusted=True,  # registered by an admin: ESAP may reach its loopback address
        )

    return make


@pytest.fixture
def hub_user(jupyterhub) -> Iterator[str]:
    """A fresh hub username for one test; its servers are stopped afterwards."""
    name = f"researcher-{uuid.uuid4().hex[:8]}"
    yield name
    jupyterhub.stop_all(name)


@pytest.fixture
def launch_request() -> Callable[..., LaunchRequest]:
    """Make a launch of a small notebook with one data item, for the user ``preferred_username``."""

    def make(preferred_username: str, options: dict[str, Any] | None = None) -> LaunchRequest:
        launch_id = uuid.uuid4().hex
        return LaunchRequest(
            launch_id=launch_id,
            software=SoftwareRecord(
                external_id="test:hello",
                name="Hello notebook",
                repository_url="https://example.org/hello.git",
            ),
            data=(DataItem("ivo://test/1", "An image", {"method": "http", "url": "http://127.0.0.1/data.fits"}),),
            user=UserContext(username="esap-user", claims={"preferred_username": preferred_username}),
            options=options or {},
            staging_notebook=lambda: staging_files(launch_id),
        )

    return make


def pytest_configure(config):
    load_fixtures(config, "esap_jupyterhub.testing")  # its servers, once

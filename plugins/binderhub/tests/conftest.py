"""Shared pieces of the BinderHub plugin's tests: a recording launch report (the public one), requests, facilities."""

import itertools
import json
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
from esap_core.testing import RecordingReport, load_fixtures

_launch_ids = itertools.count(1)


def staging_files(launch_id: str, settings_name: str = "esap_settings.json") -> dict[str, str]:
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {
                "cell_type": "code",
                "id": "fetch-data",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": f"import json\nbasket = json.load(open({settings_name!r}))",
            }
        ],
    }
    settings = {"api": "http://127.0.0.1:5000/api/v1", "launch": launch_id, "token": "esap-secret"}
    return {f"esap-{launch_id}.ipynb": json.dumps(notebook), settings_name: json.dumps(settings)}


def launch_request(
    software: SoftwareRecord, settings_name: str = "esap_settings.json", personal_token: Secret | None = None
) -> LaunchRequest:
    launch_id = f"launch-{next(_launch_ids)}"
    item = DataItem(
        identifier="ivo://example/tap?m31",
        title="M31 images",
        fetch={"method": "http", "url": "http://127.0.0.1:9/m31.fits"},
    )
    return LaunchRequest(
        launch_id=launch_id,
        software=software,
        data=(item,),
        user=UserContext(username="alice", claims={"email": "alice@example.org"}),
        staging_notebook=lambda: staging_files(launch_id, settings_name),
        personal_token=personal_token,
    )


def github_software(repo: str, ref: str = "main", path: str = "") -> SoftwareRecord:
    return SoftwareRecord(
        external_id=f"test:{repo}",
        name=repo,
        repository_url=f"https://github.com/esap-tests/{repo}",
        ref=ref,
        path=path,
    )


@pytest.fixture
def report() -> RecordingReport:
    return RecordingReport()


@pytest.fixture(autouse=True)
def fresh_binderhub(binderhub_server):
    """Every test starts with a healthy hub: no rate limit, no login, nothing scripted."""
    binderhub_server.reset()
    yield
    binderhub_server.reset()


@pytest.fixture
def hub(binderhub_server):
    """A factory of facilities on the local BinderHub, with settings of the test's choice (an admin's: on loopback)."""

    def make(**settings: Any) -> Facility:
        return Facility(
            name="local-binder",
            kind="binderhub",
            url=binderhub_server.url + "/",
            settings=Settings("facility:local-binder", settings),
            trusted=True,
        )

    return make


@pytest.fixture
def make_request():
    """``make_request(software, settings_name=..., personal_token=...)``: a LaunchRequest with a staging notebook."""
    return launch_request


@pytest.fixture
def github():
    """``github(repo, ref="main", path="")``: a software record on github.com."""
    return github_software


def pytest_configure(config):
    load_fixtures(config, "esap_binderhub.testing")  # its servers, once

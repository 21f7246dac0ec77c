"""The local BinderHub follows BinderHub's API: these check the server the other tests rely on."""

import json

import pytest
import requests
from esap_binderhub.build import BuildLimits, follow_build

from esap_core import FacilityError, GuardedSession

LIMITS = BuildLimits(timeout=30, read_timeout=10)


def follow(url: str, spec: str, report) -> dict:
    with GuardedSession(private_ok=True) as http:
        return follow_build(http, url, spec, LIMITS, report, {}, lambda: "")


def events_of(response: requests.Response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


def test_a_missing_accept_header_is_a_failed_event_in_a_200_stream(binderhub_server):
    response = requests.get(f"{binderhub_server.url}/build/gh/esap-tests/no-accept/main", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert events_of(response) == [
        {"phase": "failed", "status_code": 400, "message": "Missing Accept header: text/event-stream\n"}
    ]


def test_build_only_ends_with_a_ready_without_url(binderhub_server):
    response = requests.get(
        f"{binderhub_server.url}/build/gh/esap-tests/build-only/main?build_only=true",
        headers={"Accept": "text/event-stream"},
        timeout=10,
    )

    events = events_of(response)
    assert [event["phase"] for event in events[:3]] == ["waiting", "fetching", "fetching"]
    assert events[-1]["phase"] == "ready"
    assert events[-1]["message"] == "Done! Image built\n"
    assert "url" not in events[-1] and events[-1]["imageName"].startswith("local-binderhub/")


def test_build_only_needs_the_api_only_mode(binderhub_server):
    binderhub_server.api_only_mode = False
    try:
        response = requests.get(
            f"{binderhub_server.url}/build/gh/esap-tests/build-only-refused/main?build_only=true",
            headers={"Accept": "text/event-stream"},
            timeout=10,
        )
    finally:
        binderhub_server.api_only_mode = True

    (event,) = events_of(response)
    assert event["phase"] == "failed" and event["status_code"] == 400
    assert event["message"].startswith("Building but not launching is not permitted")


def test_an_unknown_provider_fails_with_binderhubs_message(binderhub_server, report):
    with pytest.raises(FacilityError, match="BinderHub: No provider found for prefix svn$"):
        follow(binderhub_server.url, "svn/esap-tests/repo/main", report)


def test_a_malformed_github_spec_fails_with_binderhubs_message(binderhub_server, report):
    with pytest.raises(FacilityError, match='Spec is not of the form "user/repo/ref", provided: "only-user"'):
        follow(binderhub_server.url, "gh/only-user", report)


def test_a_cached_image_skips_the_build(binderhub_server, report):
    binderhub_server.script("gh/esap-tests/cached/*", image_found=True)

    ready = follow(binderhub_server.url, "gh/esap-tests/cached/main", report)

    assert [phase.value for phase in report.phases] == ["built", "launching"]
    assert ready["binder_request"] == "v2/gh/esap-tests/cached/main"
    assert ready["binder_persistent_request"].startswith("v2/gh/esap-tests/cached/")
    assert requests.get(ready["url"] + "api/status", params={"token": ready["token"]}, timeout=10).ok


def test_the_repo_providers_and_versions(binderhub_server):
    providers = requests.get(f"{binderhub_server.url}/api/repoproviders", timeout=10).json()
    versions = requests.get(f"{binderhub_server.url}/versions", timeout=10)

    assert [provider["id"] for provider in providers] == ["gh", "gl", "git", "zenodo"]
    assert versions.headers["Access-Control-Allow-Origin"] == "*"
    assert set(versions.json()) == {"builder_info", "binderhub"}


def test_a_launch_link_of_an_unknown_provider_is_not_found(binderhub_server):
    assert requests.get(f"{binderhub_server.url}/v2/svn/x/y", timeout=10).status_code == 404

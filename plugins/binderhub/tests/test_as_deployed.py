"""BinderHub as it is deployed, behind its JupyterHub: what a real one does that the happy path does not show."""

import time

import pytest
import requests
from esap_binderhub.facility import BinderHub, _hub_api_url

from esap_core import Facility, FacilityBusy, FacilityError, Phase, Secret, Settings, SoftwareRecord
from esap_core.testing import RecordingReport


def git_software(url: str, ref: str = "main") -> SoftwareRecord:
    return SoftwareRecord(external_id=f"test:{url}", name="git repo", repository_url=url, ref=ref)


# --- 1. a BinderHub that dies mid-build behind the hub's proxy -------------------------------


def test_the_default_read_timeout_is_just_above_binderhubs_keepalive_interval(hub):
    assert 25 < BinderHub().settings(hub()).read_timeout <= 40


def test_a_binderhub_dying_mid_build_is_noticed_after_the_read_timeout(
    hub, report, make_request, github, binderhub_server
):
    binderhub_server.script("gh/esap-tests/dies-silently/*", silent_after="building", dies=True)
    started = time.monotonic()

    with pytest.raises(FacilityError) as failure:
        BinderHub().launch(hub(read_timeout=1), make_request(github("dies-silently")), report)

    assert time.monotonic() - started < 6
    message = str(failure.value)
    assert "BinderHub sent nothing for 1 s during the building phase" in message
    assert f"BinderHub went away. BinderHub is not running behind the hub at {binderhub_server.url}/" in message
    assert not report.of("ready")


# --- 2. the hub's proxy answers for a BinderHub that is not there ------------------------------


def test_a_503_page_from_the_hubs_proxy_says_binderhub_is_not_running(hub, binderhub_server):
    binderhub_server.down = True

    result = BinderHub().check(hub(), timeout=5)

    assert not result.up
    assert result.message == (
        f"BinderHub is not running behind the hub at {binderhub_server.url}/: the hub's proxy answered HTTP 503 "
        "with its own page."
    )


def test_a_launch_while_binderhub_is_down_says_so(hub, report, make_request, github, binderhub_server):
    binderhub_server.down = True

    with pytest.raises(FacilityError, match="BinderHub is not running behind the hub at .*HTTP 503 for the build"):
        BinderHub().launch(hub(), make_request(github("while-down")), report)


def test_the_hubs_own_root_is_not_a_binderhub(binderhub_server):
    at_root = Facility("hub-root", "binderhub", binderhub_server.hub_url + "/", Settings("b", {}), trusted=True)

    result = BinderHub().check(at_root, timeout=5)

    assert not result.up
    assert "its /health redirects to '/hub/health'" in result.message
    assert "/services/binder/" in result.message


# --- 3. the rate limit -----------------------------------------------------------------------


def test_the_rate_limit_is_binderhubs_own_message_and_counts_failed_builds(hub, make_request, github, binderhub_server):
    binderhub_server.rate_limit = 2
    binderhub_server.script("gh/esap-tests/limited-broken/*", fail="ERROR: broken")
    with pytest.raises(FacilityError, match="ERROR: broken"):
        BinderHub().launch(hub(), make_request(github("limited-broken")), RecordingReport())
    first = RecordingReport()
    BinderHub().launch(hub(), make_request(github("limited")), first)
    assert any(line.startswith("BinderHub allows 0 more builds from ESAP's address until") for line in first.lines)

    with pytest.raises(FacilityBusy) as refused:
        BinderHub().launch(hub(), make_request(github("limited")), RecordingReport())

    assert "BinderHub refused the build: Rate limit exceeded. Try again in 3600 seconds." in str(refused.value)
    assert "c.RateLimiter.limit" in str(refused.value)
    assert refused.value.retry_after == 3600


# --- 4. BinderHubs that require login ----------------------------------------------------------


def test_a_hub_that_requires_login_is_named_when_the_facility_does_not_say_so(
    hub, report, make_request, github, binderhub_server
):
    binderhub_server.auth_enabled = True

    with pytest.raises(FacilityError, match="requires login .*set auth_enabled = true on this facility"):
        BinderHub().launch(hub(), make_request(github("needs-login")), report)


def test_login_needs_the_users_own_hub_token(hub, report, make_request, github, binderhub_server):
    binderhub_server.auth_enabled = True

    with pytest.raises(FacilityError, match="requires login: add your JupyterHub API token for it on your profile"):
        BinderHub().launch(hub(auth_enabled=True), make_request(github("no-token")), report)

    assert (
        not binderhub_server.builds_of("gh") or binderhub_server.builds_of("gh")[-1].spec != "esap-tests/no-token/main"
    )


def test_a_refused_hub_token_is_the_users_to_renew(hub, report, make_request, github, binderhub_server):
    binderhub_server.auth_enabled = True
    request = make_request(github("wrong-token"), personal_token=Secret("not-a-hub-token", "test"))

    with pytest.raises(FacilityError, match="BinderHub refused your JupyterHub token"):
        BinderHub().launch(hub(auth_enabled=True), request, report)


def test_a_launch_with_login_builds_as_the_user_without_rate_limit(hub, report, make_request, github, binderhub_server):
    binderhub_server.auth_enabled = True
    binderhub_server.rate_limit = 1
    token = binderhub_server.user_token
    for name in ("with-login-1", "with-login-2"):
        request = make_request(github(name), personal_token=Secret(token, "test"))
        report = RecordingReport()

        BinderHub().launch(hub(auth_enabled=True), request, report)

    assert binderhub_server.builds_of("gh")[-1].authorization == f"token {token}"
    assert "?token=" not in report.ready_url  # the browser logs in through the hub
    server = report.ready_url.split("lab/tree/")[0]
    stored = requests.get(f"{server}api/contents/esap_settings.json", headers={"Authorization": f"token {token}"})
    assert stored.status_code == 200


# --- 5. stopping sessions ----------------------------------------------------------------------


def test_a_facility_with_a_hub_token_stops_the_session_through_the_hub_api(
    hub, report, make_request, github, binderhub_server
):
    facility = hub(hub_token=Secret(binderhub_server.admin_token, "test"))
    BinderHub().launch(facility, make_request(github("to-stop")), report)
    assert report.details["hub_user"] == "binder-session"
    assert report.of("ready")[-1]["message"] == "Ready"
    assert BinderHub().can_stop(facility)

    BinderHub().stop(facility, "launch-to-stop", None, details=report.details)

    assert binderhub_server.stopped == [("binder-session", "")]


def test_a_hub_token_without_the_servers_scope_is_named(hub, binderhub_server):
    facility = hub(hub_token=Secret("weak-token", "test"))

    with pytest.raises(FacilityError, match="refused ESAP's hub_token: stopping servers needs the 'servers' scope"):
        BinderHub().stop(facility, "launch", None, details={"hub_user": "binder-session"})

    assert binderhub_server.stopped == []


def test_without_a_hub_token_the_launch_says_the_culler_ends_the_session(hub, report, make_request, github):
    facility = hub(culler_timeout=600)

    BinderHub().launch(facility, make_request(github("culled")), report)

    sentence = (
        "ESAP cannot stop this session (the facility has no hub_token): BinderHub's culler ends it after 10 minutes"
    )
    assert sentence in report.of("ready")[-1]["message"]
    assert not BinderHub().can_stop(facility)
    with pytest.raises(FacilityError, match=r"culler ends it after 10 minutes without use"):
        BinderHub().stop(facility, "launch", None, details=report.details)


@pytest.mark.parametrize(
    ("url", "api"),
    [
        ("https://hub.example.org/services/binder/", "https://hub.example.org/hub/api"),
        ("https://example.org/jupyter/services/binder", "https://example.org/jupyter/hub/api"),
        ("https://binder.example.org/", ""),
    ],
)
def test_the_hub_api_of_a_binderhub_service(url, api):
    assert _hub_api_url(url) == api


# --- 6. the missing-ref message ----------------------------------------------------------------


def test_a_ref_that_does_not_resolve_is_shown_unescaped(hub, report, make_request, binderhub_server):
    binderhub_server.script("git/*", unresolvable=True)
    record = git_software("https://git.example.org/esap/notebooks.git", ref="no-such-branch")

    with pytest.raises(FacilityError) as failure:
        BinderHub().launch(hub(), make_request(record), report)

    assert str(failure.value) == (
        "BinderHub: Could not resolve ref for git:https://git.example.org/esap/notebooks.git/no-such-branch. "
        "Double check your URL and that your repo is public."
    )


# --- 9. the protocol server does what the real one does -----------------------------------------


def test_fakebuild_phases_launch(hub, report, make_request, github, binderhub_server):
    binderhub_server.script("gh/esap-tests/fake-build/*", fake_build=True)

    BinderHub().launch(hub(), make_request(github("fake-build")), report)

    assert report.phases == [Phase.WAITING, Phase.BUILDING, Phase.BUILT, Phase.LAUNCHING, Phase.LOADING]
    assert {"Pending...", "Running...", "Building...", "Step 5/10"} <= set(report.lines)


def test_binderhub_lives_under_the_hubs_services_path(binderhub_server):
    assert binderhub_server.url == binderhub_server.hub_url + "/services/binder"
    assert requests.get(binderhub_server.url + "/versions", timeout=5).json()["binderhub"]
    at_root = requests.get(binderhub_server.hub_url + "/versions", allow_redirects=False, timeout=5)
    assert at_root.status_code == 302 and at_root.headers["Location"] == "/hub/versions"

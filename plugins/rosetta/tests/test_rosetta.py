"""Launches and checks against the local Rosetta protocol server."""

import uuid
from urllib.parse import quote

import pytest
import requests
from esap_rosetta.facility import RosettaFacility

from esap_core import FacilityError, Phase, Secret
from esap_core.testing import RecordingReport, free_port

from .conftest import launch_request

FACILITY = RosettaFacility()


def unique_repository() -> str:
    return f"https://git.example.org/astro/topcat-{uuid.uuid4().hex[:8]}.git"


def test_launch_imports_the_repository_and_opens_the_task_page(rosetta_server, rosetta_facility):
    repository = unique_repository()
    report = RecordingReport()

    FACILITY.launch(rosetta_facility(), launch_request(repository, "v4.9"), report)

    container_uuid = report.details["container_uuid"]
    assert report.ready_url == f"{rosetta_server.url}/new_task/?step=two&task_container_uuid={container_uuid}"
    assert [call["phase"] for call in report.of("phase")] == [Phase.WAITING, Phase.BUILDING]
    assert report.of("phase")[1]["message"] == f"Rosetta is importing {repository} at v4.9"
    assert report.problems() == []
    assert rosetta_server.imports()[-1] == {
        "user": rosetta_server.username,
        "repository_url": repository,
        "repository_tag": "v4.9",
    }
    # The page the researcher lands on shows that container (to a logged-in Rosetta user).
    browser = requests.Session()
    browser.post(
        f"{rosetta_server.url}/api/v1/base/login/",
        data={"username": rosetta_server.username, "password": rosetta_server.password},
        timeout=5,
    )
    page = browser.get(report.ready_url, timeout=5)
    assert page.status_code == 200
    assert f"container {repository}@v4.9" in page.text


def test_the_researchers_own_token_is_used_before_the_service_account(rosetta_server, rosetta_facility):
    repository = unique_repository()
    facility = rosetta_facility(username="", password="")
    token = Secret(rosetta_server.authtoken, "user")

    FACILITY.launch(facility, launch_request(repository, personal_token=token), RecordingReport())

    assert rosetta_server.imports()[-1]["repository_url"] == repository


def test_no_credentials_at_all_are_named(rosetta_facility):
    with pytest.raises(FacilityError, match="no Rosetta credentials"):
        FACILITY.launch(
            rosetta_facility(username="", password=""), launch_request(unique_repository()), RecordingReport()
        )


def test_wrong_credentials_give_rosettas_message(rosetta_facility):
    facility = rosetta_facility(password=Secret("wrong", "test"))

    with pytest.raises(FacilityError) as raised:
        FACILITY.launch(facility, launch_request(unique_repository()), RecordingReport())

    assert str(raised.value) == "Rosetta refused the credentials: Wrong username/password"


def test_a_wrong_personal_token_gives_rosettas_message(rosetta_facility):
    token = Secret("not-a-token", "user")

    with pytest.raises(FacilityError) as raised:
        FACILITY.launch(
            rosetta_facility(), launch_request(unique_repository(), personal_token=token), RecordingReport()
        )

    assert str(raised.value) == "Rosetta refused the credentials: Wrong auth token"


def test_a_failed_import_gives_rosettas_error_message(rosetta_server, rosetta_facility):
    report = RecordingReport()

    with pytest.raises(FacilityError) as raised:
        FACILITY.launch(rosetta_facility(), launch_request(rosetta_server.failing_repository), report)

    assert str(raised.value) == (
        f"Rosetta could not import {rosetta_server.failing_repository}: {rosetta_server.failing_message}"
    )
    assert report.ready_url is None
    assert report.of("phase")[-1]["phase"] == Phase.BUILDING


def test_a_slow_import_waits_within_the_timeout_and_fails_past_it(rosetta_server, rosetta_facility):
    report = RecordingReport()
    FACILITY.launch(rosetta_facility(timeout=10), launch_request(rosetta_server.slow_repository), report)
    assert report.ready_url is not None

    with pytest.raises(FacilityError, match=r"Rosetta did not finish importing .*slow/tool.git within 1 s"):
        FACILITY.launch(rosetta_facility(timeout=1), launch_request(rosetta_server.slow_repository), RecordingReport())


def test_a_rosetta_that_is_down(rosetta_facility):
    port = free_port()  # nothing listens there
    facility = rosetta_facility(url=f"http://127.0.0.1:{port}")

    with pytest.raises(FacilityError, match=rf"^Rosetta at http://127.0.0.1:{port} cannot be reached: "):
        FACILITY.launch(facility, launch_request(unique_repository()), RecordingReport())
    result = FACILITY.check(facility, timeout=5)
    assert not result.up
    assert "cannot be reached" in result.message and "refused" in result.detail


def test_a_repository_that_is_not_an_http_url_is_refused(rosetta_facility):
    with pytest.raises(FacilityError, match="by http\\(s\\) URL; this software has 'file:///etc'"):
        FACILITY.launch(rosetta_facility(), launch_request("file:///etc"), RecordingReport())


def test_check_logs_in_with_the_service_account(rosetta_server, rosetta_facility):
    result = FACILITY.check(rosetta_facility(), timeout=5)

    assert result.up
    assert result.message == f"Rosetta answers at {rosetta_server.url}; the service account logs in"


def test_check_without_an_account_knocks_at_the_login_endpoint(rosetta_server, rosetta_facility):
    result = FACILITY.check(rosetta_facility(username="", password=""), timeout=5)

    assert result.up
    assert result.message == (
        f"Rosetta answers at {rosetta_server.url}: "
        "This is a private API. Login or provide username/password or auth token"
    )


def test_check_reports_a_refused_service_account(rosetta_facility):
    result = FACILITY.check(rosetta_facility(password=Secret("wrong", "test")), timeout=5)

    assert not result.up
    assert result.message == "Rosetta refused the credentials: Wrong username/password"


def test_users_keep_a_token_of_their_own_on_their_profile():
    assert "Rosetta token" in FACILITY.personal_token_label
    assert FACILITY.options(None) == ()


def test_rosettas_binder_style_link_leads_to_the_same_task_page(rosetta_server):
    # The /v2/git/<repository>/<tag> link is what a researcher's browser could follow instead of the API.
    browser = requests.Session()
    browser.post(f"{rosetta_server.url}/api/v1/base/login/", data={"authtoken": rosetta_server.authtoken}, timeout=5)
    repository = unique_repository()

    page = browser.get(f"{rosetta_server.url}/v2/git/{quote(repository, safe='')}/main", timeout=5)

    assert page.history[0].status_code == 302
    assert "/new_task/?step=two&task_container_uuid=" in page.url
    assert f"container {repository}@main" in page.text

"""Launching on the local BinderHub: phases, logs, the staged notebook in a real Jupyter server."""

import json
import time

import pytest
import requests
from esap_binderhub.facility import BinderHub

from esap_core import FacilityError, Phase

BUILD_PHASES = [Phase.WAITING, Phase.FETCHING, Phase.BUILDING, Phase.PUSHING, Phase.BUILT, Phase.LAUNCHING]


def session_of(report) -> tuple[str, str]:
    """The Jupyter server URL and token inside the ready URL."""
    (url,) = [call["url"] for call in report.of("ready")]
    base, _, query = url.partition("?")
    return base.split("lab/tree/")[0], query.removeprefix("token=")


def test_full_launch_puts_the_notebook_into_a_real_jupyter_server(hub, report, make_request, github):
    request = make_request(github("full-launch", ref="v1.2"))

    BinderHub().launch(hub(), request, report)

    assert report.phases == [*BUILD_PHASES, Phase.LOADING]
    assert "Step 1/3 : FROM docker.io/library/buildpack-deps:jammy" in report.lines
    assert "Waiting for build to start..." in report.lines
    pushing = [call["progress"] for call in report.of("phase") if call["phase"] is Phase.PUSHING]
    assert pushing == [75.0, 100.0]
    assert report.details["image"].startswith("local-binderhub/binder-esap-tests-full-launch-")
    assert report.details["repo_url"] == "https://github.com/esap-tests/full-launch"
    assert len(report.details["commit"]) == 40
    assert report.calls[-1][0] == "ready"
    ready_url = report.ready_url
    notebook = f"esap-{request.launch_id}.ipynb"
    assert ready_url.split("?")[0].endswith(f"/lab/tree/{notebook}")

    server, token = session_of(report)
    auth = {"Authorization": f"token {token}"}
    stored = requests.get(f"{server}api/contents/{notebook}", headers=auth, timeout=10).json()
    assert stored["type"] == "notebook"
    assert "json.load(open('esap_settings.json'))" in stored["content"]["cells"][0]["source"]
    settings = requests.get(f"{server}api/contents/esap_settings.json", headers=auth, timeout=10).json()
    assert json.loads(settings["content"])["launch"] == request.launch_id
    page = requests.get(ready_url, timeout=10)
    assert page.status_code == 200 and "JupyterLab" in page.text
    assert requests.get(f"{server}api/contents/{notebook}", timeout=10).status_code == 403


def test_the_client_closes_the_stream_after_ready(hub, report, make_request, github, binderhub_server):
    BinderHub().launch(hub(), make_request(github("closes-stream")), report)

    (build,) = binderhub_server.builds_of("gh")[-1:]
    assert build.spec == "esap-tests/closes-stream/main"
    deadline = time.monotonic() + 5
    while not build.closed_by_client and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build.closed_by_client, "BinderHub keeps the stream open after ready: the plugin must close it"


def test_keepalive_comments_are_ignored(hub, report, make_request, github, binderhub_server):
    binderhub_server.script("gh/esap-tests/slow-with-pings/*", delay=0.12, keepalive=0.03)

    BinderHub().launch(hub(), make_request(github("slow-with-pings")), report)

    build = binderhub_server.builds_of("gh")[-1]
    assert build.keepalives >= 10
    assert report.phases == [*BUILD_PHASES, Phase.LOADING]
    assert not any("keepalive" in str(call) for call in report.calls)


def test_a_failed_build_raises_binderhubs_message(hub, report, make_request, github, binderhub_server):
    message = "ERROR: No matching distribution found for nosuchpackage==9.9"
    binderhub_server.script("gh/esap-tests/broken/*", fail=message)

    with pytest.raises(FacilityError, match="nosuchpackage==9.9"):
        BinderHub().launch(hub(), make_request(github("broken")), report)

    assert message in report.lines
    assert Phase.BUILT not in report.phases
    assert not report.of("ready")
    build = binderhub_server.builds_of("gh")[-1]
    deadline = time.monotonic() + 5
    while not build.closed_by_client and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build.closed_by_client


@pytest.mark.parametrize(
    ("phase", "phases"),
    [
        ("building", [Phase.WAITING, Phase.FETCHING, Phase.BUILDING]),
        ("launching", BUILD_PHASES),
    ],
)
def test_a_connection_dying_mid_build_is_a_clear_error(
    phase, phases, hub, report, make_request, github, binderhub_server
):
    binderhub_server.script(f"gh/esap-tests/dies-{phase}/*", die_after=phase)

    with pytest.raises(FacilityError, match=f"connection to BinderHub broke during the {phase} phase"):
        BinderHub().launch(hub(), make_request(github(f"dies-{phase}")), report)

    assert binderhub_server.builds_of("gh")[-1].dropped
    assert report.phases == phases
    assert not report.of("ready")


def test_a_hanging_build_hits_the_overall_timeout(hub, report, make_request, github, binderhub_server):
    # Keep-alives keep coming, so only the overall timeout can end this launch.
    binderhub_server.script("gh/esap-tests/hangs/*", hang=True, keepalive=0.05)
    started = time.monotonic()

    with pytest.raises(FacilityError, match=r"not have the session ready within 1\.5 s \(last phase: fetching\)"):
        BinderHub().launch(hub(timeout=1.5), make_request(github("hangs")), report)

    assert 1.5 <= time.monotonic() - started < 5
    assert binderhub_server.builds_of("gh")[-1].keepalives > 5


def test_a_silent_stream_of_a_healthy_hub_blames_the_connection(hub, report, make_request, github, binderhub_server):
    binderhub_server.script("gh/esap-tests/silent/*", hang=True, keepalive=60)

    with pytest.raises(FacilityError, match=r"sent nothing for 0\.5 s during the fetching phase") as failure:
        BinderHub().launch(hub(read_timeout=0.5), make_request(github("silent")), report)

    assert "health check still answers, so the connection between ESAP and BinderHub is at fault" in str(failure.value)


def test_a_hidden_settings_file_refused_by_jupyter_is_reported(hub, report, make_request, github):
    request = make_request(github("hidden-settings"), settings_name=".esap.json")

    with pytest.raises(FacilityError, match=r"refused '\.esap\.json' \(HTTP 400\).*allow_hidden"):
        BinderHub().launch(hub(), request, report)


def test_without_the_build_api_the_launch_link_is_handed_out(hub, report, make_request, github, binderhub_server):
    request = make_request(github("public-links", ref="v2", path="notebooks/analysis.ipynb"))
    builds_before = len(binderhub_server.builds)

    BinderHub().launch(hub(build_api=False), request, report)

    (link,) = [call["url"] for call in report.of("ready")]
    assert link == (f"{binderhub_server.url}/v2/gh/esap-tests/public-links/v2?labpath=notebooks/analysis.ipynb")
    assert len(binderhub_server.builds) == builds_before
    page = requests.get(link, timeout=10)
    assert page.status_code == 200
    assert f"{binderhub_server.url}/build/gh/esap-tests/public-links/v2" in page.text


def test_bad_settings_are_named(hub, report, make_request, github):
    with pytest.raises(FacilityError, match="facility 'local-binder': setting 'timeout' must be a number"):
        BinderHub().launch(hub(timeout="soon"), make_request(github("bad-settings")), report)

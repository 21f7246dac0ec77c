"""Faults against the real gateway: each ends in a FacilityError with the gateway's words, and leaves no cluster."""

import os
import signal
import threading
import time

import pytest
from esap_dask_gateway.facility import DaskGatewayFacility

from esap_core import FacilityError, Secret
from esap_core.testing import RecordingReport

FACILITY = DaskGatewayFacility()


def test_options_out_of_bounds_are_refused_before_any_cluster_starts(
    gateway_facility, cluster_request, dask_gateway, researcher
):
    with pytest.raises(FacilityError) as refused:
        FACILITY.start_cluster(gateway_facility(), cluster_request(workers=9, worker_cores=3), RecordingReport())

    assert str(refused.value) == (
        "The Dask cluster's options are not usable: Workers must be at most 4, not 9; "
        "Worker cores must be at most 2, not 3"
    )
    assert dask_gateway.clusters(researcher) == {}


def test_credentials_the_gateway_refuses(gateway_facility, cluster_request, researcher):
    facility = gateway_facility(password=Secret("not-the-password", "test"))

    with pytest.raises(FacilityError) as refused:
        FACILITY.start_cluster(facility, cluster_request(), RecordingReport())

    assert str(refused.value) == (
        f"Dask Gateway refused ESAP's credentials for user {researcher!r}: Authentication required"
    )


def test_workers_that_cannot_start_fail_the_launch_when_the_gateway_gives_up(
    gateway_facility, cluster_request, dask_gateway, researcher
):
    report = RecordingReport()

    with pytest.raises(FacilityError) as failed:
        FACILITY.start_cluster(gateway_facility(), cluster_request(image="no-such-image"), report)

    name = report.details["cluster"]
    assert str(failed.value) == (
        f"Dask Gateway ended the cluster {name} while its workers started (status FAILED): "
        "they could not start; the gateway's log says why"
    )
    assert dask_gateway.wait_until_stopped(researcher, name) == "FAILED"


def test_workers_that_never_join_fail_the_launch_after_the_set_time_and_the_cluster_is_stopped(
    gateway_facility, cluster_request, dask_gateway, researcher
):
    report = RecordingReport()
    started = time.monotonic()

    with pytest.raises(FacilityError) as failed:
        FACILITY.start_cluster(gateway_facility(worker_timeout=3), cluster_request(image="never-starts"), report)

    assert str(failed.value) == (
        "Only 0 of 1 worker joined the Dask cluster within 3 s (worker_timeout), so it was stopped"
    )
    assert time.monotonic() - started < 20
    name = report.details["cluster"]
    assert [call["message"] for call in report.of("phase")][-1] == "Workers joining: 0 of 1"
    assert dask_gateway.wait_until_stopped(researcher, name) == "STOPPED"
    deadline = time.monotonic() + 20
    while [pid for pid in dask_gateway.processes() if name in os.readlink(f"/proc/{pid}/cwd")]:
        assert time.monotonic() < deadline, "the cluster's processes outlived it"
        time.sleep(0.2)


def test_a_gateway_that_dies_mid_launch_fails_it_at_once(start_dask_gateway, gateway_facility, cluster_request):
    server = start_dask_gateway()
    report = RecordingReport()
    outcome: dict = {}

    def launch():
        try:
            FACILITY.start_cluster(gateway_facility(server), cluster_request(image="never-starts"), report)
        except FacilityError as error:
            outcome["error"], outcome["at"] = error, time.monotonic()

    thread = threading.Thread(target=launch)
    thread.start()
    deadline = time.monotonic() + 30
    while not any("Workers joining" in call["message"] for call in report.of("phase")):
        assert time.monotonic() < deadline and thread.is_alive(), report.calls
        time.sleep(0.1)
    server.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert str(outcome["error"]).startswith(f"Dask Gateway at {server.url} cannot be reached: ")
    assert "Connection refused" in outcome["error"].detail
    assert outcome["at"] - killed < 5

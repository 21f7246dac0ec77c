"""Checking a BinderHub: /health and /versions."""

import socket

from esap_binderhub.facility import BinderHub

from esap_core import Facility, Settings


def test_a_healthy_hub_is_up_with_its_version(hub):
    result = BinderHub().check(hub(), timeout=5)

    assert result.up
    assert result.version == "1.0.0+esap.local"
    assert result.metadata["builder_info"]["repo2docker-version"]
    assert {check["service"] for check in result.metadata["checks"]} == {"JupyterHub API", "Docker registry"}


def test_an_unhealthy_hub_is_down_and_says_which_part(hub, binderhub_server):
    binderhub_server.healthy = False
    try:
        result = BinderHub().check(hub(), timeout=5)
    finally:
        binderhub_server.healthy = True

    assert not result.up
    assert result.message == "BinderHub is unhealthy (HTTP 503): JupyterHub API, Docker registry"


def test_a_closed_port_is_down():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Trusted, as an administrator's facility is: otherwise the guard refuses loopback before any connection.
    url = f"http://127.0.0.1:{port}/"
    facility = Facility(name="gone", kind="binderhub", url=url, settings=Settings("b", {}), trusted=True)

    result = BinderHub().check(facility, timeout=2)

    assert not result.up
    assert result.message.startswith(f"BinderHub at http://127.0.0.1:{port}/ cannot be reached")
    assert "refused" in result.detail and "refused" not in result.message

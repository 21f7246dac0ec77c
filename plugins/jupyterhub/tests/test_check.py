"""check() against the real hub: version and metadata, a token short of scopes, a hub that is down."""

from esap_jupyterhub.facility import JupyterHubFacility

from esap_core import Secret
from esap_core.testing import free_port

FACILITY = JupyterHubFacility()


def test_check_reports_version_scopes_and_info(hub_facility):
    result = FACILITY.check(hub_facility(), timeout=10)

    assert result.up
    assert result.version == "6.1.1"
    assert result.message == "JupyterHub 6.1.1"
    assert {"admin:users", "admin:servers", "access:servers"} <= set(result.metadata["scopes"])
    assert result.metadata["spawner"].startswith("jupyterhub.spawner.SimpleLocalProcessSpawner")
    assert result.metadata["authenticator"].startswith("jupyterhub.auth.DummyAuthenticator")


def test_check_names_the_scopes_a_weak_token_lacks(jupyterhub, hub_facility):
    result = FACILITY.check(hub_facility(api_token=Secret(jupyterhub.weak_token, "test")), timeout=10)

    assert result.up
    assert "admin:servers" not in result.metadata["scopes"]
    assert result.message == "JupyterHub 6.1.1; the service token lacks admin:servers, so launches will fail"


def test_check_says_a_hub_that_is_down_is_down(hub_facility):
    port = free_port()  # nothing listens there

    result = FACILITY.check(hub_facility(hub_url=f"http://127.0.0.1:{port}"), timeout=5)

    assert not result.up
    assert result.message.startswith(f"JupyterHub at http://127.0.0.1:{port}/hub/api cannot be reached")
    assert "refused" in result.detail
    assert "Connection refused" not in result.message  # the socket's words are the detail

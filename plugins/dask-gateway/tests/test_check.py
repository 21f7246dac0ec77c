"""check() against the real gateway: health, version and options; credentials it refuses; a gateway that is down."""

from esap_dask_gateway.facility import DaskGatewayFacility

from esap_core import Secret
from esap_core.testing import free_port

FACILITY = DaskGatewayFacility()


def test_check_reports_the_version_and_the_cluster_options(gateway_facility):
    result = FACILITY.check(gateway_facility(), timeout=10)

    assert result.up
    assert result.version == "2026.3.0"
    assert result.message == "Dask Gateway 2026.3.0; cluster options: worker_cores, worker_memory, image"
    assert result.metadata == {"cluster_options": ["worker_cores", "worker_memory", "image"], "max_workers": 4}


def test_credentials_the_gateway_refuses_make_it_unusable(gateway_facility):
    result = FACILITY.check(gateway_facility(password=Secret("not-the-password", "test")), timeout=10)

    assert not result.up
    assert result.message == "Dask Gateway refused ESAP's credentials for user 'esap': Authentication required"


def test_a_gateway_that_is_down_is_down(gateway_facility, dask_gateway):
    port = free_port()  # nothing listens there
    facility = gateway_facility(public_url=f"http://127.0.0.1:{port}")

    result = FACILITY.check(facility, timeout=5)

    assert not result.up
    assert result.message.startswith(f"Dask Gateway at http://127.0.0.1:{port} cannot be reached")
    assert "refused" in result.detail
    assert "Connection refused" not in result.message  # the socket's words are the detail


def test_an_untrusted_facility_on_loopback_is_refused_by_the_outbound_guard(gateway_facility, dask_gateway):
    result = FACILITY.check(gateway_facility(trusted=False), timeout=5)

    assert not result.up
    assert result.message == (
        f"ESAP does not connect to the Dask Gateway at {dask_gateway.url}: "
        "127.0.0.1 points to an internal address (127.0.0.1); ESAP does not connect there for users."
    )


def test_settings_without_a_password_are_named(gateway_facility):
    result = FACILITY.check(gateway_facility(password=None), timeout=5)

    assert not result.up
    assert result.message == (
        "facility 'test-gateway': setting 'password' is required: reference it from the environment, "
        'as { env = "NAME" }'
    )

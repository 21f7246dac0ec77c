"""Settings for the vo and rucio plugins pointed at the test servers, shared by the data discovery tests."""

from __future__ import annotations

from typing import Any

RUCIO_PASSWORD_VARIABLE = "ESAP_TEST_RUCIO_PASSWORD"


def vo_settings(dachs, sesame: str, faulty_services=None) -> dict[str, Any]:
    """The test registry, a pinned ObsCore-like table, and (with ``faulty_services``) a slow and a broken copy."""
    services = [{"name": "test-obs", "title": "Test observations", "tap_url": dachs.tap_url, "table": "esap.obs"}]
    if faulty_services is not None:
        services += [
            {
                "name": "slow-obs",
                "title": "Slow observations",
                "tap_url": faulty_services.slow_tap_url,
                "table": "esap.obs",
            },
            {
                "name": "broken-obs",
                "title": "Broken observations",
                "tap_url": faulty_services.broken_tap_url,
                "table": "esap.obs",
            },
        ]
    # The test DaCHS is on loopback: the services found in its registry are too.
    return {
        "registry_tap_url": dachs.registry_tap_url,
        "name_resolver_url": sesame,
        "services": services,
        "private_services": True,
    }


def rucio_instance(rucio_server, **overrides: Any) -> dict[str, Any]:
    """The test Rucio server with its service account; the password comes from RUCIO_PASSWORD_VARIABLE."""
    return {
        "name": "test-rucio",
        "title": "Test Rucio",
        "host": rucio_server.host,
        "auth_host": rucio_server.auth_host,
        "vo": rucio_server.vo,
        "auth": "userpass",
        "account": rucio_server.account,
        "username": rucio_server.username,
        "password": {"env": RUCIO_PASSWORD_VARIABLE},
        **overrides,
    }


def data_config(dachs, sesame: str, rucio_server, faulty_services=None, **rucio: Any) -> dict[str, Any]:
    """``create_app`` overrides loading both plugins against the test servers."""
    return {
        "load_plugins": ["vo", "rucio"],
        "plugins": {
            "vo": vo_settings(dachs, sesame, faulty_services),
            "rucio": {"instances": [rucio_instance(rucio_server, **rucio)]},
        },
    }

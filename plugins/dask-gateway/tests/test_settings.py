"""A facility's settings and the gateway user name: defaults, the scheduler address, and what is refused."""

import pytest
from esap_dask_gateway.settings import gateway_settings, gateway_username

from esap_core import Facility, FacilityError, Secret, Settings, UserContext


def facility(**values):
    values.setdefault("password", Secret("sekrit", "test"))
    return Facility("dask", "dask-gateway", "https://dask.example.org/", Settings("facility:dask", values))


def test_the_defaults_follow_the_facility_url():
    settings = gateway_settings(facility())

    assert settings.public_url == settings.api_url == "https://dask.example.org"
    assert settings.scheduler_address == "dask.example.org:443"  # as the client library assumes
    assert (settings.default_workers, settings.max_workers) == (1, 4)
    assert (settings.start_timeout, settings.worker_timeout) == (120.0, 300.0)
    assert settings.check_username == "esap" and settings.password.reveal() == "sekrit"


def test_sessions_reach_the_schedulers_at_the_public_address_not_at_esaps_own():
    settings = gateway_settings(facility(api_url="http://dask-proxy.internal:8000"))

    assert settings.api_url == "http://dask-proxy.internal:8000"
    assert settings.scheduler_address == "dask.example.org:443"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("gateway://dask.example.org:8786", "dask.example.org:8786"), ("tls://10.0.0.5:8786", "10.0.0.5:8786")],
)
def test_the_scheduler_address_is_host_and_port(given, expected):
    assert gateway_settings(facility(scheduler_address=given)).scheduler_address == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"password": "plain"}, "setting 'password' is a secret"),
        ({"auth": "jupyterhub"}, "setting 'auth' must be one of basic, not 'jupyterhub'"),
        ({"api_url": "ftp://dask"}, "setting 'api_url' is not a usable URL"),
        ({"scheduler_address": "dask.example.org"}, "setting 'scheduler_address' must be host:port"),
        ({"scheduler_address": "user@host:8786"}, "setting 'scheduler_address' must be host:port"),
        ({"workers": 5}, "setting 'workers' must be at most 4, not 5"),
        ({"worker_timeout": 0}, "setting 'worker_timeout' must be a positive number"),
    ],
)
def test_bad_settings_are_named(values, message):
    with pytest.raises(FacilityError, match=f"^facility 'dask': {message}"):
        gateway_settings(facility(**values))


def user(**claims):
    return UserContext(username="Jane Doe", claims=claims)


def test_user_names_come_from_the_template_made_safe():
    assert gateway_username("{username}", user()) == "jane-doe"
    assert gateway_username("{preferred_username}", user(preferred_username="../../etc")) == "etc"
    assert len(gateway_username("{sub}", user(sub="x" * 500))) == 63


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{username.__class__}", "may only name claims"),
        ("{username:>99999999}", "may only name claims"),
        ("{}", "may only name claims"),
        ("esap", "may only name claims"),
        ("{email}", "needs the claim 'email'"),
        ("{unclosed", "is not a valid template"),
    ],
)
def test_templates_may_only_name_claims_that_exist(template, message):
    with pytest.raises(FacilityError, match=message):
        gateway_username(template, user())

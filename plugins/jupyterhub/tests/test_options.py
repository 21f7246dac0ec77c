"""The checkout page's choices for a hub, and how chosen values become user options."""

import pytest
from esap_jupyterhub.facility import JupyterHubFacility
from esap_jupyterhub.settings import chosen_user_options, hub_settings

from esap_core import Facility, FacilityError, FieldType, QueryField, Secret, Settings

PROFILES = [
    {"name": "small", "title": "1 CPU, 2 GB", "user_options": {"cpu": 1}},
    {"name": "large", "title": "8 CPU, 32 GB", "user_options": {"cpu": 8}},
]
OFFERED = [{"name": "image", "label": "Image", "choices": ["base", "astro"], "default": "base", "help": "what runs"}]


def facility(**values):
    values.setdefault("api_token", Secret("token", "test"))
    return Facility(
        name="hub", kind="jupyterhub", url="https://hub.example.org/", settings=Settings("jupyterhub", values)
    )


def test_options_offer_the_profiles_then_the_user_options():
    fields = JupyterHubFacility().options(facility(profiles=PROFILES, user_options=OFFERED))

    assert list(fields) == [
        QueryField(
            name="profile",
            label="Profile",
            type=FieldType.CHOICE,
            choices=("small", "large"),
            default="small",
            help="small: 1 CPU, 2 GB; large: 8 CPU, 32 GB",
        ),
        QueryField(
            name="image",
            label="Image",
            type=FieldType.CHOICE,
            choices=("base", "astro"),
            default="base",
            help="what runs",
        ),
    ]


def test_a_hub_without_choices_offers_none():
    assert JupyterHubFacility().options(facility()) == ()


def test_chosen_values_become_user_options_and_nothing_else_passes():
    settings = hub_settings(facility(profiles=PROFILES, user_options=OFFERED))

    assert chosen_user_options(settings, {}) == {"cpu": 1, "image": "base"}
    assert chosen_user_options(settings, {"profile": "large", "image": "astro", "cmd": "/bin/sh"}) == {
        "cpu": 8,
        "image": "astro",
    }


def test_an_unknown_profile_is_refused_with_the_offered_ones():
    settings = hub_settings(facility(profiles=PROFILES))

    with pytest.raises(FacilityError, match="unknown profile 'huge'; this hub offers: small, large"):
        chosen_user_options(settings, {"profile": "huge"})


def test_settings_default_to_the_facility_url():
    settings = hub_settings(facility())

    assert settings.hub_url == "https://hub.example.org"
    assert settings.api_url == "https://hub.example.org/hub/api"
    assert settings.api_token == "token"
    assert not settings.named_servers


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_token": ""}, "api_token"),
        ({"hub_url": "ftp://hub"}, "setting 'hub_url' is not a usable URL: Only http:// and https://"),
        ({"timeout": 0}, "setting 'timeout' must be a positive number"),
        ({"named_servers": "yes"}, "setting 'named_servers' must be true or false"),
        ({"api_token": "plain"}, "setting 'api_token' is a secret: reference it from the environment"),
        ({"profiles": [{"title": "no name"}]}, "each of profiles needs a name"),
        ({"user_options": ["image"]}, "each of user_options needs a name"),
    ],
)
def test_bad_settings_are_named(values, message):
    with pytest.raises(FacilityError, match=message):
        hub_settings(facility(**values))

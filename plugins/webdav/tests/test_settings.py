"""The plugin's settings are checked at start-up with messages that name the key."""

import pytest
from esap_webdav.settings import webdav_settings

from esap_core import Secret, Settings, SettingsError


def read(**values):
    return webdav_settings(Settings("webdav", values))


def test_good_settings_have_defaults():
    settings = read(url="https://dav.example.org/esap", username="esap", password=Secret("s", "env:X"))
    assert settings.url == "https://dav.example.org/esap/" and settings.auth == "basic"
    assert settings.quota is None and settings.server_quota and settings.max_entries == 100_000


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({}, "'url' is required"),
        ({"url": "ftp://dav.example.org/"}, "'url' is not a usable URL"),
        ({"url": "https://dav.example.org/"}, "'password' and username are needed for auth = basic"),
        ({"url": "https://dav.example.org/", "auth": "bearer"}, "'token' is needed"),
        ({"url": "https://dav.example.org/", "auth": "magic"}, "'auth' must be one of"),
        ({"url": "https://dav.example.org/", "auth": "none", "quota_mb": -1}, "'quota_mb' must be a positive"),
        ({"url": "https://dav.example.org/", "username": "u", "password": 1234}, "'password' is a secret"),
    ],
)
def test_bad_settings_name_the_key(values, words):
    with pytest.raises(SettingsError) as caught:
        read(**values)
    assert words in str(caught.value)

"""Configuration: environment over TOML, per-plugin sections, secrets by reference, errors that name the key."""

import pytest

from esap_core.config import ConfigError, load
from esap_core.hookspecs import Secret


def write(tmp_path, text):
    path = tmp_path / "esap.toml"
    path.write_text(text)
    return {"ESAP_CONFIG": str(path)}


def test_defaults_are_the_embedded_mode():
    config = load(environ={})
    assert config.embedded_database and config.embedded_queue
    assert config.instance_path.name == "instance" and config.load_plugins is None


def test_environment_overrides_file(tmp_path):
    environ = write(tmp_path, 'database_url = "sqlite:///from-file"\narchive_timeout = 5\n')
    environ["ESAP_DATABASE_URL"] = "postgresql://db/esap"
    config = load(environ=environ)
    assert config.database_url == "postgresql://db/esap" and config.archive_timeout == 5.0


def test_plugin_sections_and_secret_references(tmp_path):
    environ = write(
        tmp_path,
        '[plugins.rucio]\nhost = "https://rucio"\npassword = { env = "RUCIO_PW" }\n'
        '[[plugins.rucio.instances]]\ntoken = { env = "RUCIO_PW" }\n',
    )
    environ["RUCIO_PW"] = "hunter2"
    settings = load(environ=environ).plugin_settings("rucio")
    assert settings["host"] == "https://rucio"
    assert isinstance(settings["password"], Secret) and settings["password"].reveal() == "hunter2"
    assert settings["instances"][0]["token"].reveal() == "hunter2"
    assert "hunter2" not in repr(settings["password"]) and "hunter2" not in str(settings["password"])
    assert dict(load(environ=environ).plugin_settings("absent")) == {}


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ('databse_url = "x"', {}, "databse_url: unknown setting"),
        ("archive_timeout = 'soon'", {}, "archive_timeout: expected float"),
        ("archive_timeout = -1", {}, "archive_timeout: must be a positive"),
        ('secret_key = "written-in-the-file"', {}, "secret_key: a secret is referenced from the environment"),
        ('secret_key = { env = "NOT_SET_ANYWHERE" }', {}, "secret_key: the environment variable NOT_SET_ANYWHERE"),
        ("[oidc]\nisuer = 'x'", {}, "oidc.isuer: unknown setting"),
        ("plugins = 3", {}, "plugins: each plugin's settings must be a table"),
        ('[plugins.vo]\nkey = { env = "MISSING_VO_KEY" }', {}, "plugins.vo.key: the environment variable"),
        ("", {"ESAP_ARCHIVE_TIMEOUT": "ten"}, "archive_timeout: ESAP_ARCHIVE_TIMEOUT='ten' is not a number"),
        ("not toml [", {}, "is not valid TOML"),
    ],
)
def test_invalid_configuration_names_the_key(tmp_path, text, environ, message):
    with pytest.raises(ConfigError, match=None) as raised:
        load(environ={**write(tmp_path, text), **environ})
    assert message in str(raised.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="ESAP_CONFIG: no such file"):
        load(environ={"ESAP_CONFIG": str(tmp_path / "nope.toml")})


def test_lists_from_environment():
    config = load(environ={"ESAP_LOAD_PLUGINS": "vo, rucio,", "ESAP_BLOCK_PLUGINS": "ossr"})
    assert config.load_plugins == ["vo", "rucio"] and config.block_plugins == ["ossr"]

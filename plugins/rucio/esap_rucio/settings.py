"""Read the plugin's settings into one checked Instance per configured Rucio server."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from esap_core import Secret

AUTH_KINDS = ("token", "userpass", "x509")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Instance:
    """One Rucio server as ESAP talks to it.

    ``auth`` is ``token`` (the user's delegated OIDC token, sent as the Rucio
    auth token), ``userpass`` or ``x509`` (a service account from the settings).
    """

    name: str
    title: str
    host: str
    auth_host: str
    auth: str = "token"
    vo: str = "def"
    account: str | None = None
    username: str = ""
    password: Secret | None = field(default=None, repr=False)
    client_cert: str = ""
    client_key: str = ""
    ca_cert: str = ""
    description: str = ""
    max_results: int = 1000
    page_size: int = 50
    keyword_scopes: tuple[str, ...] = ()
    max_scopes: int = 20
    # The workspace storage (esap_rucio.storage), registered when workspace_rse is set.
    workspace_rse: str = ""
    workspace_scope: str = "user.{account}"
    workspace_account: str = "{username}"
    workspace_title: str = ""
    workspace_max_files: int = 10000


def read_instances(settings: Mapping[str, Any]) -> list[Instance]:
    """The instances under ``[[plugins.rucio.instances]]``; raise ValueError naming a bad entry."""
    entries = settings.get("instances", [])
    if not isinstance(entries, list):
        raise ValueError("plugins.rucio.instances must be a list of tables ([[plugins.rucio.instances]])")
    instances = [read_instance(entry, f"plugins.rucio.instances[{index}]") for index, entry in enumerate(entries)]
    names = [instance.name for instance in instances]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"plugins.rucio.instances: the name {duplicates[0]!r} is used more than once")
    return instances


def read_instance(entry: Any, where: str) -> Instance:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a table")

    def text(key: str, default: str | None = None) -> str:
        value = entry.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise ValueError(f"{where}.{key} must be a non-empty string")
        return value.strip()

    def number(key: str, default: int) -> int:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}.{key} must be a positive integer")
        return value

    name = text("name")
    if not NAME.match(name):
        raise ValueError(f"{where}.name {name!r} must be lower-case letters, digits, '-' and '_'")
    host = text("host").rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise ValueError(f"{where}.host must be an http:// or https:// URL")
    auth = text("auth", "token")
    if auth not in AUTH_KINDS:
        raise ValueError(f"{where}.auth must be one of {', '.join(AUTH_KINDS)}, not {auth!r}")
    password = entry.get("password")
    if password is not None and not isinstance(password, Secret):
        raise ValueError(f"{where}.password must be a secret reference, not a value written in the settings")
    instance = Instance(
        name=name,
        title=text("title", name) or name,
        host=host,
        auth_host=text("auth_host", host).rstrip("/") or host,
        auth=auth,
        vo=text("vo", "def") or "def",
        account=text("account", "") or None,
        username=text("username", ""),
        password=password,
        client_cert=text("client_cert", ""),
        client_key=text("client_key", ""),
        ca_cert=text("ca_cert", ""),
        description=text("description", ""),
        max_results=number("max_results", 1000),
        page_size=number("page_size", 50),
        keyword_scopes=tuple(text_list(entry.get("keyword_scopes", []), f"{where}.keyword_scopes")),
        max_scopes=number("max_scopes", 20),
        workspace_rse=text("workspace_rse", ""),
        workspace_scope=template(text("workspace_scope", "user.{account}"), ("account", "username"), where),
        workspace_account=template(text("workspace_account", "{username}"), ("username",), where),
        workspace_title=text("workspace_title", ""),
        workspace_max_files=number("workspace_max_files", 10000),
    )
    check_credentials(instance, where)
    return instance


def template(value: str, names: tuple[str, ...], where: str) -> str:
    """A per-user name template: it must hold one of ``names`` (else every user would share one) and no other."""
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
    except ValueError as error:
        raise ValueError(f"{where}: the template {value!r} cannot be read ({error})") from None
    wanted = " or ".join("{" + name + "}" for name in names)
    if not used & set(names):
        raise ValueError(f"{where}: the template {value!r} must hold {wanted}, so each user has their own")
    if used - set(names):
        raise ValueError(f"{where}: the template {value!r} may hold only {wanted}")
    return value


def text_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValueError(f"{where} must be a list of non-empty strings")
    return [item.strip() for item in value]


def check_credentials(instance: Instance, where: str) -> None:
    if instance.auth == "userpass" and not (instance.username and instance.password):
        raise ValueError(f"{where}: auth 'userpass' needs username and password")
    if instance.auth == "x509" and not instance.client_cert:
        raise ValueError(f"{where}: auth 'x509' needs client_cert (and client_key unless the cert holds it)")
    if instance.auth != "token" and not instance.account:
        raise ValueError(f"{where}: auth {instance.auth!r} needs the Rucio account to act as")

"""A JupyterHub facility's settings, read and checked once per call from ``facility.settings``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from esap_core import Facility, FacilityError, SettingsError

DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class OfferedOption:
    """A user option the researcher may set on the checkout page, passed to the hub as is."""

    name: str
    label: str
    choices: tuple[str, ...] = ()
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Profile:
    """A named bundle of user options (a machine size, an image) the researcher picks from."""

    name: str
    title: str
    user_options: Mapping[str, Any]


@dataclass(frozen=True)
class HubSettings:
    hub_url: str
    api_url: str
    api_token: str
    username_template: str
    offered_options: tuple[OfferedOption, ...]
    profiles: tuple[Profile, ...]
    named_servers: bool
    timeout: float


def hub_settings(facility: Facility) -> HubSettings:
    """Read ``facility``'s settings; raise :class:`FacilityError` naming what is wrong."""
    values = facility.settings
    try:
        hub_url = values.url("hub_url", facility.url or "").rstrip("/")
        if not hub_url:
            raise SettingsError(values.where, "hub_url", "must be an http(s) URL (or the facility's URL one)")
        token = values.secret("api_token")
        if token is None or not token.reveal():
            raise SettingsError(values.where, "api_token", "(the hub service's token) is not set")
        return HubSettings(
            hub_url=hub_url,
            api_url=(values.url("api_url") or f"{hub_url}/hub/api").rstrip("/"),
            api_token=token.reveal(),
            username_template=values.text("username_template", "{preferred_username}"),
            offered_options=tuple(_offered_option(facility, item) for item in values.get("user_options", ())),
            profiles=tuple(_profile(facility, item) for item in values.get("profiles", ())),
            named_servers=values.flag("named_servers"),
            timeout=float(values.number("timeout", DEFAULT_TIMEOUT, positive=True)),
        )
    except SettingsError as error:
        raise FacilityError(str(error)) from None


def _offered_option(facility: Facility, item: Any) -> OfferedOption:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise FacilityError(f"facility {facility.name!r}: each of user_options needs a name, got {item!r}")
    default = item.get("default")
    return OfferedOption(
        name=item["name"],
        label=str(item.get("label", item["name"])),
        choices=tuple(str(choice) for choice in item.get("choices", ())),
        default=None if default is None else str(default),
        help=str(item.get("help", "")),
    )


def _profile(facility: Facility, item: Any) -> Profile:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise FacilityError(f"facility {facility.name!r}: each of profiles needs a name, got {item!r}")
    options = item.get("user_options", {})
    if not isinstance(options, Mapping):
        raise FacilityError(f"facility {facility.name!r}: profile {item['name']!r}: user_options is not a table")
    return Profile(name=item["name"], title=str(item.get("title", item["name"])), user_options=dict(options))


def chosen_user_options(settings: HubSettings, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The user options to send the hub: the chosen profile's, then the offered options' values.

    Only what the facility offers is passed on: anything else in ``chosen`` is ignored,
    and a value outside an option's choices is refused.
    """
    options: dict[str, Any] = {}
    if settings.profiles:
        name = chosen.get("profile") or settings.profiles[0].name
        profile = next((profile for profile in settings.profiles if profile.name == name), None)
        if profile is None:
            offered = ", ".join(profile.name for profile in settings.profiles)
            raise FacilityError(f"unknown profile {name!r}; this hub offers: {offered}")
        options.update(profile.user_options)
    for offered in settings.offered_options:
        value = chosen.get(offered.name, offered.default)
        if value is None:
            continue
        if offered.choices and str(value) not in offered.choices:
            raise FacilityError(f"{offered.label}: {value!r} is not one of the choices ({', '.join(offered.choices)})")
        options[offered.name] = str(value)
    return options

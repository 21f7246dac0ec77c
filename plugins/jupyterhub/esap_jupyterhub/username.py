"""Map an ESAP user to a hub username: a template over their claims, reduced to a safe name."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from esap_core import FacilityError, UserContext

MAX_LENGTH = 63  # fits spawners that turn the name into a DNS label (Kubernetes)
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


class _Claims(Mapping[str, Any]):
    """The claims plus ``username``, refusing a missing claim by name."""

    def __init__(self, user: UserContext):
        self._values = {"username": user.username, **user.claims}

    def __getitem__(self, key: str) -> Any:
        if key not in self._values or self._values[key] in (None, ""):
            raise FacilityError(f"the hub username needs the claim {key!r}, which this user's login lacks")
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def hub_username(template: str, user: UserContext) -> str:
    """Fill ``template`` (such as ``{preferred_username}``) from ``user``'s claims and make it safe.

    Claims come from the identity provider, so the result is lower-cased, runs of
    characters outside ``[a-z0-9._-]`` become ``-``, and it is cut to
    :data:`MAX_LENGTH`; an empty result is refused.
    """
    try:
        # format_map with only named fields: attribute and index lookups are refused below.
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
        if any(not field.isidentifier() for field in fields):
            raise FacilityError(f"username_template {template!r} may only name claims, like {{email}}")
        raw = template.format_map(_Claims(user))
    except (ValueError, IndexError) as error:
        raise FacilityError(f"username_template {template!r} is not a valid template: {error}") from None
    name = _UNSAFE.sub("-", raw.lower())[:MAX_LENGTH].strip("-._")
    if not name:
        raise FacilityError(f"no usable hub username from {raw!r}: it has no letters or digits")
    return name

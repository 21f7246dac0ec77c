"""What launches and jobs share at checkout: the researcher's choices, resolved and checked once.

A launch (an interactive session) and a job (unattended work) are asked for alike: a facility
the user may use, data items from their basket, the facility's checkout options, and the job
queue to carry them out. Each problem is a :class:`ChoiceProblem` whose message a researcher
can act on; launches and jobs raise their own kinds of it, so each caller answers its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from flask import current_app

from esap_core import basket, facilities
from esap_core.hookspecs import InvalidValues, QueryField, check_values
from esap_core.models import BasketItem, RegisteredFacility, User
from esap_core.queue import QueueUnavailable


class ChoiceProblem(ValueError):
    """A choice that cannot be made as asked; the message says which and why."""


@contextlib.contextmanager
def refusing(kind: type[ChoiceProblem]) -> Iterator[None]:
    """Within the block a problem is raised as ``kind`` (LaunchProblem, JobProblem): each caller answers its own."""
    try:
        yield
    except ChoiceProblem as problem:
        if isinstance(problem, kind):
            raise
        raise kind(str(problem)) from None


def facility(user: User, name: str) -> RegisteredFacility:
    found = facilities.get_visible(user, name)
    if found is None:
        raise ChoiceProblem(f"There is no facility named {name!r} that you can use.")
    return found


def data_items(user: User, item_ids: list[int] | None) -> list[BasketItem]:
    """The basket's data items with these ids (all of them for ``None``); an id not among them is refused."""
    items = [item for item in basket.all_items(user) if item.kind == basket.DATA]
    if item_ids is None:
        return items
    chosen = set(item_ids)
    unknown = chosen - {item.id for item in items}
    if unknown:
        raise ChoiceProblem(f"Your basket has no data items with ids {', '.join(map(str, sorted(unknown)))}.")
    return [item for item in items if item.id in chosen]


def options(chosen: RegisteredFacility, given: dict[str, Any], doing: str) -> dict[str, Any]:
    """The facility's checkout choices, checked; ``doing`` names the request in the message ("a launch")."""
    fields, problem = facilities.checkout_options(chosen)
    if problem:
        raise ChoiceProblem(f"{chosen.title} cannot take {doing} now: {problem}")
    return checked(fields, given, "option")


def checked(fields: Iterable[QueryField], given: dict[str, Any], what: str) -> dict[str, Any]:
    """Values through the one field check (types, bounds, choices, defaults); names it does not know are refused."""
    fields = tuple(fields)
    unknown = sorted(set(given) - {spec.name for spec in fields})
    if unknown:
        known = ", ".join(spec.name for spec in fields) or "none"
        raise ChoiceProblem(
            f"Unknown {what}{'s' if len(unknown) > 1 else ''} {', '.join(unknown)[:300]}; known: {known}."
        )
    try:
        return check_values(fields, given)
    except InvalidValues as error:
        raise ChoiceProblem(f"{'; '.join(error.problems.values())}.") from None


def require_queue(doing: str, unchanged: str = "nothing was kept") -> None:
    """Raise QueueUnavailable, saying so plainly, when the job queue cannot take work now."""
    if not current_app.extensions["esap.queue"].status()[0]:
        raise QueueUnavailable(
            f"{doing} needs the job queue, which is not reachable right now; {unchanged}. Please try again shortly."
        )


def facility_snapshot(chosen: RegisteredFacility) -> dict[str, str]:
    """The facility as it was chosen, kept with the launch or job (it may be renamed or go later)."""
    return {"name": chosen.name, "kind": chosen.kind, "title": chosen.title, "url": chosen.url}


def item_snapshot(item: BasketItem) -> dict[str, Any]:
    """A data item as it was taken along, kept with the launch or job (the basket changes)."""
    return {
        "id": item.id,
        "archive": item.archive,
        "identifier": item.identifier,
        "title": item.title,
        "fetch": item.fetch,
        "payload": item.payload,
    }

"""The basket page: items grouped by archive and kind, remove, clear, checkout; and adding from any page."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, abort, g, make_response, render_template, request

from esap_core import basket, suggestions
from esap_core.auth import current_user, login_required
from esap_core.db import database_id
from esap_core.inputs import InvalidInput, load_json
from esap_core.web.rendering import htmx, render

blueprint = Blueprint("basket", __name__)
CHANGED = "basket-changed"  # the event every page's basket count listens for


def _groups(items):
    """(heading, items) pairs: software first, then data by archive."""
    ordered = sorted(items, key=lambda item: (item.kind != basket.SOFTWARE, item.archive.lower(), item.id))
    for (kind, archive), group in groupby(ordered, key=lambda item: (item.kind, item.archive)):
        yield ("Software" if kind == basket.SOFTWARE else archive), kind, list(group)


def navigation_count(user) -> int:
    """The count beside "Basket" in the navigation: the one this request's basket page made, else the database's."""
    if "basket_count" not in g:
        g.basket_count = basket.count(user) if user else 0
    return g.basket_count


def _page(status: int = 200, changed: bool = False, **extra):
    items = basket.all_items(current_user())
    g.basket_count = len(items)  # navigation_count shows it without asking the database again
    context = {
        "groups": list(_groups(items)),
        "total": len(items),
        "suggestions": suggestions.for_basket(current_user(), items),
        **extra,
    }
    if htmx and request.method == "POST":
        response = make_response(render_template("_basket.html", **context), status)
    else:
        response = make_response(render("basket.html", **context), status)
    if changed:
        response.headers["HX-Trigger"] = CHANGED
    return response


@blueprint.get("/basket")
@login_required
def page():
    return _page()


@blueprint.post("/basket/items/<int:item_id>/remove")
@login_required
def remove(item_id: int):
    if basket.remove(current_user(), [item_id]) == 0:
        abort(404, "Your basket has no such item (it may have been removed already).")
    return _page(changed=True)


@blueprint.post("/basket/clear")
@login_required
def clear():
    basket.clear(current_user())
    return _page(changed=True)


@blueprint.get("/basket/count")
@login_required
def count():
    return render_template("_basket_count.html", basket_count=basket.count(current_user()))


@blueprint.post("/basket/add")
@login_required
def add():
    """Add one item from a form on any page (archive results, software cards); answers a small status."""
    form = request.form
    try:
        if form.get("kind") == basket.SOFTWARE:
            new = basket.software_item(current_user(), database_id(form.get("software_id", "")))
        else:
            new = basket.data_item(
                form.get("archive", ""),
                form.get("identifier", ""),
                form.get("title", ""),
                _json_field("fetch"),
                _json_field("payload"),
            )
        added = basket.add(current_user(), [new])
    except ValueError as error:  # BasketError, and software_id that is not a number
        message = str(error) if isinstance(error, basket.BasketError) else "That is not a software record."
        return render_template("_basket_added.html", error=message), getattr(error, "status", 400)
    response = make_response(render_template("_basket_added.html", added=added, title=new.title))
    response.headers["HX-Trigger"] = CHANGED
    return response


def _json_field(name: str) -> dict:
    try:
        value = load_json(request.form.get(name) or "{}", f"The {name} field")
    except InvalidInput as error:
        raise basket.BasketError(str(error)) from None
    if not isinstance(value, dict):
        raise basket.BasketError(f"The {name} field must be a JSON object.")
    return value

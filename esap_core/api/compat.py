"""Read-only compatibility with notebooks written for the first ESAP and its "shopping client".

That client read ``GET /esap-api/accounts/user-profiles/`` with a Bearer token (a personal
token, or the user's access token from ESAP's issuer: esap_core/access_tokens.py) and took
``results[0].shopping_cart``: objects whose ``item_data`` is a JSON string of
``{"archive": ..., "record": {...}}``. The same basket is served in that shape.
"""

from __future__ import annotations

import json

from flask.views import MethodView
from marshmallow import Schema, fields

from esap_core import basket
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope

blp = Blueprint(
    "compat",
    __name__,
    url_prefix="/esap-api",
    description="Deprecated: the first ESAP's user profile, for its shopping client",
)


class CartItemSchema(Schema):
    id = fields.Integer(required=True)
    item_data = fields.String(required=True, metadata={"description": 'JSON text: {"archive": ..., "record": {...}}'})


class ProfileSchema(Schema):
    user_name = fields.String(required=True)
    full_name = fields.String(required=True)
    user_email = fields.String(required=True)
    shopping_cart = fields.List(fields.Nested(CartItemSchema), required=True)


class ProfileListSchema(Schema):
    count = fields.Integer(required=True)
    next = fields.String(allow_none=True, required=True)
    previous = fields.String(allow_none=True, required=True)
    results = fields.List(fields.Nested(ProfileSchema), required=True)


def record(item: dict) -> dict:
    """What the first ESAP kept of a row: the archive's fields, with the identifier and where to get it.

    The item's own identifier, title and URL come last: a payload key of the same name never hides them.
    """
    if item["kind"] == basket.SOFTWARE:
        return {**(item["software"] or {}), "identifier": item["identifier"], "title": item["title"]}
    fetch = item["fetch"]
    own = {
        "identifier": item["identifier"],
        "title": item["title"],
        "url": fetch.get("url") or fetch.get("service") or fetch.get("did", ""),
    }
    return {**item["payload"], **own}


@blp.route("/accounts/user-profiles/")
class UserProfiles(MethodView):
    @blp.response(200, ProfileListSchema)
    @require_scope("basket:read")
    def get(self):
        """Your profile and basket in the first ESAP's shape (read-only)."""
        user = current_user()
        cart = [
            {
                "id": item["id"],
                "item_data": json.dumps({"archive": item["archive"], "record": record(item)}, default=str),
            }
            for item in basket.item_dicts(user)
        ]
        profile = {"user_name": user.username, "full_name": user.name, "user_email": user.email, "shopping_cart": cart}
        return {"count": 1, "next": None, "previous": None, "results": [profile]}

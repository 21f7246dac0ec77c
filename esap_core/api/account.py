"""API for the caller's own account: who am I, and personal API tokens."""

from __future__ import annotations

from flask import abort, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from esap_core import accounts, tokens
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope, signed_in

blp = Blueprint("account", __name__, description="Your account and personal API tokens")


class MeSchema(Schema):
    username = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    issuer = fields.String(required=True)
    admin = fields.Boolean(required=True)
    scopes = fields.List(fields.String(), required=True, metadata={"description": "What this request may do"})


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(list(tokens.SCOPES))),
        required=True,
        validate=validate.Length(min=1),
        metadata={"example": ["basket:read"]},
    )
    expires = fields.String(
        load_default="30d",
        load_only=True,
        validate=validate.Regexp(
            tokens.EXPIRY_GRAMMAR, error="Cannot read the expiry {input!r}: use 30d, 12h, never or a date."
        ),
        metadata={
            "description": "30d, 12h, 90m, never, or an ISO date; at most ten years ahead, and never past "
            "the expiry of the token this request carries",
            "example": "30d",
        },
    )
    expires_at = fields.AwareDateTime(dump_only=True, attribute="expires", allow_none=True)
    created = fields.AwareDateTime(dump_only=True)
    last_used = fields.AwareDateTime(dump_only=True, allow_none=True)


class NewTokenSchema(TokenSchema):
    secret = fields.String(dump_only=True, metadata={"description": "Shown only in this answer"})


class TokenListSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    @signed_in
    def get(self):
        """The account this request acts for, and the scopes it carries."""
        user = current_user()
        return {
            "username": user.username,
            "name": user.name,
            "email": user.email,
            "issuer": user.issuer,
            "admin": accounts.is_admin(user),
            "scopes": sorted(g.scopes),
        }


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200, TokenListSchema)
    @require_scope("tokens")
    def get(self):
        """Your live personal API tokens (never their secrets)."""
        return {"tokens": tokens.list_for(current_user())}

    @blp.arguments(TokenSchema)
    @blp.response(201, NewTokenSchema)
    @require_scope("tokens")
    def post(self, data):
        """Create a token. A token can only create tokens with scopes it has itself, which do not outlive it."""
        wanted = set(data["scopes"])
        if not wanted <= g.scopes:
            abort(403, f"This request cannot grant scopes it does not have: {', '.join(sorted(wanted - g.scopes))}.")
        try:
            expires = tokens.parse_expiry(data["expires"])
            token, secret = tokens.create(
                current_user(),
                data["name"],
                sorted(wanted),
                expires,
                admin=accounts.is_admin(current_user()),
                parent=g.get("token"),
            )
        except tokens.TokenError as error:
            abort(400, str(error))
        return {
            **{c: getattr(token, c) for c in ("id", "name", "scopes", "expires", "created", "last_used")},
            "secret": secret,
        }


@blp.route("/tokens/<int:token_id>")
class TokenById(MethodView):
    @blp.response(204)
    @require_scope("tokens")
    def delete(self, token_id: int):
        """Revoke one of your tokens."""
        if not tokens.revoke(current_user(), token_id):
            abort(404, "You have no such token.")

"""A card as PNG: for its owner with a token, or for anyone holding a valid signed link."""

from __future__ import annotations

import uuid

import falcon

from api.deps import Deps
from api.schemas import NO_NEWLINE
from api.validation import operation
from api.zellyy.schemas import PNG
from models import card_image
from models.cards import Card, get_card
from models.errors import AuthenticationFailed, NotFound

QUERY = {
    "type": "object",
    "properties": {
        "expires": {"type": "integer", "minimum": 0, "maximum": 253402300799},
        "signature": {
            "type": "string",
            "maxLength": 64,
            "pattern": NO_NEWLINE + "[A-Za-z0-9_-]+$",
            "x-message": "Must be a link signature",
        },
    },
}


def routes(deps: Deps) -> dict:
    return {"/cards/{card_id}/image.png": CardImage(deps)}


class CardImage:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth
        self.secret_key = deps.config.secret_key
        self.cache = card_image.ImageCache(deps.redis, deps.config.var_dir / "card-images")

    @operation(
        "The card rendered as a 1080×1080 PNG: with the owner's token, or a signed link",
        query=QUERY,
        responses={
            304: "Not modified (If-None-Match)",
            401: "No token, or an invalid or expired link",
            404: "No such card (of the caller's, with a token)",
        },
        returns=PNG,
        media="image/png",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, card_id: str) -> None:
        card = self._card(req, card_id)
        png, etag = card_image.card_png(card, self.cache)
        resp.etag = etag
        resp.cache_control = ["no-cache"]
        if etag in (req.if_none_match or []):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = "image/png"
        resp.data = png

    def _card(self, req: falcon.Request, card_id: str) -> Card:
        query = req.context.query
        if "signature" not in query and "expires" not in query:
            return get_card(self.auth.authenticate(req).entity(), card_id)
        if "signature" not in query or "expires" not in query:
            raise AuthenticationFailed("A signed link needs expires and signature", key="invalid")
        if not card_image.valid_signature(
            card_id, query["expires"], query["signature"], self.secret_key
        ):
            raise AuthenticationFailed("The image link is invalid or has expired", key="invalid")
        card = Card.get(public_id=uuid.UUID(card_id))  # signed by us: a well-formed id
        if card is None:
            raise NotFound("Card not found", key="card")
        return card

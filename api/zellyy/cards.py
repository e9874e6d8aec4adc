"""Zellyy cards: create, list, read, change and delete the caller's own cards (seed 카드 API)."""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.pages import listing, page_query
from api.schemas import NO_NEWLINE, SPACE, obj
from api.validation import operation
from api.zellyy.schemas import CARD, CARD_DETAIL, CARD_PAGE
from models import cards

COLOUR = {
    "type": "string",
    "maxLength": 7,
    "pattern": NO_NEWLINE + "#[0-9A-Fa-f]{6}$",
    "x-message": "Must be a colour as #RRGGBB",
}
TAG = {
    "type": "string",
    "minLength": 1,
    "maxLength": cards.MAX_TAG_LENGTH,
    # Visible as str.strip() sees it: the server stores tags stripped.
    "pattern": NO_NEWLINE + rf"(?=[\s\S]*[^{SPACE}])[^\u0000-\u001f\u007f]+$",
    "x-message": "Must contain a visible character and no control characters",
}
FONT_LETTERS = (
    r"A-Za-z0-9_\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"
    r"\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7a3"
)
CARD_FIELDS = {
    "content": {
        "type": "string",
        "minLength": 1,
        "maxLength": 2000,
        # Tabs and line breaks are text; other control characters (NUL above all) are not.
        "pattern": rf"^(?=[\s\S]*[^{SPACE}])[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$",
        "x-message": "Must contain text, and no control characters other than tab and newline",
    },
    "background_color": COLOUR,
    "text_color": COLOUR,
    "font_family": {
        "type": "string",
        "minLength": 1,
        "maxLength": 50,
        # Spelled out: \w is Unicode to Python but ASCII to ECMAScript. The letters of the
        # fonts' scripts: Latin (accented too), Greek, Cyrillic, kana, CJK and Hangul.
        "pattern": NO_NEWLINE + rf"[{FONT_LETTERS}][{FONT_LETTERS} .-]*$",
        "x-message": "Must be a font name: letters, digits, spaces, dots, hyphens and underscores",
    },
    "font_size": {"type": "integer", "minimum": 8, "maximum": 72},
    "text_align": {"type": "string", "enum": list(cards.TEXT_ALIGNS)},
    "is_public": {"type": "boolean"},
    "tags": {"type": "array", "maxItems": cards.MAX_TAGS, "items": TAG},
}
CREATE = obj(["content"], **CARD_FIELDS)
PATCH = obj([], **CARD_FIELDS)

LIST_QUERY = page_query(
    sort={"type": "string", "enum": list(cards.SORT_KEYS), "default": "created_at"},
    order={"type": "string", "enum": list(cards.ORDERS), "default": "desc"},
    tag=TAG,
    search={
        "type": "string",
        "maxLength": 2000,
        "pattern": r"^[^\u0000]*$",
        "x-message": "Must not contain NUL characters",
    },
)


def routes(deps: Deps) -> dict:
    return {"/cards": Cards(deps), "/cards/{card_id}": Card(deps)}


class Cards:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth
        self.free_limit = deps.config.free_card_limit

    @operation(
        "Create a card; omitted style fields take their defaults",
        body=CREATE,
        auth=True,
        status=201,
        responses={
            403: "The free plan's card limit is reached",
            409: "A request with this Idempotency-Key is running",
        },
        idempotent=True,
        returns=CARD,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        card = cards.create_card(user, req.context.body, free_limit=self.free_limit)
        resp.media = card.to_dict(is_synced=cards.is_synced(user))
        resp.location = f"{req.path}/{resp.media['id']}"

    @operation(
        "The caller's cards, a page at a time", query=LIST_QUERY, auth=True, returns=CARD_PAGE
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page = cards.list_cards(req.context.caller, **req.context.query)  # no entity needed
        resp.media = listing(page.items, page.total, page.page, page.limit)


class Card:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "One card, with its successful shares",
        auth=True,
        responses={404: "No such card of the caller's"},
        returns=CARD_DETAIL,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, card_id: str) -> None:
        user = req.context.user
        card = cards.get_card(user, card_id)
        resp.media = cards.card_detail(card, is_synced=cards.is_synced(user))

    @operation(
        "Change some of a card's fields",
        body=PATCH,
        auth=True,
        responses={404: "No such card of the caller's"},
        returns=CARD,
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, card_id: str) -> None:
        user = req.context.user
        card = cards.update_card(user, card_id, req.context.body)
        resp.media = card.to_dict(is_synced=cards.is_synced(user))

    @operation(
        "Delete a card",
        auth=True,
        status=204,
        responses={404: "No such card of the caller's"},
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, card_id: str) -> None:
        cards.delete_card(req.context.user, card_id)

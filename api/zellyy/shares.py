"""Zellyy card sharing: ask the worker to post a card, and read how it went."""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.schemas import obj
from api.validation import operation
from api.zellyy.schemas import SHARE_ITEM, SHARES
from models import social

SHARE = obj(
    [],
    message={
        "type": ["string", "null"],
        "maxLength": 2000,
        "pattern": r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$",
        "x-message": "Must not contain control characters other than tab and newline",
    },
)


def routes(deps: Deps) -> dict:
    return {
        "/cards/{card_id}/share/{platform}": Share(deps),
        "/cards/{card_id}/shares": Shares(deps),
        "/cards/{card_id}/shares/{share_id}": ShareItem(deps),
    }


class Share:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "Share a card to a connected platform; the worker posts it",
        body=SHARE,
        auth=True,
        status=202,
        responses={
            400: "Invalid request, or the platform is not connected (details.platform)",
            404: "No such card of the caller's, or an unknown platform",
            409: "A request with this Idempotency-Key is running",
        },
        idempotent=True,
        returns=SHARE_ITEM,
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, card_id: str, platform: str
    ) -> None:
        share = social.share_card(
            req.context.user, card_id, platform, req.context.body.get("message")
        )
        resp.media = social.share_dict(share)
        # Under whichever prefix (/api/v1 or /api) the request came in.
        base = req.path[: -len(f"/share/{platform}")]
        resp.location = f"{base}/shares/{share.id}"


class Shares:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "The card's shares, newest first",
        auth=True,
        responses={404: "No such card of the caller's"},
        returns=SHARES,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, card_id: str) -> None:
        shares = social.shares_of(req.context.user, card_id)
        resp.media = {"shares": [social.share_dict(share) for share in shares]}


class ShareItem:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "One share of the card",
        auth=True,
        responses={404: "No such card of the caller's, or no such share of it"},
        returns=SHARE_ITEM,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, card_id: str, share_id: str
    ) -> None:
        resp.media = social.share_dict(social.share_of(req.context.user, card_id, share_id))

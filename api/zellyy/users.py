"""Zellyy's own profile: GET and PATCH /users/me."""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.schemas import HTTP_URL, NO_CONTROL_CHARS
from api.validation import operation
from api.zellyy.schemas import PROFILE, PROFILE_UPDATED
from models.clock import rfc3339

PATCH_ME = {
    "type": "object",
    "properties": {
        "display_name": {
            "type": ["string", "null"],
            "maxLength": 50,
            "pattern": NO_CONTROL_CHARS,
            "x-message": "Must not contain control characters",
        },
        "avatar_url": {**HTTP_URL, "type": ["string", "null"]},
    },
}


def routes(deps: Deps) -> dict:
    return {"/users/me": Me(deps)}


class Me:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation("The caller's profile, with premium status", auth=True, returns=PROFILE)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = req.context.caller  # premium included: no entity, no second query
        resp.media = {
            **caller.public_dict(),
            "email_confirmed_at": rfc3339(caller.email_confirmed_at),
            "is_premium": caller.premium_until is not None,
            "premium_until": rfc3339(caller.premium_until),
        }

    @operation(
        "Change display name or avatar",
        body=PATCH_ME,
        auth=True,
        returns=PROFILE_UPDATED,
        responses={409: "Another request changed the profile at the same time; try again"},
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        changes = {k: v for k, v in req.context.body.items() if k in PATCH_ME["properties"]}
        if changes:
            user.set(**changes)
            user.flush()
        result = user.public_dict()
        del result["created_at"]
        resp.media = {**result, "updated_at": rfc3339(user.updated_at)}

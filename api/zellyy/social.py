"""Zellyy social accounts: connect, disconnect and list them (seed 소셜 공유 API)."""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.schemas import NO_NEWLINE, obj
from api.validation import operation
from api.zellyy.schemas import SOCIAL_ACCOUNTS, SOCIAL_CONNECTION
from models import social
from models.clock import unix, utcnow
from models.errors import InvalidInput
from worker.clients.social import PlatformUnavailable, TokenRefused, adapter

TOKEN = {
    "type": "string",
    "minLength": 1,
    "maxLength": 4096,
    "pattern": NO_NEWLINE + r"[\x21-\x7e]+$",
    "x-message": "Must be a token: printable ASCII without spaces",
}
CONNECT = obj(
    ["access_token"],
    access_token=TOKEN,
    refresh_token={**TOKEN, "type": ["string", "null"]},
    # Unix seconds; the upper bound keeps it a valid date.
    expires_at={"type": ["integer", "null"], "minimum": 1, "maximum": 253402300799},
)


def routes(deps: Deps) -> dict:
    return {
        "/social/connect/{platform}": Connection(deps),
        "/social/accounts": Accounts(deps),
    }


class Connection:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth
        self.config = deps.config

    @operation(
        "Connect a platform account (checked with the platform); reconnecting replaces tokens",
        body=CONNECT,
        auth=True,
        responses={
            400: "Invalid request, an expired token, or a token the platform refused",
            404: "Unknown platform",
            409: "The same platform is being connected by another request",
            502: "The platform did not answer",
        },
        returns=SOCIAL_CONNECTION,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, platform: str) -> None:
        social.require_platform(platform)
        body = req.context.body
        expires_at = body.get("expires_at")
        if expires_at is not None and expires_at <= unix(utcnow()):
            raise InvalidInput(
                "The token has already expired", details={"expires_at": "Must be in the future"}
            )
        try:
            platform_user_id = adapter(platform, self.config).identify(body["access_token"])
        except TokenRefused as ex:
            raise InvalidInput(
                str(ex), details={"access_token": "Refused by the platform"}, key="token_refused"
            ) from None
        except PlatformUnavailable as ex:
            raise falcon.HTTPBadGateway(description=str(ex)) from None
        account = social.connect(
            req.context.user,
            platform,
            platform_user_id=platform_user_id,
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_at=expires_at,
            key=self.config.encryption_key,
        )
        resp.media = {
            "platform": platform,
            "connected": True,
            "platform_user_id": account.platform_user_id,
            "expires_at": expires_at,
        }

    @operation(
        "Disconnect a platform account",
        auth=True,
        status=204,
        responses={404: "Unknown platform, or none of the caller's connected"},
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, platform: str) -> None:
        social.disconnect(req.context.user, platform)


class Accounts:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "The caller's connected accounts, with needs_reconnect", auth=True, returns=SOCIAL_ACCOUNTS
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"accounts": social.accounts_of(req.context.user)}

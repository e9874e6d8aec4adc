"""Zellyy sign-up, login, token refresh and logout."""

from __future__ import annotations

import falcon

from api.auth import ZELLYY
from api.deps import Deps
from api.recovery import MailedLinks
from api.schemas import EMAIL, LOGIN_EMAIL, VISIBLE_TEXT, obj
from api.validation import operation
from api.zellyy.recovery import PASSWORD, send_confirmation
from api.zellyy.schemas import LOGGED_IN, MESSAGE, TOKENS
from models import sessions, users

SIGNUP = obj(
    ["email", "password", "username"],
    email=EMAIL,
    password=PASSWORD,
    username={
        "type": "string",
        "minLength": 1,
        "maxLength": 50,
        "pattern": VISIBLE_TEXT,
        "x-message": "Must contain a visible character and no control characters",
    },
)
LOGIN = obj(
    ["email", "password"],
    email=LOGIN_EMAIL,
    password={"type": "string", "minLength": 1, "maxLength": 1024},
)
REFRESH = obj(["refresh_token"], refresh_token={"type": "string", "minLength": 1, "maxLength": 512})
LOGOUT_QUERY = {
    "type": "object",
    "properties": {
        "scope": {"type": "string", "enum": list(sessions.LOGOUT_SCOPES), "default": "local"}
    },
}


def routes(deps: Deps) -> dict:
    return {
        "/auth/signup": Signup(deps),
        "/auth/login": Login(deps),
        "/auth/refresh": Refresh(deps),
        "/auth/logout": Logout(deps),
    }


class _AuthResource:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.tokens = deps.tokens
        self.limiter = deps.limiter
        self.refresh_ttl = deps.config.refresh_token_ttl
        self.reuse_interval = deps.config.refresh_reuse_interval
        self.auth = deps.zellyy_auth

    def _session_body(self, issued: sessions.Issued) -> dict:
        access = self.tokens.issue_access(issued.session)
        return {
            "access_token": access.token,
            "refresh_token": issued.refresh_token,
            "expires_at": access.expires_at,
        }

    def _login_body(self, user: users.User, issued: sessions.Issued) -> dict:
        return {
            "user": {"id": str(user.public_id), "email": user.email, "username": user.username},
            "session": self._session_body(issued),
        }


class Signup(_AuthResource):
    def __init__(self, deps: Deps):
        super().__init__(deps)
        self.links = MailedLinks(deps.tokens, deps.config.public_base_url, ZELLYY)

    @operation(
        "Create an account and start a session; a confirmation link is mailed",
        body=SIGNUP,
        idempotent=True,
        returns=LOGGED_IN,
        responses={
            409: "An account has this email, or a request with this Idempotency-Key is running",
            429: "Too many attempts from this address or for this email",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.limiter.check(req, body["email"])
        user = users.create_user(body["email"], body["password"], body["username"])
        send_confirmation(self.links, user)
        resp.media = self._login_body(user, sessions.start_session(user, ZELLYY, self.refresh_ttl))


class Login(_AuthResource):
    @operation(
        "Log in with email and password",
        body=LOGIN,
        returns=LOGGED_IN,
        responses={
            401: "Wrong email or password",
            429: "Too many attempts from this address or for this email",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.limiter.check(req, body["email"])
        user = users.authenticate(body["email"], body["password"])
        resp.media = self._login_body(user, sessions.start_session(user, ZELLYY, self.refresh_ttl))


class Refresh(_AuthResource):
    @operation(
        "Trade a refresh token for a new token pair (single use)",
        body=REFRESH,
        returns=TOKENS,
        responses={
            401: "The refresh token is unknown, expired, already used, or its session ended"
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = req.context.body["refresh_token"]
        issued = sessions.rotate(token, ZELLYY, self.refresh_ttl, self.reuse_interval)
        resp.media = self._session_body(issued)


class Logout(_AuthResource):
    @operation(
        "End this session, every session, or every other one",
        query=LOGOUT_QUERY,
        auth=True,
        returns=MESSAGE,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        sessions.logout(req.context.caller.session.load(), req.context.query["scope"])
        resp.media = {"message": "Successfully logged out"}

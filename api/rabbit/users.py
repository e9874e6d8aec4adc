"""Money For Rabbit accounts: register, confirm, log in, refresh, withdraw, profile."""

from __future__ import annotations

import falcon

from api import schemas
from api.auth import RABBIT, bearer_token
from api.deps import Deps
from api.rabbit import errors as texts
from api.rabbit import schemas as answers
from api.recovery import CONFIRM_LINK_TTL, CONFIRM_PURPOSE
from api.schemas import obj
from api.validation import operation
from models import mails, messages, sessions, users
from models.errors import AuthenticationFailed, InvalidInput, NotFound, PermissionDenied
from models.mail_outbox import queue_mail

USERNAME = {
    "type": "string",
    "pattern": r"^(?!.*\n)[가-힣A-Za-z0-9]{2,5}$",
    "x-error": texts.INVALID_USERNAME,
}
PASSWORD = {
    "type": "string",
    # ASCII only (not \d: in Python that is any script's digits); see api.schemas.
    "pattern": r"^(?!.*\n)(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])(?=.*[!@#$%^&*])"
    r"[A-Za-z0-9!@#$%^&*]{12,16}$",
    "x-error": texts.INVALID_PASSWORD,
}
EMAIL = {**schemas.EMAIL, "x-error": texts.INVALID_EMAIL}
# Checked in this order, as the original service did: email, password, nickname.
REGISTER = obj(["email", "password", "username"], email=EMAIL, password=PASSWORD, username=USERNAME)
LOGIN = obj(
    ["email", "password"],
    # The original looked any address up and answered this text for one it did not find.
    email={**schemas.LOGIN_EMAIL, "x-error": texts.BAD_CREDENTIALS},
    password={"type": "string", "maxLength": 1024, "x-error": texts.BAD_CREDENTIALS},
)
RENAME = obj(["username"], username=USERNAME)
WITHDRAW = obj(["username"], username={"type": "string", "x-error": texts.BAD_ACCESS})


def routes(deps: Deps) -> dict:
    return {
        "/api/user/register": Register(deps),
        "/api/user/login": Login(deps),
        "/api/user/refresh": Refresh(deps),
        "/api/user/withdraw": Withdraw(deps),
        "/api/user/{user_id}": Profile(deps),
        "/api/confirm-user/{user_id}/{token}": ConfirmEmail(deps),
    }


class _RabbitResource:
    surface = "rabbit"

    def __init__(self, deps: Deps):
        self.tokens = deps.tokens
        self.limiter = deps.limiter
        self.refresh_ttl = deps.config.rabbit_refresh_token_ttl
        self.reuse_interval = deps.config.refresh_reuse_interval
        self.config = deps.config
        self.auth = deps.rabbit_auth

    def _pair(self, issued: sessions.Issued) -> dict:
        return {
            "access_token": self.tokens.issue_access(issued.session).token,
            "refresh_token": issued.refresh_token,
        }


class Register(_RabbitResource):
    @operation(
        "Register; a confirmation link is mailed",
        body=REGISTER,
        status=201,
        idempotent=True,
        returns=answers.SUCCESS,
        responses={
            400: "An invalid email, password or nickname, an email already registered, or a "
            "malformed Idempotency-Key",
            429: "Too many attempts from this address or for this email",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.limiter.check(req, body["email"])
        user = users.create_user(body["email"], body["password"], body["username"])
        token = self.tokens.issue_link(CONFIRM_PURPOSE, str(user.id), RABBIT, CONFIRM_LINK_TTL)
        link = f"{self.config.public_base_url}/api/confirm-user/{user.id}/{token}"
        mail = mails.confirmation(user.email, user.username, link, CONFIRM_LINK_TTL // 86400)
        queue_mail(mail.to, mail.subject, mail.text, mail.html)
        resp.media = {"success": f"{user.username} 님, 회원가입을 환영합니다!"}


class ConfirmEmail(_RabbitResource):
    @operation("Confirm an email address from the mailed link; redirects", status=303)
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str, token: str):
        user = _user(user_id)
        outcome = "fail"
        if user is not None:
            try:
                self.tokens.verify_link(token, CONFIRM_PURPOSE, str(user.id), RABBIT)
            except AuthenticationFailed:  # bad, expired or foreign: a failed confirmation
                outcome = "fail"
            else:
                user.confirm_email()
                outcome = "done"
        # Set, not raised: a raised redirect would roll the confirmation back.
        resp.status = falcon.HTTP_303
        resp.location = f"{self.config.rabbit_frontend_url}/signup/{outcome}"


class Login(_RabbitResource):
    @operation(
        "Log in; answers an access and a refresh token",
        body=LOGIN,
        returns=answers.TOKENS,
        responses={
            400: "A blank email or malformed field, or an email not confirmed yet",
            401: "Wrong email or password",
            429: "Too many attempts from this address or for this email",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.limiter.check(req, body["email"])
        user = users.authenticate(body["email"], body["password"])
        if not user.email_confirmed:
            raise InvalidInput(texts.EMAIL_NOT_CONFIRMED)
        resp.media = self._pair(sessions.start_session(user, RABBIT, self.refresh_ttl))


class Refresh(_RabbitResource):
    @operation(
        "Trade the refresh token (as Bearer) for a new pair; single use",
        returns=answers.TOKENS,
        responses={401: "No refresh token, or one that is invalid, expired or already used"},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        issued = sessions.rotate(bearer_token(req), RABBIT, self.refresh_ttl, self.reuse_interval)
        resp.media = self._pair(issued)


class Withdraw(_RabbitResource):
    @operation(
        "Delete the caller's account",
        body=WITHDRAW,
        auth=True,
        status=204,
        responses={
            400: "The username is not the caller's: " + texts.BAD_ACCESS,
            409: "A message was sent during the withdrawal; try again",
        },
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        if req.context.body["username"] != user.username:
            raise InvalidInput(texts.BAD_ACCESS)
        users.withdraw(user)


class Profile(_RabbitResource):
    @operation(
        "A user's nickname and the money they received (public)",
        returns=answers.PROFILE,
        responses={404: "No such user"},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        user = user_or_404(user_id)
        total = messages.totals(user).amount
        resp.media = {"user_info": {"username": user.username, "total_amount": total}}

    @operation(
        "Change the caller's nickname",
        body=RENAME,
        auth=True,
        returns=answers.SUCCESS,
        responses={
            400: "An invalid nickname",
            403: "Not the caller's account: " + texts.FORBIDDEN,
            404: "No such user",
            409: "Changed by another request at the same time; try again",
        },
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        user = user_or_404(user_id)
        if user.id != req.context.user.id:
            raise PermissionDenied(texts.FORBIDDEN)
        user.username = req.context.body["username"]
        resp.media = {"success": f"닉네임이 {user.username} 으로 변경되었습니다."}


def path_int(raw: str) -> int | None:
    """A path id; anything but a small positive integer identifies nothing."""
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def _user(user_id: str) -> users.User | None:
    number = path_int(user_id)
    return users.User.get(id=number) if number is not None else None


def user_or_404(user_id: str) -> users.User:
    user = _user(user_id)
    if user is None:
        raise NotFound(texts.USER_NOT_FOUND)
    return user

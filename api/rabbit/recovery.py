"""Money For Rabbit password reset: a link by mail, and the page it opens to set a new password."""

from __future__ import annotations

import falcon

from api.auth import RABBIT
from api.deps import Deps
from api.rabbit import errors as texts
from api.rabbit import schemas as answers
from api.rabbit.users import EMAIL, PASSWORD
from api.recovery import PAGE_MEDIA, PAGE_SCHEMA, LinkResource, render_page
from api.schemas import obj
from api.validation import operation

RESET_PATH = "/api/user/password-reset/confirm"
REQUEST = obj(["email"], email=EMAIL)
RESET = obj(
    ["token", "password"],
    token={"type": "string", "minLength": 1, "maxLength": 2048, "x-error": texts.LINK_INVALID},
    password=PASSWORD,
)

REQUESTED = "가입된 이메일이라면 비밀번호 재설정 링크를 보냈습니다. 메일함을 확인하세요."
RESET_DONE = "비밀번호가 변경되었습니다. 새 비밀번호로 로그인하세요."
PAGE = {
    "title": "비밀번호 재설정",
    "intro": "Money For Rabbit 에서 쓸 새 비밀번호를 입력하세요. 비밀번호를 바꾸면 모든 기기에서 "
    "로그아웃됩니다.",
    "password": "새 비밀번호",
    "hint": "12 ~ 16자, 대문자·소문자·숫자·특수 문자(!@#$%^&*)를 하나씩 포함",
    "repeat": "새 비밀번호 확인",
    "submit": "변경하기",
    "mismatch": "두 비밀번호가 서로 다릅니다.",
    "missing": "링크가 올바르지 않습니다. 메일의 링크를 다시 열어 주세요.",
    "failed": "비밀번호를 바꾸지 못했습니다. 잠시 후 다시 시도하세요.",
    "done": RESET_DONE,
    "noscript": "이 페이지는 자바스크립트가 켜져 있어야 동작합니다.",
    "home": "Money For Rabbit 으로 가기",
}


def routes(deps: Deps) -> dict:
    return {
        "/api/user/password-reset": RequestReset(deps),
        "/api/user/password-reset/confirm": ResetPassword(deps),
    }


class _RecoveryResource(LinkResource):
    surface = "rabbit"
    audience = RABBIT
    reset_path = RESET_PATH

    def __init__(self, deps: Deps):
        super().__init__(deps)
        self.frontend_url = deps.config.rabbit_frontend_url


class RequestReset(_RecoveryResource):
    @operation(
        "Mail a password-reset link; the same answer whether the address is known",
        body=REQUEST,
        returns=answers.SUCCESS,
        responses={
            400: "Not an email address",
            429: "Too many requests from this address or for this email",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.request_reset(req, req.context.body["email"])
        resp.media = {"success": REQUESTED}


class ResetPassword(_RecoveryResource):
    @operation("The page the mailed reset link opens (HTML)", returns=PAGE_SCHEMA, media=PAGE_MEDIA)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render_page(resp, PAGE, "ko", form=True, home_url=f"{self.frontend_url}/")

    @operation(
        "Set a new password with the mailed token; ends every session",
        body=RESET,
        returns=answers.SUCCESS,
        responses={
            400: "An invalid password, or a link that is invalid, expired or already used",
            429: "Too many attempts from this address",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.reset_password(req, body["token"], body["password"])
        resp.media = {"success": RESET_DONE}

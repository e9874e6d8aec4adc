"""Zellyy accounts people can get back: password reset by mail, and address confirmation."""

from __future__ import annotations

import falcon

from api.auth import ZELLYY
from api.deps import Deps
from api.recovery import (
    CONFIRM_LINK_TTL,
    CONFIRM_PURPOSE,
    PAGE_MEDIA,
    PAGE_SCHEMA,
    LinkResource,
    MailedLinks,
    render_page,
)
from api.schemas import EMAIL, obj
from api.validation import operation
from api.zellyy.schemas import CONFIRMED, MESSAGE
from models import mails, recovery, users
from models.clock import rfc3339
from models.mail_outbox import queue_mail

RESET_PATH = "/api/v1/auth/reset"
CONFIRM_PATH = "/api/v1/auth/confirm"
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 128}
TOKEN = {"type": "string", "minLength": 1, "maxLength": 2048}
RECOVER = obj(["email"], email=EMAIL)
RESET = obj(["token", "password"], token=TOKEN, password=PASSWORD)
CONFIRM = obj(["token"], token=TOKEN)

RECOVERED = "If an account uses this address, a link to reset its password is on its way"
RESET_PAGE = {
    "title": "Choose a new password",
    "intro": "Enter the new password of your Zellyy account. Setting it logs you out everywhere.",
    "password": "New password",
    "hint": "8 to 128 characters",
    "repeat": "Repeat the new password",
    "submit": "Set password",
    "mismatch": "The two passwords differ.",
    "missing": "This link is incomplete: open it again from the mail.",
    "failed": "The password could not be set. Try again in a moment.",
    "done": "Your password is set. Log in to Zellyy with it.",
    "noscript": "This page needs JavaScript to set your password.",
}
CONFIRM_PAGE = {
    "title": "Confirm your email address",
    "intro": "Confirming your address…",
    "missing": "This link is incomplete: open it again from the mail.",
    "failed": "Your address could not be confirmed. Try again in a moment.",
    "done": "Your email address is confirmed. You can close this page.",
    "noscript": "This page needs JavaScript to confirm your address.",
}


def routes(deps: Deps) -> dict:
    return {
        "/auth/recover": Recover(deps),
        "/auth/reset": Reset(deps),
        "/auth/confirm": Confirm(deps),
    }


def send_confirmation(links: MailedLinks, user: users.User) -> None:
    """Mail the link that confirms a new account's address."""
    link = links.confirmation(user, CONFIRM_PATH)
    mail = mails.zellyy_confirmation(user.email, user.username, link, CONFIRM_LINK_TTL // 86400)
    queue_mail(mail.to, mail.subject, mail.text, mail.html)


class _RecoveryResource(LinkResource):
    surface = "zellyy"
    audience = ZELLYY
    reset_path = RESET_PATH


class Recover(_RecoveryResource):
    @operation(
        "Mail a password-reset link; the same answer whether the address is known",
        body=RECOVER,
        returns=MESSAGE,
        responses={429: "Too many requests from this address or for this email"},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.request_reset(req, req.context.body["email"])
        resp.media = {"message": RECOVERED}


class Reset(_RecoveryResource):
    @operation("The page the mailed reset link opens (HTML)", returns=PAGE_SCHEMA, media=PAGE_MEDIA)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render_page(resp, RESET_PAGE, "en", form=True)

    @operation(
        "Set a new password with the mailed token; ends every session",
        body=RESET,
        returns=MESSAGE,
        responses={
            400: "Invalid request, or a link that is invalid (token_invalid), expired "
            "(token_expired) or already used (token_used)",
            429: "Too many requests from this address",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        self.reset_password(req, body["token"], body["password"])
        resp.media = {"message": "Your password is set and every session has ended"}


class Confirm(_RecoveryResource):
    @operation(
        "The page the mailed confirmation link opens (HTML)", returns=PAGE_SCHEMA, media=PAGE_MEDIA
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render_page(resp, CONFIRM_PAGE, "en", form=False)

    @operation(
        "Confirm the email address with the mailed token",
        body=CONFIRM,
        returns=CONFIRMED,
        responses={
            400: "Invalid request, or a link that is invalid (token_invalid) or expired "
            "(token_expired)",
            429: "Too many requests from this address",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.limiter.check(req)
        claims = self.links.read(req.context.body["token"], CONFIRM_PURPOSE)
        user = recovery.confirm_email(claims["sub"])
        resp.media = {
            "message": "Your email address is confirmed",
            "email_confirmed_at": rfc3339(user.email_confirmed_at),
        }

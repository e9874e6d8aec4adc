"""Mailed links into an account (password reset, address confirmation) and the page each opens.

A link carries its token in the URL fragment (`#token=…`), which browsers never
send to a server: the token stays out of access logs, proxies and Referer
headers. The page the link opens is our own HTML with no outside resources; its
script reads the fragment and posts the token back in a JSON body to the same
path.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import falcon
import jinja2

from api.auth import TokenService
from api.deps import Deps
from models import mails, recovery
from models.errors import AuthenticationFailed, InvalidInput
from models.mail_outbox import queue_mail
from models.users import User

RESET_PURPOSE = "password_reset"
RESET_LINK_TTL = 3600
CONFIRM_PURPOSE = "email_confirm"
CONFIRM_LINK_TTL = 3 * 24 * 3600

# What a link's page answers, as operations declare it.
PAGE_MEDIA = "text/html"
PAGE_SCHEMA = {"type": "string"}

_pages = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
# The page's own inline style and script (by nonce), and calls back to this origin: nothing else.
_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class MailedLinks:
    """Signs the tokens of one surface's mailed links, and reads them back."""

    def __init__(self, tokens: TokenService, base_url: str, audience: str):
        self.tokens = tokens
        self.base_url = base_url
        self.audience = audience

    def reset(self, user: User | None, path: str) -> str:
        """A one-hour link to set `user`'s password; for nobody, one just as costly to make."""
        subject = str(user.public_id) if user is not None else recovery.NOBODY
        token = self.tokens.issue_link(
            RESET_PURPOSE, subject, self.audience, RESET_LINK_TTL, pwd=recovery.fingerprint(user)
        )
        return f"{self.base_url}{path}#token={token}"

    def confirmation(self, user: User, path: str) -> str:
        token = self.tokens.issue_link(
            CONFIRM_PURPOSE, str(user.public_id), self.audience, CONFIRM_LINK_TTL
        )
        return f"{self.base_url}{path}#token={token}"

    def read(self, token: str, purpose: str) -> dict:
        """The claims of a link's token; a bad or expired one is refused as a link."""
        try:
            return self.tokens.verify_link(token, purpose, None, self.audience)
        except AuthenticationFailed as ex:
            if ex.key == "expired":
                raise InvalidInput("This link has expired", key="link_expired") from None
            raise InvalidInput("This link is not valid", key="link_invalid") from None


class LinkResource:
    """What both surfaces' password-reset resources share: the limiter and their links.

    A subclass names its `surface` (zellyy or rabbit, which also picks the mail),
    its token `audience`, and the path of its reset page.
    """

    surface: str
    audience: str
    reset_path: str

    def __init__(self, deps: Deps):
        self.limiter = deps.limiter
        self.links = MailedLinks(deps.tokens, deps.config.public_base_url, self.audience)

    def request_reset(self, req: falcon.Request, email: str) -> None:
        """Mail a reset link to the address if an account has it.

        Known and unknown addresses cost the same work up to the sending (a link
        is signed and a mail rendered either way), and the caller answers alike.
        """
        self.limiter.check(req, email)
        user = recovery.account_for(email)
        link = self.links.reset(user, self.reset_path)
        to, username = (user.email, user.username) if user is not None else (email, "")
        mail = mails.password_reset(self.surface, to, username, link, RESET_LINK_TTL // 60)
        if self.limiter.allow_mail(email) and user is not None:
            queue_mail(mail.to, mail.subject, mail.text, mail.html)

    def reset_password(self, req: falcon.Request, token: str, password: str) -> User:
        """Set the password of the account a mailed link is for (see models.recovery)."""
        self.limiter.check(req)
        claims = self.links.read(token, RESET_PURPOSE)
        return recovery.reset_password(claims["sub"], claims.get("pwd", ""), password)


def render_page(
    resp: falcon.Response, texts: dict, lang: str, *, form: bool, home_url: str | None = None
) -> None:
    """The page a mailed link opens: a new-password form, or (form=False) a confirmation."""
    nonce = secrets.token_urlsafe(16)
    resp.content_type = falcon.MEDIA_HTML
    resp.text = _pages.get_template("link_page.html").render(
        texts=texts, lang=lang, form=form, home_url=home_url, nonce=nonce
    )
    resp.set_header("Content-Security-Policy", _POLICY.format(nonce=nonce))
    resp.set_header("Referrer-Policy", "no-referrer")
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("X-Frame-Options", "DENY")

"""The mails the service sends, rendered from the templates beside this module as text and HTML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).with_name("mail_templates")
CONFIRMATION_SUBJECT = "[Money For Rabbit] 이메일 인증을 완료해 주세요"
OPEN_DAY_SUBJECT = "[Money For Rabbit] 쪽지함이 열렸습니다!"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    # .html templates escape every value (nicknames are user input); .txt ones are plain text.
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,  # a value the caller forgot fails, not renders as ""
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_templates.filters["won"] = lambda amount: f"{amount:,}"


@dataclasses.dataclass(frozen=True)
class Mail:
    """One rendered mail, for the mail outbox (models.mail_outbox.queue_mail)."""

    to: str
    subject: str
    text: str
    html: str


def render(template: str, to: str, subject: str, **values) -> Mail:
    """`template`.txt and `template`.html rendered with `values`."""
    text = _templates.get_template(f"{template}.txt").render(values)
    html = _templates.get_template(f"{template}.html").render(values)
    return Mail(to=to, subject=subject, text=text, html=html)


def confirmation(to: str, username: str, link: str, valid_days: int) -> Mail:
    """The Money For Rabbit sign-up mail: the link that confirms the address."""
    return render(
        "confirmation", to, CONFIRMATION_SUBJECT, username=username, link=link, days=valid_days
    )


def open_day(to: str, username: str, count: int, amount: int, page_url: str) -> Mail:
    """The mail on the day messages open: what came in, or, if nothing did, an invitation
    to share `page_url` (the user's own page)."""
    template = "open_day_received" if count else "open_day_none"
    return render(
        template,
        to,
        OPEN_DAY_SUBJECT,
        username=username,
        count=count,
        amount=amount,
        page_url=page_url,
    )

"""The mails the service sends, rendered from the templates beside this module as text and HTML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).with_name("mail_templates")
CONFIRMATION_SUBJECT = "[Money For Rabbit] 이메일 인증을 완료해 주세요"
OPEN_DAY_SUBJECT = "[Money For Rabbit] 쪽지함이 열렸습니다!"
RABBIT_RESET_SUBJECT = "[Money For Rabbit] 비밀번호 재설정 안내"
ZELLYY_CONFIRMATION_SUBJECT = "Confirm your email address for Zellyy"
ZELLYY_RESET_SUBJECT = "Reset your Zellyy password"

# What _layout.html and _button.html dress each app's mails in, and in which language.
RABBIT = {
    "name": "Money For Rabbit",
    "lang": "ko",
    "accent": "#b8312f",
    "paper": "#fbf3e4",
    "font": "'Apple SD Gothic Neo','Malgun Gothic','Noto Sans KR',sans-serif",
    "footer": "이 메일은 Money For Rabbit 에 가입한 주소로 보내 드렸습니다.",
    "paste": "버튼이 열리지 않으면 이 주소를 브라우저에 붙여 넣으세요:",
}
ZELLYY = {
    "name": "Zellyy",
    "lang": "en",
    "accent": "#3b5bdb",
    "paper": "#eef1f8",
    "font": "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif",
    "footer": "You received this mail because this address was entered in Zellyy.",
    "paste": "If the button does not work, paste this address into your browser:",
}

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


def render(template: str, to: str, subject: str, brand: dict = RABBIT, **values) -> Mail:
    """`template`.txt and `template`.html rendered with `values`, in the app's `brand`."""
    values["brand"] = brand
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


def zellyy_confirmation(to: str, username: str, link: str, valid_days: int) -> Mail:
    """The Zellyy sign-up mail: the link that confirms the address."""
    return render(
        "zellyy_confirmation",
        to,
        ZELLYY_CONFIRMATION_SUBJECT,
        ZELLYY,
        username=username,
        link=link,
        days=valid_days,
    )


def password_reset(app: str, to: str, username: str, link: str, valid_minutes: int) -> Mail:
    """The mail with a link to set a new password, in the look and language of `app`
    (zellyy or rabbit)."""
    brand, subject = (
        (ZELLYY, ZELLYY_RESET_SUBJECT) if app == "zellyy" else (RABBIT, RABBIT_RESET_SUBJECT)
    )
    return render(
        f"{app}_password_reset",
        to,
        subject,
        brand,
        username=username,
        link=link,
        minutes=valid_minutes,
    )

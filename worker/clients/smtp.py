"""Outgoing mail: through SMTP_URL, or as .eml files under ./var/mail/ in embedded mode."""

from __future__ import annotations

import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

TIMEOUT = 15


class TransientMailError(Exception):
    """The mail server refused for now (4xx); worth a retry."""


class PermanentMailError(Exception):
    """The mail server refused for good (5xx); retrying would not help."""


def compose(sender: str, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A text mail, or multipart/alternative with an HTML part when `html` is given."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def deliver(message: EmailMessage, config) -> None:
    if config.smtp_url:
        _send_smtp(message, config.smtp_url)
    else:
        _write_eml(message, config.mail_dir)


def _write_eml(message: EmailMessage, mail_dir: Path) -> Path:
    mail_dir.mkdir(parents=True, exist_ok=True)
    # 8-bit text, not base64: whoever opens the file can read it and follow its links.
    for part in message.walk():
        if part.get_content_maintype() == "text":
            part.set_content(part.get_content(), subtype=part.get_content_subtype(), cte="8bit")
    path = mail_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(message))
    tmp.rename(path)  # readers never see half a file
    return path


def _send_smtp(message: EmailMessage, url: str) -> None:
    """smtp://host:port (plain), smtp+starttls://…, or smtps://… (TLS); user:pass@ optional."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    try:
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                host, parts.port or 465, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=TIMEOUT)
        with client:
            if parts.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except smtplib.SMTPResponseException as ex:
        if 400 <= ex.smtp_code < 500:
            raise TransientMailError(f"SMTP {ex.smtp_code}") from ex
        raise PermanentMailError(f"SMTP {ex.smtp_code}") from ex

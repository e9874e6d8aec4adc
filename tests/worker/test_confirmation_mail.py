"""Registration mail goes through a real worker to a real SMTP server; its link confirms.

Mails are multipart/alternative (text and HTML); in embedded mode they are
readable .eml files.
"""

import re
from email import message_from_bytes
from email.policy import default

import pytest
from conftest import APP_URL
from fixtures.mail import parts
from helpers import wait_for

from models import mails


@pytest.mark.redis
def test_confirmation_mail_link_confirms_the_account(client, celery_worker, smtp_server):
    body = {"email": "rabbit@example.com", "password": "Abcdefgh123!", "username": "토끼"}
    assert client.simulate_post("/api/user/register", json=body).status_code == 201
    refused = client.simulate_post("/api/user/login", json=body)
    assert refused.status_code == 400
    assert refused.json == {"error": "이메일 인증이 되지 않은 계정입니다."}

    mail = wait_for(
        lambda: next((m for m in smtp_server.messages if "rabbit@example.com" in m.rcpt_tos), None)
    )
    message = message_from_bytes(mail.content, policy=default)
    assert message["Subject"] == mails.CONFIRMATION_SUBJECT
    alternatives = parts(message)
    assert set(alternatives) == {"text/plain", "text/html"}
    link = re.search(re.escape(APP_URL) + r"(/api/confirm-user/\S+)", alternatives["text/plain"])
    assert f'href="{APP_URL}{link.group(1)}"' in alternatives["text/html"]
    assert "<strong>토끼</strong> 님" in alternatives["text/html"]
    confirmed = client.simulate_get(link.group(1))
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "http://frontend.test/signup/done"

    login = client.simulate_post("/api/user/login", json=body)
    assert login.status_code == 200
    assert set(login.json) == {"access_token", "refresh_token"}


def sent_through_the_outbox(monkeypatch, queue) -> None:
    """Run `queue`, then the tasks it published, here and now."""
    from models import tasks
    from worker import mail as mail_tasks

    published = []
    monkeypatch.setattr(tasks, "_publisher", lambda name, kwargs: published.append((name, kwargs)))
    queue()
    for name, kwargs in published:
        assert name == "mail.deliver"
        mail_tasks.deliver(**kwargs)


def written_eml(config, send) -> bytes:
    before = set(config.mail_dir.glob("*.eml")) if config.mail_dir.exists() else set()
    send()
    [written] = set(config.mail_dir.glob("*.eml")) - before
    return written.read_bytes()


def test_without_smtp_a_mail_is_a_readable_eml_file(config, monkeypatch):
    from models.mail_outbox import queue_mail
    from models.transaction import transaction

    assert config.smtp_url is None
    rendered = mails.confirmation("bo@example.com", "토끼", "http://x.test/api/confirm-user/1/t", 3)

    def queue():
        with transaction():
            queue_mail(rendered.to, rendered.subject, rendered.text, rendered.html)

    raw = written_eml(config, lambda: sent_through_the_outbox(monkeypatch, queue))
    # 8-bit, not base64: the Korean text and the link are there to read and click.
    assert "토끼 님".encode() in raw and b"http://x.test/api/confirm-user/1/t" in raw
    assert b"base64" not in raw
    message = message_from_bytes(raw, policy=default)
    assert message["To"] == "bo@example.com"
    assert parts(message) == {"text/plain": rendered.text, "text/html": rendered.html}


def test_a_task_queued_by_the_release_before_the_outbox_still_sends(config, monkeypatch):
    from worker import mail as mail_tasks

    legacy = lambda: mail_tasks.send(to="bo@example.com", subject="제목", text="본문\n")  # noqa: E731
    raw = written_eml(config, lambda: sent_through_the_outbox(monkeypatch, legacy))
    message = message_from_bytes(raw, policy=default)
    assert message.get_content_type() == "text/plain" and message.get_content() == "본문\n"

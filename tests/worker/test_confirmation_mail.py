"""Registration mail goes through a real worker to a real SMTP server; its link confirms."""

import re
from email import message_from_bytes
from email.policy import default

import pytest
from conftest import APP_URL
from helpers import wait_for

pytestmark = pytest.mark.redis


def test_confirmation_mail_link_confirms_the_account(client, celery_worker, smtp_server):
    body = {"email": "rabbit@example.com", "password": "Abcdefgh123!", "username": "토끼"}
    assert client.simulate_post("/api/user/register", json=body).status_code == 201
    refused = client.simulate_post("/api/user/login", json=body)
    assert refused.status_code == 400
    assert refused.json == {"error": "이메일 인증이 되지 않은 계정입니다."}

    mail = wait_for(
        lambda: next((m for m in smtp_server.messages if "rabbit@example.com" in m.rcpt_tos), None)
    )
    text = message_from_bytes(mail.content, policy=default).get_content()
    link = re.search(re.escape(APP_URL) + r"(/api/confirm-user/\S+)", text).group(1)
    confirmed = client.simulate_get(link)
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "http://frontend.test/signup/done"

    login = client.simulate_post("/api/user/login", json=body)
    assert login.status_code == 200
    assert set(login.json) == {"access_token", "refresh_token"}

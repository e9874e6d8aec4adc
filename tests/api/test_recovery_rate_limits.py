"""Password-reset requests are limited like logins (per email and per IP, 429 with
Retry-After); mails to one address are capped without a word that would tell it has an account."""

import dataclasses

import pytest
from fixtures.accounts import unique_email
from fixtures.mail import mails_to, next_mail
from test_rate_limits import assert_rabbit_429, assert_zellyy_429, limited_client

from models import mails

pytestmark = pytest.mark.redis


def recover(client, email, ip="10.1.0.1"):
    return client.simulate_post("/api/v1/auth/recover", json={"email": email}, remote_addr=ip)


def password_reset(client, email, ip="10.1.0.1"):
    return client.simulate_post("/api/user/password-reset", json={"email": email}, remote_addr=ip)


def test_reset_requests_count_per_email_with_logins_on_both_apps(config):
    client = limited_client(config)
    email = unique_email()
    assert recover(client, email, ip="10.1.1.1").status_code == 200
    login = {"email": email, "password": "wrong password"}
    assert client.simulate_post("/api/v1/auth/login", json=login).status_code == 401
    assert password_reset(client, email, ip="10.1.1.2").status_code == 200
    assert_zellyy_429(recover(client, email, ip="10.1.1.3"))
    assert_rabbit_429(password_reset(client, email.upper(), ip="10.1.1.4"))
    assert recover(client, unique_email(), ip="10.1.1.5").status_code == 200


def test_reset_requests_count_per_ip(config):
    client = limited_client(config, per_email="1000/minute", per_ip="2/minute")
    assert recover(client, unique_email(), ip="10.1.2.1").status_code == 200
    assert password_reset(client, unique_email(), ip="10.1.2.1").status_code == 200
    assert_zellyy_429(recover(client, unique_email(), ip="10.1.2.1"))
    assert_rabbit_429(password_reset(client, unique_email(), ip="10.1.2.1"))
    assert recover(client, unique_email(), ip="10.1.2.2").status_code == 200


@pytest.mark.parametrize(
    "path, password, check",
    [
        ("/api/v1/auth/reset", "new password", assert_zellyy_429),
        ("/api/user/password-reset/confirm", "Newpass12345!", assert_rabbit_429),
        ("/api/v1/auth/confirm", None, assert_zellyy_429),
    ],
)
def test_following_links_counts_per_ip(config, path, password, check):
    client = limited_client(config, per_email="1000/minute", per_ip="2/minute")
    body = {"token": "a.guessed.token"} | ({"password": password} if password else {})
    for _ in range(2):
        assert client.simulate_post(path, json=body, remote_addr="10.1.3.1").status_code == 400
    check(client.simulate_post(path, json=body, remote_addr="10.1.3.1"))
    assert client.simulate_post(path, json=body, remote_addr="10.1.3.2").status_code == 400


def test_an_address_gets_at_most_its_share_of_reset_mails_and_the_answer_stays_the_same(
    config, celery_worker, smtp_server, zellyy_signup
):
    capped = dataclasses.replace(config, rate_limit_recovery_mail="2/hour")
    client = limited_client(capped, per_email="1000/minute")
    victim, sentinel = zellyy_signup().email, zellyy_signup().email

    answers = [recover(client, victim) for _ in range(2)] + [password_reset(client, victim)]
    answers.append(recover(client, victim))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.text for a in answers[:2] + answers[3:]}) == 1
    next_mail(smtp_server, victim, mails.ZELLYY_RESET_SUBJECT, seen=1)
    # A third mail would have been queued before the sentinel's, which is in.
    recover(client, sentinel)
    next_mail(smtp_server, sentinel, mails.ZELLYY_RESET_SUBJECT)
    assert len(mails_to(smtp_server, victim, mails.ZELLYY_RESET_SUBJECT)) == 2
    assert mails_to(smtp_server, victim, mails.RABBIT_RESET_SUBJECT) == []

"""Password-reset requests and followed links are limited like logins (429, Retry-After).

Per email and per IP; the cap on mails to one address is in
tests/worker/test_password_reset.py.
"""

import pytest
from fixtures.accounts import unique_email
from test_rate_limits import assert_rabbit_429, assert_zellyy_429, limited_client

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

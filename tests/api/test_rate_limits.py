"""Login and sign-up limits per email and per client IP, counted in the real Redis."""

import dataclasses
import uuid

import pytest
import redis
from conftest import REDIS_URL
from contract import CheckedClient
from fixtures.accounts import RABBIT_PASSWORD, unique_email

from api.app import create_app

pytestmark = pytest.mark.redis


def limited_client(config, per_email="3/minute", per_ip="1000/minute"):
    """An app of its own whose limits are small and whose Redis keys no other test shares."""
    prefix = f"rl-test-{uuid.uuid4().hex[:10]}"
    limited = dataclasses.replace(
        config, rate_limit_login=per_email, rate_limit_ip=per_ip, rate_limit_prefix=prefix
    )
    client = CheckedClient(create_app(limited))
    client.prefix = prefix
    return client


def zellyy_login(client, email, ip="10.0.0.1", password=None):
    body = {"email": email, "password": password or "wrong password"}
    return client.simulate_post("/api/v1/auth/login", json=body, remote_addr=ip)


def signup_from(client, email, ip="10.0.0.1"):
    return client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": email, "password": "password1", "username": "ann"},
        remote_addr=ip,
    )


def rabbit_login(client, email, ip="10.0.0.1"):
    return client.simulate_post(
        "/api/user/login", json={"email": email, "password": "Wrongpass12!"}, remote_addr=ip
    )


def register_from(client, email, ip="10.0.0.1"):
    return client.simulate_post(
        "/api/user/register",
        json={"email": email, "password": RABBIT_PASSWORD, "username": "토끼"},
        remote_addr=ip,
    )


def assert_zellyy_429(resp):
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "rate_limit_exceeded"
    retry_after = int(resp.headers["retry-after"])
    assert 1 <= retry_after <= 60


def assert_rabbit_429(resp):
    assert resp.status_code == 429
    assert resp.json == {"error": "요청이 너무 많습니다. 잠시 후 다시 시도하세요."}
    assert 1 <= int(resp.headers["retry-after"]) <= 60


def test_zellyy_login_per_email(config):
    client = limited_client(config)
    email = unique_email()
    # From three different addresses: the email is what is counted.
    for i in range(3):
        assert zellyy_login(client, email, ip=f"10.0.1.{i}").status_code == 401
    assert_zellyy_429(zellyy_login(client, email, ip="10.0.1.9"))
    # The same email in another case is the same email.
    assert_zellyy_429(zellyy_login(client, email.upper(), ip="10.0.1.10"))
    # Another email is not affected.
    assert zellyy_login(client, unique_email(), ip="10.0.1.11").status_code == 401


def test_the_limit_holds_even_for_the_right_password(config, zellyy_signup):
    account = zellyy_signup()
    client = limited_client(config)
    for _ in range(3):
        zellyy_login(client, account.email)
    assert_zellyy_429(zellyy_login(client, account.email, password=account.password))


def test_zellyy_login_per_ip(config):
    client = limited_client(config, per_email="1000/minute", per_ip="4/minute")
    for _ in range(4):
        assert zellyy_login(client, unique_email(), ip="10.0.2.1").status_code == 401
    assert_zellyy_429(zellyy_login(client, unique_email(), ip="10.0.2.1"))
    assert zellyy_login(client, unique_email(), ip="10.0.2.2").status_code == 401


def test_zellyy_signup_per_email(config):
    client = limited_client(config)
    email = unique_email()
    assert signup_from(client, email, ip="10.0.3.1").status_code == 200
    for i in range(2):
        assert signup_from(client, email, ip=f"10.0.3.{i + 2}").status_code == 409
    assert_zellyy_429(signup_from(client, email, ip="10.0.3.9"))


def test_zellyy_signup_per_ip(config):
    client = limited_client(config, per_email="1000/minute", per_ip="2/minute")
    assert signup_from(client, unique_email(), ip="10.0.4.1").status_code == 200
    assert signup_from(client, unique_email(), ip="10.0.4.1").status_code == 200
    resp = signup_from(client, unique_email(), ip="10.0.4.1")
    assert_zellyy_429(resp)


def test_the_api_prefix_shares_the_count(config):
    client = limited_client(config)
    email = unique_email()
    for path in ("/api/v1/auth/login", "/api/auth/login", "/api/v1/auth/login"):
        client.simulate_post(path, json={"email": email, "password": "x"}, remote_addr="10.0.5.1")
    resp = client.simulate_post(
        "/api/auth/login", json={"email": email, "password": "x"}, remote_addr="10.0.5.2"
    )
    assert_zellyy_429(resp)


def test_rabbit_login_per_email(config):
    client = limited_client(config)
    email = unique_email()
    for i in range(3):
        assert rabbit_login(client, email, ip=f"10.0.6.{i}").status_code == 401
    assert_rabbit_429(rabbit_login(client, email, ip="10.0.6.9"))


def test_rabbit_login_per_ip(config):
    client = limited_client(config, per_email="1000/minute", per_ip="3/minute")
    for _ in range(3):
        assert rabbit_login(client, unique_email(), ip="10.0.7.1").status_code == 401
    assert_rabbit_429(rabbit_login(client, unique_email(), ip="10.0.7.1"))


def test_rabbit_register_per_email(config):
    client = limited_client(config)
    email = unique_email()
    assert register_from(client, email, ip="10.0.8.1").status_code == 201
    for i in range(2):
        assert register_from(client, email, ip=f"10.0.8.{i + 2}").status_code == 400
    assert_rabbit_429(register_from(client, email, ip="10.0.8.9"))


def test_rabbit_register_per_ip(config):
    client = limited_client(config, per_email="1000/minute", per_ip="2/minute")
    for _ in range(2):
        assert register_from(client, unique_email(), ip="10.0.9.1").status_code == 201
    assert_rabbit_429(register_from(client, unique_email(), ip="10.0.9.1"))


def test_both_surfaces_count_one_email_together(config):
    client = limited_client(config)
    email = unique_email()
    zellyy_login(client, email, ip="10.0.10.1")
    rabbit_login(client, email, ip="10.0.10.2")
    zellyy_login(client, email, ip="10.0.10.3")
    assert_rabbit_429(rabbit_login(client, email, ip="10.0.10.4"))


def test_refused_attempts_create_no_account(config):
    client = limited_client(config, per_email="1000/minute", per_ip="1/minute")
    assert signup_from(client, unique_email(), ip="10.0.11.1").status_code == 200
    email = unique_email()
    assert_zellyy_429(signup_from(client, email, ip="10.0.11.1"))
    from pony import orm

    from models.users import User, email_key

    with orm.db_session:
        assert User.get(email_key=email_key(email)) is None


def test_counts_live_in_redis_and_are_shared_by_every_process(config):
    """Two apps (as two gunicorn workers would be) see one count."""
    first = limited_client(config)
    second = CheckedClient(
        create_app(
            dataclasses.replace(config, rate_limit_login="3/minute", rate_limit_prefix=first.prefix)
        )
    )
    email = unique_email()
    zellyy_login(first, email, ip="10.0.12.1")
    zellyy_login(second, email, ip="10.0.12.2")
    zellyy_login(first, email, ip="10.0.12.3")
    assert_zellyy_429(zellyy_login(second, email, ip="10.0.12.4"))
    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"*{first.prefix}*"))
    assert keys
    # Keys name a digest of the email, not the address itself.
    assert not any(email.split("@")[0].encode() in key for key in keys)


def test_validation_failures_do_not_need_the_limiter(config):
    client = limited_client(config, per_ip="1/minute")
    for _ in range(3):
        resp = client.simulate_post("/api/v1/auth/login", json={}, remote_addr="10.0.13.1")
        assert resp.status_code == 400


def test_an_unreachable_limiter_store_lets_logins_through(config, zellyy_signup):
    """A Redis outage must not lock every user out; it is logged instead."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broken = dataclasses.replace(
        config, redis_url=f"redis://127.0.0.1:{port}/0", rate_limit_login="1/minute"
    )
    client = CheckedClient(create_app(broken))
    account = zellyy_signup()
    for _ in range(3):
        resp = zellyy_login(client, account.email, password=account.password)
        assert resp.status_code == 200


def test_memory_storage_without_redis(config):
    embedded = dataclasses.replace(
        config, redis_url=None, rate_limit_login="2/minute", rate_limit_prefix="mem"
    )
    client = CheckedClient(create_app(embedded))
    email = unique_email()
    zellyy_login(client, email)
    zellyy_login(client, email)
    assert_zellyy_429(zellyy_login(client, email))


def _limiter(trusted: str):
    from api.ratelimit import AuthRateLimiter

    return AuthRateLimiter("memory://", "10/minute", "10/minute", trusted_proxies=trusted)


def _request(remote_addr: str, forwarded: str | None):
    from falcon import testing

    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return testing.create_req(remote_addr=remote_addr, headers=headers)


def test_client_ip_believes_forwarded_for_only_from_a_trusted_proxy():
    limiter = _limiter("127.0.0.1")
    # From the trusted proxy: the nearest hop it saw, not what the client claims further left.
    assert limiter.client_ip(_request("127.0.0.1", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    # From anyone else, X-Forwarded-For is forgeable and ignored.
    assert limiter.client_ip(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"
    assert limiter.client_ip(_request("127.0.0.1", None)) == "127.0.0.1"


def test_forwarded_clients_behind_one_proxy_are_limited_separately():
    from models.errors import RateLimited

    limiter = _limiter("*")
    for _ in range(10):
        limiter.check(_request("10.0.0.1", "203.0.113.1"))
    with pytest.raises(RateLimited):
        limiter.check(_request("10.0.0.1", "203.0.113.1"))
    limiter.check(_request("10.0.0.1", "203.0.113.2"))  # another client: its own budget

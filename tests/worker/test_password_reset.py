"""Password reset on both apps, through the real worker and SMTP server.

The link sets the password once, within the hour, ends every session on both
apps, and nobody learns from the answer which addresses have accounts.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from conftest import APP_URL
from contract import CheckedClient
from fixtures.accounts import (
    ZellyyAccount,
    bearer,
    claims_of,
    sign,
    unique_email,
    unsigned,
)
from fixtures.mail import mails_to, next_mail, parts, token_in
from helpers import at_once

from models import mails

pytestmark = pytest.mark.redis

ZELLYY_RESET = "/api/v1/auth/reset"
RABBIT_RESET = "/api/user/password-reset/confirm"
NEW_ZELLYY_PASSWORD = "a brand new password"
NEW_RABBIT_PASSWORD = "Newrabbit123!"
LINK_USED = "이미 사용된 비밀번호 재설정 링크입니다. 다시 요청해 주세요."
LINK_EXPIRED = "비밀번호 재설정 링크가 만료되었습니다. 다시 요청해 주세요."
LINK_INVALID = "잘못된 비밀번호 재설정 링크입니다."


def zellyy_reset_token(client, smtp_server, email: str, seen: int = 0) -> str:
    resp = client.simulate_post("/api/v1/auth/recover", json={"email": email})
    assert resp.status_code == 200, resp.text
    return token_in(next_mail(smtp_server, email, mails.ZELLYY_RESET_SUBJECT, seen), ZELLYY_RESET)


def rabbit_reset_token(client, smtp_server, email: str, seen: int = 0) -> str:
    resp = client.simulate_post("/api/user/password-reset", json={"email": email})
    assert resp.status_code == 200, resp.text
    return token_in(next_mail(smtp_server, email, mails.RABBIT_RESET_SUBJECT, seen), RABBIT_RESET)


def zellyy_login(client, email: str, password: str):
    return client.simulate_post("/api/v1/auth/login", json={"email": email, "password": password})


def zellyy_session(client, email: str, password: str) -> ZellyyAccount:
    """A Zellyy login of an account (made on either app)."""
    resp = zellyy_login(client, email, password)
    assert resp.status_code == 200, resp.text
    session = resp.json["session"]
    return ZellyyAccount(
        email, password, resp.json["user"]["id"], session["access_token"], session["refresh_token"]
    )


def rabbit_login(client, email: str, password: str):
    return client.simulate_post("/api/user/login", json={"email": email, "password": password})


def assert_sessions_ended(client, zellyy, rabbit) -> None:
    """Access tokens are refused at once and refresh tokens trade for nothing, on both apps."""
    me = client.simulate_get("/api/v1/users/me", headers=zellyy.headers)
    assert me.status_code == 401
    refresh = client.simulate_post(
        "/api/v1/auth/refresh", json={"refresh_token": zellyy.refresh_token}
    )
    assert refresh.status_code == 401
    letters = client.simulate_get(f"/api/user/{rabbit.id}/messages", headers=rabbit.headers)
    assert (letters.status_code, letters.json) == (401, {"error": "잘못된 토큰입니다."})
    refresh = client.simulate_post("/api/user/refresh", headers=bearer(rabbit.refresh_token))
    assert (refresh.status_code, refresh.json) == (401, {"error": "잘못된 토큰입니다."})


def test_zellyy_reset_sets_the_password_and_ends_every_session_on_both_apps(
    client, celery_worker, smtp_server, rabbit_register
):
    rabbit = rabbit_register()
    zellyy = zellyy_session(client, rabbit.email, rabbit.password)

    resp = client.simulate_post("/api/v1/auth/recover", json={"email": rabbit.email.upper()})
    assert resp.status_code == 200
    mail = next_mail(smtp_server, rabbit.email, mails.ZELLYY_RESET_SUBJECT)
    alternatives = parts(mail)
    assert "60 minutes" in alternatives["text/plain"] and 'lang="en"' in alternatives["text/html"]
    assert f"{APP_URL}{ZELLYY_RESET}#token=" in alternatives["text/plain"]
    token = token_in(mail, ZELLYY_RESET)
    assert claims_of(token)["exp"] - claims_of(token)["iat"] == 3600

    done = client.simulate_post(
        ZELLYY_RESET, json={"token": token, "password": NEW_ZELLYY_PASSWORD}
    )
    assert done.status_code == 200, done.text
    assert_sessions_ended(client, zellyy, rabbit)
    assert zellyy_login(client, rabbit.email, rabbit.password).status_code == 401
    assert zellyy_login(client, rabbit.email, NEW_ZELLYY_PASSWORD).status_code == 200
    assert rabbit_login(client, rabbit.email, NEW_ZELLYY_PASSWORD).status_code == 200


def test_rabbit_reset_sets_the_password_and_ends_every_session_on_both_apps(
    client, celery_worker, smtp_server, rabbit_register
):
    rabbit = rabbit_register()
    zellyy = zellyy_session(client, rabbit.email, rabbit.password)

    token = rabbit_reset_token(client, smtp_server, rabbit.email)
    mail = mails_to(smtp_server, rabbit.email, mails.RABBIT_RESET_SUBJECT)[0]
    alternatives = parts(mail)
    assert (
        f"{rabbit.username} 님" in alternatives["text/plain"]
        and "60분" in alternatives["text/plain"]
    )
    assert 'lang="ko"' in alternatives["text/html"]

    weak = client.simulate_post(RABBIT_RESET, json={"token": token, "password": "weak"})
    assert weak.status_code == 400 and weak.json["error"].startswith(
        "유효한 비밀번호 값이 아닙니다."
    )
    done = client.simulate_post(
        RABBIT_RESET, json={"token": token, "password": NEW_RABBIT_PASSWORD}
    )
    assert done.status_code == 200
    assert done.json == {"success": "비밀번호가 변경되었습니다. 새 비밀번호로 로그인하세요."}
    assert_sessions_ended(client, zellyy, rabbit)
    refused = rabbit_login(client, rabbit.email, rabbit.password)
    assert (refused.status_code, refused.json) == (
        401,
        {"error": "이메일과 비밀번호를 확인하세요."},
    )
    assert rabbit_login(client, rabbit.email, NEW_RABBIT_PASSWORD).status_code == 200
    assert zellyy_login(client, rabbit.email, NEW_RABBIT_PASSWORD).status_code == 200


def test_a_link_works_once_and_spends_every_link_mailed_before_it(
    client, celery_worker, smtp_server, zellyy_signup
):
    account = zellyy_signup()
    first = zellyy_reset_token(client, smtp_server, account.email)
    second = zellyy_reset_token(client, smtp_server, account.email, seen=1)
    assert first != second

    used = client.simulate_post(ZELLYY_RESET, json={"token": second, "password": "password two"})
    assert used.status_code == 200
    for token in (second, first):
        again = client.simulate_post(ZELLYY_RESET, json={"token": token, "password": "password 3"})
        assert again.status_code == 400
        assert again.json["error"]["code"] == "token_used"
    assert zellyy_login(client, account.email, "password two").status_code == 200
    assert zellyy_login(client, account.email, "password 3").status_code == 401

    rabbit = rabbit_reset_token(client, smtp_server, account.email)
    assert client.simulate_post(
        RABBIT_RESET, json={"token": rabbit, "password": NEW_RABBIT_PASSWORD}
    ).json == {"success": "비밀번호가 변경되었습니다. 새 비밀번호로 로그인하세요."}
    again = client.simulate_post(RABBIT_RESET, json={"token": rabbit, "password": "Other1234567!"})
    assert (again.status_code, again.json) == (400, {"error": LINK_USED})


def test_of_two_requests_racing_with_one_link_exactly_one_sets_its_password(
    client, celery_worker, smtp_server, zellyy_signup
):
    account = zellyy_signup()
    token = zellyy_reset_token(client, smtp_server, account.email)
    passwords = ["racing password one", "racing password two"]
    answers = at_once(
        [
            lambda p=p: client.simulate_post(ZELLYY_RESET, json={"token": token, "password": p})
            for p in passwords
        ]
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 400], [a.text for a in answers]
    assert [a.json["error"]["code"] for a in answers if a.status_code == 400] == ["token_used"]
    [winner] = [p for p, a in zip(passwords, answers, strict=True) if a.status_code == 200]
    assert zellyy_login(client, account.email, winner).status_code == 200
    for password in passwords:
        if password != winner:
            assert zellyy_login(client, account.email, password).status_code == 401


def expired(token: str, key: str) -> str:
    """The same link as mailed an hour and a minute ago."""
    claims = claims_of(token)
    past = int(time.time()) - 3660
    return sign({**claims, "iat": past, "nbf": past, "exp": past + 3600}, key)


def test_an_hour_old_link_is_refused_in_each_dialect(
    client, celery_worker, smtp_server, config, zellyy_signup
):
    account = zellyy_signup()
    zellyy = expired(zellyy_reset_token(client, smtp_server, account.email), config.secret_key)
    resp = client.simulate_post(ZELLYY_RESET, json={"token": zellyy, "password": "new password"})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "token_expired"

    rabbit = expired(rabbit_reset_token(client, smtp_server, account.email), config.secret_key)
    resp = client.simulate_post(RABBIT_RESET, json={"token": rabbit, "password": "Newpass12345!"})
    assert (resp.status_code, resp.json) == (400, {"error": LINK_EXPIRED})
    assert zellyy_login(client, account.email, account.password).status_code == 200


def test_forged_and_foreign_tokens_are_refused(client, celery_worker, smtp_server, zellyy_signup):
    account = zellyy_signup()
    zellyy = zellyy_reset_token(client, smtp_server, account.email)
    rabbit = rabbit_reset_token(client, smtp_server, account.email)
    confirmation = token_in(
        next_mail(smtp_server, account.email, mails.ZELLYY_CONFIRMATION_SUBJECT),
        "/api/v1/auth/confirm",
    )
    claims = claims_of(zellyy)
    forged = {
        "another key": sign(claims, "not the server's key but long enough to sign"),
        "no signature": unsigned(claims),
        "garbage": "not.a.token",
        "the other app's link": rabbit,
        "a confirmation link": confirmation,
        "an access token": account.access_token,
    }
    for what, token in forged.items():
        resp = client.simulate_post(ZELLYY_RESET, json={"token": token, "password": "forged pass"})
        assert (resp.status_code, resp.json["error"]["code"]) == (400, "token_invalid"), what
    for token in (zellyy, sign(claims_of(rabbit), "not the server's key but long enough")):
        resp = client.simulate_post(RABBIT_RESET, json={"token": token, "password": "Forged12345!"})
        assert (resp.status_code, resp.json) == (400, {"error": LINK_INVALID})
    missing = client.simulate_post(RABBIT_RESET, json={"password": "Forged12345!"})
    assert (missing.status_code, missing.json) == (400, {"error": LINK_INVALID})
    assert zellyy_login(client, account.email, account.password).status_code == 200


def comparable(resp) -> tuple:
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in ("date", "x-request-id")}
    return resp.status_code, resp.text, headers


@pytest.mark.parametrize(
    "path, subject",
    [
        ("/api/v1/auth/recover", mails.ZELLYY_RESET_SUBJECT),
        ("/api/user/password-reset", mails.RABBIT_RESET_SUBJECT),
    ],
)
def test_known_and_unknown_addresses_get_the_same_answer_and_only_owners_a_mail(
    client, celery_worker, smtp_server, zellyy_signup, path, subject
):
    known = zellyy_signup().email
    unknown = unique_email("nobody")
    answers = [client.simulate_post(path, json={"email": email}) for email in (unknown, known)]
    assert comparable(answers[0]) == comparable(answers[1])
    assert answers[0].status_code == 200 and "token" not in answers[0].text
    # The unknown address was asked for first: once the known one's mail is in, none came.
    next_mail(smtp_server, known, subject)
    assert mails_to(smtp_server, unknown) == []


def test_an_address_gets_at_most_its_share_of_reset_mails_and_the_answer_stays_the_same(
    config, celery_worker, smtp_server, zellyy_signup
):
    from api.app import create_app

    capped = dataclasses.replace(
        config,
        rate_limit_recovery_mail="2/hour",
        rate_limit_prefix=f"{config.rate_limit_prefix}-{uuid.uuid4().hex[:8]}",
    )
    client = CheckedClient(create_app(capped))
    victim, sentinel = zellyy_signup().email, zellyy_signup().email

    answers = [client.simulate_post("/api/v1/auth/recover", json={"email": victim}) for _ in "abc"]
    rabbit = client.simulate_post("/api/user/password-reset", json={"email": victim})
    assert [a.status_code for a in answers] == [200, 200, 200] and rabbit.status_code == 200
    assert len({a.text for a in answers}) == 1
    next_mail(smtp_server, victim, mails.ZELLYY_RESET_SUBJECT, seen=1)
    # A third mail would have been queued before the sentinel's, which is in.
    client.simulate_post("/api/v1/auth/recover", json={"email": sentinel})
    next_mail(smtp_server, sentinel, mails.ZELLYY_RESET_SUBJECT)
    assert len(mails_to(smtp_server, victim, mails.ZELLYY_RESET_SUBJECT)) == 2
    assert mails_to(smtp_server, victim, mails.RABBIT_RESET_SUBJECT) == []

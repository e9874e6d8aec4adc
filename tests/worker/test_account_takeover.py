"""Zellyy confirmation by mail, and takeover of an address nobody confirmed by its owner.

The owner takes such an account over with a password reset, from either app.
"""

from __future__ import annotations

import pytest
from conftest import APP_URL
from fixtures.accounts import RABBIT_PASSWORD, bearer, claims_of, sign, unique_email
from fixtures.mail import next_mail, parts, token_in

from models import mails

pytestmark = pytest.mark.redis

CONFIRM = "/api/v1/auth/confirm"
NOT_CONFIRMED = {"error": "이메일 인증이 되지 않은 계정입니다."}
BAD_CREDENTIALS = {"error": "이메일과 비밀번호를 확인하세요."}


def login(client, path: str, email: str, password: str):
    return client.simulate_post(path, json={"email": email, "password": password})


def me(client, access_token: str):
    return client.simulate_get("/api/v1/users/me", headers=bearer(access_token))


def test_a_zellyy_sign_up_is_usable_at_once_and_confirmed_by_the_mailed_link(
    client, celery_worker, smtp_server, zellyy_signup
):
    account = zellyy_signup(username="ann")
    assert me(client, account.access_token).json["email_confirmed_at"] is None
    # The other app keeps its rule: no login before the address is confirmed.
    refused = login(client, "/api/user/login", account.email, account.password)
    assert (refused.status_code, refused.json) == (400, NOT_CONFIRMED)

    mail = next_mail(smtp_server, account.email, mails.ZELLYY_CONFIRMATION_SUBJECT)
    alternatives = parts(mail)
    assert "Welcome to Zellyy, ann!" in alternatives["text/plain"]
    assert f"{APP_URL}{CONFIRM}#token=" in alternatives["text/plain"]
    assert (
        'lang="en"' in alternatives["text/html"]
        and "<strong>ann</strong>" in alternatives["text/html"]
    )
    token = token_in(mail, CONFIRM)

    confirmed = client.simulate_post(CONFIRM, json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    at = confirmed.json["email_confirmed_at"]
    assert at.endswith("Z") and me(client, account.access_token).json["email_confirmed_at"] == at
    # Following the link again changes nothing.
    assert client.simulate_post(CONFIRM, json={"token": token}).json["email_confirmed_at"] == at
    assert login(client, "/api/user/login", account.email, account.password).status_code == 200


def test_a_confirmation_link_that_expired_or_was_forged_confirms_nothing(
    client, celery_worker, smtp_server, zellyy_signup, config
):
    account = zellyy_signup()
    claims = claims_of(
        token_in(next_mail(smtp_server, account.email, mails.ZELLYY_CONFIRMATION_SUBJECT), CONFIRM)
    )
    past = claims["iat"] - 4 * 86400
    late = sign({**claims, "iat": past, "nbf": past, "exp": past + 3 * 86400}, config.secret_key)
    resp = client.simulate_post(CONFIRM, json={"token": late})
    assert (resp.status_code, resp.json["error"]["code"]) == (400, "token_expired")
    forged = sign(claims, "a key that is not the server's own key")
    resp = client.simulate_post(CONFIRM, json={"token": forged})
    assert (resp.status_code, resp.json["error"]["code"]) == (400, "token_invalid")
    assert me(client, account.access_token).json["email_confirmed_at"] is None


def test_a_zellyy_squatter_loses_the_address_to_its_money_for_rabbit_owner(
    client, celery_worker, smtp_server, zellyy_signup, platforms
):
    victim = unique_email("victim")
    squatter = zellyy_signup(email=victim, password="squatter password", username="squat")
    platforms.account("facebook", "squatter-page-token", "page-666")
    connected = client.simulate_post(
        "/api/v1/social/connect/facebook",
        json={"access_token": "squatter-page-token"},
        headers=squatter.headers,
    )
    assert connected.status_code == 200

    # The owner cannot register: the address is taken, as before.
    body = {"email": victim, "password": RABBIT_PASSWORD, "username": "주인"}
    taken = client.simulate_post("/api/user/register", json=body)
    assert (taken.status_code, taken.json) == (400, {"error": "중복된 이메일입니다."})
    # But the mail goes to the owner, who sets the password.
    assert (
        client.simulate_post("/api/user/password-reset", json={"email": victim}).status_code == 200
    )
    token = token_in(
        next_mail(smtp_server, victim, mails.RABBIT_RESET_SUBJECT),
        "/api/user/password-reset/confirm",
    )
    done = client.simulate_post(
        "/api/user/password-reset/confirm", json={"token": token, "password": RABBIT_PASSWORD}
    )
    assert done.status_code == 200

    # The squatter is out: sessions dead, password gone.
    assert me(client, squatter.access_token).status_code == 401
    refresh = client.simulate_post(
        "/api/v1/auth/refresh", json={"refresh_token": squatter.refresh_token}
    )
    assert refresh.status_code == 401
    assert login(client, "/api/v1/auth/login", victim, squatter.password).status_code == 401
    # The owner is in, on both apps, with the address confirmed and nothing of the squatter's
    # connected accounts.
    assert login(client, "/api/user/login", victim, RABBIT_PASSWORD).status_code == 200
    owner = login(client, "/api/v1/auth/login", victim, RABBIT_PASSWORD).json["session"]
    assert me(client, owner["access_token"]).json["email_confirmed_at"].endswith("Z")
    accounts = client.simulate_get("/api/v1/social/accounts", headers=bearer(owner["access_token"]))
    assert accounts.status_code == 200 and accounts.json["accounts"] == []


def test_a_money_for_rabbit_squatter_loses_the_address_to_its_zellyy_owner(
    client, celery_worker, smtp_server
):
    victim = unique_email("victim")
    body = {"email": victim, "password": "Squatter1234!", "username": "무단"}
    assert client.simulate_post("/api/user/register", json=body).status_code == 201
    # Unconfirmed, the squatter cannot use Money For Rabbit but can use Zellyy.
    assert login(client, "/api/user/login", victim, "Squatter1234!").json == NOT_CONFIRMED
    squatter = login(client, "/api/v1/auth/login", victim, "Squatter1234!").json["session"]

    taken = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": victim, "password": "owner password", "username": "own"},
    )
    assert (taken.status_code, taken.json["error"]["code"]) == (409, "conflict")
    assert client.simulate_post("/api/v1/auth/recover", json={"email": victim}).status_code == 200
    token = token_in(
        next_mail(smtp_server, victim, mails.ZELLYY_RESET_SUBJECT), "/api/v1/auth/reset"
    )
    done = client.simulate_post(
        "/api/v1/auth/reset", json={"token": token, "password": "owner password"}
    )
    assert done.status_code == 200

    assert me(client, squatter["access_token"]).status_code == 401
    refresh = client.simulate_post(
        "/api/v1/auth/refresh", json={"refresh_token": squatter["refresh_token"]}
    )
    assert refresh.status_code == 401
    refused = login(client, "/api/user/login", victim, "Squatter1234!")
    assert (refused.status_code, refused.json) == (401, BAD_CREDENTIALS)
    owner = login(client, "/api/v1/auth/login", victim, "owner password")
    assert owner.status_code == 200
    assert (
        me(client, owner.json["session"]["access_token"]).json["email_confirmed_at"].endswith("Z")
    )
    # The reset counts as the confirmation Money For Rabbit asks for.
    assert login(client, "/api/user/login", victim, "owner password").status_code == 200

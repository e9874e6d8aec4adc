"""Money For Rabbit accounts: the seed's paths, rules and Korean texts."""

import pytest
from fixtures.accounts import (
    RABBIT_PASSWORD,
    bearer,
    claims_of,
    now,
    sign,
    spent_earlier,
    unique_email,
    unsigned,
    user_id_of,
)

TOKEN_MISSING = {"error": "토큰 정보가 필요합니다."}
TOKEN_INVALID = {"error": "잘못된 토큰입니다."}
TOKEN_EXPIRED = {"error": "토큰이 만료되었습니다."}
BAD_CREDENTIALS = {"error": "이메일과 비밀번호를 확인하세요."}
INVALID_EMAIL = {"error": "유효한 이메일 값이 아닙니다."}
# Whole, character for character: the web app shows them as they are.
INVALID_PASSWORD = {
    "error": "유효한 비밀번호 값이 아닙니다. 12 ~ 16자, 대문자 1개, 소문자 1개, "
    "숫자 1개 및 특수 문자 1개를 포함해야 합니다."
}
INVALID_USERNAME = {
    "error": "유효한 닉네임 값이 아닙니다. 2 ~ 5자, 특수 문자와 초성, 공백은 포함될 수 없습니다."
}


def register(client, email=None, password=RABBIT_PASSWORD, username="토끼"):
    body = {
        "email": unique_email("rabbit") if email is None else email,
        "password": password,
        "username": username,
    }
    return client.simulate_post("/api/user/register", json=body)


# --- register -------------------------------------------------------------------------------


def test_register_welcomes_by_nickname(client):
    resp = register(client, username="깡총")
    assert resp.status_code == 201
    assert resp.json == {"success": "깡총 님, 회원가입을 환영합니다!"}


@pytest.mark.parametrize("username", ["ab", "토끼", "abcde", "가1b2나", "12345", "ABcd"])
def test_valid_nicknames(client, username):
    assert register(client, username=username).status_code == 201


@pytest.mark.parametrize(
    "username",
    ["a", "abcdef", "토끼 ", " 토끼", "a_b", "ㄱㄴ", "토끼!", "", "à1", "１２", 12, None],
)
def test_invalid_nicknames(client, username):
    resp = register(client, username=username)
    assert resp.status_code == 400
    assert resp.json == INVALID_USERNAME


@pytest.mark.parametrize(
    "password",
    ["Abcdefgh123!", "Abcdefgh12@#", "aB3" + "!" * 9, "Zz9" + "^&*%$#@!" + "abcde"],
)
def test_valid_passwords(client, password):
    assert register(client, password=password).status_code == 201


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefg123!",  # 11 characters
        "Abcdefgh1234567!!",  # 17 characters
        "abcdefgh123!",  # no upper case
        "ABCDEFGH123!",  # no lower case
        "Abcdefghijk!",  # no digit
        "Abcdefgh1234",  # no special character
        "Abcdefgh123-",  # a special character outside !@#$%^&*
        "Abcd efgh123!",  # a space
        "Abcdefgh123!한",  # Hangul
        12345678901234,
        "",
    ],
)
def test_invalid_passwords(client, password):
    resp = register(client, password=password)
    assert resp.status_code == 400
    assert resp.json == INVALID_PASSWORD


@pytest.mark.parametrize(
    "email", ["plain", "a@b", "a b@example.com", "@example.com", "a@@example.com", "", 5]
)
def test_invalid_emails(client, email):
    resp = register(client, email=email)
    assert resp.status_code == 400
    assert resp.json == INVALID_EMAIL


def test_email_is_checked_before_password_before_nickname(client):
    assert register(client, email="bad", password="bad", username="bad name").json == INVALID_EMAIL
    assert register(client, password="bad", username="bad name").json == INVALID_PASSWORD


@pytest.mark.parametrize("missing", ["email", "password", "username"])
def test_missing_fields_get_their_field_text(client, missing):
    body = {"email": unique_email(), "password": RABBIT_PASSWORD, "username": "토끼"}
    del body[missing]
    resp = client.simulate_post("/api/user/register", json=body)
    assert resp.status_code == 400
    assert (
        resp.json
        == {
            "email": INVALID_EMAIL,
            "password": INVALID_PASSWORD,
            "username": INVALID_USERNAME,
        }[missing]
    )


def test_duplicate_email_whatever_its_case(client):
    assert register(client, email="Twice@Example.com").status_code == 201
    resp = register(client, email="twice@example.COM", username="다른")
    assert resp.status_code == 400
    assert resp.json == {"error": "중복된 이메일입니다."}


def test_an_email_used_on_zellyy_is_taken_here_too(client, zellyy_signup):
    account = zellyy_signup()
    resp = register(client, email=account.email)
    assert resp.json == {"error": "중복된 이메일입니다."}


# --- confirmation link ----------------------------------------------------------------------


def confirm(client, path):
    resp = client.simulate_get(path)
    assert resp.status_code == 303
    return resp.headers["location"]


def test_login_is_refused_until_the_email_is_confirmed(client, confirm_link):
    email = unique_email()
    register(client, email=email)
    body = {"email": email, "password": RABBIT_PASSWORD}
    refused = client.simulate_post("/api/user/login", json=body)
    assert refused.status_code == 400
    assert refused.json == {"error": "이메일 인증이 되지 않은 계정입니다."}

    assert confirm(client, confirm_link(user_id_of(email))) == "http://frontend.test/signup/done"
    assert client.simulate_post("/api/user/login", json=body).status_code == 200


def test_confirming_twice_still_lands_on_done(client, confirm_link):
    email = unique_email()
    register(client, email=email)
    link = confirm_link(user_id_of(email))
    assert confirm(client, link).endswith("/signup/done")
    assert confirm(client, link).endswith("/signup/done")


def test_a_tampered_link_fails(client, confirm_link):
    email = unique_email()
    register(client, email=email)
    link = confirm_link(user_id_of(email))
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert confirm(client, tampered) == "http://frontend.test/signup/fail"
    assert client.simulate_post(
        "/api/user/login", json={"email": email, "password": RABBIT_PASSWORD}
    ).json == {"error": "이메일 인증이 되지 않은 계정입니다."}


def test_an_expired_link_fails(client, confirm_link):
    email = unique_email()
    register(client, email=email)
    assert confirm(client, confirm_link(user_id_of(email), ttl=-60)).endswith("/signup/fail")


def test_another_users_link_fails(client, confirm_link):
    ann, bob = unique_email(), unique_email()
    register(client, email=ann)
    register(client, email=bob)
    token = confirm_link(user_id_of(ann)).rsplit("/", 1)[1]
    assert confirm(client, f"/api/confirm-user/{user_id_of(bob)}/{token}").endswith("/signup/fail")
    login = client.simulate_post(
        "/api/user/login", json={"email": bob, "password": RABBIT_PASSWORD}
    )
    assert login.status_code == 400


def test_an_access_token_is_not_a_confirmation_token(client, rabbit_register):
    email = unique_email()
    register(client, email=email)
    other = rabbit_register()
    path = f"/api/confirm-user/{user_id_of(email)}/{other.access_token}"
    assert confirm(client, path).endswith("/signup/fail")


@pytest.mark.parametrize("user_id", ["999999", "abc", "-1", "0"])
def test_links_for_no_such_user_fail(client, confirm_link, user_id):
    token = confirm_link(1).rsplit("/", 1)[1]
    assert confirm(client, f"/api/confirm-user/{user_id}/{token}").endswith("/signup/fail")


# --- login, tokens, refresh -----------------------------------------------------------------


def test_login_answers_a_token_pair_with_the_nickname(client, rabbit_register):
    account = rabbit_register(username="깡총")
    claims = claims_of(account.access_token)
    assert claims["sub"] == str(account.id)
    assert claims["username"] == "깡총"
    assert claims["aud"] == "money-for-rabbit"
    assert claims["type"] == "access"
    assert {"exp", "iat", "nbf", "jti", "sid"} <= set(claims)


def test_wrong_email_and_wrong_password_get_the_same_401(client, rabbit_register):
    account = rabbit_register()
    wrong_password = client.simulate_post(
        "/api/user/login", json={"email": account.email, "password": "Wrongpass123!"}
    )
    wrong_email = client.simulate_post(
        "/api/user/login", json={"email": unique_email(), "password": account.password}
    )
    for resp in (wrong_password, wrong_email):
        assert resp.status_code == 401
        assert resp.json == BAD_CREDENTIALS


def test_login_email_is_case_insensitive(client, rabbit_register):
    account = rabbit_register(email="Case@Example.com")
    resp = client.simulate_post(
        "/api/user/login", json={"email": "CASE@example.com", "password": account.password}
    )
    assert resp.status_code == 200


def refresh(client, token):
    return client.simulate_post("/api/user/refresh", headers=bearer(token))


def test_refresh_takes_the_refresh_token_as_bearer(client, rabbit_register):
    account = rabbit_register(username="깡총")
    resp = refresh(client, account.refresh_token)
    assert resp.status_code == 200
    assert set(resp.json) == {"access_token", "refresh_token"}
    claims = claims_of(resp.json["access_token"])
    assert claims["username"] == "깡총" and claims["sub"] == str(account.id)
    assert claims["sid"] == claims_of(account.access_token)["sid"]


REFRESH_REUSED = {"error": "refresh token 은 2회 이상 사용될 수 없습니다."}


def test_a_refresh_token_works_once(client, rabbit_register):
    account = rabbit_register()
    assert refresh(client, account.refresh_token).status_code == 200
    again = refresh(client, account.refresh_token)
    assert again.status_code == 401
    assert again.json == REFRESH_REUSED


def test_reuse_within_the_interval_ends_nothing(client, rabbit_register):
    """The web app refreshes once per failed request: two that expired together send one token."""
    account = rabbit_register()
    winner = refresh(client, account.refresh_token).json
    spent_earlier(account.refresh_token, 5)
    loser = refresh(client, account.refresh_token)
    assert loser.status_code == 401 and loser.json == REFRESH_REUSED
    assert rename(client, account, "새이름", token=winner["access_token"]).status_code == 200
    assert refresh(client, winner["refresh_token"]).status_code == 200


def test_reuse_after_the_interval_ends_the_session(client, rabbit_register):
    account = rabbit_register()
    successor = refresh(client, account.refresh_token).json
    spent_earlier(account.refresh_token, 11)
    replay = refresh(client, account.refresh_token)
    assert replay.status_code == 401 and replay.json == REFRESH_REUSED
    assert refresh(client, successor["refresh_token"]).status_code == 401
    resp = rename(client, account, "새이름", token=successor["access_token"])
    assert resp.status_code == 401 and resp.json == TOKEN_INVALID


def test_tokens_live_three_and_seven_days(client, rabbit_register, zellyy_signup):
    from pony import orm

    from models.sessions import RefreshToken, _hash

    account = rabbit_register()
    claims = claims_of(account.access_token)
    assert claims["exp"] - claims["iat"] == 3 * 24 * 3600
    renewed = refresh(client, account.refresh_token).json
    renewed_claims = claims_of(renewed["access_token"])
    assert renewed_claims["exp"] - renewed_claims["iat"] == 3 * 24 * 3600
    zellyy = claims_of(zellyy_signup().access_token)
    assert zellyy["exp"] - zellyy["iat"] == 3600  # Zellyy keeps its hour
    with orm.db_session:
        for token in (account.refresh_token, renewed["refresh_token"]):
            row = RefreshToken.get(token_hash=_hash(token))
            assert (row.expires_at - row.created_at).total_seconds() == 7 * 24 * 3600


def test_a_three_day_token_still_dies_with_its_session(client, rabbit_register):
    account = rabbit_register(username="애니")
    refresh(client, account.refresh_token)
    spent_earlier(account.refresh_token, 60)
    refresh(client, account.refresh_token)  # a replay: the session ends at once
    resp = rename(client, account, "새이름")
    assert resp.status_code == 401 and resp.json == TOKEN_INVALID


def test_refresh_without_a_token(client):
    resp = client.simulate_post("/api/user/refresh")
    assert resp.status_code == 401
    assert resp.json == TOKEN_MISSING


def test_refresh_with_an_access_token_or_a_zellyy_refresh_token(
    client, rabbit_register, zellyy_signup
):
    account = rabbit_register()
    zellyy = zellyy_signup()
    for token in (account.access_token, zellyy.refresh_token, "garbage"):
        resp = refresh(client, token)
        assert resp.status_code == 401
        assert resp.json == TOKEN_INVALID
    # The Zellyy refresh token was not spent by the attempt.
    assert client.simulate_post(
        "/api/v1/auth/refresh", json={"refresh_token": zellyy.refresh_token}
    ).status_code == (200)


def test_concurrent_refreshes_exactly_one_wins_and_keeps_its_tokens(client, rabbit_register):
    from helpers import at_once

    account = rabbit_register()
    results = at_once([lambda: refresh(client, account.refresh_token)] * 16)
    assert sorted(r.status_code for r in results) == [200] + [401] * 15
    for r in results:
        if r.status_code == 401:
            assert r.json == REFRESH_REUSED
    [winner] = [r.json for r in results if r.status_code == 200]
    assert rename(client, account, "새이름", token=winner["access_token"]).status_code == 200
    assert refresh(client, winner["refresh_token"]).status_code == 200


# --- token errors on an authenticated route ------------------------------------------------


def rename(client, account, username, token=None, user_id=None):
    return client.simulate_put(
        f"/api/user/{user_id or account.id}",
        json={"username": username},
        headers=bearer(token or account.access_token),
    )


def test_no_token(client, rabbit_register):
    account = rabbit_register()
    resp = client.simulate_put(f"/api/user/{account.id}", json={"username": "새이름"})
    assert resp.status_code == 401
    assert resp.json == TOKEN_MISSING


def test_expired_token(client, config, rabbit_register):
    account = rabbit_register()
    claims = {**claims_of(account.access_token), "exp": now() - 60, "iat": now() - 4000}
    resp = rename(client, account, "새이름", token=sign(claims, config.secret_key))
    assert resp.status_code == 401
    assert resp.json == TOKEN_EXPIRED


def test_a_zellyy_token_is_refused_here(client, rabbit_register, zellyy_signup):
    account = rabbit_register()
    zellyy = zellyy_signup(email=unique_email())
    resp = rename(client, account, "새이름", token=zellyy.access_token)
    assert resp.status_code == 401
    assert resp.json == TOKEN_INVALID


@pytest.mark.parametrize("variant", ["alg_none", "wrong_key", "refresh_type", "no_sid", "garbage"])
def test_bad_tokens(client, config, rabbit_register, variant):
    account = rabbit_register()
    claims = claims_of(account.access_token)
    token = {
        "alg_none": lambda: unsigned(claims),
        "wrong_key": lambda: sign(claims, "k" * 64),
        "refresh_type": lambda: sign({**claims, "type": "refresh"}, config.secret_key),
        "no_sid": lambda: sign({k: v for k, v in claims.items() if k != "sid"}, config.secret_key),
        "garbage": lambda: "not.a.jwt",
    }[variant]()
    resp = rename(client, account, "새이름", token=token)
    assert resp.status_code == 401
    assert resp.json == TOKEN_INVALID


def test_sub_must_be_the_integer_id_as_a_string(client, config, rabbit_register):
    account = rabbit_register()
    other = rabbit_register()
    claims = claims_of(account.access_token)
    for sub in (str(other.id), account.id, f"{account.id}.0"):
        resp = rename(
            client, account, "새이름", token=sign({**claims, "sub": sub}, config.secret_key)
        )
        assert resp.status_code == 401, sub


# --- profile --------------------------------------------------------------------------------


def test_profile_is_public(client, rabbit_register):
    account = rabbit_register(username="깡총")
    resp = client.simulate_get(f"/api/user/{account.id}")
    assert resp.status_code == 200
    assert resp.json == {"user_info": {"username": "깡총", "total_amount": 0}}


@pytest.mark.parametrize(
    "user_id",
    ["999999", "abc", "-1", "1.5", "١", "99999999999999999999999", "0x1", "%20", "2147483648"],
)
def test_unknown_or_non_integer_ids_are_404(client, rabbit_register, user_id):
    rabbit_register()
    resp = client.simulate_get(f"/api/user/{user_id}")
    assert resp.status_code == 404
    assert resp.json == {"error": "사용자를 찾을 수 없습니다."}


def test_rename_own_nickname(client, rabbit_register):
    account = rabbit_register()
    resp = rename(client, account, "새이름")
    assert resp.status_code == 200
    assert resp.json == {"success": "닉네임이 새이름 으로 변경되었습니다."}
    assert client.simulate_get(f"/api/user/{account.id}").json["user_info"]["username"] == "새이름"
    # The next token carries the new nickname.
    fresh = refresh(client, account.refresh_token).json["access_token"]
    assert claims_of(fresh)["username"] == "새이름"


def test_rename_someone_else_is_403(client, rabbit_register):
    ann, bob = rabbit_register(username="애니"), rabbit_register(username="바비")
    resp = rename(client, ann, "해커", user_id=bob.id)
    assert resp.status_code == 403
    assert resp.json == {"error": "권한이 없습니다."}
    assert client.simulate_get(f"/api/user/{bob.id}").json["user_info"]["username"] == "바비"


def test_rename_unknown_user_is_404(client, rabbit_register):
    account = rabbit_register()
    resp = rename(client, account, "새이름", user_id="999999")
    assert resp.status_code == 404
    assert resp.json == {"error": "사용자를 찾을 수 없습니다."}


@pytest.mark.parametrize("username", ["a", "너무긴닉네임", "a b", 5, None])
def test_rename_follows_the_nickname_rules(client, rabbit_register, username):
    account = rabbit_register()
    resp = rename(client, account, username)
    assert resp.status_code == 400
    assert resp.json == INVALID_USERNAME


# --- withdraw -------------------------------------------------------------------------------


def withdraw(client, account, username, token=None):
    return client.simulate_delete(
        "/api/user/withdraw",
        json={"username": username},
        headers=bearer(token or account.access_token),
    )


def test_withdraw_needs_the_callers_own_nickname(client, rabbit_register):
    ann, bob = rabbit_register(username="애니"), rabbit_register(username="바비")
    for username in ("바비", "애니애니", ""):
        resp = withdraw(client, ann, username)
        assert resp.status_code == 400
        assert resp.json == {"error": "잘못된 접근입니다."}
    resp = client.simulate_delete("/api/user/withdraw", json={}, headers=ann.headers)
    assert resp.status_code == 400 and resp.json == {"error": "잘못된 접근입니다."}
    assert client.simulate_get(f"/api/user/{ann.id}").status_code == 200
    assert client.simulate_get(f"/api/user/{bob.id}").status_code == 200


def test_withdraw_removes_the_account_and_its_tokens(client, rabbit_register):
    account = rabbit_register(username="애니")
    second = client.simulate_post(
        "/api/user/login", json={"email": account.email, "password": account.password}
    ).json
    resp = withdraw(client, account, "애니")
    assert resp.status_code == 204
    assert resp.text == ""
    assert client.simulate_get(f"/api/user/{account.id}").status_code == 404
    for token in (account.access_token, second["access_token"]):
        gone = rename(client, account, "새이름", token=token)
        assert gone.status_code == 401 and gone.json == TOKEN_INVALID
    assert refresh(client, second["refresh_token"]).status_code == 401
    login = client.simulate_post(
        "/api/user/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 401 and login.json == BAD_CREDENTIALS
    # The email is free again.
    assert register(client, email=account.email).status_code == 201


def test_withdraw_without_a_token(client):
    resp = client.simulate_delete("/api/user/withdraw", json={"username": "애니"})
    assert resp.status_code == 401
    assert resp.json == TOKEN_MISSING

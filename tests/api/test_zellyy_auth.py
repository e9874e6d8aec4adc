"""Zellyy sign-up, login, refresh and logout (seed 인증 API)."""

import pytest
from fixtures.accounts import ZELLYY_PASSWORD, bearer, claims_of, spent_earlier, unique_email
from helpers import at_once

PREFIXES = ["/api/v1", "/api"]


def error_code(resp) -> str:
    return resp.json["error"]["code"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_signup_answers_the_user_and_a_session(client, prefix):
    email = unique_email()
    resp = client.simulate_post(
        f"{prefix}/auth/signup",
        json={"email": email, "password": "password1", "username": "ann"},
    )
    assert resp.status_code == 200
    assert set(resp.json) == {"user", "session"}
    user, session = resp.json["user"], resp.json["session"]
    assert set(user) == {"id", "email", "username"}
    assert user["email"] == email and user["username"] == "ann"
    assert set(session) == {"access_token", "refresh_token", "expires_at"}
    claims = claims_of(session["access_token"])
    assert claims["sub"] == user["id"]
    assert claims["aud"] == "zellyy"
    assert claims["type"] == "access"
    assert {"exp", "iat", "nbf", "jti", "sid"} <= set(claims)
    assert session["expires_at"] == claims["exp"]
    assert isinstance(session["expires_at"], int)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_login_answers_the_same_shape(client, zellyy_signup, prefix):
    account = zellyy_signup()
    resp = client.simulate_post(
        f"{prefix}/auth/login", json={"email": account.email, "password": account.password}
    )
    assert resp.status_code == 200
    assert resp.json["user"]["id"] == account.id
    assert set(resp.json["session"]) == {"access_token", "refresh_token", "expires_at"}
    # A new login is a new session.
    assert (
        claims_of(resp.json["session"]["access_token"])["sid"]
        != (claims_of(account.access_token)["sid"])
    )


def test_login_email_is_case_insensitive(client, zellyy_signup):
    account = zellyy_signup(email="Mixed.Case@Example.com")
    resp = client.simulate_post(
        "/api/v1/auth/login", json={"email": "mixed.case@EXAMPLE.COM", "password": ZELLYY_PASSWORD}
    )
    assert resp.status_code == 200
    assert resp.json["user"]["id"] == account.id
    assert resp.json["user"]["email"] == "Mixed.Case@Example.com"


def test_duplicate_email_is_a_conflict_whatever_its_case(client, zellyy_signup):
    zellyy_signup(email="dup@example.com")
    resp = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": "DUP@Example.COM", "password": "password2", "username": "bob"},
    )
    assert resp.status_code == 409
    assert error_code(resp) == "conflict"


def test_wrong_password_and_unknown_email_are_the_same_401(client, zellyy_signup):
    account = zellyy_signup()
    wrong_password = client.simulate_post(
        "/api/v1/auth/login", json={"email": account.email, "password": "not it at all"}
    )
    unknown = client.simulate_post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "not it at all"}
    )
    for resp in (wrong_password, unknown):
        assert resp.status_code == 401
        assert error_code(resp) == "invalid_credentials"
    assert wrong_password.json == unknown.json


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": "password1", "username": "a"}, "email"),
        ({"email": "a@example.com", "password": "short", "username": "a"}, "password"),
        ({"email": "a@example.com", "password": "x" * 129, "username": "a"}, "password"),
        ({"email": "a@example.com", "password": "password1", "username": ""}, "username"),
        ({"email": "a@example.com", "password": "password1", "username": "u" * 51}, "username"),
        ({"email": "a@example.com", "password": "password1", "username": "a\nb"}, "username"),
        ({"email": "a@example.com", "password": "password1"}, "username"),
    ],
)
def test_signup_rules(client, body, field):
    resp = client.simulate_post("/api/v1/auth/signup", json=body)
    assert resp.status_code == 400
    assert error_code(resp) == "invalid_request"
    assert field in resp.json["error"]["details"]


def test_signup_accepts_the_bounds(client):
    resp = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": unique_email(), "password": "x" * 128, "username": "유" * 50},
    )
    assert resp.status_code == 200


# --- refresh rotation ---------------------------------------------------------------------


def refresh(client, token: str, prefix: str = "/api/v1"):
    return client.simulate_post(f"{prefix}/auth/refresh", json={"refresh_token": token})


@pytest.mark.parametrize("prefix", PREFIXES)
def test_refresh_rotates_within_the_session(client, zellyy_signup, prefix):
    account = zellyy_signup()
    resp = refresh(client, account.refresh_token, prefix)
    assert resp.status_code == 200
    assert set(resp.json) == {"access_token", "refresh_token", "expires_at"}
    assert resp.json["refresh_token"] != account.refresh_token
    new_claims = claims_of(resp.json["access_token"])
    assert new_claims["sid"] == claims_of(account.access_token)["sid"]
    me = client.simulate_get("/api/v1/users/me", headers=bearer(resp.json["access_token"]))
    assert me.status_code == 200


def me_status(client, access: str) -> int:
    return client.simulate_get("/api/v1/users/me", headers=bearer(access)).status_code


def test_a_spent_refresh_token_is_refused_and_ends_nothing_within_the_interval(
    client, zellyy_signup
):
    """Two requests that expired together each refresh with the same token."""
    account = zellyy_signup()
    winner = refresh(client, account.refresh_token)
    assert winner.status_code == 200
    again = refresh(client, account.refresh_token)
    assert again.status_code == 401
    assert error_code(again) == "invalid_credentials"
    spent_earlier(account.refresh_token, 5)  # still within the default 10 s
    assert refresh(client, account.refresh_token).status_code == 401

    assert me_status(client, winner.json["access_token"]) == 200
    successor = refresh(client, winner.json["refresh_token"])
    assert successor.status_code == 200
    assert me_status(client, successor.json["access_token"]) == 200


def test_reuse_after_the_interval_revokes_the_whole_session(client, zellyy_signup):
    account = zellyy_signup()
    first = refresh(client, account.refresh_token).json
    second = refresh(client, first["refresh_token"]).json
    spent_earlier(account.refresh_token, 11)

    # Someone replays the very first token: the session ends, for everyone holding it.
    replay = refresh(client, account.refresh_token)
    assert replay.status_code == 401
    assert error_code(replay) == "invalid_credentials"

    for access in (account.access_token, first["access_token"], second["access_token"]):
        resp = client.simulate_get("/api/v1/users/me", headers=bearer(access))
        assert resp.status_code == 401
        assert error_code(resp) == "authentication_required"
    successor = refresh(client, second["refresh_token"])
    assert successor.status_code == 401


def test_without_an_interval_any_reuse_revokes(config, zellyy_signup):
    from dataclasses import replace

    from contract import CheckedClient

    from api.app import create_app

    strict = CheckedClient(create_app(replace(config, refresh_reuse_interval=0)))
    account = zellyy_signup()
    winner = refresh(strict, account.refresh_token).json
    assert refresh(strict, account.refresh_token).status_code == 401
    assert me_status(strict, winner["access_token"]) == 401


def test_reuse_revokes_only_that_session(client, zellyy_signup):
    account = zellyy_signup()
    other = client.simulate_post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    ).json["session"]
    refresh(client, account.refresh_token)
    spent_earlier(account.refresh_token, 60)
    refresh(client, account.refresh_token)
    assert me_status(client, account.access_token) == 401
    assert me_status(client, other["access_token"]) == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["", "x" * 513, "never-issued"])
def test_unknown_or_malformed_refresh_tokens_are_refused(client, token):
    resp = refresh(client, token)
    assert resp.status_code in (400, 401)
    assert "error" in resp.json


def test_expired_refresh_token_is_refused(client, zellyy_signup):
    from datetime import timedelta

    from pony import orm

    from models.sessions import RefreshToken, _hash

    account = zellyy_signup()
    with orm.db_session:
        row = RefreshToken.get(token_hash=_hash(account.refresh_token))
        row.expires_at = row.created_at - timedelta(seconds=1)
    resp = refresh(client, account.refresh_token)
    assert resp.status_code == 401


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_refreshes_of_one_token_exactly_one_wins(client, zellyy_signup, round_):
    account = zellyy_signup()
    results = at_once([lambda: refresh(client, account.refresh_token)] * 16)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 15, [r.text for r in results]
    for r in results:
        if r.status_code == 401:
            assert error_code(r) == "invalid_credentials"
    # The losers ended nothing: the winner's tokens work.
    [winner] = [r.json for r in results if r.status_code == 200]
    assert me_status(client, winner["access_token"]) == 200
    assert refresh(client, winner["refresh_token"]).status_code == 200
    # No loser was issued a token: the session holds the spent one and the winner's, then one more.
    from pony import orm

    from models.sessions import RefreshToken, _hash

    with orm.db_session:
        session = RefreshToken.get(token_hash=_hash(account.refresh_token)).session
        assert session.refresh_tokens.count() == 3


# --- logout ---------------------------------------------------------------------------------


def login(client, account):
    resp = client.simulate_post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    return resp.json["session"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_logout_default_scope_is_this_session_only(client, zellyy_signup, prefix):
    account = zellyy_signup()
    other = login(client, account)
    resp = client.simulate_post(f"{prefix}/auth/logout", headers=account.headers)
    assert resp.status_code == 200
    assert resp.json == {"message": "Successfully logged out"}
    assert me_status(client, account.access_token) == 401
    assert refresh(client, account.refresh_token).status_code == 401
    assert me_status(client, other["access_token"]) == 200


def test_logout_local_scope(client, zellyy_signup):
    account = zellyy_signup()
    other = login(client, account)
    resp = client.simulate_post(
        "/api/v1/auth/logout", params={"scope": "local"}, headers=account.headers
    )
    assert resp.status_code == 200
    assert me_status(client, account.access_token) == 401
    assert me_status(client, other["access_token"]) == 200


def test_logout_global_ends_every_session(client, zellyy_signup):
    account = zellyy_signup()
    others = [login(client, account) for _ in range(2)]
    stranger = zellyy_signup()
    resp = client.simulate_post(
        "/api/v1/auth/logout", params={"scope": "global"}, headers=account.headers
    )
    assert resp.status_code == 200
    for access in [account.access_token] + [o["access_token"] for o in others]:
        assert me_status(client, access) == 401
    for o in others:
        assert refresh(client, o["refresh_token"]).status_code == 401
    assert me_status(client, stranger.access_token) == 200


def test_logout_others_keeps_this_session(client, zellyy_signup):
    account = zellyy_signup()
    others = [login(client, account) for _ in range(2)]
    resp = client.simulate_post(
        "/api/v1/auth/logout", params={"scope": "others"}, headers=account.headers
    )
    assert resp.status_code == 200
    assert me_status(client, account.access_token) == 200
    assert refresh(client, account.refresh_token).status_code == 200
    for o in others:
        assert me_status(client, o["access_token"]) == 401


@pytest.mark.parametrize("scope", ["everything", "", "LOCAL", "local%00"])
def test_logout_with_an_unknown_scope_is_400(client, zellyy_signup, scope):
    account = zellyy_signup()
    resp = client.simulate_post(
        "/api/v1/auth/logout", query_string=f"scope={scope}", headers=account.headers
    )
    assert resp.status_code == 400
    assert error_code(resp) == "invalid_request"
    assert "scope" in resp.json["error"]["details"]
    assert me_status(client, account.access_token) == 200


def test_logout_needs_a_token(client):
    resp = client.simulate_post("/api/v1/auth/logout")
    assert resp.status_code == 401
    assert error_code(resp) == "authentication_required"
    assert resp.headers["www-authenticate"] == "Bearer"


def test_logging_out_twice_is_refused_the_second_time(client, zellyy_signup):
    account = zellyy_signup()
    assert client.simulate_post("/api/v1/auth/logout", headers=account.headers).status_code == 200
    again = client.simulate_post("/api/v1/auth/logout", headers=account.headers)
    assert again.status_code == 401


# --- secrets --------------------------------------------------------------------------------


def test_no_response_carries_a_password_or_a_stored_hash(client, confirm_link):
    from pony import orm

    from models.events import Event
    from models.sessions import RefreshToken
    from models.users import User

    texts = []

    def keep(resp):
        texts.append(resp.text)
        return resp

    z_email, r_email = unique_email(), unique_email()
    z_password, r_password = "zellyy secret pw", "Rabbitsecret1!"
    signup = keep(
        client.simulate_post(
            "/api/v1/auth/signup",
            json={"email": z_email, "password": z_password, "username": "ann"},
        )
    ).json
    headers = bearer(signup["session"]["access_token"])
    keep(client.simulate_post("/api/v1/auth/login", json={"email": z_email, "password": "no"}))
    keep(
        client.simulate_post("/api/v1/auth/login", json={"email": z_email, "password": z_password})
    )
    keep(client.simulate_get("/api/v1/users/me", headers=headers))
    keep(client.simulate_patch("/api/v1/users/me", json={"display_name": "A"}, headers=headers))
    rotated = keep(refresh(client, signup["session"]["refresh_token"])).json
    keep(refresh(client, signup["session"]["refresh_token"]))
    keep(client.simulate_post("/api/v1/auth/logout", headers=bearer(rotated["access_token"])))

    body = {"email": r_email, "password": r_password, "username": "토끼"}
    keep(client.simulate_post("/api/user/register", json=body))
    keep(client.simulate_post("/api/user/register", json=body))
    keep(client.simulate_post("/api/user/login", json=body))
    with orm.db_session:
        rabbit_id = User.get(email=r_email).id
    keep(client.simulate_get(confirm_link(rabbit_id)))
    pair = keep(client.simulate_post("/api/user/login", json=body)).json
    keep(client.simulate_post("/api/user/refresh", headers=bearer(pair["refresh_token"])))
    keep(client.simulate_get(f"/api/user/{rabbit_id}"))
    keep(client.simulate_put(f"/api/user/{rabbit_id}", json={"username": "깡총"}))

    with orm.db_session:
        password_hashes = [u.password_hash for u in User.select()]
        token_hashes = [t.token_hash for t in RefreshToken.select()]
        events = [e.payload() for e in Event.select()]
    assert len(password_hashes) == 2 and len(token_hashes) >= 4
    secrets = [z_password, r_password, "$argon2", *password_hashes, *token_hashes]
    for text in texts + [str(event) for event in events]:
        for secret in secrets:
            assert secret not in text

"""Zellyy's GET/PATCH /users/me, and which tokens it accepts."""

import re
import uuid

import pytest
from fixtures.accounts import bearer, claims_of, now, sign, unsigned

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
PREFIXES = ["/api/v1", "/api"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_me_shows_the_profile(client, zellyy_signup, prefix):
    account = zellyy_signup(username="ann")
    resp = client.simulate_get(f"{prefix}/users/me", headers=account.headers)
    assert resp.status_code == 200
    assert set(resp.json) == {
        "id",
        "email",
        "username",
        "display_name",
        "avatar_url",
        "is_premium",
        "premium_until",
        "email_confirmed_at",
        "created_at",
    }
    assert resp.json["id"] == account.id
    uuid.UUID(resp.json["id"])
    assert resp.json["email"] == account.email
    assert resp.json["username"] == "ann"
    assert resp.json["display_name"] is None and resp.json["avatar_url"] is None
    assert resp.json["is_premium"] is False and resp.json["premium_until"] is None
    assert RFC3339_UTC.match(resp.json["created_at"])
    assert resp.json["email_confirmed_at"] is None  # until the mailed link is followed


def patch_me(client, account, body, prefix="/api/v1"):
    return client.simulate_patch(f"{prefix}/users/me", json=body, headers=account.headers)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_patch_changes_and_answers_updated_at(client, zellyy_signup, prefix):
    account = zellyy_signup()
    body = {"display_name": "Ann B.", "avatar_url": "https://example.com/a.jpg"}
    resp = patch_me(client, account, body, prefix)
    assert resp.status_code == 200
    assert set(resp.json) == {
        "id",
        "email",
        "username",
        "display_name",
        "avatar_url",
        "updated_at",
    }
    assert resp.json["display_name"] == "Ann B."
    assert resp.json["avatar_url"] == "https://example.com/a.jpg"
    assert RFC3339_UTC.match(resp.json["updated_at"])
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert me["display_name"] == "Ann B." and me["avatar_url"] == "https://example.com/a.jpg"
    assert resp.json["updated_at"] >= me["created_at"]


def test_updated_at_moves_on_each_change(client, zellyy_signup):
    from datetime import datetime

    from pony import orm

    from models import db
    from models.users import User

    account = zellyy_signup()
    old = datetime(2020, 1, 1)
    with orm.db_session:  # raw SQL: the entity's before_update hook would move it to now
        db.execute("UPDATE users SET updated_at = $old", {"old": old})
    assert client.simulate_get("/api/v1/users/me", headers=account.headers).status_code == 200
    resp = patch_me(client, account, {"display_name": "one"})
    assert resp.json["updated_at"] > "2020-01-01T00:00:00Z"
    with orm.db_session:
        stored = User.get(public_id=uuid.UUID(account.id)).updated_at
    assert stored > old
    assert resp.json["updated_at"] == stored.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_patch_only_touches_the_fields_it_names(client, zellyy_signup):
    account = zellyy_signup()
    patch_me(client, account, {"display_name": "Ann", "avatar_url": "http://example.com/x.png"})
    resp = patch_me(client, account, {"display_name": "Anna"})
    assert resp.json["avatar_url"] == "http://example.com/x.png"
    assert resp.json["display_name"] == "Anna"


def test_null_clears_and_empty_display_name_is_allowed(client, zellyy_signup):
    account = zellyy_signup()
    patch_me(client, account, {"display_name": "Ann", "avatar_url": "https://example.com/a.png"})
    resp = patch_me(client, account, {"display_name": "", "avatar_url": None})
    assert resp.status_code == 200
    assert resp.json["display_name"] == ""
    assert resp.json["avatar_url"] is None
    resp = patch_me(client, account, {"display_name": None})
    assert resp.json["display_name"] is None


def test_patch_accepts_the_bounds(client, zellyy_signup):
    account = zellyy_signup()
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    resp = patch_me(client, account, {"display_name": "가" * 50, "avatar_url": url})
    assert resp.status_code == 200
    assert resp.json["avatar_url"] == url


@pytest.mark.parametrize(
    "body, field",
    [
        ({"display_name": "x" * 51}, "display_name"),
        ({"display_name": 5}, "display_name"),
        ({"display_name": "tab\there"}, "display_name"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "not a url"}, "avatar_url"),
        ({"avatar_url": "https://"}, "avatar_url"),
        ({"avatar_url": "https://example.com/a b.png"}, "avatar_url"),
        ({"avatar_url": "https://example.com/a.png\n"}, "avatar_url"),
        ({"avatar_url": "https://example.com/a\u3000.png"}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 2030}, "avatar_url"),
        ({"avatar_url": ["https://example.com"]}, "avatar_url"),
    ],
)
def test_patch_rules(client, zellyy_signup, body, field):
    account = zellyy_signup()
    resp = patch_me(client, account, body)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    assert field in resp.json["error"]["details"]
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert me["display_name"] is None and me["avatar_url"] is None


def test_patch_ignores_fields_it_does_not_own(client, zellyy_signup):
    account = zellyy_signup()
    resp = patch_me(
        client,
        account,
        {"email": "hijack@example.com", "is_admin": True, "id": str(uuid.uuid4()), "x": 1},
    )
    assert resp.status_code == 200
    assert resp.json["email"] == account.email
    assert resp.json["id"] == account.id
    from pony import orm

    from models.users import User

    with orm.db_session:
        assert User.get(public_id=uuid.UUID(account.id)).is_admin is False


def test_a_user_sees_only_their_own_profile(client, zellyy_signup):
    ann, bob = zellyy_signup(), zellyy_signup()
    patch_me(client, bob, {"display_name": "Bob"})
    me = client.simulate_get("/api/v1/users/me", headers=ann.headers).json
    assert me["id"] == ann.id and me["display_name"] is None


# --- which tokens /users/me accepts ---------------------------------------------------------


def assert_refused(resp):
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "authentication_required"
    assert resp.headers["www-authenticate"] == "Bearer"


def me_with(client, token: str):
    return client.simulate_get("/api/v1/users/me", headers=bearer(token))


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"],
)
def test_missing_or_malformed_authorization(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert_refused(client.simulate_get("/api/v1/users/me", headers=headers))


def test_the_scheme_is_case_insensitive(client, zellyy_signup):
    account = zellyy_signup()
    resp = client.simulate_get(
        "/api/v1/users/me", headers={"Authorization": f"bearer {account.access_token}"}
    )
    assert resp.status_code == 200


def test_a_refresh_token_is_not_an_access_token(client, zellyy_signup):
    account = zellyy_signup()
    assert_refused(me_with(client, account.refresh_token))


def test_a_money_for_rabbit_token_is_refused(client, rabbit_register):
    rabbit = rabbit_register()
    assert_refused(me_with(client, rabbit.access_token))


def test_a_rabbit_token_re_audienced_without_the_key_is_refused(client, rabbit_register):
    rabbit = rabbit_register()
    claims = {**claims_of(rabbit.access_token), "aud": "zellyy"}
    assert_refused(me_with(client, sign(claims, "not the key of this service at all")))


def test_alg_none_is_refused(client, zellyy_signup):
    account = zellyy_signup()
    assert_refused(me_with(client, unsigned(claims_of(account.access_token))))


def test_a_token_signed_with_another_key_is_refused(client, zellyy_signup):
    account = zellyy_signup()
    assert_refused(me_with(client, sign(claims_of(account.access_token), "x" * 64)))


def test_a_tampered_payload_is_refused(client, zellyy_signup):
    account = zellyy_signup()
    head, _payload, signature = account.access_token.split(".")
    other = zellyy_signup()
    forged = ".".join([head, other.access_token.split(".")[1], signature])
    assert_refused(me_with(client, forged))


def test_an_expired_token_is_refused(client, config, zellyy_signup):
    account = zellyy_signup()
    claims = {**claims_of(account.access_token), "iat": now() - 7200, "nbf": now() - 7200}
    claims["exp"] = now() - 60
    assert_refused(me_with(client, sign(claims, config.secret_key)))


def test_a_token_not_yet_valid_is_refused(client, config, zellyy_signup):
    account = zellyy_signup()
    claims = {**claims_of(account.access_token), "nbf": now() + 600}
    assert_refused(me_with(client, sign(claims, config.secret_key)))


@pytest.mark.parametrize("claim", ["sub", "aud", "exp", "iat", "nbf", "jti", "sid", "type"])
def test_a_token_missing_a_claim_is_refused(client, config, zellyy_signup, claim):
    account = zellyy_signup()
    claims = claims_of(account.access_token)
    del claims[claim]
    assert_refused(me_with(client, sign(claims, config.secret_key)))


def test_the_same_claims_re_signed_with_the_key_pass(client, config, zellyy_signup):
    """The control for the tests above: only the change they make is refused."""
    account = zellyy_signup()
    assert me_with(
        client, sign(claims_of(account.access_token), config.secret_key)
    ).status_code == (200)


@pytest.mark.parametrize("token_type", ["refresh", "email_confirm", "", None])
def test_a_token_whose_type_is_not_access_is_refused(client, config, zellyy_signup, token_type):
    account = zellyy_signup()
    claims = {**claims_of(account.access_token), "type": token_type}
    assert_refused(me_with(client, sign(claims, config.secret_key)))


@pytest.mark.parametrize("sid", ["not-a-uuid", 5, None, ["x"], str(uuid.uuid4())])
def test_a_token_with_a_bad_or_unknown_session_is_refused(client, config, zellyy_signup, sid):
    account = zellyy_signup()
    claims = {**claims_of(account.access_token), "sid": sid}
    assert_refused(me_with(client, sign(claims, config.secret_key)))


def test_a_token_naming_another_user_is_refused(client, config, zellyy_signup):
    ann, bob = zellyy_signup(), zellyy_signup()
    claims = {**claims_of(ann.access_token), "sub": bob.id}
    assert_refused(me_with(client, sign(claims, config.secret_key)))


def test_a_token_of_a_revoked_session_is_refused(client, zellyy_signup):
    account = zellyy_signup()
    client.simulate_post("/api/v1/auth/logout", headers=account.headers)
    assert_refused(me_with(client, account.access_token))


@pytest.mark.parametrize("token", ["a.b.c", "x" * 5000, "é.é.é", "..", "eyJ.eyJ.sig"])
def test_garbage_tokens_are_refused(client, token):
    assert_refused(me_with(client, token))

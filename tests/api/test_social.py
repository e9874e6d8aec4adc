"""Zellyy social accounts and share requests over HTTP, against the stand-in platforms."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from conftest import PLATFORMS_URL
from contract import CheckedClient
from fixtures.platforms import Reply
from pony import orm

from models.crypto import decrypt
from models.shares import Share
from models.social import SocialAccount
from models.users import User

PLATFORM_IDS = {"facebook": "page-100", "instagram": "ig-200", "twitter": "x-300"}


def connect(client, account, platform, token, **extra):
    return client.simulate_post(
        f"/api/v1/social/connect/{platform}",
        json={"access_token": token, **extra},
        headers=account.headers,
    )


def new_card(client, account, **fields) -> str:
    resp = client.simulate_post(
        "/api/v1/cards", json={"content": "Hello 안녕", **fields}, headers=account.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json["id"]


def stored_account(user_public_id: str, platform: str) -> SocialAccount | None:
    with orm.db_session:
        user = User.get(public_id=uuid.UUID(user_public_id))
        account = SocialAccount.get(user=user, platform=platform)
        if account is not None:
            account.load()
        return account


@pytest.fixture
def ann(zellyy_signup):
    return zellyy_signup(username="ann")


@pytest.fixture
def bob(zellyy_signup):
    return zellyy_signup(username="bob")


@pytest.mark.parametrize("platform", ["facebook", "instagram", "twitter"])
def test_connect_checks_the_token_with_the_platform_and_learns_the_account_id(
    client, platforms, ann, config, platform
):
    platforms.account(platform, f"{platform}-token", PLATFORM_IDS[platform])
    expires = int(time.time()) + 3600

    resp = connect(client, ann, platform, f"{platform}-token", expires_at=expires)

    assert resp.status_code == 200, resp.text
    assert resp.json == {
        "platform": platform,
        "connected": True,
        "platform_user_id": PLATFORM_IDS[platform],
        "expires_at": expires,
    }
    who_am_i = {
        "facebook": ("/facebook/me", {"fields": "id,name"}),
        "instagram": ("/instagram/me", {"fields": "id,username"}),
        "twitter": ("/twitter/2/users/me", {}),
    }[platform]
    [check] = platforms.requests("GET", who_am_i[0])
    assert check.query == who_am_i[1]
    assert check.headers["authorization"] == f"Bearer {platform}-token"


def test_accounts_list_shows_connections_without_tokens(client, platforms, ann, bob):
    platforms.account("facebook", "fb-token", "page-100")
    platforms.account("twitter", "x-token", "x-300")
    expires = int(time.time()) + 86400 * 30
    assert connect(client, ann, "facebook", "fb-token", expires_at=expires).status_code == 200
    assert connect(client, ann, "twitter", "x-token", refresh_token="x-refresh").status_code == 200

    resp = client.simulate_get("/api/v1/social/accounts", headers=ann.headers)

    assert resp.status_code == 200
    accounts = resp.json["accounts"]
    assert [a["platform"] for a in accounts] == ["facebook", "twitter"]
    facebook, twitter = accounts
    assert facebook["platform_user_id"] == "page-100"
    assert facebook["expires_at"] == expires
    assert facebook["needs_reconnect"] is False
    assert facebook["connected_at"].endswith("Z")
    assert twitter["expires_at"] is None
    assert "token" not in resp.text
    # The seed's path without the version answers the same.
    assert client.simulate_get("/api/social/accounts", headers=ann.headers).json == resp.json
    # Another user sees none of it.
    theirs = client.simulate_get("/api/v1/social/accounts", headers=bob.headers)
    assert theirs.json == {"accounts": []}


def test_tokens_are_stored_encrypted(client, platforms, ann, config):
    platforms.account("twitter", "x-secret-token", "x-300")
    connect(client, ann, "twitter", "x-secret-token", refresh_token="x-secret-refresh")

    stored = stored_account(ann.id, "twitter")

    assert "x-secret" not in stored.access_token_encrypted
    assert "x-secret" not in stored.refresh_token_encrypted
    assert decrypt(stored.access_token_encrypted, config.encryption_key) == "x-secret-token"
    assert decrypt(stored.refresh_token_encrypted, config.encryption_key) == "x-secret-refresh"


def test_reconnecting_replaces_the_tokens_and_clears_the_flag(client, platforms, ann, config):
    platforms.account("facebook", "old-token", "page-100")
    platforms.account("facebook", "new-token", "page-101")
    connect(client, ann, "facebook", "old-token")
    with orm.db_session:
        SocialAccount.get(platform="facebook").needs_reconnect = True

    resp = connect(client, ann, "facebook", "new-token")

    assert resp.status_code == 200
    assert resp.json["platform_user_id"] == "page-101"
    stored = stored_account(ann.id, "facebook")
    assert decrypt(stored.access_token_encrypted, config.encryption_key) == "new-token"
    assert stored.needs_reconnect is False
    with orm.db_session:
        assert SocialAccount.select().count() == 1


@pytest.mark.parametrize("platform", ["facebook", "instagram", "twitter"])
def test_a_token_the_platform_refuses_is_invalid_request(client, platforms, ann, platform):
    platforms.account(platform, "revoked", PLATFORM_IDS[platform])
    platforms.revoke("revoked")

    for token in ("unknown-token", "revoked"):
        resp = connect(client, ann, platform, token)
        assert resp.status_code == 400, resp.text
        assert resp.json["error"]["code"] == "invalid_request"
        assert "access_token" in resp.json["error"]["details"]
    assert stored_account(ann.id, platform) is None


@pytest.mark.parametrize("token", ["fb-token\n", "fb token", "fb-token\u00a0"])
def test_a_token_with_spaces_or_line_breaks_is_invalid_request(client, platforms, ann, token):
    platforms.account("facebook", "fb-token", "page-100")

    resp = connect(client, ann, "facebook", token)

    assert resp.status_code == 400
    # Refused by the schema, before the platform is asked.
    assert resp.json["error"]["details"] == {
        "access_token": "Must be a token: printable ASCII without spaces"
    }
    assert stored_account(ann.id, "facebook") is None


@pytest.mark.parametrize(
    "reply",
    [
        Reply(503, {"error": "down"}),
        Reply(500),
        Reply(drop=True),
        Reply(429, {}, {"Retry-After": "9"}),
    ],
    ids=["503", "500", "dropped", "429"],
)
def test_a_platform_that_does_not_answer_properly_is_upstream_unavailable(
    client, platforms, ann, reply
):
    platforms.account("facebook", "fb-token", "page-100")
    platforms.script("GET", "/facebook/me", reply)

    resp = connect(client, ann, "facebook", "fb-token")

    assert resp.status_code == 502
    assert resp.json["error"]["code"] == "upstream_unavailable"
    assert stored_account(ann.id, "facebook") is None


def test_a_platform_that_cannot_be_reached_is_upstream_unavailable(config, ann):
    with socket_closed_port() as port:
        cfg = dataclasses.replace(config, twitter_api_url=f"http://127.0.0.1:{port}/2")
        from api.app import create_app

        resp = CheckedClient(create_app(cfg)).simulate_post(
            "/api/v1/social/connect/twitter", json={"access_token": "x"}, headers=ann.headers
        )
    assert resp.status_code == 502
    assert resp.json["error"]["code"] == "upstream_unavailable"


class socket_closed_port:
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


def test_platform_roots_come_from_the_configuration(config):
    assert config.facebook_graph_url == f"{PLATFORMS_URL}/facebook"
    assert config.instagram_graph_url == f"{PLATFORMS_URL}/instagram"
    assert config.twitter_api_url == f"{PLATFORMS_URL}/twitter/2"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"access_token": 42}, "access_token"),
        ({"access_token": "has space"}, "access_token"),
        ({"access_token": "t", "expires_at": "tomorrow"}, "expires_at"),
        ({"access_token": "t", "expires_at": 10**15}, "expires_at"),
        ({"access_token": "t", "expires_at": 1_000_000}, "expires_at"),  # in the past
        ({"access_token": "t", "refresh_token": ["x"]}, "refresh_token"),
    ],
)
def test_connect_validates_its_body(client, platforms, ann, body, field):
    resp = client.simulate_post("/api/v1/social/connect/facebook", json=body, headers=ann.headers)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    assert field in resp.json["error"]["details"]
    assert platforms.requests("GET", "/facebook/me") == []


def test_unknown_platforms_are_not_found(client, platforms, ann):
    card_id = new_card(client, ann)
    for method, path in [
        ("POST", "/api/v1/social/connect/myspace"),
        ("DELETE", "/api/v1/social/connect/myspace"),
        ("POST", f"/api/v1/cards/{card_id}/share/myspace"),
    ]:
        resp = client.simulate_request(
            method, path, json={"access_token": "t"}, headers=ann.headers
        )
        assert resp.status_code == 404, (method, path)
        assert resp.json["error"]["code"] == "resource_not_found"


def test_social_routes_need_a_login(client, platforms):
    for method, path in [
        ("POST", "/api/v1/social/connect/facebook"),
        ("DELETE", "/api/v1/social/connect/facebook"),
        ("GET", "/api/v1/social/accounts"),
        ("POST", f"/api/v1/cards/{uuid.uuid4()}/share/facebook"),
        ("GET", f"/api/v1/cards/{uuid.uuid4()}/shares"),
    ]:
        resp = client.simulate_request(method, path, json={"access_token": "t"})
        assert resp.status_code == 401, (method, path)
        assert resp.json["error"]["code"] == "authentication_required"


def test_disconnect_removes_the_account(client, platforms, ann):
    platforms.account("instagram", "ig-token", "ig-200")
    connect(client, ann, "instagram", "ig-token")

    resp = client.simulate_delete("/api/v1/social/connect/instagram", headers=ann.headers)

    assert resp.status_code == 204
    assert client.simulate_get("/api/v1/social/accounts", headers=ann.headers).json == {
        "accounts": []
    }
    again = client.simulate_delete("/api/v1/social/connect/instagram", headers=ann.headers)
    assert again.status_code == 404
    assert again.json["error"]["code"] == "resource_not_found"


def test_share_is_accepted_as_pending_with_a_location(client, platforms, ann):
    platforms.account("facebook", "fb-token", "page-100")
    connect(client, ann, "facebook", "fb-token")
    card_id = new_card(client, ann)

    resp = client.simulate_post(
        f"/api/v1/cards/{card_id}/share/facebook",
        json={"message": "Check out my new card!"},
        headers=ann.headers,
    )

    assert resp.status_code == 202, resp.text
    share = resp.json
    assert share == {
        "id": share["id"],
        "card_id": card_id,
        "platform": "facebook",
        "status": "pending",
        "share_url": None,
        "shared_at": None,
        "error": None,
    }
    assert resp.headers["location"] == f"/api/v1/cards/{card_id}/shares/{share['id']}"
    read = client.simulate_get(resp.headers["location"], headers=ann.headers)
    assert read.status_code == 200
    assert read.json == share
    listed = client.simulate_get(f"/api/v1/cards/{card_id}/shares", headers=ann.headers)
    assert listed.json == {"shares": [share]}
    with orm.db_session:
        assert Share[uuid.UUID(share["id"])].message == "Check out my new card!"
    # The API itself never calls the platform to post.
    assert platforms.requests("POST", "/facebook/.*") == []


def test_share_without_a_body_and_under_the_seed_prefix(client, platforms, ann):
    platforms.account("twitter", "x-token", "x-300")
    connect(client, ann, "twitter", "x-token")
    card_id = new_card(client, ann)

    resp = client.simulate_post(f"/api/cards/{card_id}/share/twitter", headers=ann.headers)

    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == f"/api/cards/{card_id}/shares/{resp.json['id']}"


def test_share_to_a_platform_that_is_not_connected_is_refused(client, platforms, ann):
    card_id = new_card(client, ann)

    resp = client.simulate_post(f"/api/v1/cards/{card_id}/share/instagram", headers=ann.headers)

    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    assert "platform" in resp.json["error"]["details"]


def test_share_message_is_validated(client, platforms, ann):
    platforms.account("facebook", "fb-token", "page-100")
    connect(client, ann, "facebook", "fb-token")
    card_id = new_card(client, ann)
    for message in ("x" * 2001, 42, "nul\u0000"):
        resp = client.simulate_post(
            f"/api/v1/cards/{card_id}/share/facebook",
            json={"message": message},
            headers=ann.headers,
        )
        assert resp.status_code == 400, message
        assert "message" in resp.json["error"]["details"]


def test_other_users_cards_and_shares_are_not_found(client, platforms, ann, bob):
    platforms.account("facebook", "fb-token", "page-100")
    platforms.account("facebook", "bob-token", "page-999")
    connect(client, ann, "facebook", "fb-token")
    connect(client, bob, "facebook", "bob-token")
    card_id = new_card(client, ann)
    share = client.simulate_post(f"/api/v1/cards/{card_id}/share/facebook", headers=ann.headers)
    bobs_card = new_card(client, bob)
    share_path = f"/api/v1/cards/{card_id}/shares/{share.json['id']}"

    for method, path in [
        ("POST", f"/api/v1/cards/{card_id}/share/facebook"),
        ("GET", f"/api/v1/cards/{card_id}/shares"),
        ("GET", share_path),
    ]:
        resp = client.simulate_request(method, path, headers=bob.headers)
        assert resp.status_code == 404, (method, path)
        assert resp.json["error"]["code"] == "resource_not_found"
    # A share read through another card, or a malformed id, is not found either.
    for path in (
        f"/api/v1/cards/{bobs_card}/shares/{share.json['id']}",
        f"/api/v1/cards/{card_id}/shares/not-a-uuid",
        "/api/v1/cards/not-a-uuid/shares",
    ):
        resp = client.simulate_get(path, headers=ann.headers if card_id in path else bob.headers)
        assert resp.status_code == 404, path

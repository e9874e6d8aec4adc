"""What every answer carries: nosniff, no-store for tokens and personal data, HEAD beside GET."""

from __future__ import annotations

import io

import pytest
from fixtures.accounts import bearer

from api import openapi


def assert_secure(resp, cache_control: str = "no-store"):
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == cache_control


def test_answers_with_tokens_are_never_stored(client, zellyy_signup, rabbit_register):
    account = zellyy_signup()
    rabbit = rabbit_register()
    answers = [
        client.simulate_post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        ),
        client.simulate_post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}),
        client.simulate_post(
            "/api/user/login", json={"email": rabbit.email, "password": rabbit.password}
        ),
        client.simulate_post("/api/user/refresh", headers=bearer(rabbit.refresh_token)),
    ]
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert "refresh_token" in resp.text
        assert_secure(resp)


def test_answers_with_personal_data_are_never_stored(client, zellyy_signup, rabbit_register):
    account = zellyy_signup()
    rabbit = rabbit_register()
    for resp in (
        client.simulate_get("/api/v1/users/me", headers=account.headers),
        client.simulate_get(f"/api/user/{rabbit.id}"),
        client.simulate_get(f"/api/user/{rabbit.id}/messages", headers=rabbit.headers),
    ):
        assert resp.status_code == 200, resp.text
        assert_secure(resp)


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/api/v1/users/me", 401),
        ("GET", "/nowhere", 404),
        ("PUT", "/healthz", 405),
        ("POST", "/api/user/login", 400),
        ("OPTIONS", "/api/user/login", 200),
        ("GET", "/healthz", 200),
    ],
)
def test_every_answer_says_nosniff(client, method, path, status):
    resp = client.simulate_request(method, path)
    assert resp.status_code == status
    assert_secure(resp)


def test_a_resource_may_choose_its_own_caching(client, zellyy_signup):
    account = zellyy_signup()
    card = client.simulate_post("/api/v1/cards", json={"content": "안녕"}, headers=account.headers)
    image = client.simulate_get(
        f"/api/v1/cards/{card.json['id']}/image.png", headers=account.headers
    )
    assert image.status_code == 200
    assert_secure(image, cache_control="no-cache")


@pytest.mark.parametrize(
    "path", ["/healthz", "/openapi.json", "/api/user/{rabbit}", "/api/v1/users/me"]
)
def test_head_is_answered_wherever_get_is(client, rabbit_register, zellyy_signup, path):
    rabbit = rabbit_register()
    headers = zellyy_signup().headers
    path = path.format(rabbit=rabbit.id)
    get = client.simulate_get(path, headers=headers)
    head = client.simulate_head(path, headers=headers)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == get.headers["content-type"]
    assert_secure(head)


def test_head_follows_get_in_refusals_too(client, rabbit_register):
    rabbit = rabbit_register()
    assert client.simulate_head("/api/v1/users/me").status_code == 401
    assert client.simulate_head("/api/user/999999").status_code == 404
    assert client.simulate_head(f"/api/user/{rabbit.id}/messages").status_code == 401


def test_head_is_not_offered_where_get_is_not(client):
    resp = client.simulate_head("/api/user/login")
    assert resp.status_code == 405
    assert "HEAD" not in resp.headers["allow"]
    assert "HEAD" in client.simulate_request("PUT", "/healthz").headers["allow"]


def test_the_api_description_lists_get_and_not_its_head_twin(app):
    methods = {(template, method) for template, method, *_ in openapi.routes(app)}
    assert ("/healthz", "GET") in methods
    assert not [m for m in methods if m[1] == "HEAD"]
    assert openapi.undocumented(app) == []


def test_a_chunked_body_from_a_server_that_does_not_dechunk_is_411(client):
    """wsgiref and the like pass the raw chunks on; only servers that dechunk may stream."""
    for path in ("/api/v1/auth/login", "/api/user/login"):
        resp = client.simulate_post(
            path,
            headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
            extras={"wsgi.input": io.BytesIO(b"4\r\n{}  \r\n0\r\n\r\n")},
        )
        assert resp.status_code == 411
        assert "error" in resp.json

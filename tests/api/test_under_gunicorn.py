"""What only a real server shows: chunked bodies, and refreshes racing in several processes."""

from __future__ import annotations

import json
import uuid

import requests
from fixtures.accounts import RABBIT_PASSWORD, bearer, unique_email
from helpers import at_once

MB = 1024 * 1024
REFRESH_REUSED = {"error": "refresh token 은 2회 이상 사용될 수 없습니다."}


def chunked(payload: bytes, size: int = 1000):
    """A body requests sends with Transfer-Encoding: chunked (a generator has no length)."""
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def post_chunked(url: str, body, **headers) -> requests.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        url,
        data=chunked(payload),
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_chunked_bodies_are_read_on_both_surfaces(gunicorn_app):
    email = unique_email("chunked")
    signup = post_chunked(
        f"{gunicorn_app.url}/api/v1/auth/signup",
        {"email": email, "password": "correct horse", "username": "청크"},
    )
    assert signup.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in signup.request.headers
    assert signup.status_code == 200, signup.text
    assert signup.json()["user"]["email"] == email

    register = post_chunked(
        f"{gunicorn_app.url}/api/user/register",
        {"email": unique_email("chunked"), "password": RABBIT_PASSWORD, "username": "청크"},
    )
    assert register.status_code == 201, register.text
    assert register.json() == {"success": "청크 님, 회원가입을 환영합니다!"}


def test_the_body_limit_holds_for_chunked_bodies(gunicorn_app):
    over = json.dumps({"email": "a" * MB, "password": "x"}).encode()
    zellyy = post_chunked(f"{gunicorn_app.url}/api/v1/auth/login", over)
    assert zellyy.status_code == 413
    assert zellyy.json()["error"]["code"] == "payload_too_large"
    rabbit = post_chunked(f"{gunicorn_app.url}/api/user/login", over)
    assert rabbit.status_code == 413
    assert rabbit.json() == {"error": "요청 본문이 너무 큽니다. (최대 1MB)"}

    # Exactly the limit is read: the answer is about the fields, not the size.
    padding = MB - len(b'{"email": "", "password": "x"}')
    exact = b'{"email": "' + b"a" * padding + b'", "password": "x"}'
    assert len(exact) == MB
    resp = post_chunked(f"{gunicorn_app.url}/api/v1/auth/login", exact)
    assert resp.status_code == 400 and "email" in resp.json()["error"]["details"]


def test_an_empty_chunked_body_is_an_empty_body(gunicorn_app):
    resp = post_chunked(f"{gunicorn_app.url}/api/user/login", b"")
    assert resp.status_code == 400
    assert resp.json() == {"error": "이메일과 비밀번호를 확인하세요."}


def test_head_over_http(gunicorn_app):
    resp = requests.head(f"{gunicorn_app.url}/healthz", timeout=10)
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_refreshes_racing_across_processes_leave_the_winner_logged_in(gunicorn_app):
    """Both surfaces, through gunicorn's two worker processes of four threads each."""
    url = gunicorn_app.url
    for _ in range(3):
        email = unique_email("race")
        body = {"email": email, "password": "correct horse", "username": "경주"}
        session = requests.post(f"{url}/api/v1/auth/signup", json=body, timeout=10).json()[
            "session"
        ]
        token = session["refresh_token"]
        results = at_once(
            [
                lambda token=token: requests.post(
                    f"{url}/api/v1/auth/refresh", json={"refresh_token": token}, timeout=30
                )
            ]
            * 12
        )
        assert sorted(r.status_code for r in results) == [200] + [401] * 11
        [winner] = [r.json() for r in results if r.status_code == 200]
        me = requests.get(
            f"{url}/api/v1/users/me", headers=bearer(winner["access_token"]), timeout=10
        )
        assert me.status_code == 200 and me.json()["email"] == email

    rabbit = _rabbit_login(url)
    results = at_once(
        [
            lambda: requests.post(
                f"{url}/api/user/refresh", headers=bearer(rabbit["refresh_token"]), timeout=30
            )
        ]
        * 12
    )
    assert sorted(r.status_code for r in results) == [200] + [401] * 11
    assert all(r.json() == REFRESH_REUSED for r in results if r.status_code == 401)
    [winner] = [r.json() for r in results if r.status_code == 200]
    renamed = requests.put(
        f"{url}/api/user/{rabbit['id']}",
        json={"username": "이긴토끼"},
        headers=bearer(winner["access_token"]),
        timeout=10,
    )
    assert renamed.status_code == 200, renamed.text


def _rabbit_login(url: str) -> dict:
    from pony import orm

    from models.users import create_user

    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    with orm.db_session:
        user_id = create_user(email, RABBIT_PASSWORD, "경주", confirmed=True).id
    body = {"email": email, "password": RABBIT_PASSWORD}
    login = requests.post(f"{url}/api/user/login", json=body, timeout=10)
    assert login.status_code == 200, login.text
    return {"id": user_id, **login.json()}

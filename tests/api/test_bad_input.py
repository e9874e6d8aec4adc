"""Bad input gets a clear 4xx in the surface's own dialect: never a 500, never a stack trace."""

import json
import random
import threading

import pytest
from fixtures.accounts import RABBIT_PASSWORD, unique_email

JSON = {"Content-Type": "application/json"}
MB = 1024 * 1024

ZELLYY_POSTS = ["/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh"]
RABBIT_POSTS = ["/api/user/register", "/api/user/login"]


def is_rabbit(path: str) -> bool:
    return path == "/api/user" or path.startswith(("/api/user/", "/api/confirm-user/"))


def assert_dialect(resp, path: str, status: int | None = None):
    """A 4xx in the dialect of the surface `path` belongs to."""
    if status is not None:
        assert resp.status_code == status, resp.text
    assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text)
    assert "Traceback" not in resp.text
    assert resp.headers["content-type"].startswith("application/json")
    if is_rabbit(path):
        assert set(resp.json) == {"error"}
        assert isinstance(resp.json["error"], str) and resp.json["error"]
    else:
        error = resp.json["error"]
        assert set(error) == {"code", "message", "details"}
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert isinstance(error["details"], dict)


def post_raw(client, path, body: bytes, headers=JSON):
    return client.simulate_post(path, body=body, headers=headers)


@pytest.mark.parametrize("path", ZELLYY_POSTS + RABBIT_POSTS)
@pytest.mark.parametrize(
    "body",
    [b"{", b'{"email": }', b"nope", b"{'email': 'a'}", b'{"a":1}{"b":2}', b"\xff\xfe\x00{", b"]"],
)
def test_malformed_json(client, path, body):
    assert_dialect(post_raw(client, path, body), path, 400)


@pytest.mark.parametrize("path", ZELLYY_POSTS + RABBIT_POSTS)
@pytest.mark.parametrize("body", [[], ["email"], "email", 5, 1.5, None, True])
def test_a_body_that_is_not_an_object(client, path, body):
    resp = client.simulate_post(path, json=body)
    assert_dialect(resp, path, 400)


@pytest.mark.parametrize("path", ZELLYY_POSTS + RABBIT_POSTS)
def test_an_empty_body(client, path):
    assert_dialect(post_raw(client, path, b""), path, 400)
    assert_dialect(client.simulate_post(path), path, 400)


def test_zellyy_missing_fields_are_listed(client):
    resp = client.simulate_post("/api/v1/auth/signup", json={})
    assert_dialect(resp, "/api/v1/auth/signup", 400)
    assert resp.json["error"]["code"] == "invalid_request"
    assert set(resp.json["error"]["details"]) == {"email", "password", "username"}


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/api/v1/auth/signup",
            {"email": ["a@example.com"], "password": "password1", "username": "a"},
        ),
        ("/api/v1/auth/signup", {"email": "a@example.com", "password": 12345678, "username": "a"}),
        (
            "/api/v1/auth/signup",
            {"email": "a@example.com", "password": "password1", "username": {}},
        ),
        ("/api/v1/auth/login", {"email": None, "password": "x"}),
        ("/api/v1/auth/refresh", {"refresh_token": 5}),
        ("/api/v1/auth/refresh", {"refresh_token": {"$ne": None}}),
        (
            "/api/user/register",
            {"email": {"a": 1}, "password": RABBIT_PASSWORD, "username": "토끼"},
        ),
        ("/api/user/login", {"email": ["a"], "password": "x"}),
        ("/api/user/login", {"email": "a@example.com", "password": False}),
    ],
)
def test_wrong_field_types(client, path, body):
    assert_dialect(client.simulate_post(path, json=body), path, 400)


@pytest.mark.parametrize("path", ZELLYY_POSTS + RABBIT_POSTS)
def test_a_body_over_1_mb_is_413(client, path):
    body = json.dumps({"email": "a" * MB}).encode()
    resp = post_raw(client, path, body)
    assert_dialect(resp, path, 413)


def test_the_413_texts(client):
    body = b" " * (MB + 1)
    assert post_raw(client, "/api/v1/auth/login", body).json["error"]["code"] == "payload_too_large"
    assert post_raw(client, "/api/user/login", body).json == {
        "error": "요청 본문이 너무 큽니다. (최대 1MB)"
    }


def test_a_body_of_exactly_1_mb_is_read(client):
    padding = MB - len(b'{"email": "", "password": "x"}')
    body = b'{"email": "' + b"a" * padding + b'", "password": "x"}'
    assert len(body) == MB
    resp = post_raw(client, "/api/v1/auth/login", body)
    assert_dialect(resp, "/api/v1/auth/login", 400)
    assert "email" in resp.json["error"]["details"]


def completes(fn, limit: float = 120.0):
    """Run fn in a thread; a regex that backtracks for hours would never come back."""
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), "the request hung"
    return result[0]


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/auth/signup", "email"),
        ("/api/v1/auth/signup", "username"),
        ("/api/v1/auth/signup", "password"),
        ("/api/v1/auth/login", "email"),
        ("/api/user/register", "email"),
        ("/api/user/register", "password"),
        ("/api/user/register", "username"),
        ("/api/user/login", "password"),
    ],
)
def test_absurd_lengths(client, path, field):
    body = {"email": unique_email(), "password": RABBIT_PASSWORD, "username": "토끼"}
    body[field] = "a" * 900_000 + " "
    resp = completes(lambda: client.simulate_post(path, json=body))
    assert_dialect(resp, path, 400)


def test_an_absurd_avatar_url_does_not_hang_the_validator(client, zellyy_signup):
    account = zellyy_signup()
    # Nested quantifiers in a URL pattern backtrack quadratically on input like this.
    body = {"avatar_url": "http://" + "a" * 500_000 + " "}
    resp = completes(
        lambda: client.simulate_patch("/api/v1/users/me", json=body, headers=account.headers)
    )
    assert_dialect(resp, "/api/v1/users/me", 400)
    assert "avatar_url" in resp.json["error"]["details"]


@pytest.mark.parametrize("path", ZELLYY_POSTS + RABBIT_POSTS)
@pytest.mark.parametrize("value", ["a\u0000@example.com", "\ud800@example.com", "\udfff"])
def test_strings_no_database_can_store(client, path, value):
    body = {"email": value, "password": value, "username": value, "refresh_token": value}
    raw = json.dumps(body).encode()  # \u escapes: valid JSON, unstorable strings
    assert_dialect(post_raw(client, path, raw), path, 400)


def test_nul_in_a_patch(client, zellyy_signup):
    account = zellyy_signup()
    for body in ({"avatar_url": "https://example.com/\u0000"}, {"display_name": "\ud83d"}):
        resp = client.simulate_patch(
            "/api/v1/users/me", body=json.dumps(body), headers={**JSON, **account.headers}
        )
        assert_dialect(resp, "/api/v1/users/me", 400)


def test_nul_in_a_query(client, zellyy_signup):
    account = zellyy_signup()
    resp = client.simulate_post(
        "/api/v1/auth/logout", query_string="scope=%00", headers=account.headers
    )
    assert_dialect(resp, "/api/v1/auth/logout", 400)


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/user/login"])
def test_json_nested_deeper_than_the_parser_goes(client, path):
    deep = b"[" * 200_000 + b"]" * 200_000
    assert_dialect(post_raw(client, path, deep), path, 400)
    nested = b'{"email": ' + b"[" * 100_000 + b"]" * 100_000 + b', "password": "x"}'
    assert_dialect(post_raw(client, path, nested), path, 400)


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/user/login"])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_only_json_bodies_are_read(client, rabbit_register, path, content_type):
    account = rabbit_register()
    resp = client.simulate_post(
        path,
        body=f"email={account.email}&password={account.password}",
        headers={"Content-Type": content_type},
    )
    assert_dialect(resp, path, 415)


def test_json_with_a_charset_is_fine(client, rabbit_register):
    account = rabbit_register()
    resp = client.simulate_post(
        "/api/user/login",
        body=json.dumps({"email": account.email, "password": account.password}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status_code == 200


def test_unknown_fields_are_ignored(client, confirm_link):
    email = unique_email()
    extra = {"is_admin": True, "id": 1, "email_confirmed_at": "2020-01-01", "nested": {"a": [1]}}
    signup = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": email, "password": "password1", "username": "ann", **extra},
    )
    assert signup.status_code == 200
    register = client.simulate_post(
        "/api/user/register",
        json={"email": unique_email(), "password": RABBIT_PASSWORD, "username": "토끼", **extra},
    )
    assert register.status_code == 201
    from pony import orm

    from models.users import User

    with orm.db_session:
        assert not orm.exists(u for u in User if u.is_admin)
        assert not orm.exists(u for u in User if u.email_confirmed_at is not None)


def test_unknown_fields_may_hold_anything(client):
    body = {
        "email": unique_email(),
        "password": "password1",
        "username": "ann",
        "junk": "\u0000\ud800",
    }
    resp = post_raw(client, "/api/v1/auth/signup", json.dumps(body).encode())
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/nothing",
        "/api/users/you",
        "/api/v2/users/me",
        "/nothing",
        "/api/user/1/nothing",
        "/api/confirm-user/1",
        "/api/userx",
    ],
)
def test_unknown_routes_are_404_in_their_dialect(client, path):
    resp = client.simulate_get(path)
    assert_dialect(resp, path, 404)
    if is_rabbit(path):
        assert resp.json == {"error": "요청하신 경로를 찾을 수 없습니다."}
    else:
        assert resp.json["error"]["code"] == "resource_not_found"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/auth/login"),
        ("DELETE", "/api/v1/users/me"),
        ("PUT", "/api/auth/signup"),
        ("GET", "/api/user/login"),
        ("GET", "/api/user/register"),
        ("POST", "/api/user/withdraw"),
        ("DELETE", "/api/user/1"),
        ("POST", "/api/confirm-user/1/x"),
    ],
)
def test_wrong_methods_are_405_in_their_dialect(client, method, path):
    resp = client.simulate_request(method, path)
    assert_dialect(resp, path, 405)
    if is_rabbit(path):
        assert resp.json == {"error": "허용되지 않은 요청 방식입니다."}
    else:
        assert resp.json["error"]["code"] == "method_not_allowed"
    assert "allow" in resp.headers


# --- fuzzing every route that takes input ---------------------------------------------------


def fill(template: str) -> str:
    return (
        template.replace("{user_id}", "1").replace("{token}", "x").replace("{", "").replace("}", "")
    )


def random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 1:  # JSON-looking noise
        alphabet = '{}[]":,0123456789.-eE truefalsnul\\u\x00ab가'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 200))).encode(
            "utf-8", "surrogatepass"
        )
    values = [
        None,
        True,
        -1,
        2**70,
        1e308,
        "",
        "x" * 3000,
        "\u0000",
        "가",
        [],
        {},
        [[[]]],
        {"a": {"b": None}},
        "2020-01-01T00:00:00Z",
        "#FFFFFF",
        "https://example.com",
        "\ud800",
    ]
    names = [
        "email",
        "password",
        "username",
        "refresh_token",
        "display_name",
        "avatar_url",
        "content",
        "tags",
        "message",
        "amount",
        "is_moneybag",
        "url",
        "events",
        "plan_id",
        "payment_method_id",
        "access_token",
        "font_size",
    ]
    body = {rng.choice(names): rng.choice(values) for _ in range(rng.randrange(0, 6))}
    if kind == 2:
        return json.dumps(body).encode()
    if kind == 3:
        return json.dumps(rng.choice(values)).encode()
    return json.dumps(body).encode()[: rng.randrange(1, 100)]


def test_fuzz_every_route(app, client, zellyy_signup, rabbit_register):
    from api.openapi import routes

    zellyy = zellyy_signup()
    rabbit = rabbit_register()
    rng = random.Random(20240101)
    failures = []
    for template, method, _resource, _responder in sorted(routes(app), key=lambda r: (r[0], r[1])):
        path = fill(template)
        for i in range(25):
            token = (rabbit if is_rabbit(path) else zellyy).access_token
            headers = {"Content-Type": rng.choice(["application/json", "text/plain", ""])}
            if i % 2:
                headers["Authorization"] = f"Bearer {token}"
            query = "&".join(
                f"{rng.choice(['page', 'limit', 'sort', 'order', 'tag', 'search', 'scope'])}="
                f"{rng.choice(['-1', '0', '1', 'abc', '%00', '%ff', '999999999999', ''])}"
                for _ in range(rng.randrange(0, 3))
            )
            body = random_body(rng) if method != "GET" else None
            resp = client.simulate_request(
                method, path, body=body, headers=headers, query_string=query
            )
            if resp.status_code >= 500 or b"Traceback" in resp.content:
                failures.append((method, path, query, body, resp.status_code, resp.text[:200]))
            elif resp.status_code >= 400:
                try:
                    assert_dialect(resp, path)
                except AssertionError as ex:
                    failures.append((method, path, query, body, resp.status_code, str(ex)))
    assert failures == []

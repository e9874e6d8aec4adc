"""Web apps on another origin call the API from a real Chromium, as the Money For Rabbit app does.

A page on PAGE_ORIGIN (allowed by the gunicorn app's CORS_ALLOWED_ORIGINS) calls
the API on API_URL with fetch(), sending what the app's axios calls send: JSON
bodies and `Authorization: Bearer`. A page on STRANGER_ORIGIN is refused by
the browser itself.
"""

from __future__ import annotations

import re
import time
import uuid
from email import message_from_bytes
from email.policy import default

import pytest
from fixtures.accounts import RABBIT_PASSWORD, claims_of, sign, unique_email
from fixtures.servers import API_URL
from helpers import json_lines, wait_for

# fetch() as the app's axios calls use it; the answer as the app reads it.
FETCH = """async ({url, method, token, body}) => {
  const headers = {};
  if (token) headers['Authorization'] = 'Bearer ' + token;
  if (body !== null) headers['Content-Type'] = 'application/json';
  try {
    const r = await fetch(url, {
      method, headers, body: body === null ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) {}
    return {status: r.status, body: json, location: r.headers.get('Location')};
  } catch (e) {
    return {blocked: e.name + ': ' + e.message};
  }
}"""
TOKEN_EXPIRED = "토큰이 만료되었습니다."
REFRESH_REUSED = "refresh token 은 2회 이상 사용될 수 없습니다."


def call(page, method: str, path: str, token: str | None = None, body=None) -> dict:
    args = {"url": API_URL + path, "method": method, "token": token, "body": body}
    return page.evaluate(FETCH, args)


def confirmed_rabbit(username: str = "토끼") -> tuple[int, str]:
    from pony import orm

    from models.users import create_user

    email = unique_email("browser")
    with orm.db_session:
        return create_user(email, RABBIT_PASSWORD, username, confirmed=True).id, email


def preflights(gunicorn_app) -> int:
    """Preflights the server has answered 204 so far, from its request log."""
    return sum(
        1
        for line in json_lines(gunicorn_app.log())
        if line.get("message") == "request"
        and line["method"] == "OPTIONS"
        and line["status"] == 204
    )


def test_a_page_of_an_allowed_origin_calls_zellyy(page, gunicorn_app, web_page):
    answered = preflights(gunicorn_app)
    page.goto(web_page + "/")
    email = unique_email("browser")
    signup = call(
        page,
        "POST",
        "/api/v1/auth/signup",
        body={"email": email, "password": "correct horse", "username": "ann"},
    )
    assert signup["status"] == 200, signup
    token = signup["body"]["session"]["access_token"]

    me = call(page, "GET", "/api/v1/users/me", token)
    assert me["status"] == 200 and me["body"]["email"] == email
    card = call(page, "POST", "/api/v1/cards", token, {"content": "브라우저에서"})
    assert card["status"] == 201
    assert card["location"] == f"/api/v1/cards/{card['body']['id']}"  # an exposed header

    # Error bodies are readable from JavaScript.
    refused = call(page, "GET", "/api/v1/users/me", "not-a-token")
    assert refused["status"] == 401
    assert refused["body"]["error"]["code"] == "authentication_required"
    missing = call(page, "GET", "/api/v1/no-such-route", token)
    assert missing["status"] == 404
    assert missing["body"]["error"]["code"] == "resource_not_found"
    # The browser asked first: a JSON POST and an Authorization header need a preflight.
    # (the JSON POST to signup and the GET of users/me with its token, at least).
    assert preflights(gunicorn_app) - answered >= 2


def test_a_page_of_an_allowed_origin_calls_money_for_rabbit(page, gunicorn_app, web_page):
    user_id, email = confirmed_rabbit()
    friend_id, _ = confirmed_rabbit("친구")
    answered = preflights(gunicorn_app)
    page.goto(web_page + "/")
    login = call(
        page, "POST", "/api/user/login", body={"email": email, "password": RABBIT_PASSWORD}
    )
    assert login["status"] == 200, login
    token = login["body"]["access_token"]

    profile = call(page, "GET", f"/api/user/{friend_id}", token)
    assert profile == {
        "status": 200,
        "body": {"user_info": {"username": "친구", "total_amount": 0}},
        "location": None,
    }
    others = call(page, "GET", f"/api/user/{friend_id}/messages?page=1", token)
    assert others["status"] == 403
    assert others["body"] == {"error": "쪽지는 본인만 조회할 수 있습니다"}
    unknown = call(page, "GET", "/api/user/999999", token)
    assert unknown["status"] == 404
    assert unknown["body"] == {"error": "사용자를 찾을 수 없습니다."}
    # The browser asked first: the JSON POST to login and each GET with a token.
    assert preflights(gunicorn_app) - answered >= 2
    assert user_id != friend_id


def test_a_page_of_another_origin_is_blocked_by_the_browser(page, gunicorn_app, stranger_page):
    user_id, email = confirmed_rabbit()
    page.goto(stranger_page + "/")
    for method, path, body in [
        ("POST", "/api/user/login", {"email": email, "password": RABBIT_PASSWORD}),
        ("GET", f"/api/user/{user_id}", None),  # a simple request: sent, but not readable
        ("POST", "/api/v1/auth/login", {"email": email, "password": RABBIT_PASSWORD}),
        ("GET", "/healthz", None),
    ]:
        answer = call(page, method, path, body=body)
        assert answer.get("blocked", "").startswith("TypeError"), (path, answer)


def expired_copy(access_token: str, secret_key: str) -> str:
    """The same token, as it would be once its three days have passed."""
    claims = claims_of(access_token)
    past = int(time.time()) - 4 * 24 * 3600
    return sign({**claims, "iat": past, "nbf": past, "exp": past + 259_200}, secret_key)


# The app's interceptor (commonAxios.js): each 401 "토큰이 만료되었습니다." starts its own
# refresh with the stored refresh token, stores the pair it gets and retries the call.
# Its retry carries a stray header named "0" (axios re-sending its own config); if
# that retry fails, the app logs the user out. Both calls here expired together:
# their refreshes leave with the same token.
INTERCEPTED = """async ({api, calls}) => {
  const send = (method, path, token, body, extra = {}) => fetch(api + '/api/' + path, {
    method,
    headers: {
      ...(token ? {Authorization: 'Bearer ' + token} : {}),
      ...(body ? {'Content-Type': 'application/json'} : {}),
      ...extra,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  let arrived = 0, release;
  const together = new Promise((resolve) => { release = resolve; });
  const request = async ([method, path, body]) => {
    const first = await send(method, path, localStorage.getItem('accessToken'), body);
    const firstError = (await first.json()).error;
    if (++arrived === calls.length) release();
    await together;
    if (first.status !== 401 || firstError !== '토큰이 만료되었습니다.') {
      return {first: first.status, firstError};
    }
    const refreshed = await send('POST', 'user/refresh', localStorage.getItem('refreshToken'));
    const pair = await refreshed.json();
    if (refreshed.status !== 200) {
      return {first: first.status, refresh: refreshed.status, refreshError: pair.error};
    }
    localStorage.setItem('accessToken', pair.access_token);
    localStorage.setItem('refreshToken', pair.refresh_token);
    try {
      const retry = await send(method, path, pair.access_token, body, {'0': 'function(A,e){}'});
      return {first: first.status, refresh: 200, retry: retry.status};
    } catch (e) {
      return {first: first.status, refresh: 200, retry: e.name + ': ' + e.message};
    }
  };
  const results = await Promise.all(calls.map(request));
  return {
    results,
    accessToken: localStorage.getItem('accessToken'),
    refreshToken: localStorage.getItem('refreshToken'),
  };
}"""


def test_two_calls_that_expire_together_leave_the_user_logged_in(
    page, config, gunicorn_app, web_page
):
    user_id, email = confirmed_rabbit()
    page.goto(web_page + "/")
    login = call(
        page, "POST", "/api/user/login", body={"email": email, "password": RABBIT_PASSWORD}
    )
    expired = expired_copy(login["body"]["access_token"], config.secret_key)
    page.evaluate(
        """([access, refresh]) => {
          localStorage.setItem('accessToken', access);
          localStorage.setItem('refreshToken', refresh);
        }""",
        [expired, login["body"]["refresh_token"]],
    )
    calls = [
        ["GET", f"user/{user_id}/messages?page=1", None],
        ["PUT", f"user/{user_id}", {"username": "새토끼"}],
    ]
    outcome = page.evaluate(INTERCEPTED, {"api": API_URL, "calls": calls})

    results = outcome["results"]
    assert [r["first"] for r in results] == [401, 401]
    assert sorted(r["refresh"] for r in results) == [200, 401], results
    [winner] = [r for r in results if r["refresh"] == 200]
    [loser] = [r for r in results if r["refresh"] == 401]
    assert winner["retry"] == 200
    assert loser["refreshError"] == REFRESH_REUSED
    # The session lives on: the pair the winner stored keeps working.
    stored = call(page, "GET", f"/api/user/{user_id}/messages?page=1", outcome["accessToken"])
    assert stored["status"] == 200
    renewed = call(page, "POST", "/api/user/refresh", outcome["refreshToken"])
    assert renewed["status"] == 200
    assert (
        call(page, "GET", f"/api/user/{user_id}/messages", renewed["body"]["access_token"])[
            "status"
        ]
        == 200
    )


def mailed_link(smtp_server, email: str) -> str:
    mail = wait_for(
        lambda: next((m for m in list(smtp_server.messages) if email in m.rcpt_tos), None)
    )
    message = message_from_bytes(mail.content, policy=default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(re.escape(API_URL) + r"/api/confirm-user/\S+", text).group(0)


# The app reads `sub` from the stored token to build its URLs (getUserNumber.js).
SUB = """(token) => {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const json = decodeURIComponent(atob(payload).split('').map(
    (c) => '%' + ('00' + c.charCodeAt(0).toString(16)).slice(-2)).join(''));
  return Number(JSON.parse(json).sub);
}"""


@pytest.mark.redis
def test_the_apps_flows_from_sign_up_to_withdrawal(
    page, gunicorn_app, web_page, celery_worker, smtp_server
):
    page.goto(web_page + "/")
    email = f"flow-{uuid.uuid4().hex[:8]}@example.com"
    account = {"email": email, "username": "토끼", "password": RABBIT_PASSWORD}
    signup = call(page, "POST", "/api/user/register", body=account)
    assert signup["status"] == 201
    assert signup["body"] == {"success": "토끼 님, 회원가입을 환영합니다!"}
    refused = call(
        page, "POST", "/api/user/login", body={"email": email, "password": RABBIT_PASSWORD}
    )
    assert refused["status"] == 400
    assert refused["body"] == {"error": "이메일 인증이 되지 않은 계정입니다."}

    # The mailed link, opened in the browser, confirms and lands on the app's page.
    page.goto(mailed_link(smtp_server, email))
    assert page.url == f"{web_page}/signup/done"

    login = call(
        page, "POST", "/api/user/login", body={"email": email, "password": RABBIT_PASSWORD}
    )
    assert login["status"] == 200
    token = login["body"]["access_token"]
    sub = page.evaluate(SUB, token)
    friend_id, friend_email = confirmed_rabbit("친구")
    friend = call(
        page, "POST", "/api/user/login", body={"email": friend_email, "password": RABBIT_PASSWORD}
    )["body"]["access_token"]

    # Write a friend messages with money: a banknote and a money bag.
    for amount, is_moneybag in ((5000, False), (12345, True)):
        sent = call(
            page,
            "POST",
            f"/api/user/{friend_id}/messages",
            token,
            {"message": "새해 복 많이 받아", "amount": amount, "is_moneybag": is_moneybag},
        )
        assert sent["status"] == 201, sent

    letters = call(page, "GET", f"/api/user/{friend_id}/messages?page=1", friend)
    assert letters["status"] == 200
    assert letters["body"]["message_set_count"] == 2
    assert letters["body"]["user_info"]["username"] == "친구"
    assert letters["body"]["user_info"]["total_amount"] == 17345
    shown = [(m["author_name"], m["image_name"]) for m in letters["body"]["messages"]]
    assert shown == [("토끼", "Money_99999.png"), ("토끼", "Money_5000.png")]

    renamed = call(page, "PUT", f"/api/user/{sub}", token, {"username": "새토끼"})
    assert renamed["status"] == 200
    assert renamed["body"] == {"success": "닉네임이 새토끼 으로 변경되었습니다."}
    letters = call(page, "GET", f"/api/user/{friend_id}/messages?page=1", friend)
    assert {m["author_name"] for m in letters["body"]["messages"]} == {"새토끼"}

    # Withdrawal: the app compares the typed nickname with the profile's, then deletes.
    check = call(page, "GET", f"/api/user/{sub}", token)
    assert check["body"]["user_info"]["username"] == "새토끼"
    gone = call(page, "DELETE", "/api/user/withdraw", token, {"username": "새토끼"})
    assert gone["status"] == 204
    assert call(page, "GET", f"/api/user/{sub}")["body"] == {"error": "사용자를 찾을 수 없습니다."}
    letters = call(page, "GET", f"/api/user/{friend_id}/messages?page=1", friend)
    assert letters["body"]["message_set_count"] == 0
    assert letters["body"]["user_info"]["total_amount"] == 0

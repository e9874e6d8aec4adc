"""The pages mailed links open, in a real Chromium against the app under gunicorn.

They set a password or confirm an address, and the token goes nowhere but back
to this API in a request body.
"""

from __future__ import annotations

import re

import pytest
import requests
from fixtures.accounts import RABBIT_PASSWORD, unique_email
from fixtures.mail import next_mail, parts
from fixtures.servers import API_URL, PAGE_ORIGIN

from models import mails

pytestmark = pytest.mark.redis


def mailed_link(smtp_server, email: str, subject: str) -> str:
    text = parts(next_mail(smtp_server, email, subject))["text/plain"]
    return re.search(re.escape(API_URL) + r"/\S+#token=[\w.-]+", text).group(0)


def watch(page) -> list:
    """Every request the page makes from now on."""
    seen = []
    page.on("request", lambda request: seen.append(request))
    return seen


def submit(page, password: str, repeat: str | None = None) -> None:
    """Fill in the new-password form and send it."""
    page.fill("#password", password)
    page.fill("#repeat", password if repeat is None else repeat)
    page.click("#submit")


def assert_private(response, seen, link: str, gunicorn_app) -> None:
    """The page is kept by no cache, hands no Referer on, and its token reached only our API."""
    headers = response.headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"].startswith("default-src 'none';")
    token = link.partition("#token=")[2]
    assert all(request.url.startswith(API_URL + "/") for request in seen)
    posts = [request for request in seen if request.method == "POST"]
    assert posts and all(token in (request.post_data or "") for request in posts)
    assert not any(request.headers.get("referer") for request in posts)
    assert token not in gunicorn_app.log()  # never in a path or query the server logged


def test_the_zellyy_reset_page_sets_a_new_password(page, gunicorn_app, celery_worker, smtp_server):
    email = unique_email("page")
    signup = {"email": email, "password": "old password", "username": "ann"}
    assert requests.post(f"{API_URL}/api/v1/auth/signup", json=signup, timeout=10).ok
    assert requests.post(f"{API_URL}/api/v1/auth/recover", json={"email": email}, timeout=10).ok
    link = mailed_link(smtp_server, email, mails.ZELLYY_RESET_SUBJECT)

    seen = watch(page)
    response = page.goto(link)
    assert page.url == f"{API_URL}/api/v1/auth/reset"  # the token left the address bar
    submit(page, "new password", "another password")
    assert page.text_content("#error") == "The two passwords differ."
    submit(page, "short")
    page.wait_for_selector("#error:has-text('Must be 8 to 128 characters')")
    submit(page, "new password")
    page.wait_for_selector("#done:visible")
    assert page.is_hidden("#form") and page.is_hidden("#error")
    assert_private(response, seen, link, gunicorn_app)

    login = {"email": email, "password": "new password"}
    assert requests.post(f"{API_URL}/api/v1/auth/login", json=login, timeout=10).status_code == 200
    # The same link again, opened anew: spent.
    page.goto("about:blank")
    page.goto(link)
    submit(page, "third password")
    page.wait_for_selector("#error:has-text('This link was already used')")


def test_the_money_for_rabbit_reset_page_speaks_korean_and_leads_back_to_the_app(
    page, gunicorn_app, celery_worker, smtp_server
):
    email = unique_email("page")
    body = {"email": email, "password": RABBIT_PASSWORD, "username": "토끼"}
    assert requests.post(f"{API_URL}/api/user/register", json=body, timeout=10).status_code == 201
    reset = requests.post(f"{API_URL}/api/user/password-reset", json={"email": email}, timeout=10)
    assert reset.status_code == 200
    link = mailed_link(smtp_server, email, mails.RABBIT_RESET_SUBJECT)

    seen = watch(page)
    response = page.goto(link)
    assert page.get_attribute("html", "lang") == "ko"
    submit(page, "weakpassword")
    page.wait_for_selector("#error:has-text('유효한 비밀번호 값이 아닙니다.')")
    submit(page, "Newrabbit123!")
    page.wait_for_selector("#done:has-text('비밀번호가 변경되었습니다.')")
    assert page.get_attribute("#home a", "href") == f"{PAGE_ORIGIN}/"
    assert_private(response, seen, link, gunicorn_app)

    # The link also proved the address: the never-confirmed account logs in now.
    login = {"email": email, "password": "Newrabbit123!"}
    assert requests.post(f"{API_URL}/api/user/login", json=login, timeout=10).status_code == 200


def test_the_zellyy_confirmation_page_confirms_on_opening(
    page, gunicorn_app, celery_worker, smtp_server
):
    email = unique_email("page")
    signup = {"email": email, "password": "a password", "username": "ann"}
    session = requests.post(f"{API_URL}/api/v1/auth/signup", json=signup, timeout=10).json()
    link = mailed_link(smtp_server, email, mails.ZELLYY_CONFIRMATION_SUBJECT)

    seen = watch(page)
    response = page.goto(link)
    page.wait_for_selector("#done:has-text('Your email address is confirmed.')")
    assert_private(response, seen, link, gunicorn_app)
    headers = {"Authorization": f"Bearer {session['session']['access_token']}"}
    me = requests.get(f"{API_URL}/api/v1/users/me", headers=headers, timeout=10).json()
    assert me["email_confirmed_at"].endswith("Z")


def test_the_pages_load_nothing_from_elsewhere_and_keep_no_referrer_or_cache(client):
    for path, lang in (
        ("/api/v1/auth/reset", "en"),
        ("/api/auth/reset", "en"),
        ("/api/v1/auth/confirm", "en"),
        ("/api/user/password-reset/confirm", "ko"),
    ):
        page = client.simulate_get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert f'<html lang="{lang}">' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        # No src, no <link>: the one link out (back to the app) is followed by hand.
        assert "src=" not in page.text and "<link" not in page.text
        assert re.findall(r'href="([^"]*)"', page.text) in ([], ["http://frontend.test/"])


def test_a_page_opened_without_its_token_says_so(page, gunicorn_app):
    page.goto(f"{API_URL}/api/user/password-reset/confirm")
    page.wait_for_selector("#error:has-text('링크가 올바르지 않습니다.')")
    assert page.is_hidden("#form")
    page.goto(f"{API_URL}/api/v1/auth/confirm")
    page.wait_for_selector("#error:has-text('This link is incomplete')")

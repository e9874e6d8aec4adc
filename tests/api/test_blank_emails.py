"""Blank and whitespace emails: 400 in each surface's dialect wherever an address is taken."""

from __future__ import annotations

import logging

import pytest
from fixtures.accounts import RABBIT_PASSWORD, ZELLYY_PASSWORD, unique_email

from api.rabbit import errors as rabbit_texts

# Whitespace as Unicode defines it: ASCII, no-break, em and ideographic spaces, line breaks.
BLANKS = ["", " ", "\t", "\u00a0", "\n", "\r\n", "\u2003", "\u3000", "\u2028", " \u00a0\t "]
# Addresses with whitespace in or after them: never a valid address to sign up with.
SPACED = ["a@example.com\n", "a @example.com", "a@example.com\u00a0", "\u3000a@example.com"]


@pytest.fixture
def no_errors_logged(caplog):
    caplog.set_level(logging.ERROR)
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("email", BLANKS)
def test_a_blank_zellyy_login_is_invalid_request(client, email, no_errors_logged):
    resp = client.simulate_post(
        "/api/v1/auth/login", json={"email": email, "password": ZELLYY_PASSWORD}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json["error"]["code"] == "invalid_request"
    assert resp.json["error"]["details"] == {"email": "Must not be blank"}


@pytest.mark.parametrize("email", BLANKS)
def test_a_blank_money_for_rabbit_login_is_refused_like_wrong_credentials(
    client, email, no_errors_logged
):
    resp = client.simulate_post("/api/user/login", json={"email": email, "password": "x"})
    assert (resp.status_code, resp.json) == (400, {"error": rabbit_texts.BAD_CREDENTIALS})


@pytest.mark.parametrize("email", BLANKS + SPACED)
def test_sign_up_and_register_refuse_blank_and_spaced_addresses(client, email, no_errors_logged):
    signup = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": email, "password": ZELLYY_PASSWORD, "username": "ann"},
    )
    assert signup.status_code == 400, signup.text
    assert set(signup.json["error"]["details"]) == {"email"}
    register = client.simulate_post(
        "/api/user/register",
        json={"email": email, "password": RABBIT_PASSWORD, "username": "토끼"},
    )
    assert (register.status_code, register.json) == (400, {"error": rabbit_texts.INVALID_EMAIL})
    from pony import orm

    from models.users import User

    with orm.db_session:
        assert User.select().count() == 0


def test_whitespace_around_a_real_address_still_logs_in(client, zellyy_signup, rabbit_register):
    zellyy = zellyy_signup()
    rabbit = rabbit_register()
    for path, account in (("/api/v1/auth/login", zellyy), ("/api/user/login", rabbit)):
        typed = f"\u00a0 {account.email.upper()}\t"
        resp = client.simulate_post(path, json={"email": typed, "password": account.password})
        assert resp.status_code == 200, resp.text


def test_the_model_refuses_a_blank_address_whoever_calls_it(config):
    from models.errors import InvalidInput
    from models.transaction import transaction
    from models.users import authenticate, create_user

    for email in BLANKS:
        with pytest.raises(InvalidInput), transaction():
            create_user(email, ZELLYY_PASSWORD, "ann")
        with pytest.raises(InvalidInput), transaction():
            authenticate(email, ZELLYY_PASSWORD)
    with transaction():
        create_user(unique_email(), ZELLYY_PASSWORD, "ann")  # a real address still works

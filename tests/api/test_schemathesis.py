"""Schemathesis runs every operation of GET /openapi.json against the app, in process.

Each operation gets generated requests, valid and invalid, from the document
itself; every answer must be no server error and one the document describes
(status, content type, body schema). The callers are real users of each surface:
most requests carry the token of the surface's user, path ids often name that
user's own rows, and body fields its credentials and tokens, so that the success
paths run too, not only the 401s and 404s.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from fixtures.accounts import bearer
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.auth import RABBIT, ZELLYY
from api.recovery import CONFIRM_PURPOSE, RESET_PURPOSE

# No 5xx, and a status, content type and body the document gives the operation.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Ids at the edges of what a database column holds, and digits that are not ASCII.
EDGE_IDS = ["0", "-1", "007", str(2**31), str(2**63 - 1), str(2**63), "9" * 40, "١٢", "1e3", "\x00"]
RESETS = ("/auth/reset", "/api/user/password-reset/confirm")
WEBHOOK_URL = "http://127.0.0.1:9/hook"  # nothing listens: deliveries stay pending


@pytest.fixture
def app(config, sent_tasks):
    """The app on the run's database, with rate limits no run of examples reaches.

    Tasks stay in this process (sent_tasks): the examples queue thousands.
    """
    from api.app import create_app

    return create_app(
        dataclasses.replace(
            config,
            rate_limit_login="1000000/minute",
            rate_limit_ip="1000000/minute",
            rate_limit_recovery_mail="1000000/minute",
        )
    )


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


class World:
    """The callers and their rows; put back whenever an example deletes or logs out one."""

    def __init__(
        self, client, zellyy_signup, rabbit_register, admin_headers, platforms, localstripe, links
    ):
        self.client = client
        self.links = links  # signs the tokens of mailed links
        self.zellyy_signup = zellyy_signup
        self.rabbit_register = rabbit_register
        self.admin = admin_headers
        self.platforms = platforms
        self.webhook_id = self._webhook()
        # Signed up after the webhook exists: its user.created gives it a delivery.
        self.ann = zellyy_signup(username="ann")
        self.delivery_id = self._delivery()
        self.platforms.account("facebook", "facebook-token", "page-100")
        self.card_id = self._card()
        self._connect()
        self.share_id = self._share()
        self.owner = rabbit_register(username="토끼")
        self.writer = rabbit_register(username="거북이")
        self.message_id = self._message()
        # Cards localstripe knows: a subscription can start, and change its card.
        self.payment_methods = [localstripe.payment_method() for _ in range(3)]

    def token(self, case) -> str | None:
        """The token of the user the operation's surface and path call for."""
        path = case.operation.path
        if path == "/api/user/refresh":  # the refresh token is the bearer here
            return self.owner.refresh_token
        if "/webhooks" in path:
            return self.admin["Authorization"].split()[1]
        tag = (case.operation.tags or ["service"])[0]
        if tag == "zellyy":
            return self.ann.access_token
        if tag == "rabbit":
            return self.owner.access_token
        return None

    def own(self, name: str) -> list[str]:
        """Values of path parameter `name` that name rows of the caller's own."""
        return {
            "card_id": [self.card_id],
            "share_id": [self.share_id],
            "platform": ["facebook", "instagram", "twitter"],
            "webhook_id": [self.webhook_id],
            "delivery_id": [str(self.delivery_id)],
            "user_id": [str(self.owner.id), str(self.writer.id)],
            "message_id": [str(self.message_id)],
        }.get(name, [])

    def own_field(self, name: str, case) -> list:
        """Values of body field `name` that are the caller's own: credentials, its tokens.

        A reset sets the generated password: `after` logs in with it.
        """
        if name == "payment_method_id":
            return self.payment_methods
        if name == "access_token":  # the one account the stand-in platforms know
            return ["facebook-token"]
        if name == "token" and case.operation.path.endswith("/auth/confirm"):
            return [self.links.issue_link(CONFIRM_PURPOSE, self.ann.id, ZELLYY, 3600)]
        if name == "token" and case.operation.path.endswith(RESETS):
            return [self._reset_token(rabbit="rabbit" in (case.operation.tags or []))]
        account = self.owner if "rabbit" in (case.operation.tags or []) else self.ann
        value = {
            "email": account.email,
            "password": account.password,
            "username": getattr(account, "username", None),
            "refresh_token": account.refresh_token,
        }.get(name)
        return [value] if value else []

    def after(self, case, response) -> None:
        """Make again what a successful example removed."""
        if response.status_code >= 400:
            return
        method, path = case.method.upper(), case.operation.path
        if path.endswith("/auth/logout"):
            self.ann = self._login(self.ann)
        elif method == "POST" and path.endswith("/auth/reset"):  # a new password; sessions end
            self.ann = self._login(dataclasses.replace(self.ann, password=case.body["password"]))
        elif method == "POST" and path == "/api/user/password-reset/confirm":
            owner = dataclasses.replace(self.owner, password=case.body["password"])
            pair = self._post(
                "/api/user/login", {"email": owner.email, "password": owner.password}, {}, 200
            )
            self.owner = dataclasses.replace(
                owner, access_token=pair["access_token"], refresh_token=pair["refresh_token"]
            )
        elif path.endswith("/auth/refresh"):
            pair = response.json()
            self.ann = dataclasses.replace(
                self.ann,
                access_token=pair["access_token"],
                refresh_token=pair["refresh_token"],
            )
        elif path == "/api/user/refresh":
            pair = response.json()
            self.owner = dataclasses.replace(
                self.owner,
                access_token=pair["access_token"],
                refresh_token=pair["refresh_token"],
            )
        elif method == "PUT" and path == "/api/user/{user_id}":  # only the caller's own
            self.owner = dataclasses.replace(self.owner, username=case.body["username"])
        elif path == "/api/user/withdraw":
            self.owner = self.rabbit_register(username="토끼")
            self.message_id = self._message()
        elif method == "DELETE" and path.endswith("/cards/{card_id}"):
            self.card_id = self._card()
            self.share_id = self._share()
        elif method == "DELETE" and path.endswith("/social/connect/{platform}"):
            self._connect()
        elif method == "DELETE" and path.endswith("/webhooks/{webhook_id}"):
            self.webhook_id = self._webhook()
            self.zellyy_signup()
            self.delivery_id = self._delivery()

    def _reset_token(self, rabbit: bool) -> str:
        """A reset link's token for the caller's current password, as the mail would carry."""
        import uuid

        from pony import orm

        from models.recovery import fingerprint
        from models.users import User

        with orm.db_session:
            user = User[self.owner.id] if rabbit else User.get(public_id=uuid.UUID(self.ann.id))
            subject, pwd = str(user.public_id), fingerprint(user)
        audience = RABBIT if rabbit else ZELLYY
        return self.links.issue_link(RESET_PURPOSE, subject, audience, 3600, pwd=pwd)

    def _post(self, path: str, body: dict, headers: dict, status: int) -> dict:
        resp = self.client.simulate_post(path, json=body, headers=headers)
        assert resp.status_code == status, resp.text
        return resp.json

    def _webhook(self) -> str:
        body = {"url": WEBHOOK_URL, "events": ["user.created"], "secret": "a shared secret"}
        return self._post("/api/v1/webhooks", body, self.admin, 201)["id"]

    def _delivery(self) -> int:
        resp = self.client.simulate_get(
            f"/api/v1/webhooks/{self.webhook_id}/deliveries", headers=self.admin
        )
        return resp.json["data"][0]["id"]

    def _card(self) -> str:
        return self._post("/api/v1/cards", {"content": "Hello 안녕"}, self.ann.headers, 201)["id"]

    def _connect(self) -> None:
        body = {"access_token": "facebook-token"}
        self._post("/api/v1/social/connect/facebook", body, self.ann.headers, 200)

    def _share(self) -> str:
        path = f"/api/v1/cards/{self.card_id}/share/facebook"
        return self._post(path, {}, self.ann.headers, 202)["id"]

    def _message(self) -> int:
        body = {"message": "안녕", "amount": 5000, "is_moneybag": True}
        path = f"/api/user/{self.owner.id}/messages"
        return self._post(path, body, self.writer.headers, 201)["id"]

    def _login(self, account):
        body = {"email": account.email, "password": account.password}
        session = self._post("/api/v1/auth/login", body, {}, 200)["session"]
        return dataclasses.replace(
            account,
            access_token=session["access_token"],
            refresh_token=session["refresh_token"],
        )


@pytest.fixture
def world(client, zellyy_signup, rabbit_register, admin_headers, platforms, localstripe, config):
    from api.auth import TokenService

    links = TokenService(config.secret_key, {})  # links only: no access tokens
    return World(
        client, zellyy_signup, rabbit_register, admin_headers, platforms, localstripe, links
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@seed(20261126)
def test_api(case, data, world):
    token = world.token(case)
    # One request in eight keeps whatever credentials were generated, if any.
    if token and data.draw(st.integers(0, 7), label="keep credentials") < 7:
        case.headers = {**(case.headers or {}), **bearer(token)}
    for name in list(case.path_parameters or {}):
        source = data.draw(st.sampled_from(["own", "edge", "generated"]), label=name)
        if source == "own" and world.own(name):
            case.path_parameters[name] = data.draw(st.sampled_from(world.own(name)))
        elif source == "edge":
            case.path_parameters[name] = data.draw(st.sampled_from(EDGE_IDS))
    if isinstance(case.body, dict):
        for name in [n for n in case.body if world.own_field(n, case)]:
            if not data.draw(st.booleans(), label=f"keep {name}"):
                case.body[name] = data.draw(st.sampled_from(world.own_field(name, case)))
    response = case.call_and_validate(checks=CHECKS)
    world.after(case, response)

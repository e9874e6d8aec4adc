"""A client generated from /openapi.json by openapi-python-client gets typed answers.

The generator reads the document as any client team would; its client calls the app
through httpx's WSGI transport (the same requests as over a socket, in process).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import httpx
import pytest

PACKAGE = "generated_api"


@pytest.fixture
def generated(client, tmp_path, monkeypatch):
    """The package openapi-python-client generates from the app's document."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(client.simulate_get("/openapi.json").json))
    generator = [sys.executable, "-m", "openapi_python_client", "generate"]
    run = subprocess.run(
        [*generator, "--path", document, "--output-path", tmp_path / PACKAGE, "--meta", "none"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (tmp_path / PACKAGE / "client.py").exists(), run.stdout + run.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def call(generated, app, surface: str, operation: str, token: str | None = None, **kwargs):
    """Call one generated operation; return its parsed answer and the raw JSON."""
    clients = importlib.import_module(f"{PACKAGE}.client")
    module = importlib.import_module(f"{PACKAGE}.api.{surface}.{operation}")
    options = {
        "base_url": "http://testserver",
        "httpx_args": {"transport": httpx.WSGITransport(app=app)},
    }
    api = (
        clients.AuthenticatedClient(token=token, **options) if token else clients.Client(**options)
    )
    if "body" in kwargs:  # the body's generated model, from the plain dict
        body_type = inspect.signature(module._get_kwargs).parameters["body"].annotation
        kwargs["body"] = body_type.from_dict(kwargs["body"])
    answer = module.sync_detailed(client=api, **kwargs)
    return answer.parsed, json.loads(answer.content)


def assert_typed(parsed, raw: dict) -> None:
    """`parsed` is one of the generated models (not a bare dict or None) holding all of `raw`."""
    assert type(parsed).__module__.startswith(f"{PACKAGE}.models."), type(parsed)
    assert parsed.to_dict() == utc_offsets(raw)


def utc_offsets(value):
    """`value` with its RFC 3339 times' "Z" as "+00:00": the generated models parse them
    into datetimes, whose isoformat() writes UTC so."""
    if isinstance(value, dict):
        return {key: utc_offsets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [utc_offsets(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", value):
        return value[:-1] + "+00:00"
    return value


def test_sign_up_cards_and_the_message_list_come_back_typed(
    generated, app, rabbit_register, client
):
    body = {"email": "typed@example.com", "password": "correct horse", "username": "typed"}
    session, raw = call(generated, app, "zellyy", "post_api_v1_auth_signup", body=body)
    assert_typed(session, raw)
    token = session.session.access_token
    assert isinstance(token, str) and token

    card, raw = call(
        generated, app, "zellyy", "post_api_v1_cards", token, body={"content": "typed card"}
    )
    assert_typed(card, raw)
    assert card.content == "typed card"
    cards, raw = call(generated, app, "zellyy", "get_api_v1_cards", token)
    assert_typed(cards, raw)
    assert [item.id for item in cards.data] == [card.id]

    rabbit, friend = rabbit_register(), rabbit_register()
    given = client.simulate_post(
        f"/api/user/{rabbit.id}/messages",
        json={"message": "새해 복 많이 받아!", "amount": 5000, "is_moneybag": False},
        headers=friend.headers,
    )
    assert given.status_code == 201, given.text
    listing, raw = call(
        generated,
        app,
        "rabbit",
        "get_api_user_user_id_messages",
        rabbit.access_token,
        user_id=str(rabbit.id),
        page=1,
    )
    assert_typed(listing, raw)
    assert listing.user_info.total_amount == 5000
    assert [m.message for m in listing.messages] == ["새해 복 많이 받아!"]

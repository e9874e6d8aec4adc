"""One JSON log line per request, its X-Request-ID, and no secret in any log line."""

from __future__ import annotations

import re

import pytest
from falcon import testing
from fixtures.accounts import RABBIT_PASSWORD, ZELLYY_PASSWORD, user_id_of
from helpers import json_lines

GENERATED = re.compile(r"[0-9a-f]{32}")


def request_lines(text: str) -> list[dict]:
    return [line for line in json_lines(text) if line["logger"] == "api.requests"]


def test_each_request_writes_one_line_with_its_route_status_duration_ids(
    client, zellyy_signup, capsys
):
    ann = zellyy_signup()
    capsys.readouterr()

    resp = client.simulate_get(
        "/api/v1/users/me", headers={**ann.headers, "X-Request-ID": "req-42"}
    )

    assert resp.status_code == 200
    [line] = request_lines(capsys.readouterr().err)
    assert line["message"] == "request"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/users/me"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["request_id"] == "req-42"
    assert line["user_id"] == user_id_of(ann.email)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["level"] == "INFO"


def test_a_request_without_a_user_logs_none_and_an_unknown_route_no_template(client, capsys):
    client.simulate_get("/api/v1/plans-that-do-not-exist")
    client.simulate_get("/healthz")

    unknown, health = request_lines(capsys.readouterr().err)
    assert (unknown["route"], unknown["status"], unknown["user_id"]) == (None, 404, None)
    assert (health["route"], health["status"], health["user_id"]) == ("/healthz", 200, None)


def test_no_password_token_link_or_signature_reaches_the_logs(
    client, config, confirm_link, rabbit_register, zellyy_signup, capsys, monkeypatch
):
    from models import card_image

    bo = rabbit_register()  # registers with its password, confirms by link, logs in
    link = confirm_link(bo.id)
    ann = zellyy_signup()
    card = client.simulate_post("/api/v1/cards", json={"content": "hi"}, headers=ann.headers)
    image_url = card_image.signed_url("", card.json["id"], config.secret_key)
    signature = re.search(r"signature=([^&]+)", image_url).group(1)
    assert client.simulate_get(image_url).status_code == 200
    client.simulate_post(
        "/api/v1/auth/login", json={"email": ann.email, "password": "wrong " + ZELLYY_PASSWORD}
    )
    client.simulate_get("/api/v1/users/me", headers={"Authorization": "Bearer not.a.token"})
    assert client.simulate_get(link).status_code == 303
    # An unexpected error on a route whose path holds a token: logged with its trace.
    from api.auth import TokenService

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(TokenService, "verify_link", explode)
    # A crash no document lists: asked without the contract check.
    failed = testing.TestClient(client.app).simulate_get(link)
    assert failed.status_code == 500
    assert "boom" not in failed.text and "Traceback" not in failed.text

    logged = capsys.readouterr().err
    lines = json_lines(logged)
    routes = [line.get("route") for line in lines if line["logger"] == "api.requests"]
    assert routes.count("/api/confirm-user/{user_id}/{token}") == 3
    assert "/api/v1/cards/{card_id}/image.png" in routes
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert "RuntimeError: boom" in error["exception"]
    assert error["message"] == "unhandled error on GET /api/confirm-user/{user_id}/{token}"
    token = link.rsplit("/", 1)[1]
    secrets = {
        "confirmation token": token,
        "Money For Rabbit password": RABBIT_PASSWORD,
        "Zellyy password": ZELLYY_PASSWORD,
        "Money For Rabbit access token": bo.access_token,
        "Money For Rabbit refresh token": bo.refresh_token,
        "Zellyy access token": ann.access_token,
        "bad bearer": "not.a.token",
        "image signature": signature,
    }
    for name, secret in secrets.items():
        assert secret not in logged, f"the {name} is in the logs"


def test_a_sane_request_id_is_kept_and_returned(client, capsys):
    for given in (
        "abc",
        "5f0c9a0e-6a57-4c64-9d53-2b3e8f1c7d10",
        "Root=1-67891233:x/y+z=",
        "a" * 128,
    ):
        resp = client.simulate_get("/healthz", headers={"X-Request-ID": given})
        assert resp.headers["x-request-id"] == given
    logged = [line["request_id"] for line in request_lines(capsys.readouterr().err)]
    assert logged[-1] == "a" * 128


@pytest.mark.parametrize(
    "given",
    ["a" * 129, "two words", "line\nbreak", "<script>", "", "ü-umlaut", "semi;colon"],
)
def test_an_insane_request_id_is_replaced(client, given, capsys):
    resp = client.simulate_get("/healthz", headers={"X-Request-ID": given})
    returned = resp.headers["x-request-id"]
    assert GENERATED.fullmatch(returned)
    [line] = request_lines(capsys.readouterr().err)
    assert line["request_id"] == returned


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.simulate_get("/healthz").headers["x-request-id"]
    second = client.simulate_get("/healthz").headers["x-request-id"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


def test_errors_return_the_request_id_too(client, config, zellyy_signup, capsys, monkeypatch):
    from api.auth import TokenService

    ann = zellyy_signup()
    json_headers = {**ann.headers, "Content-Type": "application/json"}
    calls = {
        "e404": lambda h: client.simulate_get("/nowhere", headers=h),
        "e405": lambda h: client.simulate_delete("/healthz", headers=h),
        "e400": lambda h: client.simulate_post(
            "/api/v1/cards", body="{not json", headers={**json_headers, **h}
        ),
        "e401": lambda h: client.simulate_get("/api/v1/users/me", headers=h),
        "e401-rabbit": lambda h: client.simulate_get("/api/user/1/messages", headers=h),
        "e413": lambda h: client.simulate_post(
            "/api/v1/cards", body="x" * (config.max_body_bytes + 1), headers={**json_headers, **h}
        ),
    }
    answers = {name: call({"X-Request-ID": name}) for name, call in calls.items()}

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(TokenService, "verify_access", explode)
    # Unchecked: a crash is the one answer no OpenAPI document lists.
    answers["e500"] = testing.TestClient(client.app).simulate_get(
        "/api/v1/users/me", headers={**ann.headers, "X-Request-ID": "e500"}
    )

    logged = {line["request_id"]: line["status"] for line in request_lines(capsys.readouterr().err)}
    for name, resp in answers.items():
        assert resp.status_code == int(name[1:4]), (name, resp.text)
        assert resp.headers["x-request-id"] == name
        assert logged[name] == resp.status_code


def test_a_handler_added_on_the_way_still_gets_each_request_as_a_record(client, caplog, capsys):
    # The line is written straight to stderr only where our handler is the one it reaches.
    with caplog.at_level("INFO", logger="api.requests"):
        client.simulate_get("/healthz", headers={"X-Request-ID": "seen-by-caplog"})

    [record] = [r for r in caplog.records if r.name == "api.requests"]
    assert record.getMessage() == "request"
    assert (record.fields["route"], record.fields["status"]) == ("/healthz", 200)
    [line] = request_lines(capsys.readouterr().err)
    assert (line["request_id"], line["route"]) == ("seen-by-caplog", "/healthz")


def test_the_line_written_straight_is_the_line_logging_writes(capsys):
    import logging

    from telemetry import logs

    logger = logging.getLogger("api.requests")
    token = logs.request_id.set("same-line")
    try:
        fields = {"method": "GET", "status": 200, "user_id": None, "duration_ms": 1.5}
        logs.info(logger, "request", fields)
        logger.info("request", extra={"fields": fields})
    finally:
        logs.request_id.reset(token)

    straight, through_logging = request_lines(capsys.readouterr().err)
    assert straight.pop("time")[:19] == through_logging.pop("time")[:19]
    assert straight == through_logging


@pytest.mark.parametrize("created", [0.0, 1.9995, 1767225599.999, 1767225600.0, 1767225600.5])
def test_timestamps_are_utc_with_milliseconds(created):
    import time

    from telemetry import logs

    logs._timestamp(created - 1)  # another second formatted just before
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    expected += f".{int(round(created % 1, 6) * 1000):03d}Z"
    assert logs._timestamp(created) == expected

"""A request's id followed from the web log into the real worker's log; task lines and metrics."""

from __future__ import annotations

import json
import re
import uuid
from email import message_from_bytes
from email.policy import default

import pytest
from conftest import APP_URL
from fixtures.accounts import RABBIT_PASSWORD, ZELLYY_PASSWORD, unique_email
from helpers import json_lines, metric, wait_for

pytestmark = pytest.mark.redis


def worker_lines(worker) -> list[dict]:
    """The worker's log lines so far (whole lines only: it may be writing one now)."""
    text = worker.log_path.read_text()
    complete = text[: text.rfind("\n") + 1]
    # Celery prints its start-up banner on stdout; every log record is a JSON line.
    return [json.loads(line) for line in complete.splitlines() if line.startswith("{")]


def task_line(worker, request_id: str, task: str) -> dict:
    return wait_for(
        lambda: next(
            (
                line
                for line in worker_lines(worker)
                if line["message"] == "task"
                and line.get("request_id") == request_id
                and line["task"] == task
            ),
            None,
        )
    )


def web_line(err: str, request_id: str) -> dict:
    # This process's stderr also carries what the test's own HTTP servers print
    # (socketserver's "----" blocks when a client hangs up): only JSON lines are ours.
    ours = "\n".join(line for line in err.splitlines() if line.startswith("{"))
    [line] = [
        line
        for line in json_lines(ours)
        if line["logger"] == "api.requests" and line["request_id"] == request_id
    ]
    return line


def test_a_registrations_id_goes_from_the_web_line_to_its_mail_tasks_line(
    client, celery_worker, smtp_server, capsys
):
    request_id = f"trace-{uuid.uuid4().hex}"
    email = unique_email("rabbit")
    body = {"email": email, "password": RABBIT_PASSWORD, "username": "토끼"}
    resp = client.simulate_post(
        "/api/user/register", json=body, headers={"X-Request-ID": request_id}
    )
    assert resp.status_code == 201
    assert resp.headers["x-request-id"] == request_id

    web = web_line(capsys.readouterr().err, request_id)
    assert (web["route"], web["status"]) == ("/api/user/register", 201)
    task = task_line(celery_worker, request_id, "mail.deliver")
    assert task["outcome"] == "succeeded"
    assert task["logger"] == "worker.tasks"
    assert re.fullmatch(r"[0-9a-f-]{36}", task["task_id"])
    assert task["duration_ms"] > 0

    # The mail carries the confirmation link; the worker's log carries neither it nor the password.
    mail = wait_for(lambda: next((m for m in smtp_server.messages if email in m.rcpt_tos), None))
    text = message_from_bytes(mail.content, policy=default).get_body(("plain",)).get_content()
    link = re.search(re.escape(APP_URL) + r"/api/confirm-user/\d+/(\S+)", text)
    logged = celery_worker.log_path.read_text()
    assert link.group(1) not in logged
    assert RABBIT_PASSWORD not in logged
    # Celery's own text format is not used: its records are JSON lines too.
    assert not re.search(r"^\[\d{4}-\d\d-\d\d ", logged, re.MULTILINE)


def test_a_sign_ups_id_reaches_its_webhook_delivery_and_the_metrics_add_up(
    client, celery_worker, register_webhook, receiver, capsys
):
    register_webhook(receiver.url)
    before = client.simulate_get("/metrics").text
    request_id = f"trace-{uuid.uuid4().hex}"
    resp = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": unique_email(), "password": ZELLYY_PASSWORD, "username": "zel"},
        headers={"X-Request-ID": request_id},
    )
    assert resp.status_code == 200

    assert web_line(capsys.readouterr().err, request_id)["route"] == "/api/v1/auth/signup"
    receiver.wait_for(1)
    assert task_line(celery_worker, request_id, "webhooks.deliver")["outcome"] == "succeeded"
    # The worker's processes write where this process reads: /metrics shows their sums.
    after = client.simulate_get("/metrics").text
    deliveries = {"task": "webhooks.deliver", "outcome": "succeeded"}
    assert metric(after, "task_duration_seconds_count", **deliveries) > metric(
        before, "task_duration_seconds_count", **deliveries
    )
    assert metric(after, "webhook_attempts_total", outcome="succeeded") == 1 + metric(
        before, "webhook_attempts_total", outcome="succeeded"
    )


def test_a_failed_task_logs_its_trace_under_the_id_of_whoever_sent_it(celery_worker):
    from telemetry import logs
    from worker.celery import app

    request_id = f"trace-{uuid.uuid4().hex}"
    token = logs.request_id.set(request_id)
    try:  # sent outside any request: the id current when it is published is the one it carries
        app.send_task("mail.deliver", kwargs={"no_such_argument": 1})
    finally:
        logs.request_id.reset(token)

    assert task_line(celery_worker, request_id, "mail.deliver")["outcome"] == "failed"
    [error] = [
        line
        for line in worker_lines(celery_worker)
        if line.get("request_id") == request_id and line["level"] == "ERROR"
    ]
    assert "TypeError" in error["exception"]
    assert "Traceback" in error["exception"]


def test_a_retried_task_says_so(celery_worker, smtp_server):
    from models.mail_outbox import queue_mail
    from models.transaction import transaction
    from telemetry import logs

    request_id = f"trace-{uuid.uuid4().hex}"
    to = f"defer-once-{uuid.uuid4().hex[:8]}@example.com"
    token = logs.request_id.set(request_id)
    try:
        with transaction():
            queue_mail(to, "hi", "hello")
    finally:
        logs.request_id.reset(token)

    assert task_line(celery_worker, request_id, "mail.deliver")["outcome"] == "retried"

"""A stopped or frozen Redis holds no answer, and once it is back every webhook and mail goes once.

The whole system runs as in production, on a Redis of the test's own: gunicorn,
two Celery workers and beat (sweepers every 3 s), with a real SMTP server and a
real webhook receiver.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest
import requests
from celery import Celery
from conftest import RUN_ID, _free_port
from helpers import Beat, Process, Worker, wait_for
from pony import orm

from models import tasks
from models.mail_outbox import SENT, OutboxMail, queue_mail
from models.transaction import transaction
from models.webhooks import WebhookDelivery, create_endpoint

pytestmark = pytest.mark.redis

# The contract: with Redis down, an answer still comes within this (each Redis call
# waits REDIS_TIMEOUT, 0.5 s, at most, and a request makes at most two).
ANSWER_WITHIN = 2.0
QUEUE = f"outage-{RUN_ID}"


@pytest.fixture
def services(config, own_redis, smtp_server, tmp_path):
    """web (gunicorn), two workers and beat, on the test's own Redis."""
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_URL": own_redis.url,
        "SMTP_URL": smtp_server.url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "CELERY_QUEUE": QUEUE,
        "BEAT_SCALE": "0.1",
        "REDBEAT_KEY_PREFIX": f"redbeat-outage-{RUN_ID}:",
    }
    url = f"http://127.0.0.1:{port}"
    started = []
    try:
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "api.wsgi:app"]
        started.append(Process(command, tmp_path / "web.log", env, lambda _: _healthy(url)))
        for name in ("one", "two"):
            started.append(Worker(tmp_path / f"{name}.log", env, f"--hostname={name}@%h"))
        started.append(Beat(tmp_path / "beat.log", env))
        yield SimpleNamespace(url=url, processes=started)
    finally:
        for process in started:
            process.stop()


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def timed_post(url: str, body: dict) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.post(url, json=body, timeout=60).status_code
    return status, time.monotonic() - started


def mails_to(smtp_server, addresses: set[str]) -> Counter:
    return Counter(to for m in list(smtp_server.messages) for to in m.rcpt_tos if to in addresses)


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_sign_ups_answer_while_redis_is_down_and_everything_follows_once_it_is_back(
    fault, config, services, own_redis, make_receiver, smtp_server
):
    receiver = make_receiver()
    with transaction():
        create_endpoint(
            receiver.url,
            ["user.created"],
            "the receiver's secret",
            encryption_key=config.encryption_key,
            allow_private=True,
        )
    tag = uuid.uuid4().hex[:8]
    rabbits = {f"rab{n}-{tag}@example.com" for n in range(4)}
    zellyys = [f"zel{n}-{tag}@example.com" for n in range(4)]

    own_redis.stop() if fault == "stopped" else own_redis.freeze()
    answers = []
    for zellyy, rabbit in zip(zellyys, sorted(rabbits), strict=True):
        body = {"email": zellyy, "password": "password1", "username": "zel"}
        answers.append(timed_post(f"{services.url}/api/v1/auth/signup", body))
        body = {"email": rabbit, "password": "Abcdefgh123!", "username": "토끼"}
        answers.append(timed_post(f"{services.url}/api/user/register", body))
    started = time.monotonic()
    readiness = requests.get(f"{services.url}/readyz", timeout=60)
    readiness_took = time.monotonic() - started
    own_redis.start() if fault == "stopped" else own_redis.thaw()

    assert readiness.status_code == 503
    assert readiness.json()["checks"] == {"database": "ok", "broker": "unreachable"}
    assert readiness_took < ANSWER_WITHIN

    assert [status for status, _ in answers] == [200, 201] * 4
    assert max(seconds for _, seconds in answers) < ANSWER_WITHIN, answers

    # Both apps' sign-ups are user.created events (8 deliveries) and confirmation mails.
    with orm.db_session:
        message_ids = set(orm.select(d.message_id for d in WebhookDelivery))
        mails = Counter(orm.select(m.recipient for m in OutboxMail).without_distinct())
    assert len(message_ids) == 8
    everyone = rabbits | set(zellyys)
    assert mails == dict.fromkeys(everyone, 1)
    wait_for(lambda: len(receiver.received()) >= 8, timeout=120)
    wait_for(lambda: len(mails_to(smtp_server, everyone)) == 8, timeout=120)
    every_sent = orm.db_session(lambda: orm.count(m for m in OutboxMail if m.status != SENT) == 0)
    wait_for(every_sent, timeout=60)
    time.sleep(4)  # a sweep or more later: nothing is sent again

    assert Counter(r.message_id for r in receiver.received()) == dict.fromkeys(message_ids, 1)
    assert mails_to(smtp_server, everyone) == dict.fromkeys(everyone, 1)
    assert all(process.poll() is None for process in services.processes)


def test_two_workers_never_send_one_mail_twice(
    config, services, own_redis, smtp_server, monkeypatch
):
    # Ten mails whose tasks are lost at commit ...
    monkeypatch.setattr(tasks, "_publisher", lambda name, kwargs: None)
    tag = uuid.uuid4().hex[:8]
    addresses = {f"twice{n}-{tag}@example.com" for n in range(10)}
    with transaction():
        ids = [queue_mail(to, "once", "only once").id for to in sorted(addresses)]
    # ... and sent three times each, to two workers that take them at once.
    sender = Celery(broker=own_redis.url)
    for _ in range(3):
        for mail_id in ids:
            sender.send_task("mail.deliver", kwargs={"mail_ids": [mail_id]}, queue=QUEUE)

    wait_for(lambda: len(mails_to(smtp_server, addresses)) == 10, timeout=60)
    time.sleep(4)  # the other tasks and a sweep or more later

    assert mails_to(smtp_server, addresses) == dict.fromkeys(addresses, 1)
    with orm.db_session:
        assert orm.count(m for m in OutboxMail if m.status == SENT) == 10
    worker_logs = [process.log() for process in services.processes[1:3]]
    assert all("mail.deliver" in log for log in worker_logs), "both workers took a part"

"""Open-day mail: once messages open, each user is mailed their count and money exactly once."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from helpers import wait_for
from pony import orm

from models import open_day
from models.clock import utcnow
from models.mail_outbox import SENT, OutboxMail
from models.messages import Message
from models.open_day import OpenDayMail
from models.transaction import transaction
from models.users import create_user


def _user(name: str, *, confirmed: bool = True) -> tuple[int, str]:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    with transaction():
        user = create_user(email, "Abcdefgh123!", name, confirmed=confirmed)
        return user.id, email


def _message(to: int, author: int, amount: int, is_moneybag: bool = False) -> None:
    with transaction():
        Message(recipient=to, author=author, message="복", amount=amount, is_moneybag=is_moneybag)


def _run(task_kwargs: dict) -> str:
    from worker.celery import app

    return app.send_task("messages.open_day", kwargs=task_kwargs).id


def _result(worker, task_id: str) -> int | None:
    """What a run of the job returned, from the worker's log, once it has finished."""
    pattern = rf"messages\.open_day\[{task_id}\] succeeded in [\d.]+s: (\d+)"
    found = re.search(pattern, worker.log_path.read_text())
    return int(found.group(1)) if found else None


def _results(worker, *task_ids: str) -> list[int] | None:
    results = [_result(worker, task_id) for task_id in task_ids]
    return None if None in results else results


def _mail_tasks_settled(worker, config) -> bool:
    """No task waits in the queue, and every mail task the worker took has finished."""
    import redis

    if redis.Redis.from_url(config.redis_url).llen(config.queue("mail")):
        return False
    log = worker.log_path.read_text()
    received = len(re.findall(r"Task mail\.deliver\[[\w-]+\] received", log))
    done = len(re.findall(r"Task mail\.deliver\[[\w-]+\] (?:succeeded|raised|retry)", log))
    return received == done


def _mails_to(smtp_server, email: str) -> list[str]:
    """The text part of each mail to `email`."""
    return [_parts(m)["text/plain"] for m in list(smtp_server.messages) if email in m.rcpt_tos]


def _parts(envelope) -> dict[str, str]:
    message = message_from_bytes(envelope.content, policy=default)
    assert message.get_content_type() == "multipart/alternative"
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def _html_to(smtp_server, email: str) -> str:
    [html] = [_parts(m)["text/html"] for m in list(smtp_server.messages) if email in m.rcpt_tos]
    return html


@pytest.mark.redis
def test_two_runs_at_once_mail_each_user_once(config, celery_worker, smtp_server):
    ann, ann_email = _user("앤")
    bob, bob_email = _user("밥")
    cat, cat_email = _user("캣")
    _, dan_email = _user("댄", confirmed=False)  # never confirmed: not mailed
    _message(ann, bob, 5000)
    _message(ann, cat, 12345, is_moneybag=True)
    _message(bob, ann, 100)
    opening = utcnow().isoformat() + "Z"
    _, eve_email = _user("이브")  # joined after the opening: nothing to announce

    first, second = _run({"open_at": opening}), _run({"open_at": opening})
    results = wait_for(lambda: _results(celery_worker, first, second))
    assert sum(results) == 3

    for email in (ann_email, bob_email, cat_email):
        wait_for(lambda email=email: _mails_to(smtp_server, email))
    wait_for(lambda: _mail_tasks_settled(celery_worker, config))
    assert [len(_mails_to(smtp_server, e)) for e in (ann_email, bob_email, cat_email)] == [1, 1, 1]
    assert _mails_to(smtp_server, dan_email) == []
    assert _mails_to(smtp_server, eve_email) == []
    assert "쪽지 2개와 17,345원을 받았습니다." in _mails_to(smtp_server, ann_email)[0]
    assert "<strong>17,345원</strong>" in _html_to(smtp_server, ann_email)
    assert "쪽지 1개와 100원을 받았습니다." in _mails_to(smtp_server, bob_email)[0]
    # Nothing received: an invitation to share one's own page instead.
    [invitation] = _mails_to(smtp_server, cat_email)
    assert "아직 받은 세뱃돈이 없네요" in invitation and "0원" not in invitation
    assert f"http://frontend.test/user/{cat}" in invitation
    assert f'href="http://frontend.test/user/{cat}"' in _html_to(smtp_server, cat_email)

    # A later run, as after a restart of beat or the worker, sends nothing more.
    third = _run({"open_at": opening})
    assert wait_for(lambda: _result(celery_worker, third) is not None)
    assert _result(celery_worker, third) == 0
    with orm.db_session:
        assert orm.count(d for d in OpenDayMail) == 3
        assert orm.count(m for m in OutboxMail if m.status == SENT) == 3


@pytest.mark.redis
def test_nothing_is_sent_before_the_opening(config, celery_worker, smtp_server):
    _, ann_email = _user("앤")
    future = "2099-01-01T00:00:00+09:00"
    early = _run({"open_at": future})
    assert wait_for(lambda: _result(celery_worker, early) is not None)
    assert _result(celery_worker, early) == 0
    with orm.db_session:
        assert orm.count(d for d in OpenDayMail) == 0

    # As if it were the opening day: the job catches up.
    late = _run({"open_at": future, "as_of": "2099-01-01T00:00:00+09:00"})
    assert wait_for(lambda: _result(celery_worker, late) is not None)
    assert _result(celery_worker, late) == 1
    assert "아직 받은 세뱃돈이 없네요" in wait_for(lambda: _mails_to(smtp_server, ann_email))[0]


def test_without_an_opening_date_the_job_does_nothing(config, sent_tasks):
    from worker.open_day import open_day

    _user("앤")
    assert config.messages_open_at is None  # as in the worker's environment
    assert open_day() == 0  # run here: the worker may be busy with other tests' tasks
    assert sent_tasks == []
    with orm.db_session:
        assert orm.count(d for d in OpenDayMail) == 0


def _queue(opening, limit=100) -> int | None:
    with transaction():
        return open_day.queue_open_day_mails(opening, limit, lambda n: ("subject", n.email, None))


def _outbox() -> list[str]:
    """Whom the outbox holds a mail for, one entry per mail."""
    with orm.db_session:
        return sorted(orm.select(m.recipient for m in OutboxMail).without_distinct())


def test_a_run_that_dies_before_committing_leaves_every_user_to_the_next(config):
    _, email = _user("앤")
    opening = utcnow()

    def render(notice):
        raise RuntimeError("the worker dies here")

    with pytest.raises(RuntimeError), transaction():
        open_day.queue_open_day_mails(opening, 100, render)
    assert _outbox() == []

    assert _queue(opening) == 1
    assert _outbox() == [email]
    assert _queue(opening) is None  # told: never again


def test_concurrent_runs_split_the_users_without_overlap(config):
    emails = {_user(f"u{n}")[1] for n in range(12)}
    opening = utcnow()
    barrier = threading.Barrier(3)
    written: list[int] = []

    def run():
        barrier.wait()
        while (count := _queue(opening, limit=2)) is not None:
            written.append(count)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(written) == len(emails)
    assert _outbox() == sorted(emails)
    with orm.db_session:
        assert orm.count(d for d in OpenDayMail) == len(emails)


def test_a_new_opening_mails_everyone_again(config):
    _, email = _user("앤")
    first = utcnow()
    assert _queue(first) == 1
    assert _queue(first + timedelta(days=365)) == 1
    assert _outbox() == [email, email]

"""The mail outbox: written with its transaction, claimed on a lease, retried, swept when due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pony import orm

from models import mail_outbox, tasks
from models.clock import utcnow
from models.mail_outbox import FAILED, PENDING, SENT, OutboxMail, queue_mail
from models.transaction import transaction


@pytest.fixture
def published(config, monkeypatch) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(tasks, "_publisher", lambda name, kwargs: sent.append((name, kwargs)))
    return sent


def _queued() -> int:
    with transaction():
        return queue_mail("ann@example.com", "Hello", "text", "<p>html</p>").id


def _claim(mail_id: int):
    with transaction():
        return mail_outbox.claim(mail_id)


def _mail(mail_id: int) -> OutboxMail:
    with orm.db_session:
        mail = OutboxMail[mail_id]
        mail.load()
        return mail


def test_a_mail_is_written_with_its_transaction_and_its_task_sent_after_commit(published):
    with pytest.raises(ZeroDivisionError), transaction():
        queue_mail("ann@example.com", "Hello", "text")
        1 / 0  # noqa: B018
    assert published == []
    with orm.db_session:
        assert OutboxMail.select().count() == 0

    mail_id = _queued()
    assert published == [("mail.deliver", {"mail_ids": [mail_id]})]
    with orm.db_session:
        assert mail_outbox.unsent_count() == 1


def test_one_claim_at_a_time_until_its_lease_runs_out(published):
    mail_id = _queued()
    claim = _claim(mail_id)
    assert (claim.to, claim.subject, claim.html, claim.attempt) == (
        "ann@example.com",
        "Hello",
        "<p>html</p>",
        1,
    )
    assert _claim(mail_id) is None  # another worker handed the same mail

    with transaction():
        OutboxMail[mail_id].locked_until = utcnow() - timedelta(seconds=1)  # the holder died
    again = _claim(mail_id)
    assert again is not None and again.attempt == 2
    with transaction():
        mail_outbox.mark_sent(claim)  # the first holder's mark comes too late: not its lease
    assert _mail(mail_id).status == PENDING
    with transaction():
        mail_outbox.mark_sent(again)
    sent = _mail(mail_id)
    assert sent.status == SENT
    # Its links may still be live (a password reset's, for an hour): the body goes.
    assert (sent.text, sent.html) == (mail_outbox.SENT_BODY, None)
    assert _claim(mail_id) is None  # sent: never again


def test_a_refused_mail_is_tried_later_and_given_up_when_it_cannot_succeed(published):
    mail_id = _queued()
    claim = _claim(mail_id)
    with transaction():
        mail_outbox.mark_failed(claim, "TransientMailError: SMTP 451", permanent=False)
    mail = _mail(mail_id)
    assert mail.status == PENDING and mail.locked_until is None
    assert mail.next_attempt_at - utcnow() > timedelta(seconds=25)
    assert _claim(mail_id) is None  # not due yet

    with transaction():
        OutboxMail[mail_id].next_attempt_at = utcnow()
    claim = _claim(mail_id)
    with transaction():
        mail_outbox.mark_failed(claim, "PermanentMailError: SMTP 550", permanent=True)
    mail = _mail(mail_id)
    assert (mail.status, mail.next_attempt_at, mail.last_error) == (
        FAILED,
        None,
        "PermanentMailError: SMTP 550",
    )


def test_the_sweeper_takes_what_is_due_and_not_in_flight(published):
    lost, held, fresh = _queued(), _queued(), _queued()
    with transaction():
        for mail_id in (lost, held):
            OutboxMail[mail_id].next_attempt_at = utcnow() - timedelta(seconds=60)
    _claim(held)
    with orm.db_session:
        assert mail_outbox.due_mails(utcnow(), grace=20, limit=100) == [lost]
        assert sorted(mail_outbox.due_mails(utcnow(), grace=0, limit=100)) == [lost, fresh]


def test_after_one_failed_publish_the_rest_are_left_to_the_sweepers(config, monkeypatch):
    tried = []

    def broker_down(name, kwargs):
        tried.append(kwargs)
        raise OSError("connection refused")

    monkeypatch.setattr(tasks, "_publisher", broker_down)
    with transaction():
        for n in range(3):
            queue_mail(f"u{n}@example.com", "Hello", "text")
    assert len(tried) == 1
    with orm.db_session:
        assert mail_outbox.unsent_count() == 3

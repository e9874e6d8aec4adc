"""Tasks the domain names leave through the process's publisher: after commit, and only then."""

from __future__ import annotations

import pytest
from pony import orm

from models import tasks
from models.transaction import transaction
from models.users import User, create_user, email_key
from models.webhooks import WebhookDelivery, create_endpoint


@pytest.fixture
def published(config, monkeypatch) -> list[tuple[str, dict]]:
    """The tasks this process publishes, recorded instead of sent; the real publisher comes back."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(tasks, "_publisher", None)
    tasks.set_publisher(lambda name, kwargs: sent.append((name, kwargs)))
    return sent


def test_a_task_is_published_once_its_transaction_commits(published):
    with transaction():
        tasks.send_after_commit("mail.send", to="a@example.com", subject="Hi", text="Hello")
        assert published == []
    assert published == [("mail.send", {"to": "a@example.com", "subject": "Hi", "text": "Hello"})]


def test_a_task_of_a_transaction_that_rolls_back_is_never_published(published):
    with pytest.raises(ZeroDivisionError), transaction():
        tasks.send_after_commit("mail.send", to="a@example.com", subject="Hi", text="Hello")
        1 / 0  # noqa: B018
    assert published == []


def test_without_a_publisher_the_transaction_fails_instead_of_losing_its_tasks(config, monkeypatch):
    with transaction():
        create_endpoint(
            "http://127.0.0.1:9/hook",
            ["user.created"],
            "a plain secret",
            encryption_key=config.encryption_key,
            allow_private=True,
        )
    monkeypatch.setattr(tasks, "_publisher", None)

    with pytest.raises(tasks.NoPublisher), transaction():
        create_user("nobody@example.com", "password1", "nobody")

    with orm.db_session:
        assert not User.exists(email_key=email_key("nobody@example.com"))
        assert WebhookDelivery.select().count() == 0

"""Sending tasks from inside a transaction: they go to the broker only after commit."""

from __future__ import annotations

from models.transaction import after_commit


def send_after_commit(name: str, **kwargs) -> None:
    """Queue task `name` with JSON keyword arguments once the current transaction commits."""
    from worker.celery import app  # the API process loads Celery only when it sends

    after_commit(lambda: app.send_task(name, kwargs=kwargs))

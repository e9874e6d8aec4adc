"""The one door tasks leave by: the domain names a task, the process's publisher sends it.

Which broker a task goes to is not the domain's business: each process
registers its publisher once when it starts (the web app factory, the Celery
worker, the command line).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from models.transaction import after_commit

Publisher = Callable[[str, dict], object]
_publisher: Publisher | None = None


class NoPublisher(Exception):
    """This process registered no publisher: the task would be lost."""


def set_publisher(publish: Publisher) -> None:
    """Register how this process sends task `name` with JSON keyword arguments `kwargs`."""
    global _publisher
    _publisher = publish


def send_after_commit(name: str, **kwargs) -> None:
    """Send task `name` with JSON keyword arguments once the current transaction commits."""
    publish = _publisher
    if publish is None:
        raise NoPublisher(f"no publisher for task {name!r}: call models.tasks.set_publisher first")
    after_commit(partial(publish, name, kwargs))

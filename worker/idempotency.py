"""Removes idempotency keys past their 24 hours."""

from __future__ import annotations

from models import idempotency
from models.transaction import transaction
from worker.celery import app


@app.task(name="idempotency.purge", acks_late=True)
def purge() -> int:
    """Idempotent; returns how many keys were removed. Expired keys are never replayed anyway."""
    with transaction():
        return idempotency.purge()

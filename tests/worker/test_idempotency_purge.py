"""The beat job that removes idempotency keys older than 24 hours, run by the real worker."""

from __future__ import annotations

from datetime import timedelta

from helpers import wait_for
from pony import orm

from models import db
from models.clock import utcnow
from models.idempotency import TTL, IdempotencyKey


def _key(key: str, age: timedelta) -> None:
    with orm.db_session:
        IdempotencyKey(
            scope="user:1", key=key, fingerprint="0" * 64, answer="x", created_at=utcnow() - age
        )


def _keys() -> set[str]:
    with orm.db_session:
        return set(orm.select(k.key for k in IdempotencyKey))


def test_the_purge_removes_expired_keys_only(config, celery_worker):
    import celeryconfig
    from worker.celery import app

    _key("expired", TTL + timedelta(minutes=1))
    _key("fresh", TTL - timedelta(minutes=1))

    app.send_task("idempotency.purge")

    wait_for(lambda: _keys() == {"fresh"})
    scheduled = {entry["task"] for entry in celeryconfig.beat_schedule.values()}
    assert "idempotency.purge" in scheduled


def test_the_purge_answers_how_many_keys_it_removed(config):
    from worker.idempotency import purge

    _key("fresh", timedelta(0))

    assert purge() == 0
    with orm.db_session:
        db.execute("UPDATE idempotency_keys SET created_at = $t", {}, {"t": utcnow() - 2 * TTL})
    assert purge() == 1
    assert _keys() == set()

"""Liveness (/healthz) and readiness (/readyz: database and broker reachable)."""

from __future__ import annotations

import logging
from pathlib import Path

import falcon
import redis
from pony import orm

from api.schemas import fixed
from api.validation import operation
from models import db

log = logging.getLogger(__name__)

ALIVE = fixed(["status"], status={"const": "ok"})


def _readiness(status: str, check: dict) -> dict:
    """The readiness answer, whose overall `status` and each check's are as given."""
    checks = fixed(["database", "broker"], database=check, broker=check)
    return fixed(["status", "checks"], status={"const": status}, checks=checks)


READY = _readiness("ok", {"const": "ok"})
# At least one check is unreachable; which one is for the operator to read.
NOT_READY = _readiness("unavailable", {"enum": ["ok", "unreachable"]})


class Health:
    uses_db = False

    @operation("The process is alive (checks nothing else)", returns=ALIVE)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    uses_db = False

    def __init__(self, client: redis.Redis | None, broker_folder: Path):
        """`client`: the broker's Redis, its calls bounded; None in embedded mode."""
        self.redis = client
        self.broker_folder = broker_folder

    @operation(
        "Database and broker are reachable (503 when not)",
        returns=READY,
        responses={503: ("Not ready: the database or the broker is unreachable", NOT_READY)},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = {"database": self._database(), "broker": self._broker()}
        ready = all(value == "ok" for value in checks.values())
        resp.status = 200 if ready else 503
        resp.media = {"status": "ok" if ready else "unavailable", "checks": checks}

    def _database(self) -> str:
        try:
            with orm.db_session:
                db.execute("SELECT 1")
        except Exception as ex:
            log.warning("readiness: database unreachable: %s", ex)
            return "unreachable"
        return "ok"

    def _broker(self) -> str:
        try:
            if self.redis is not None:
                self.redis.ping()
            elif not self.broker_folder.is_dir():
                return "unreachable"
        except redis.RedisError as ex:
            log.warning("readiness: broker unreachable: %s", ex)
            return "unreachable"
        return "ok"

"""Beat's scheduler in services mode: RedBeat, holding on through a Redis outage."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import redis
from redbeat import RedBeatScheduler
from redbeat.schedulers import acquire_distributed_beat_lock

log = logging.getLogger(__name__)


class Scheduler(RedBeatScheduler):
    """RedBeat: the schedule and a lock in Redis, so that one beat's schedule runs.

    RedBeat alone exits when Redis fails under it, or when it finds its lock
    gone (Redis restarted empty, or frozen past the lock's timeout). This one
    waits instead: for Redis, then for the lock like any second beat, and then
    puts the schedule back (due times that Redis kept are kept).
    """

    schedule_in_redis = False

    def setup_schedule(self):
        # Also called as beat starts, before it checks that Redis answers (and says so).
        try:
            super().setup_schedule()
        except redis.RedisError as ex:
            log.warning("beat: schedule not stored, Redis unavailable (%r)", ex)
            return
        self.schedule_in_redis = True

    def tick(self, *args, **kwargs):
        try:
            if self.lock is None or not self.lock.owned():
                log.warning("beat: not holding the lock; waiting for it")
                acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
                self.schedule_in_redis = False
            if not self.schedule_in_redis:
                self.setup_schedule()
            return super().tick(*args, **kwargs)
        except redis.RedisError as ex:
            log.warning("beat: Redis unavailable (%r); trying again", ex)
            return self.max_interval

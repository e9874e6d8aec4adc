"""Beat starts on a fresh clone in each mode, and however many beats run, one schedule does."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest
import redis
from conftest import ENGINE, RUN_ID
from helpers import Beat, wait_for

import celeryconfig

# Beat does not touch the database: one engine is enough.
pytestmark = pytest.mark.skipif(ENGINE != "sqlite", reason="beat is the same on every engine")

# Periods a fifth of production's: the sweepers every 6 s, the lock held for 5 s.
SCALE = 0.2
SWEEPS = ("webhooks.sweep", "mail.sweep", "social.sweep")


def period(task: str) -> float:
    [entry] = [e for e in celeryconfig.beat_schedule.values() if e["task"] == task]
    return entry["schedule"] / celeryconfig._config.beat_scale * SCALE


def beat_env(tmp_path, redis_url: str | None) -> dict:
    """The run's settings (its database, migrated as `release` does), on a fresh var/."""
    env = {
        **os.environ,
        # A fresh clone: nothing under its var/ folder, not even the folder.
        "VAR_DIR": str(tmp_path / "var"),
        "BEAT_SCALE": str(SCALE),
        "CELERY_QUEUE": f"beat-{RUN_ID}",
        "REDBEAT_KEY_PREFIX": f"redbeat-{RUN_ID}:",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def published(redis_url: str) -> Counter:
    """The tasks waiting in every queue of this Redis, by name (no worker takes them)."""
    client = redis.Redis.from_url(redis_url)
    names: Counter = Counter()
    for key in client.scan_iter():
        if client.type(key) == b"list":
            for raw in client.lrange(key, 0, -1):
                names[json.loads(raw)["headers"]["task"]] += 1
    return names


def test_a_fresh_clone_s_beat_in_services_mode_starts_and_stays_up(config, tmp_path, own_redis):
    env = beat_env(tmp_path, own_redis.url)
    assert not (tmp_path / "var").exists()

    beat = Beat(tmp_path / "beat.log", env)
    try:
        wait_for(lambda: all(published(own_redis.url)[task] >= 2 for task in SWEEPS), timeout=60)
        assert beat.poll() is None, beat.log()
        assert "Error" not in beat.log()
    finally:
        beat.stop()


def test_a_fresh_clone_s_beat_in_embedded_mode_makes_its_folder(config, tmp_path):
    env = beat_env(tmp_path, None)
    beat = Beat(tmp_path / "beat.log", env, waiting=True)
    try:
        wait_for(lambda: "Sending due task webhooks-sweep" in beat.log(), timeout=60)
        time.sleep(2 * period("webhooks.sweep"))
        assert beat.poll() is None, beat.log()
        assert list((tmp_path / "var").glob("celerybeat-schedule*"))
        assert list((tmp_path / "var" / "broker").iterdir())  # what it sent
    finally:
        beat.stop()


def test_two_beats_run_each_job_once_per_period_and_one_takes_over(config, tmp_path, own_redis):
    env = beat_env(tmp_path, own_redis.url)
    first = Beat(tmp_path / "first.log", env)
    second = Beat(tmp_path / "second.log", env, waiting=True)
    try:
        window = 3 * period("webhooks.sweep")
        assert_once_per_period(own_redis.url, window)
        assert "Acquired lock" not in second.log()

        first.kill()
        wait_for(lambda: "Acquired lock" in second.log(), timeout=60)
        assert_once_per_period(own_redis.url, window)
        assert second.poll() is None, second.log()
    finally:
        first.stop()
        second.stop()


def assert_once_per_period(redis_url: str, window: float) -> None:
    """Over `window` seconds, each sweeper is sent once per period (give or take one)."""
    before = published(redis_url)
    time.sleep(window)
    sent = published(redis_url) - before
    for task in SWEEPS:
        expected = window / period(task)
        assert expected - 1 <= sent[task] <= expected + 1, (task, sent)

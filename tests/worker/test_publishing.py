"""Publishing never waits on a broker that just failed: it fails at once for a short pause."""

from __future__ import annotations

import pytest


def test_after_a_failed_publish_the_next_ones_fail_at_once_until_the_pause_ends(monkeypatch):
    from worker import celery

    tried = []

    def down(name, **kwargs):
        tried.append(name)
        raise OSError("connection refused")

    monkeypatch.setattr(celery.app, "send_task", down)
    with pytest.raises(OSError):
        celery.publish("mail.deliver", {"mail_ids": [1]})
    with pytest.raises(celery.BrokerPaused):
        celery.publish("mail.deliver", {"mail_ids": [2]})
    assert tried == ["mail.deliver"]  # the second did not wait for the broker

    monkeypatch.setattr(celery.app, "send_task", lambda name, **kwargs: tried.append(name))
    celery._broker_failed_at -= celery.BROKER_PAUSE  # the pause is over
    celery.publish("mail.deliver", {"mail_ids": [3]})
    assert tried == ["mail.deliver", "mail.deliver"]

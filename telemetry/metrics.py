"""Every metric of the system, added up over all processes through files in one directory.

gunicorn's workers and the Celery worker's processes each write their own file
under PROMETHEUS_MULTIPROC_DIR; GET /metrics reads them all, so what it shows is
the sum over every process on the machine, whichever process answers it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

# The package's __init__ has set PROMETHEUS_MULTIPROC_DIR, unless someone was first.
if values.ValueClass is values.MutexValue:
    raise RuntimeError("prometheus_client was imported before telemetry: metrics would not add up")

log = logging.getLogger(__name__)
DIRECTORY = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
DIRECTORY.mkdir(parents=True, exist_ok=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Every metric has labels, so a process writes a file only for what it measures.
HTTP_REQUESTS = Histogram(
    "http_request_duration_seconds",
    "Requests answered (_count) and their duration, by method, route template and status",
    ["method", "route", "status"],
)
TASKS = Histogram(
    "task_duration_seconds",
    "Celery tasks run (_count) and their duration, by task name and outcome",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 300),
)
WEBHOOK_ATTEMPTS = Counter(
    "webhook_attempts",
    "Webhook delivery attempts, by outcome: succeeded, http_error (any other status), no_response",
    ["outcome"],
)


class OutboxBacklog:
    """outbox_backlog{outbox}: rows waiting in each outbox, counted when scraped.

    `count()` returns {outbox name: rows}; a new outbox is one more entry there.
    A failed count (database down) leaves the gauge out rather than the scrape.
    """

    def __init__(self, count: Callable[[], dict[str, int]]):
        self.count = count

    def collect(self):
        try:
            counts = self.count()
        except Exception:
            log.warning("outbox backlog not counted", exc_info=True)
            return
        family = GaugeMetricFamily(
            "outbox_backlog", "Rows waiting to be sent, by outbox", labels=["outbox"]
        )
        for outbox, rows in counts.items():
            family.add_metric([outbox], rows)
        yield family


def registry(*collectors) -> CollectorRegistry:
    """What GET /metrics shows: the files of every process, plus `collectors`."""
    found = CollectorRegistry()
    multiprocess.MultiProcessCollector(found, str(DIRECTORY))
    for collector in collectors:
        found.register(collector)
    return found


def exposition(found: CollectorRegistry) -> bytes:
    return generate_latest(found)


def remove_dead_files() -> None:
    """At the start of a process group: drop the files of processes no longer running.

    The web and worker process groups share the directory, so neither may wipe it
    whole; the sums drop by what the dead processes had counted, which Prometheus
    reads as a counter reset.
    """
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    for path in DIRECTORY.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)


def mark_dead(pid: int) -> None:
    """A process ended: its live gauges leave the sums (its counters stay)."""
    multiprocess.mark_process_dead(pid, str(DIRECTORY))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True

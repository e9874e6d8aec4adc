"""What operators see of each task: a JSON log line and metrics, under the id of its request.

The id travels in a header of each task message: added whenever a task is
published while a request (or a task) is being served, however it is published,
and made current again in the worker while the task runs, so that the task's log
lines and the tasks it sends in turn carry it too.
"""

from __future__ import annotations

import logging
import os
import time

from celery import signals

from telemetry import logs, metrics

log = logging.getLogger("worker.tasks")
HEADER = "request_id"
_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
# task id -> (start, request-id context token) while a task runs in this process.
_running: dict[str, tuple[float, object]] = {}


@signals.before_task_publish.connect
def _carry_request_id(headers: dict, **_kwargs) -> None:
    current = logs.request_id.get()
    if current is not None:
        headers.setdefault(HEADER, current)


@signals.task_prerun.connect
def _task_started(task_id: str, task, **_kwargs) -> None:
    token = logs.request_id.set(getattr(task.request, HEADER, None))
    _running[task_id] = (time.perf_counter(), token)


@signals.task_postrun.connect
def _task_ended(task_id: str, task, state: str | None = None, **_kwargs) -> None:
    started, token = _running.pop(task_id, (None, None))
    duration = time.perf_counter() - started if started is not None else 0.0
    outcome = _OUTCOMES.get(state, str(state).lower())
    metrics.TASKS.labels(task.name, outcome).observe(duration)
    fields = {
        "task": task.name,
        "task_id": task_id,
        "outcome": outcome,
        "duration_ms": round(duration * 1000, 3),
    }
    log.info("task", extra={"fields": fields})
    if token is not None:
        logs.request_id.reset(token)


@signals.setup_logging.connect
def _json_logs(loglevel=logging.INFO, **_kwargs) -> None:
    # Connected, this replaces Celery's own logging set-up in the worker and beat.
    logs.setup(loglevel)


@signals.worker_init.connect
def _clear_metrics(**_kwargs) -> None:
    # In the worker's main process, before its pool starts.
    metrics.remove_dead_files()


@signals.worker_process_shutdown.connect
def _process_ended(**_kwargs) -> None:
    metrics.mark_dead(os.getpid())

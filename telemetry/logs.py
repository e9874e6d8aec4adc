"""Log records as one JSON object per line, each with the id of the request it serves."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

# The X-Request-ID of the request being served, or of the request that caused the
# task being run; None elsewhere (beat, a task no request caused).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, the record's `fields`, and any stack trace.

    Of a record's extras only `fields` (`log.info(msg, extra={"fields": {...}})`)
    is written: libraries put other things there (Celery: a task's arguments,
    which may hold a mailed link).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.Handler):
    """Writes each line to sys.stderr as it is then (tests swap it); stderr is line-buffered."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def setup(level: int | str = logging.INFO) -> None:
    """Every record (and warning) of the process to stderr as JSON; again, only the level."""
    logging.captureWarnings(True)
    # Our lines name no caller, thread or process: not working them out saves a
    # few microseconds a record (the logging HOWTO's "Optimization" switches).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)

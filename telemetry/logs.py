"""Log records as one JSON object per line, each with the id of the request it serves."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

import orjson

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
        entry = _entry(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "fields", None),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _dumps(entry)


class StderrHandler(logging.Handler):
    """Writes each line to sys.stderr as it is then (tests swap it); stderr is line-buffered."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def info(logger: logging.Logger, message: str, fields: dict) -> None:
    """`logger.info(message, extra={"fields": fields})`, the same line at a fraction of the cost.

    For a line written on every request: our StderrHandler's line is written
    straight, without building a LogRecord and passing it along the loggers.
    Any other handler on the root (a test's capture) still gets the record; where
    a logger on the way has handlers or filters of its own, it all goes through
    logging.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    root = _plain_path(logger)
    ours = [handler for handler in root.handlers if _is_ours(handler)] if root else []
    if len(ours) != 1:
        logger.info(message, extra={"fields": fields})
        return
    line = _dumps(_entry(time.time(), "INFO", logger.name, message, fields)) + "\n"
    with ours[0].lock:
        sys.stderr.write(line)
    others = [h for h in root.handlers if h is not ours[0] and h.level <= logging.INFO]
    if others:
        record = logger.makeRecord(
            logger.name, logging.INFO, "", 0, message, (), None, extra={"fields": fields}
        )
        for handler in others:
            handler.handle(record)


def _plain_path(logger: logging.Logger) -> logging.Logger | None:
    """The root logger, if `logger`'s records reach it untouched (no handler or filter before)."""
    while logger.parent is not None:
        if logger.handlers or logger.filters or not logger.propagate:
            return None
        logger = logger.parent
    return None if logger.filters else logger


def _is_ours(handler: logging.Handler) -> bool:
    plain = type(handler) is StderrHandler and type(handler.formatter) is JsonFormatter
    return plain and not handler.filters and handler.level <= logging.INFO


def _entry(created: float, level: str, logger: str, message: str, fields: dict | None) -> dict:
    entry = {"time": _timestamp(created), "level": level, "logger": logger, "message": message}
    current = request_id.get()
    if current is not None:
        entry["request_id"] = current
    if fields:
        entry.update(fields)
    return entry


_second: tuple[int, str] = (0, "")  # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    """`2026-01-02T03:04:05.678Z` (UTC, milliseconds); each second's text is formatted once."""
    global _second
    second = int(created)
    cached = _second  # one read: threads may replace it meanwhile
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int((created - second) * 1000):03d}Z"


def _dumps(entry: dict) -> str:
    try:
        return orjson.dumps(entry, default=str).decode()
    except TypeError:  # orjson's limits (an integer past 64 bits): the json module's way
        return json.dumps(entry, default=str)


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

"""What operators see of each request: its X-Request-ID, a JSON log line, metrics; GET /metrics."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time

import falcon
from pony import orm

from api.validation import operation
from models import mail_outbox, social, webhook_outbox
from models.clock import utcnow
from models.errors import AuthenticationFailed
from telemetry import logs, metrics

log = logging.getLogger("api.requests")
# An id we pass on as it came: bounded, and harmless in headers, log lines and task messages.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}").fullmatch
_METHODS = frozenset(falcon.COMBINED_METHODS)  # any other is "OTHER": labels stay few
METRICS_ROUTE = "/metrics"


class RequestLog:
    """First in the middleware chain, so its response step runs last.

    By then the transaction has committed and sent the request's tasks, which
    carried the request id along (worker/observability.py adds it to each task
    message). The log line names the route template, never the path: paths hold
    confirmation tokens, query strings hold signatures.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        given = req.get_header("X-Request-ID")
        request_id = (
            given if given is not None and _SANE_REQUEST_ID(given) else os.urandom(16).hex()
        )
        req.context.request_id = request_id
        req.context.request_id_token = logs.request_id.set(request_id)

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        context = req.context
        duration = time.perf_counter() - context.started
        resp.set_header("X-Request-ID", context.request_id)
        route = req.uri_template
        method = req.method if req.method in _METHODS else "OTHER"
        status = resp.status_code
        if route != METRICS_ROUTE:
            metrics.HTTP_REQUESTS.labels(method, route or "unmatched", str(status)).observe(
                duration
            )
        fields = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "user_id": context.caller.id if context.caller is not None else None,
        }
        logs.info(log, "request", fields)
        logs.request_id.reset(context.request_id_token)


class Metrics:
    """GET /metrics: Prometheus text, summed over every process; a bearer token if configured."""

    uses_db = False  # the backlog count opens its own session, and may fail alone

    def __init__(self, token: str | None):
        self.token = token.encode() if token else None
        self.registry = metrics.registry(metrics.OutboxBacklog(outbox_backlog))

    @operation(
        "Prometheus metrics of the web and worker processes",
        returns={"type": "string"},
        media="text/plain",  # the Prometheus text format
        responses={401: "METRICS_TOKEN is set and the request does not carry it"},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.token is not None and not self._authorized(req):
            raise AuthenticationFailed("This needs the metrics token", key="missing")
        resp.content_type = metrics.CONTENT_TYPE
        resp.data = metrics.exposition(self.registry)

    def _authorized(self, req: falcon.Request) -> bool:
        scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token
        )


def outbox_backlog() -> dict[str, int]:
    """Rows waiting in each outbox: webhook deliveries and shares that are due, mails not sent."""
    now = utcnow()
    with orm.db_session:
        return {
            "webhook_deliveries": webhook_outbox.count_due(now),
            "mail_outbox": mail_outbox.unsent_count(),
            "shares": social.due_count(now),
        }

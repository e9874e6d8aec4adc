"""Every error leaves in the dialect of the surface the request belongs to."""

from __future__ import annotations

import logging

import falcon
from pony import orm

from api.rabbit import errors as rabbit
from api.zellyy import errors as zellyy
from models import connection_lost
from models.errors import Conflict, DomainError, Unavailable

log = logging.getLogger(__name__)

RABBIT_PREFIXES = ("/api/user/", "/api/confirm-user/")
# A concurrent request changed or inserted the same row first: the caller may retry.
_CONCURRENT_CHANGE = (
    orm.OptimisticCheckError,
    orm.UnrepeatableReadError,
    orm.TransactionIntegrityError,
)


def surface_of(req: falcon.Request) -> str:
    """The surface a request speaks: from its resource, else from its path."""
    surface = getattr(req.context, "surface", None)
    if surface:
        return surface
    path = req.path
    if path == "/api/user" or path.startswith(RABBIT_PREFIXES):
        return "rabbit"
    return "zellyy"


def handle_domain_error(req: falcon.Request, resp: falcon.Response, ex: DomainError, params):
    dialect = rabbit if surface_of(req) == "rabbit" else zellyy
    status, media = dialect.from_domain(ex)
    req.context.keep_changes = ex.keeps_changes
    resp.status = status
    resp.media = media
    if ex.retry_after is not None:
        resp.set_header("Retry-After", str(ex.retry_after))
    if status == 401:
        resp.set_header("WWW-Authenticate", "Bearer")


def serialize_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError):
    """Falcon's own errors (404 route, 405, malformed JSON, 413, 500) in the surface's dialect."""
    status = ex.status_code
    if surface_of(req) == "rabbit":
        media = rabbit.from_http(status)
    else:
        media = zellyy.from_http(status, ex.title, ex.description)
    resp.content_type = falcon.MEDIA_JSON
    resp.media = media


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params):
    # A commit that fails comes after the responder: what it created does not exist.
    resp.delete_header("Location")
    # First: a lost connection can surface as a failed commit or check, and is no conflict.
    if connection_lost(ex):
        log.warning("database connection lost on %s %s: %s", req.method, req.path, ex)
        handle_domain_error(req, resp, Unavailable(), params)
        return
    if isinstance(ex, _CONCURRENT_CHANGE):
        log.warning("concurrent change on %s %s: %s", req.method, req.uri_template, ex)
        conflict = Conflict(
            "Another request changed this at the same time; try again", key="concurrent_change"
        )
        handle_domain_error(req, resp, conflict, params)
        return
    # The route template, not the path: paths may carry tokens.
    log.exception("unhandled error on %s %s", req.method, req.uri_template)
    raise falcon.HTTPInternalServerError()

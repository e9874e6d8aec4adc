"""Request middleware: body size limit, surface tagging, and the database transaction."""

from __future__ import annotations

import io

import falcon

from models.transaction import transaction


class BodyLimit:
    """Refuse bodies over the limit before anything reads them (413).

    A chunked body has no Content-Length: it is read here, up to the limit, and
    handed on as if it had come with one. Only a server that dechunks (gunicorn
    says so with wsgi.input_terminated) can give it; elsewhere it is 411.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is None and "chunked" in req.get_header("Transfer-Encoding", default="").lower():
            length = self._read_chunked(req)
        if length is not None and length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"The request body is larger than {self.max_bytes} bytes"
            )

    def _read_chunked(self, req: falcon.Request) -> int:
        """Read the body into memory, stopping one byte past the limit; its length."""
        if not req.env.get("wsgi.input_terminated"):
            raise falcon.HTTPLengthRequired(description="Send a Content-Length header")
        stream, body = req.env["wsgi.input"], bytearray()
        while len(body) <= self.max_bytes:
            chunk = stream.read(self.max_bytes + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) <= self.max_bytes:
            req.stream = req.env["wsgi.input"] = io.BytesIO(body)
            req.env["CONTENT_LENGTH"] = str(len(body))
        return len(body)


class Surface:
    """Remember which app's dialect the routed resource speaks."""

    def process_resource(self, req, resp, resource, params) -> None:
        req.context.surface = getattr(resource, "surface", None)


class Transaction:
    """One database transaction per request: committed on success, rolled back otherwise.

    A domain refusal that keeps its changes (DomainError.keeps_changes) commits too.

    Tasks queued with `after_commit` during the request are sent once the
    commit has happened, so a worker never looks for a row that is not there.
    """

    def process_resource(self, req, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "uses_db", True):
            return
        req.context.transaction = transaction().__enter__()

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        tx = getattr(req.context, "transaction", None)
        if tx is None:
            return
        req.context.transaction = None
        if commits(req, req_succeeded):
            tx.__exit__(None, None, None)
        else:
            tx.__exit__(RequestFailed, RequestFailed(), None)


def commits(req: falcon.Request, req_succeeded: bool) -> bool:
    """Whether the request's transaction commits: on success, or a refusal that keeps changes."""
    return req_succeeded or getattr(req.context, "keep_changes", False)  # set by error handlers


class RequestFailed(Exception):
    """Handed to the transaction so that it rolls back."""

"""HTTP conventions every route follows: security headers on every answer, HEAD wherever GET is."""

from __future__ import annotations

import falcon
from falcon.routing import CompiledRouter


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every answer, and `Cache-Control: no-store`
    unless the resource chose its own caching.

    Answers carry tokens (login, refresh) or personal data (profiles, letters,
    cards) on nearly every route, so no browser or proxy keeps any of them
    unless a resource says it may (OWASP's REST Security Cheat Sheet).
    """

    def process_response(self, req, resp: falcon.Response, resource, req_succeeded) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")
        if resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")


class HeadRouter(CompiledRouter):
    """Falcon's router, answering HEAD with the GET responder wherever a resource has no on_head.

    Falcon then sends GET's status and headers without the body. The HEAD
    responder is a plain function, not the resource's own method, so the
    OpenAPI document lists GET alone.
    """

    def map_http_methods(self, resource: object, **kwargs) -> dict:
        methods = super().map_http_methods(resource, **kwargs)
        if "GET" in methods and "HEAD" not in methods:
            methods["HEAD"] = _head(methods["GET"])
        return methods


def _head(get):
    def on_head(req: falcon.Request, resp: falcon.Response, **params) -> None:
        get(req, resp, **params)

    return on_head

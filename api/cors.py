"""CORS: which web pages may call the API from their own origin, on every route.

Falcon's own CORSMiddleware does not fit: it sends no `Vary: Origin`, so a
shared cache may hand one origin's grant to another, and it answers a
preflight through the route, so one for an unknown path fails with 404 and
the page can never read the error body of the real request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import falcon

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
# Beyond the safelisted ones, what the apps may read: where a created thing
# is, how long to wait after a 429 or 503, and the id to quote in a report.
EXPOSE_HEADERS = "Location, Retry-After, X-Request-ID"
# How long a browser may reuse a preflight answer (Chromium caps it at 2 h).
MAX_AGE = "7200"
# Access-Control-Request-Headers: header names (RFC 9110 tokens), comma-separated.
_HEADER_NAMES = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")


class CORS:
    """Grant the allowed origins on every answer, errors included; answer their preflights.

    Every answer says `Vary: Origin`, since whether it carries a grant depends on
    that header. The grant is one fixed set of headers, plus on a preflight the
    request headers it asks for; those only a preflight uses (methods, headers,
    max age) are ignored by browsers on other answers. Other origins get no
    grant, so their pages cannot read any answer.
    """

    def __init__(self, allowed_origins: Iterable[str]):
        self.allowed = frozenset(allowed_origins)
        self.grant = {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        preflight = req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method")
        if preflight and req.get_header("Origin") in self.allowed:
            # Answered here, whatever the path: nothing past this reads a preflight.
            resp.status = falcon.HTTP_204
            resp.complete = True

    def process_response(self, req, resp: falcon.Response, resource, req_succeeded) -> None:
        resp.append_header("Vary", "Origin")
        origin = req.get_header("Origin")
        if origin in self.allowed:
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_headers(self.grant)
            requested = req.get_header("Access-Control-Request-Headers")
            if requested and _HEADER_NAMES.fullmatch(requested.strip()):
                # Whatever else an allowed page sends is allowed too (as Flask-CORS and
                # Falcon do by default): the Money For Rabbit app's retry after a refresh
                # carries a stray header named "0" (its axios), and a refusal logs it out.
                resp.set_header("Access-Control-Allow-Headers", f"{ALLOW_HEADERS}, {requested}")

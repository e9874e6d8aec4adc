"""Our app with proposed hot-path changes applied, to measure them before they are made.

Served by `python -m bench.run --patch NAME[,NAME]` as `bench.patched:app`; the
names come from BENCH_PATCHES and must be keys of AVAILABLE, each a function that
applies one change (monkeypatching) before the app is imported. Benchmark-only:
nothing here runs in production.

No change is pending (the last two, `no-discard` and `one-query-auth`, are in
the tree). The patches left here take parts away to measure what they cost.
"""

import os


def _no_request_log():
    """What the request log line, request id and histogram cost: skip them."""
    from api import observability

    observability.RequestLog.process_request = lambda self, req, resp: setattr(
        req.context, "user_id", None
    )
    observability.RequestLog.process_response = lambda self, req, resp, resource, ok: None


def _no_headers():
    """What CORS and the security headers cost on an answer: skip them."""
    from api import conventions, cors

    cors.CORS.process_response = lambda self, req, resp, resource, ok: None
    conventions.SecurityHeaders.process_response = lambda self, req, resp, resource, ok: None


# Measurement only (issue 14): each takes away one part of every request.
AVAILABLE = {"no-request-log": _no_request_log, "no-headers": _no_headers}

PATCHES = [name for name in os.environ.get("BENCH_PATCHES", "").split(",") if name]
unknown = set(PATCHES) - set(AVAILABLE)
if unknown:
    raise SystemExit(f"unknown BENCH_PATCHES: {', '.join(sorted(unknown))}")
for name in PATCHES:
    AVAILABLE[name]()

from api.wsgi import app  # noqa: E402 (after the patches)

__all__ = ["app"]

"""Our app with proposed hot-path changes applied, to measure them before they are made.

Served by `python -m bench.run --patch NAME[,NAME]` as `bench.patched:app`; the
names come from BENCH_PATCHES and must be keys of AVAILABLE, each a function that
applies one change (monkeypatching) before the app is imported. Benchmark-only:
nothing here runs in production.

None is pending: the last two (`no-discard`: end a db_session with ROLLBACK
only; `one-query-auth`: load the caller's session and user with one query) are
in the tree now (models/__init__.py, models/sessions.py).
"""

import os

AVAILABLE = {}

PATCHES = [name for name in os.environ.get("BENCH_PATCHES", "").split(",") if name]
unknown = set(PATCHES) - set(AVAILABLE)
if unknown:
    raise SystemExit(f"unknown BENCH_PATCHES: {', '.join(sorted(unknown))}")
for name in PATCHES:
    AVAILABLE[name]()

from api.wsgi import app  # noqa: E402 (after the patches)

__all__ = ["app"]

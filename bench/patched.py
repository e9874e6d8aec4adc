"""Our app with proposed hot-path changes applied, to measure them before they are made.

Served by `python -m bench.run --patch NAME[,NAME]` as `bench.patched:app`; the
names come from BENCH_PATCHES. Benchmark-only: nothing here runs in production.

- `no-discard`: end each db_session with ROLLBACK only. Pony's PostgreSQL pool
  also sends `DISCARD ALL` (one more round trip per request) to reset session
  state that this code base never sets (no SET, temp tables, advisory locks,
  LISTEN, prepared statements).
- `one-query-auth`: look up the caller with one query. `active_session` selects
  `(s, s.user)`, for which Pony fetches only keys and then loads the user with a
  second query; selecting `s.user` loads the user whole, and the session is
  handed back as a not-yet-loaded Pony object (only logout reads it).
"""

import os

from pony import orm
from pony.orm.dbproviders.postgres import PGPool

import api.auth
from models.sessions import AuthSession

PATCHES = {name for name in os.environ.get("BENCH_PATCHES", "").split(",") if name}
unknown = PATCHES - {"no-discard", "one-query-auth"}
if unknown:
    raise SystemExit(f"unknown BENCH_PATCHES: {', '.join(sorted(unknown))}")


def _release_with_rollback_only(self, con):
    try:
        con.rollback()
    except Exception:
        self.drop(con)
        raise


def _active_session_in_one_query(session_id, audience):
    user = orm.select(
        s.user
        for s in AuthSession
        if s.id == session_id and s.audience == audience and s.revoked_at is None
    ).first()
    if user is None:
        return None
    return AuthSession._get_by_raw_pkval_((session_id,)), user


if "no-discard" in PATCHES:
    PGPool.release = _release_with_rollback_only
if "one-query-auth" in PATCHES:
    api.auth.active_session = _active_session_in_one_query

from api.wsgi import app  # noqa: E402 (after the patches)

__all__ = ["app"]

"""Where one request's CPU goes, in process on PostgreSQL (issue 14); not part of the tests.

    .venv/bin/python -m bench.profile [--requests 3000] [--top 40] [--only users,messages]

Creates a fresh database, migrates it, builds our app (`api.app.create_app`) in
this process, signs an account up through the app and seeds 100 messages in SQL
(bench/seed.py), then for each endpoint: warms up, times CPU per request with the
app called straight with a ready WSGI environ (no sockets, no server, none of the
test client's WSGI checks: the app and PostgreSQL's round trips only), and profiles
the same number of requests with cProfile, printing the functions with the most
cumulative and own CPU time. Drops the database after.
The app's request log lines go to stderr: send them to /dev/null.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/profile.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import seed
from bench.stack import ROOT, Database

PASSWORD = "Bench-Passw0rd!"  # noqa: S105 (a throw-away account)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per endpoint")
    parser.add_argument("--top", type=int, default=40, help="functions shown per listing")
    parser.add_argument("--messages", type=int, default=100, help="messages seeded")
    parser.add_argument("--only", help="comma-separated: users, messages")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL"
    )
    args = parser.parse_args(argv)
    wanted = set((args.only or "users,messages").split(","))
    database = Database(args.postgres, f"bench_{secrets.token_hex(4)}")
    var_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    os.environ.update(
        APP_ENV="test",
        DATABASE_URL=database.url,
        SECRET_KEY=secrets.token_urlsafe(48),
        VAR_DIR=str(var_dir),
        PUBLIC_BASE_URL="https://bench.invalid",
    )
    os.environ.pop("REDIS_URL", None)
    try:
        database.create()
        import subprocess

        subprocess.run(
            [sys.executable, "-m", "api.cli", "migrate"],
            cwd=ROOT,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        from falcon import testing

        from api.app import create_app

        app = create_app()
        client = testing.TestClient(app)
        for name, path, headers in _endpoints(client, database, args.messages, wanted):
            _measure(app, database, name, path, headers, args.requests, args.top)
    finally:
        from models import db

        if db.provider is not None:
            db.disconnect()
        database.drop()
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


def _endpoints(client, database: Database, count: int, wanted: set[str]):
    answer = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": "me@bench.test", "password": PASSWORD, "username": "bench"},
    )
    token = answer.json["session"]["access_token"]
    if "users" in wanted:
        yield "users/me", "/api/v1/users/me", {"Authorization": f"Bearer {token}"}
    if "messages" in wanted:
        con = database.connect()
        try:
            with con.cursor() as cur:
                cur.execute("UPDATE users SET email_confirmed_at = now() RETURNING id")
                user_id = cur.fetchone()[0]
            seed.messages(con, user_id, user_id, count)
            seed.analyze(con)
        finally:
            con.close()
        login = client.simulate_post(
            "/api/user/login", json={"email": "me@bench.test", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json['access_token']}"}
        yield f"messages?page=1 @{count}", f"/api/user/{user_id}/messages?page=1", headers


def _measure(
    app, database: Database, name: str, path: str, headers: dict, requests: int, top: int
) -> None:
    from falcon import testing

    path, _, query = path.partition("?")
    environ = testing.create_environ(path=path, query_string=query, headers=headers)
    statuses: list[str] = []

    def start_response(status, response_headers, exc_info=None):
        statuses.append(status)

    def run(n: int) -> None:
        for _ in range(n):
            body = b"".join(app(dict(environ), start_response))
            if not statuses.pop().startswith("200"):
                raise RuntimeError(f"{name}: {body[:300]!r}")

    run(200)  # warm: connections, query caches, the token cache
    started, db_started = time.process_time(), database.backend_cpu()
    run(requests)
    cpu_ms = (time.process_time() - started) * 1000 / requests
    db_ms = _spent(db_started, database.backend_cpu()) * 1000 / requests
    from models import db

    statements = {sql: stat.db_count for sql, stat in db.local_stats.items() if sql}
    # CPU time, so that waiting for PostgreSQL does not count (its own CPU is not seen here).
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    run(requests)
    profiler.disable()
    print(
        f"\n## {name}: {cpu_ms:.3f} ms CPU per request in process, {db_ms:.3f} ms in "
        f"PostgreSQL ({requests} requests); statements so far, most run first:"
    )
    for sql, count in sorted(statements.items(), key=lambda item: -item[1])[:8]:
        print(f"  {count:6d}  {' '.join(sql.split())[:110]}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float:
    if before is None or after is None:
        return 0.0
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


if __name__ == "__main__":
    sys.exit(main())

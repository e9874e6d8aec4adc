"""One benchmark run of the web process on PostgreSQL (issues 2 and 3); not part of the tests.

    .venv/bin/python -m bench.run [--duration 8] [--connections 16] [--only cards,messages]

Creates a fresh database, migrates it, serves our app (api.wsgi:app) and a bare
one-route Falcon app (bench.bare:app) with the same gunicorn.conf.py, seeds
content rows in SQL, then loads each endpoint over keep-alive connections on
127.0.0.1, each time right after the bare endpoint so that the two see the same
machine. It prints requests/s, latencies, the CPU each request cost (gunicorn
workers, PostgreSQL backends, load generator) and the ratios, then stops the
servers and drops the database.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import loadgen, seed
from bench.stack import ROOT, Database, Server

# 12..16 characters with every class both surfaces ask for.
PASSWORD = "Bench-Passw0rd!"  # noqa: S105 (a throw-away account)
ROW_COUNTS = (100, 10_000, 100_000)


@dataclass
class Scenario:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[dict], bool] = lambda body: True
    server: Server | None = None  # who serves it; None: our app


@dataclass(frozen=True)
class Measured:
    """One load of one endpoint: what the client saw and what the servers spent."""

    name: str
    load: loadgen.Result
    web_cpu_ms: float  # gunicorn master and workers, per request
    db_cpu_ms: float | None  # PostgreSQL backends of the run's database, per request
    client_cpu_ms: float  # the load generator, per request

    @property
    def cost_ms(self) -> float:
        """All the CPU one request took on this machine: what bounds throughput on 2 cores."""
        return self.web_cpu_ms + (self.db_cpu_ms or 0.0) + self.client_cpu_ms

    def line(self) -> str:
        db = "n/a" if self.db_cpu_ms is None else f"{self.db_cpu_ms:.3f}"
        return (
            f"{self.name:<30} {self.load.line()}\n{'':<30} CPU ms/request: web "
            f"{self.web_cpu_ms:.3f}  db {db}  load generator {self.client_cpu_ms:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--load-threads", type=int, default=1, help="load generator threads")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: the config's)")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: the config's)")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--only",
        help="comma-separated name prefixes: floor (bare + 1 statement), users, cards, messages",
    )
    parser.add_argument(
        "--patch", help="serve bench.patched:app with these proposed changes (see bench/patched.py)"
    )
    parser.add_argument(
        "--original",
        action="store_true",
        help="also load a Flask rebuild of the original service's message list after ours "
        "(bench/original.py; needs bench/requirements.txt)",
    )
    args = parser.parse_args(argv)

    # A `kill` of the run still stops the servers and drops the database (see `finally`).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run_id = secrets.token_hex(4)
    tag = f"bench-{run_id}"
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    workers = args.workers or conf["workers"]
    threads = args.threads or conf["threads"]
    var_dir = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    database = Database(args.postgres, f"bench_{run_id}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "APP_ENV": "production",
        "DATABASE_URL": database.url,
        "REDIS_URL": args.redis,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "VAR_DIR": str(var_dir),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        # Keys and queue of this run only, removed at the end.
        "RATE_LIMIT_PREFIX": tag,
        "CELERY_QUEUE": tag,
        # Required in production; no run sends mail, follows a link or serves a browser.
        "SMTP_URL": "smtp://127.0.0.1:25",
        "MAIL_FROM": "bench@localhost",
        "PUBLIC_BASE_URL": "https://bench.invalid",
        "CORS_ALLOWED_ORIGINS": "https://bench.invalid",
    }
    app = Server("app", "bench.patched:app" if args.patch else "api.wsgi:app", env, var_dir)
    if args.patch:
        app.env["BENCH_PATCHES"] = args.patch
    bare = Server("bare", "bench.bare:app", env, var_dir)
    # As the original ran: gunicorn's defaults (sync workers), 2 workers.
    original = Server("original", "bench.original:app", env, var_dir, options=["--workers", "2"])
    started = time.monotonic()
    print(
        f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; gunicorn "
        f"{conf['worker_class']} WEB_CONCURRENCY={workers} threads={threads}; load: "
        f"{loadgen.tool()}, {args.connections} keep-alive connections, {args.load_threads} "
        f"thread(s), {args.warmup} s warm-up + {args.duration} s per endpoint"
        + (f"; app patched: {args.patch}" if args.patch else ""),
        flush=True,
    )
    try:
        database.create()
        subprocess.run(
            [sys.executable, "-m", "api.cli", "migrate"],
            cwd=ROOT,
            env=app.env,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        servers = [app, bare, original] if args.original else [app, bare]
        for server in servers:
            server.start()
        app.wait_ready("/healthz")
        bare.wait_ready("/")
        ok = lambda body: body == {"ok": True}  # noqa: E731
        baseline = Scenario("bare", bare.url + "/", check=ok, server=bare)
        scenarios = build_scenarios(app, database, args.only)
        if not args.only or "floor" in args.only:
            # The least an endpoint pays that makes one PostgreSQL round trip per request.
            floor = Scenario(
                "bare + 1 statement", bare.url + "/one-statement", check=ok, server=bare
            )
            scenarios.insert(0, floor)
        scenarios = [s for s in [baseline, *scenarios] if verify(s)][1:]
        originals = {}
        if args.original:
            original.wait_ready("/api/user/0/messages", statuses=(401,))
            originals = original_scenarios(original, app, scenarios)

        def measure(scenario: Scenario, server: Server = app, **options) -> Measured:
            return load(scenario, scenario.server or server, database, args, **options)

        pairs, against_original = [], []
        for scenario in scenarios:
            pairs.append((measure(baseline), measure(scenario)))
            print(f"{pairs[-1][0].line()}\n{pairs[-1][1].line()}", flush=True)
            if scenario.name in originals:
                theirs, connections = originals[scenario.name]
                against_original.append(
                    (pairs[-1][1], measure(theirs, original, connections=connections))
                )
                print(against_original[-1][1].line(), flush=True)
        report(pairs, args.json, against_original)
    finally:
        for server in (app, bare, original):
            server.stop()
        database.drop()
        _forget_redis_keys(args.redis, tag)
        shutil.rmtree(var_dir, ignore_errors=True)
        print(f"# done in {time.monotonic() - started:.0f} s; servers stopped, database dropped")
    return 0


def load(
    scenario: Scenario, server: Server, database: Database, args, connections: int | None = None
) -> Measured:
    opts = dict(
        connections=connections or args.connections,
        threads=args.load_threads,
        headers=scenario.headers,
    )
    if args.warmup:
        loadgen.load(scenario.url, duration=args.warmup, **opts)
    web0, db0, client0 = server.cpu_seconds(), database.backend_cpu(), _children_cpu()
    result = loadgen.load(scenario.url, duration=args.duration, **opts)
    web1, db1, client1 = server.cpu_seconds(), database.backend_cpu(), _children_cpu()
    per_request = 1000 / max(result.requests, 1)
    db_cpu = None
    if db0 is not None and db1 is not None:
        # A backend that connected during the load counts whole; one that left is missed.
        db_cpu = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items())
    return Measured(
        scenario.name,
        result,
        web_cpu_ms=(web1 - web0) * per_request,
        db_cpu_ms=None if db_cpu is None else db_cpu * per_request,
        client_cpu_ms=(client1 - client0) * per_request,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_scenarios(app: Server, database: Database, only: str | None) -> list[Scenario]:
    """Accounts through the API, content rows by SQL, and the requests to load."""
    wanted = ("users", "cards", "messages")
    if only:
        wanted = tuple(name.strip() for name in only.split(","))
    me = signup(app, "me@bench.test")
    scenarios = []
    if "users" in wanted:
        scenarios.append(
            Scenario(
                "users/me",
                app.url + "/api/v1/users/me",
                _bearer(me),
                check=lambda body: body.get("email") == "me@bench.test",
            )
        )
    con = database.connect()
    try:
        have = seed.tables(con)
        owners = {n: signup(app, f"owner{n}@bench.test") for n in ROW_COUNTS}
        if "cards" in wanted and seed.CARDS in have:
            for n, token in owners.items():
                seed.cards(con, _user_id(con, f"owner{n}@bench.test"), n)
                scenarios.append(
                    Scenario(
                        f"cards?limit=20 @{n:,}",
                        app.url + "/api/v1/cards?limit=20",
                        _bearer(token),
                        check=_cards_check(n),
                    )
                )
        if "messages" in wanted and seed.MESSAGES in have:
            author = _user_id(con, "me@bench.test")
            for n in ROW_COUNTS:
                email = f"owner{n}@bench.test"
                owner = _user_id(con, email)
                seed.messages(con, owner, author, n)
                scenarios.append(
                    Scenario(
                        f"messages?page=1 @{n:,}",
                        app.url + f"/api/user/{owner}/messages?page=1",
                        _bearer(rabbit_login(app, con, email)),
                        check=_messages_check(n),
                    )
                )
        seed.analyze(con)
    finally:
        con.close()
    return scenarios


def original_scenarios(
    original: Server, app: Server, scenarios: list[Scenario]
) -> dict[str, tuple[Scenario, int]]:
    """The original's message list at the fewest and most messages, by our scenario's name.

    At the most messages each request takes the original a long time (it loads every
    message): one connection per worker, so that none waits past wrk's timeout.
    """
    found = {}
    for n in (ROW_COUNTS[0], ROW_COUNTS[-1]):
        ours = next((s for s in scenarios if s.name == f"messages?page=1 @{n:,}"), None)
        if ours is None:
            continue
        theirs = Scenario(
            f"original @{n:,}",
            ours.url.replace(app.url, original.url, 1),
            ours.headers,
            check=ours.check,
        )
        if verify(theirs):
            found[ours.name] = (theirs, None if n == ROW_COUNTS[0] else 2)
    return found


def _cards_check(n: int) -> Callable[[dict], bool]:
    return lambda body: (
        len(body["data"]) == 20
        and body["data"][0]["content"] == f"Benchmark card number {n}"
        and body["pagination"]["total"] == n
    )


def _messages_check(n: int) -> Callable[[dict], bool]:
    total = sum(seed.MONEY_UNIT_VALUES[i % 7] for i in range(1, n + 1))
    return lambda body: (
        len(body["messages"]) == 6
        and body["message_set_count"] == n
        and body["user_info"]["total_amount"] == total
    )


def verify(scenario: Scenario) -> bool:
    """One request before the load: the endpoint answers 200 with what was seeded.

    False (the scenario is left out) when the route is not served yet.
    """
    status, body = _request("GET", scenario.url, headers=scenario.headers)
    if status == 404:
        print(f"# {scenario.name}: route not served (404), left out", flush=True)
        return False
    if status != 200 or not scenario.check(body):
        raise RuntimeError(f"{scenario.name}: unexpected answer {status} {str(body)[:300]}")
    return True


def report(
    pairs: list[tuple[Measured, Measured]],
    json_path: Path | None,
    against_original: list[tuple[Measured, Measured]] = (),
) -> None:
    bare_rps = statistics.median(b.load.rps for b, _ in pairs)
    bare_cost = statistics.median(b.cost_ms for b, _ in pairs)
    print(
        "\n| endpoint | req/s | p50 ms | p99 ms | req/s vs bare just before "
        "| CPU ms/req (web+db+client) | CPU-cost ratio bare/endpoint |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    bare_p50 = statistics.median(b.load.p50_ms for b, _ in pairs)
    bare_p99 = statistics.median(b.load.p99_ms for b, _ in pairs)
    print(
        f"| bare (median of {len(pairs)} runs) | {bare_rps:.0f} | {bare_p50:.1f} | {bare_p99:.1f} "
        f"| 100% | {bare_cost:.3f} | |"
    )
    for b, m in pairs:
        r = m.load
        print(
            f"| {m.name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.rps / b.load.rps:.0%} | {m.cost_ms:.3f} | {b.cost_ms / m.cost_ms:.0%} |"
        )
    by_name = {m.name: m for _, m in pairs}
    growth = {}
    for kind in ("cards?limit=20", "messages?page=1"):
        small = by_name.get(f"{kind} @{ROW_COUNTS[0]:,}")
        large = by_name.get(f"{kind} @{ROW_COUNTS[-1]:,}")
        if small and large:
            growth[kind] = {
                "p50": large.load.p50_ms / small.load.p50_ms,
                "p99": large.load.p99_ms / small.load.p99_ms,
                "cpu": large.cost_ms / small.cost_ms,
            }
    if growth:
        print(f"\nat {ROW_COUNTS[-1]:,} rows / at {ROW_COUNTS[0]:,} rows (goal < 1.5x):")
        for kind, g in growth.items():
            print(
                f"  {kind}: latency p50 {g['p50']:.2f}x, p99 {g['p99']:.2f}x; "
                f"CPU per request {g['cpu']:.2f}x"
            )
    if against_original:
        print(
            "\n| message list | ours req/s | original req/s | ours / original "
            "| CPU ms/req ours | original |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for ours, theirs in against_original:
            print(
                f"| {ours.name} | {ours.load.rps:.0f} | {theirs.load.rps:.1f} "
                f"| {ours.load.rps / theirs.load.rps:.1f}x | {ours.cost_ms:.3f} "
                f"| {theirs.cost_ms:.3f} |"
            )
    errors = sum(m.load.errors + b.load.errors for b, m in [*pairs, *against_original])
    if errors:
        print(f"\nWARNING: {errors} failed requests during the load; figures are not valid")
    if json_path:
        figures = [{"bare": _figures(b), "endpoint": _figures(m)} for b, m in pairs]
        originals = [{"ours": _figures(o), "original": _figures(t)} for o, t in against_original]
        json_path.write_text(
            json.dumps({"pairs": figures, "growth": growth, "original": originals}, indent=2)
        )


def _figures(m: Measured) -> dict:
    return {**asdict(m), "cost_ms": m.cost_ms}


def signup(app: Server, email: str) -> str:
    status, body = _request(
        "POST",
        app.url + "/api/v1/auth/signup",
        {"email": email, "password": PASSWORD, "username": "bench"},
    )
    if status != 200:
        raise RuntimeError(f"signup {email}: {status} {body}")
    return body["session"]["access_token"]


def rabbit_login(app: Server, con, email: str) -> str:
    """A Money For Rabbit token for an account made on Zellyy: confirm it, then log in."""
    with con.cursor() as cur:
        cur.execute("UPDATE users SET email_confirmed_at = now() WHERE email_key = %s", (email,))
    status, body = _request(
        "POST", app.url + "/api/user/login", {"email": email, "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"rabbit login {email}: {status} {body}")
    return body["access_token"]


def _user_id(con, email: str) -> int:
    with con.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE email_key = %s", (email,))
        return cur.fetchone()[0]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _request(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    # Only loopback URLs this script built.
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read().decode(errors="replace")


def _forget_redis_keys(url: str, tag: str) -> None:
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        keys = list(client.scan_iter(match=f"*{tag}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError as ex:
        print(f"# could not remove Redis keys *{tag}*: {ex}")


if __name__ == "__main__":
    sys.exit(main())

"""Webhook delivery throughput and latency on PostgreSQL and Redis (issue 4); not a test.

    .venv/bin/python -m bench.webhooks [--events 2000] [--endpoints 4] [--concurrency 2]

Creates a fresh database, loopback receivers (HTTP/1.1 keep-alive, in a process
of their own) and `--endpoints` endpoints subscribed to user.created. Each event
is committed in its own transaction, as a sign-up would, and fans out through
the outbox. Two phases of `--events` events each:

1. capacity: the events are committed while no worker runs; then a Celery
   worker with `--concurrency` processes drains the queue. Its deliveries/s are
   printed next to the limit, a bare `requests.Session().post` loop to the same
   receiver (run before and after the drain, the better of the two counts);
2. latency: events are committed while the worker runs; p50/p99 from each
   event's commit to its receipt.

Drops the database and the queue afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/webhooks.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import requests

from bench.stack import ROOT, Database

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def serve_receivers(count: int, conn) -> None:
    """In a child process: `count` receivers answering 204, noting (webhook-id, time) per POST."""
    receipts: list[tuple[str, float]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receipts.append((self.headers.get("webhook-id", ""), time.time()))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(count)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send([server.server_address[1] for server in servers])
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(len(receipts))
        elif command == "take":
            conn.send(list(receipts))
            receipts.clear()
        else:
            return


def bare_loop(url: str, body: bytes, count: int) -> float:
    """Requests per second of a plain keep-alive POST loop: the most one client can do."""
    session = requests.Session()
    headers = {"content-type": "application/json", "webhook-timestamp": str(int(time.time()))}
    start = time.perf_counter()
    for n in range(count):
        response = session.post(
            url, data=body, headers={**headers, "webhook-id": f"bare_{n}"}, timeout=15
        )
        response.raise_for_status()
    return count / (time.perf_counter() - start)


def start_worker(env: dict[str, str], concurrency: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - the worker writes to it until stopped
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "worker.celery",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--hostname=bench@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("worker did not start:\n" + log_path.read_text())
        time.sleep(0.2)
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--bare-requests", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    run_id = secrets.token_hex(4)
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-webhooks-{run_id}-"))
    database = Database(PG_ADMIN_URL, f"bench_webhooks_{run_id}")
    queue = f"bench-webhooks-{run_id}"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database.url,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    os.environ.update(env)  # read by Config.from_env() when models and worker load

    parent, child = multiprocessing.get_context("fork").Pipe()
    receivers = multiprocessing.get_context("fork").Process(
        target=serve_receivers, args=(args.endpoints, child), daemon=True
    )
    receivers.start()
    urls = [f"http://127.0.0.1:{port}/hook" for port in parent.recv()]
    database.create()
    worker = None
    try:
        from migrations.runner import upgrade
        from models import init_db
        from models.events import emit
        from models.tasks import set_publisher
        from models.transaction import after_commit, transaction
        from models.webhooks import WebhookDelivery, create_endpoint
        from worker.celery import config, publish

        sample = b'{"id":"evt_%s","type":"user.created","data":{"email":"x@example.com"}}' % (
            uuid.uuid4().hex.encode()
        )
        upgrade(config.database_url)
        init_db(config.database_url)
        set_publisher(publish)
        with transaction():
            for url in urls:
                create_endpoint(
                    url,
                    ["user.created"],
                    "whsec_" + secrets.token_urlsafe(24).replace("-", "+").replace("_", "/"),
                    encryption_key=config.encryption_key,
                    allow_private=True,
                )
        expected = args.events * args.endpoints

        def emit_events(label: str) -> tuple[dict, float]:
            committed: dict[uuid.UUID, float] = {}
            start = time.time()
            for n in range(args.events):
                stamp: dict[str, float] = {}
                with transaction():
                    after_commit(lambda stamp=stamp: stamp.setdefault("at", time.time()))
                    event = emit(
                        "user.created",
                        {"id": str(uuid.uuid4()), "email": f"{label}{n}@example.com"},
                    )
                    event_id = event.id
                committed[event_id] = stamp["at"]
            return committed, args.events / (time.time() - start)

        def collect() -> list[tuple[str, float]]:
            deadline = time.monotonic() + args.timeout
            while True:
                parent.send("count")
                if parent.recv() >= expected or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            parent.send("take")
            return parent.recv()

        # 1. Capacity: the events wait in the queue, then the worker drains them.
        bare_before = bare_loop(urls[0], sample, args.bare_requests)
        parent.send("take")
        parent.recv()
        emit_events("drain")
        worker = start_worker(env, args.concurrency, var_dir / "worker.log")
        drained = collect()
        bare_after = bare_loop(urls[0], sample, args.bare_requests)
        parent.send("take")
        parent.recv()
        runtimes = [
            float(line.rsplit(" in ", 1)[1].split("s:")[0])
            for line in (var_dir / "worker.log").read_text().splitlines()
            if "webhooks.deliver" in line and " succeeded in " in line
        ]
        times = sorted(at for _m, at in drained)
        drain_rate = (len(drained) - 1) / (times[-1] - times[0])
        limit = max(bare_before, bare_after)

        # 2. Latency: events committed one by one while the worker runs.
        committed, emit_rate = emit_events("live")
        live = collect()

        from pony import orm

        with orm.db_session:
            event_of = dict(orm.select((d.message_id, d.event.id) for d in WebhookDelivery))
        first_receipt: dict[str, float] = {}
        for message_id, at in live:
            first_receipt.setdefault(message_id, at)
        latencies = [
            (at - committed[event_of[message_id]]) * 1000
            for message_id, at in first_receipt.items()
        ]
        live_rate = len(first_receipt) / (max(first_receipt.values()) - min(committed.values()))
        distinct_drained = len({m for m, _at in drained})

        print(
            f"webhooks: {args.events} user.created events x {args.endpoints} endpoints"
            f" = {expected} deliveries per phase, {args.concurrency} worker processes,"
            " PostgreSQL + Redis, loopback receivers"
        )
        print(
            f"  bare requests.Session().post loop   {limit:6.0f} req/s (the limit;"
            f" {bare_before:.0f} before and {bare_after:.0f} after the drain)"
        )
        print(
            f"  deliveries, queue drained           {drain_rate:6.0f} deliveries/s"
            f" = {drain_rate / limit:.0%} of the limit"
        )
        print(
            f"  deliver tasks while draining        {len(runtimes)} tasks, mean runtime"
            f" {statistics.mean(runtimes) * 1000:.1f} ms, {sum(runtimes):.1f} s busy"
            f" of {args.concurrency} x {times[-1] - times[0]:.1f} s"
        )
        print(
            f"  deliveries, live                    {live_rate:6.0f} deliveries/s"
            f" (events committed at {emit_rate:.0f}/s by one process)"
        )
        print(
            f"  commit -> receipt, live             p50 {percentile(latencies, 50):.1f} ms"
            f"  p99 {percentile(latencies, 99):.1f} ms"
        )
        duplicates = len(drained) - distinct_drained + len(live) - len(first_receipt)
        print(
            f"  received {distinct_drained} + {len(first_receipt)} of {2 * expected}"
            f" distinct webhook-ids, {duplicates} duplicates"
        )
        return 0 if distinct_drained == len(first_receipt) == expected else 1
    finally:
        if worker is not None:
            stop_worker(worker)
        parent.send("stop")
        receivers.join(timeout=5)
        from models import db

        if db.provider is not None:
            db.disconnect()
        database.drop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

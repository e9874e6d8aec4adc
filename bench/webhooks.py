"""Webhook delivery with unhealthy receivers registered, on PostgreSQL and Redis; not a test.

    .venv/bin/python -m bench.webhooks [--events 1000] [--healthy 16] [--hanging 2] [--slow 2]

Creates a fresh database and loopback receivers in a process of their own:
`--healthy` answering 204 at once (HTTP/1.1 keep-alive), `--hanging` that
accept connections and never answer, `--slow` that answer after `--slow-delay`
seconds; one endpoint each, all subscribed to user.created. Each event is
committed in its own transaction, as a sign-up would, and fans out through the
outbox. A Celery worker with `--concurrency` processes (default 2) serves the
run's queues. Two phases of `--events` events each:

1. capacity: the events are committed while no worker runs; then the worker
   drains them. Healthy deliveries/s are printed next to the reference, a bare
   `requests.Session().post` loop to a healthy receiver (run before and after
   the drain, the better of the two);
2. latency: events are committed at `--live-rate` events/s (default: half the
   rate the drain reached) while the worker runs; p50/p99 from each event's
   commit to its receipt at the healthy endpoints.

The unhealthy endpoints are registered throughout: the slow ones keep their
attempts in flight, the hanging ones until their circuit breakers pause them.
Drops the database and the queues afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
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

from bench.stack import ROOT, Database, children, process_cpu

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def serve_receivers(healthy: int, hanging: int, slow: int, slow_delay: float, conn) -> None:
    """In a child process: the receivers; notes (kind, webhook-id, time) of every answered POST."""
    receipts: list[tuple[str, str, float]] = []

    def handler(kind: str, delay: float):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if delay:
                    time.sleep(delay)
                receipts.append((kind, self.headers.get("webhook-id", ""), time.time()))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        return Handler

    ports: dict[str, list[int]] = {"healthy": [], "slow": [], "hanging": []}
    for kind, count, delay in (("healthy", healthy, 0), ("slow", slow, slow_delay)):
        for _ in range(count):
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler(kind, delay))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            ports[kind].append(server.server_address[1])
    held: list[socket.socket] = []
    for _ in range(hanging):
        listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        ports["hanging"].append(listener.getsockname()[1])

        def accept(listener=listener):
            while True:
                held.append(listener.accept()[0])  # never read, never answered

        threading.Thread(target=accept, daemon=True).start()
    conn.send(ports)
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(sum(kind == "healthy" for kind, _m, _at in receipts))
        elif command == "take":
            conn.send(list(receipts))
            receipts.clear()
        else:
            return


def bare_loop(url: str, body: bytes, count: int, receivers: int) -> tuple[float, float]:
    """A plain keep-alive POST loop, the reference: requests/s and CPU ms per request.

    The CPU is this process's (the client) and the receivers'.
    """
    cpu = process_cpu(os.getpid()) + process_cpu(receivers)
    session = requests.Session()
    headers = {"content-type": "application/json", "webhook-timestamp": str(int(time.time()))}
    start = time.perf_counter()
    for n in range(count):
        response = session.post(
            url, data=body, headers={**headers, "webhook-id": f"bare_{n}"}, timeout=15
        )
        response.raise_for_status()
    rate = count / (time.perf_counter() - start)
    return rate, (process_cpu(os.getpid()) + process_cpu(receivers) - cpu) * 1000 / count


def system_cpu(worker: int, receivers: int, database: Database) -> dict[str, float]:
    """CPU seconds so far of the worker (main process and pool), the receivers, the database."""
    backends = database.backend_cpu() or {}
    return {
        "worker": process_cpu(worker) + sum(process_cpu(pid) for pid in children(worker)),
        "receivers": process_cpu(receivers),
        "database": sum(backends.values()),
    }


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


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--healthy", type=int, default=16)
    parser.add_argument("--hanging", type=int, default=2)
    parser.add_argument("--slow", type=int, default=2)
    parser.add_argument("--slow-delay", type=float, default=2.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--live-rate", type=float, help="events/s in phase 2")
    parser.add_argument("--bare-requests", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    run_id = secrets.token_hex(4)
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-webhooks-{run_id}-"))
    database = Database(PG_ADMIN_URL, f"bench_webhooks_{run_id}")
    prefix = f"bench-webhooks-{run_id}-"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database.url,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE_PREFIX": prefix,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    os.environ.update(env)  # read by Config.from_env() when models and worker load
    load_before = os.getloadavg()

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    receivers = context.Process(
        target=serve_receivers,
        args=(args.healthy, args.hanging, args.slow, args.slow_delay, child),
        daemon=True,
    )
    receivers.start()
    ports = parent.recv()
    urls = {kind: [f"http://127.0.0.1:{p}/hook" for p in found] for kind, found in ports.items()}
    database.create()
    worker = None
    try:
        from pony import orm

        from migrations.runner import upgrade
        from models import init_db
        from models.clock import utcnow
        from models.events import emit
        from models.tasks import set_publisher
        from models.transaction import after_commit, transaction
        from models.webhooks import WebhookDelivery, WebhookEndpoint, create_endpoint
        from worker.celery import config, publish

        sample = b'{"id":"evt_%s","type":"user.created","data":{"email":"x@example.com"}}' % (
            uuid.uuid4().hex.encode()
        )
        upgrade(config.database_url)
        init_db(config.database_url)
        set_publisher(publish)
        with transaction():
            for url in [url for found in urls.values() for url in found]:
                create_endpoint(
                    url,
                    ["user.created"],
                    "whsec_" + secrets.token_urlsafe(24).replace("-", "+").replace("_", "/"),
                    encryption_key=config.encryption_key,
                    allow_private=True,
                )
        expected = args.events * args.healthy

        def emit_events(label: str, rate: float | None = None) -> tuple[dict, float]:
            committed: dict[uuid.UUID, float] = {}
            start = time.time()
            for n in range(args.events):
                if rate:  # paced: the n-th event is committed no earlier than n / rate
                    time.sleep(max(0.0, start + n / rate - time.time()))
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

        def collect() -> list[tuple[str, str, float]]:
            deadline = time.monotonic() + args.timeout
            while True:
                parent.send("count")
                if parent.recv() >= expected or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            parent.send("take")
            return parent.recv()

        def take() -> None:
            parent.send("take")
            parent.recv()

        # 1. Capacity: the events wait in the queue, then the worker drains them.
        bare_before, bare_cpu = bare_loop(
            urls["healthy"][0], sample, args.bare_requests, receivers.pid
        )
        take()
        emit_events("drain")
        worker = start_worker(env, args.concurrency, var_dir / "worker.log")
        cpu_before = system_cpu(worker.pid, receivers.pid, database)
        drained = collect()
        cpu_after = system_cpu(worker.pid, receivers.pid, database)
        drain_cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_after}
        healthy_drained = sorted(at for kind, _m, at in drained if kind == "healthy")
        drain_seconds = healthy_drained[-1] - healthy_drained[0]
        drain_rate = (len(healthy_drained) - 1) / drain_seconds
        slow_drained = sum(kind == "slow" for kind, _m, _at in drained)
        bare_after, bare_cpu_after = bare_loop(
            urls["healthy"][0], sample, args.bare_requests, receivers.pid
        )
        take()
        reference = max(bare_before, bare_after)
        bare_cpu = min(bare_cpu, bare_cpu_after)
        per_delivery = {part: s * 1000 / len(healthy_drained) for part, s in drain_cpu.items()}
        delivery_cpu = sum(per_delivery.values())

        # 2. Latency: events committed one by one, paced, while the worker runs.
        live_rate = args.live_rate or drain_rate / args.healthy / 2
        committed, emit_rate = emit_events("live", live_rate)
        live = collect()

        with orm.db_session:
            event_of = dict(orm.select((d.message_id, d.event.id) for d in WebhookDelivery))
            breakers = [
                (e.url, e.breaker_state(utcnow()), e.consecutive_failures)
                for e in WebhookEndpoint.select()
                if e.url in urls["hanging"]
            ]
        first_receipt: dict[str, float] = {}
        for kind, message_id, at in live:
            if kind == "healthy" and event_of.get(message_id) in committed:  # not a late drain one
                first_receipt.setdefault(message_id, at)
        latencies = [
            (at - committed[event_of[message_id]]) * 1000
            for message_id, at in first_receipt.items()
        ]
        live_span = max(first_receipt.values()) - min(committed.values())
        live_rate_seen = len(first_receipt) / live_span
        distinct_drained = len({m for kind, m, _at in drained if kind == "healthy"})
        load_after = os.getloadavg()

        print(
            f"webhooks: {args.events} user.created events per phase to {args.healthy} healthy,"
            f" {args.slow} slow ({args.slow_delay:g} s) and {args.hanging} hanging endpoints;"
            f" {args.concurrency} worker processes, PostgreSQL + Redis, loopback receivers"
        )
        print(
            f"  load average (1/5/15 min)            before {load_before[0]:.1f}"
            f"/{load_before[1]:.1f}/{load_before[2]:.1f},"
            f" after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}"
        )
        print(
            f"  bare requests.Session().post loop    {reference:6.0f} req/s (the reference;"
            f" {bare_before:.0f} before and {bare_after:.0f} after the drain)"
        )
        print(
            f"  healthy deliveries, queue drained    {drain_rate:6.0f} deliveries/s"
            f" = {drain_rate / reference:.2f}x the reference ({len(healthy_drained)} in"
            f" {drain_seconds:.1f} s; slow endpoints received {slow_drained} meanwhile)"
        )
        parts = ", ".join(f"{part} {ms:.2f}" for part, ms in per_delivery.items())
        print(
            f"  CPU per healthy delivery, drained    {delivery_cpu:.2f} ms ({parts}; Redis not"
            f" counted) against {bare_cpu:.2f} ms per bare request (client and receiver)"
        )
        print(
            f"  healthy deliveries, live             {live_rate_seen:6.0f} deliveries/s"
            f" (events committed at {emit_rate:.0f}/s, paced at {live_rate:.0f}/s)"
        )
        print(
            f"  commit -> receipt, healthy, live     p50 {percentile(latencies, 50):.1f} ms"
            f"  p99 {percentile(latencies, 99):.1f} ms  max {max(latencies):.1f} ms"
        )
        for url, state, failures in breakers:
            print(f"  hanging {url:32} breaker {state}, {failures} failures in a row")
        duplicates = len(healthy_drained) - distinct_drained
        print(
            f"  received {distinct_drained} + {len(first_receipt)} of {2 * expected}"
            f" healthy webhook-ids, {duplicates} duplicates while draining"
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
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

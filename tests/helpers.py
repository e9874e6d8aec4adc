"""Small helpers the tests share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll until `predicate()` is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m api.cli ...` in a process of its own, as the release process runs it."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def at_once(calls: list[Callable], timeout: float = 60.0) -> list:
    """Run each call in its own thread, all released at the same instant.

    Returns, in order, what each call returned or the exception it raised.
    """
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = calls[i]()
        except BaseException as ex:
            results[i] = ex

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Ask a process to stop; kill it if it has not within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Process:
    """One of the system's processes (web, worker, beat), in its own process group, logging
    to a file; started once `ready()` is true."""

    def __init__(self, command: list[str], log_path: Path, env: dict, ready, timeout: float = 60):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - kept open for the process's lifetime
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own group, so a test can SIGKILL the main process and its children at once.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not ready(self):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{command[:5]} did not start:\n" + self.log())
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout: float | None = None):
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed machine would end it."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "--app", "worker.celery", *args]


class Worker(Process):
    """A real Celery worker process."""

    def __init__(self, log_path: Path, env: dict, *extra_args: str):
        command = celery(
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            *extra_args,
        )
        super().__init__(command, log_path, env, lambda p: "ready." in p.log())


class Beat(Process):
    """A real Celery beat process; started once it runs its schedule, or waits to (`waiting`)."""

    def __init__(self, log_path: Path, env: dict, waiting: bool = False):
        started = "beat: Starting" if waiting else "beat: Acquired lock"
        ready = lambda p: started in p.log()  # noqa: E731
        super().__init__(celery("beat", "--loglevel=INFO"), log_path, env, ready)


def json_lines(text: str) -> list[dict]:
    """The JSON log lines of a process's output; any other line fails the test."""
    import json

    lines = []
    for line in text.splitlines():
        if line.strip():
            lines.append(json.loads(line))
    return lines


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value in a Prometheus text exposition; 0 when it is not there."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def purge_queues(config) -> None:
    """Drop every task waiting in the run's queues."""
    from settings import QUEUE_DOMAINS
    from worker.celery import app

    with app.connection_for_write() as connection:
        for domain in QUEUE_DOMAINS:
            connection.default_channel.queue_purge(config.queue(domain))

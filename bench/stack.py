"""The system under test: a throw-away PostgreSQL database and gunicorn servers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Database:
    """A database created for one run and dropped after it."""

    def __init__(self, admin_url: str, name: str):
        self.admin_url = admin_url
        self.name = name
        self.url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self):
        con = psycopg2.connect(self.url)
        con.autocommit = True
        return con

    def backend_cpu(self) -> dict[int, float] | None:
        """CPU seconds used so far by each server process connected to this database.

        None when PostgreSQL is not on this machine (its processes are not ours to read).
        """
        if not self.local():
            return None
        con = psycopg2.connect(self.admin_url)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,))
                return {row[0]: process_cpu(row[0]) for row in cur.fetchall()}
        finally:
            con.close()

    def local(self) -> bool:
        return urlsplit(self.admin_url).hostname in ("127.0.0.1", "localhost", "::1")

    def _admin(self, sql: str) -> None:
        con = psycopg2.connect(self.admin_url)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()


class Server:
    """gunicorn (with the project's gunicorn.conf.py unless told otherwise) on 127.0.0.1 only."""

    def __init__(
        self,
        name: str,
        target: str,
        env: dict[str, str],
        log_dir: Path,
        options: list[str] | None = None,
    ):
        self.name = name
        self.target = target
        # gunicorn's options; by default the project's config file.
        self.options = options or ["--config", str(ROOT / "gunicorn.conf.py")]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port)}
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            *self.options,
            # The config binds 0.0.0.0 (a platform router in front); the benchmark
            # keeps its traffic on loopback.
            "--bind",
            f"127.0.0.1:{self.port}",
            self.target,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, path: str, timeout: float = 60, statuses: tuple = (200,)) -> None:
        """Until `path` answers one of `statuses`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:  # noqa: S310
                    if resp.status in statuses:
                        return
            except urllib.error.HTTPError as ex:
                if ex.code in statuses:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT by default: gunicorn's quick shutdown; the benchmark has nothing in flight."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        return children(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU used so far by the master and every worker it has had (exited ones included)."""
        return process_cpu(self.process.pid, reaped=True) + sum(
            process_cpu(pid) for pid in self.worker_pids()
        )


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone, or not ours to read
        return None
    # After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...
    return text.rsplit(")", 1)[1].split()


def process_cpu(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process; with `reaped`, also of its waited-for children."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found

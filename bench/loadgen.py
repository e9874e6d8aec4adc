"""Keep-alive HTTP load for a fixed time: Debian's `wrk` when installed, else a Python one."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# wrk's Lua hook: the figures as one JSON line, latencies in microseconds.
_WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d,'
    .. ' "mean_us": %f, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    rps: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors

    def line(self) -> str:
        return (
            f"{self.rps:9.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms"
            f"  mean {self.mean_ms:6.2f} ms  ({self.requests} requests, {self.errors} errors)"
        )


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def load(
    url: str, *, duration: int, connections: int, threads: int, headers: dict[str, str]
) -> Result:
    if tool() == "wrk":
        return _wrk(url, duration, connections, threads, headers)
    return _python(url, duration, connections, threads, headers)


def _wrk(url, duration, connections, threads, headers) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(_WRK_REPORT)
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
        command += ["--timeout", "10s", "-s", str(script)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=duration + 60, check=True
        ).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    return Result(
        requests=data["requests"],
        rps=data["requests"] / (data["duration_us"] / 1e6),
        mean_ms=data["mean_us"] / 1000,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["non_2xx"] + data["socket_errors"],
    )


# The fallback: `threads` processes (one GIL each), each holding its share of the
# keep-alive connections in threads. It saturates sooner than wrk does.


def _python(url, duration, connections, threads, headers) -> Result:
    processes = max(1, min(threads, connections))
    per_process = [
        connections // processes + (i < connections % processes) for i in range(processes)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.starmap(_python_process, [(url, duration, n, headers) for n in per_process])
    latencies = sorted(lat for part, _, _ in parts for lat in part)
    errors = sum(err for _, err, _ in parts)
    elapsed = max(took for _, _, took in parts)
    if not latencies:
        return Result(errors, errors / elapsed, 0.0, 0.0, 0.0, errors)
    return Result(
        requests=len(latencies) + errors,
        rps=(len(latencies) + errors) / elapsed,
        mean_ms=statistics.fmean(latencies) * 1000,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        errors=errors,
    )


def _python_process(url: str, duration: int, connections: int, headers: dict[str, str]):
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    start = time.perf_counter()
    deadline = start + duration
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def connection() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            if resp.status >= 400:
                failed += 1
            else:
                mine.append(time.perf_counter() - sent)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    workers = [threading.Thread(target=connection) for _ in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors[0], time.perf_counter() - start

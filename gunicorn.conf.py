"""gunicorn settings for the `web` process."""

# gunicorn must sit behind a buffering proxy (the Heroku router, nginx): facing
# clients directly, a client that sends its body slowly holds a worker thread for
# as long as it likes, and a few such clients were measured to hold every worker.

import multiprocessing
import os

from gunicorn.glogging import Logger

from startup import config_or_exit, services_or_exit
from telemetry import metrics  # sets PROMETHEUS_MULTIPROC_DIR for the workers it forks
from telemetry.logs import JsonFormatter

# The master checks before it forks: a missing setting or a database or broker that
# does not answer is one line and exit 1, not every worker failing to boot in turn.
_config = config_or_exit()
services_or_exit(_config)

bind = f"0.0.0.0:{_config.port}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Threads let one worker serve keep-alive connections and overlap database
# round-trips; Pony keeps one connection and one db_session per thread.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The app is imported in each worker after fork, so every process binds the
# database and opens connections of its own: nothing is shared across fork.
preload_app = False
# The only outside call a request makes is the social token check on connect,
# capped at 10 s; anything still running after 30 s is stuck and is restarted.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycling workers bounds any slow leak; jitter keeps them from restarting together.
max_requests = 10000
max_requests_jitter = 1000
# The app writes one JSON line per request (route template, status, duration,
# request id, user id) to stderr; gunicorn's access log would print raw paths and
# query strings, which carry confirmation tokens and image signatures, so it is off.
accesslog = None
errorlog = "-"
# Honour X-Forwarded-For only from the proxy in front ("*" on Heroku, whose router
# is the only way in); the rate limiter reads the same setting.
forwarded_allow_ips = _config.forwarded_allow_ips


class JsonLogger(Logger):
    """gunicorn's own messages (workers booting, timing out) as JSON lines, like the app's."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


logger_class = JsonLogger


def on_starting(server):
    # Before the first worker: drop the metric files of processes that are gone.
    metrics.remove_dead_files()


def child_exit(server, worker):
    metrics.mark_dead(worker.pid)

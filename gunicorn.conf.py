"""gunicorn settings for the `web` process."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
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
accesslog = "-"
errorlog = "-"
# Honour X-Forwarded-For only from the local proxy (Heroku-style routers set it).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

"""Settings from the environment, read once per process by the web, worker, beat and CLI."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse

ROOT = Path(__file__).resolve().parent

# HS256 keys shorter than the hash (32 bytes) weaken every token (RFC 7518 §3.2).
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_WEBHOOK_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
# The worker's queues, one per task domain (celeryconfig.py routes each task to one).
QUEUE_DOMAINS = ("webhooks", "mail", "social", "billing", "periodic")


class ConfigError(Exception):
    """Settings are missing, malformed or unsafe; `problems` has one line for each."""

    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class Config:
    app_env: str
    var_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    encryption_key: bytes
    port: int
    access_token_ttl: int
    refresh_token_ttl: int
    rabbit_access_token_ttl: int
    rabbit_refresh_token_ttl: int
    refresh_reuse_interval: int
    smtp_url: str | None
    mail_from: str
    mail_dir: Path
    stripe_api_key: str | None
    stripe_api_base: str | None
    stripe_webhook_secret: str | None
    facebook_graph_url: str
    instagram_graph_url: str
    twitter_api_url: str
    twitter_client_id: str | None
    webhook_allow_private_urls: bool
    messages_open_at: datetime | None
    rabbit_frontend_url: str
    cors_allowed_origins: tuple[str, ...]
    public_base_url: str
    free_card_limit: int
    webhook_retry_schedule: tuple[int, ...]
    webhook_concurrency: int
    webhook_endpoint_concurrency: int
    webhook_breaker_failures: int
    webhook_breaker_pause: int
    webhook_breaker_max_pause: int
    webhook_disable_after: int
    renewal_retry_schedule: tuple[int, ...]
    rate_limit_login: str
    rate_limit_ip: str
    rate_limit_recovery_mail: str
    rate_limit_prefix: str = "rl"
    queue_prefix: str = ""
    # Proxies whose X-Forwarded-For is believed (gunicorn reads the same variable).
    forwarded_allow_ips: str = "127.0.0.1"
    max_body_bytes: int = 1024 * 1024
    # Bearer token that GET /metrics asks for; None leaves it open.
    metrics_token: str | None = None
    # Seconds any one Redis operation may take (connecting, or waiting for an
    # answer) before it fails: a stopped or frozen Redis never holds a request.
    redis_timeout: float = 0.5
    # Where beat keeps its schedule and lock in Redis (tests give each run its own).
    redbeat_key_prefix: str = "redbeat:"
    # Multiplies every period of beat's schedule (tests shrink them).
    beat_scale: float = 1.0

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def broker_url(self) -> str:
        return self.redis_url or "filesystem://"

    @property
    def rate_limit_storage_url(self) -> str:
        return self.redis_url or "memory://"

    def queue(self, domain: str) -> str:
        """The broker queue of a task domain (see QUEUE_DOMAINS)."""
        return self.queue_prefix + domain

    @property
    def redis_options(self) -> dict:
        """redis-py client options: each operation bounded, and tried once (redis-py would
        otherwise retry three times with backoff)."""
        return {
            "socket_timeout": self.redis_timeout,
            "socket_connect_timeout": self.redis_timeout,
            "retry": None,
        }

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        app_env = env.get("APP_ENV", "development")
        if app_env not in ("development", "test", "production"):
            raise ConfigError(f"APP_ENV must be development, test or production, not {app_env!r}")
        if app_env == "production" and (problems := production_problems(env)):
            raise ConfigError(*problems)
        var_dir = _var_dir(env)
        secret_key = env.get("SECRET_KEY") or _generated_secret(var_dir)
        port = _int(env, "PORT", 8000, minimum=1)
        encryption_key = env.get("ENCRYPTION_KEY")
        database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'app.sqlite3'}"
        if not database_url.startswith(("sqlite:", "postgres://", "postgresql://")):
            raise ConfigError("DATABASE_URL must be sqlite:///path or postgresql://...")
        rabbit_frontend_url = env.get("RABBIT_FRONTEND_URL", "http://localhost:3000").rstrip("/")
        return cls(
            app_env=app_env,
            var_dir=var_dir,
            database_url=database_url,
            redis_url=_redis_url(env),
            secret_key=secret_key,
            encryption_key=(
                encryption_key.encode() if encryption_key else _derive_fernet_key(secret_key)
            ),
            port=port,
            access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", 3600, minimum=1),
            refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", 2_592_000, minimum=1),
            # The original Money For Rabbit service's lifetimes: 3 days and 7 days.
            rabbit_access_token_ttl=_int(env, "RABBIT_ACCESS_TOKEN_TTL", 259_200, minimum=1),
            rabbit_refresh_token_ttl=_int(env, "RABBIT_REFRESH_TOKEN_TTL", 604_800, minimum=1),
            refresh_reuse_interval=_int(env, "REFRESH_REUSE_INTERVAL", 10, minimum=0),
            smtp_url=env.get("SMTP_URL") or None,
            mail_from=env.get("MAIL_FROM", "no-reply@localhost"),
            mail_dir=var_dir / "mail",
            stripe_api_key=env.get("STRIPE_API_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            facebook_graph_url=env.get("FACEBOOK_GRAPH_URL", "https://graph.facebook.com/v19.0"),
            instagram_graph_url=env.get("INSTAGRAM_GRAPH_URL", "https://graph.facebook.com/v19.0"),
            twitter_api_url=env.get("TWITTER_API_URL", "https://api.x.com/2"),
            twitter_client_id=env.get("TWITTER_CLIENT_ID") or None,
            webhook_allow_private_urls=_bool(env, "WEBHOOK_ALLOW_PRIVATE_URLS", False),
            messages_open_at=_instant(env, "MESSAGES_OPEN_AT"),
            rabbit_frontend_url=rabbit_frontend_url,
            cors_allowed_origins=_origins(env, rabbit_frontend_url, app_env),
            public_base_url=env.get("PUBLIC_BASE_URL", f"http://localhost:{port}").rstrip("/"),
            free_card_limit=_int(env, "FREE_CARD_LIMIT", 50, minimum=0),
            webhook_retry_schedule=_schedule(
                env, "WEBHOOK_RETRY_SCHEDULE", DEFAULT_WEBHOOK_RETRY_SCHEDULE
            ),
            webhook_concurrency=_int(env, "WEBHOOK_CONCURRENCY", 64, minimum=1),
            webhook_endpoint_concurrency=_int(env, "WEBHOOK_ENDPOINT_CONCURRENCY", 8, minimum=1),
            webhook_breaker_failures=_int(env, "WEBHOOK_BREAKER_FAILURES", 5, minimum=1),
            webhook_breaker_pause=_int(env, "WEBHOOK_BREAKER_PAUSE", 60, minimum=1),
            webhook_breaker_max_pause=_int(env, "WEBHOOK_BREAKER_MAX_PAUSE", 3600, minimum=1),
            webhook_disable_after=_int(env, "WEBHOOK_DISABLE_AFTER", 5 * 24 * 3600, minimum=1),
            renewal_retry_schedule=_schedule(env, "RENEWAL_RETRY_SCHEDULE", (1, 3, 7)),
            rate_limit_login=_limit(env, "RATE_LIMIT_LOGIN", "10/minute"),
            rate_limit_ip=_limit(env, "RATE_LIMIT_IP", "100/minute"),
            rate_limit_recovery_mail=_limit(env, "RATE_LIMIT_RECOVERY_MAIL", "5/hour"),
            # Both only matter to tests that share one Redis between runs.
            rate_limit_prefix=env.get("RATE_LIMIT_PREFIX", "rl"),
            queue_prefix=env.get("CELERY_QUEUE_PREFIX", ""),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            metrics_token=env.get("METRICS_TOKEN") or None,
            redis_timeout=_float(env, "REDIS_TIMEOUT", 0.5),
            redbeat_key_prefix=env.get("REDBEAT_KEY_PREFIX", "redbeat:"),
            beat_scale=_float(env, "BEAT_SCALE", 1.0),
        )


def production_problems(env: dict[str, str]) -> list[str]:
    """Every setting that keeps `env` from running in production, one line each (none: fine).

    The embedded defaults (SQLite, no broker, mail written to files, links to
    localhost) would start, and quietly fail real users.
    """
    problems = []
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        problems.append(
            "DATABASE_URL is missing (production needs postgresql://user:password@host:5432/name)"
        )
    elif not database_url.startswith(("postgres://", "postgresql://")):
        scheme = database_url.partition(":")[0]  # not the URL: it may hold a password
        problems.append(f"DATABASE_URL must be PostgreSQL in production, not {scheme}")
    if not env.get("REDIS_URL"):
        problems.append("REDIS_URL is missing (production needs Redis: redis://host:6379/0)")
    secret_key = env.get("SECRET_KEY", "").encode()
    if not secret_key:
        problems.append(f"SECRET_KEY is missing (production needs {MIN_SECRET_KEY_LENGTH}+ bytes)")
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(secret_key)} bytes; production needs {MIN_SECRET_KEY_LENGTH}+"
        )
    if not env.get("SMTP_URL"):
        problems.append("SMTP_URL is missing (production sends mail: smtp+starttls://host:587)")
    public_base_url = env.get("PUBLIC_BASE_URL", "")
    if not public_base_url:
        problems.append("PUBLIC_BASE_URL is missing (production needs the API's https:// URL)")
    elif urlsplit(public_base_url).scheme != "https" or not urlsplit(public_base_url).hostname:
        problems.append(f"PUBLIC_BASE_URL must be https:// in production, not {public_base_url!r}")
    if not env.get("CORS_ALLOWED_ORIGINS"):
        problems.append("CORS_ALLOWED_ORIGINS is missing (production needs the web apps' origins)")
    if not env.get("MAIL_FROM"):
        problems.append("MAIL_FROM is missing (production needs a sender address for mail)")
    return problems


def _redis_url(env: dict[str, str]) -> str | None:
    """REDIS_URL; a rediss:// one carries REDIS_SSL_CERT_REQS unless it names its own.

    Celery, the rate limiter and the checks all read `ssl_cert_reqs` from the URL;
    Heroku's Redis serves TLS with a self-signed certificate, hence `none` there.
    """
    url = env.get("REDIS_URL") or None
    if url is None or not url.startswith("rediss://") or "ssl_cert_reqs=" in url:
        return url
    cert_reqs = env.get("REDIS_SSL_CERT_REQS") or "required"
    if cert_reqs not in ("required", "optional", "none"):
        raise ConfigError(
            f"REDIS_SSL_CERT_REQS must be required, optional or none, not {cert_reqs!r}"
        )
    return f"{url}{'&' if '?' in url else '?'}ssl_cert_reqs={cert_reqs}"


def metrics_dir(env: Mapping[str, str]) -> Path:
    """Where every process writes its Prometheus metrics (PROMETHEUS_MULTIPROC_DIR).

    Read before any process-wide setup, since prometheus_client reads it when imported.
    """
    return Path(env.get("PROMETHEUS_MULTIPROC_DIR") or _var_dir(env) / "metrics")


def _var_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("VAR_DIR", ROOT / "var"))


def _generated_secret(var_dir: Path) -> str:
    """Outside production, a secret made once and kept in ./var/ so restarts keep sessions."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once agree on the first one written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _derive_fernet_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(b"encryption-key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _int(env: dict[str, str], name: str, default: int, minimum: int | None = None) -> int:
    return _number(env, name, default, int, minimum)


def _float(env: dict[str, str], name: str, default: float) -> float:
    """A positive number of seconds (fractions allowed)."""
    value = _number(env, name, default, float)
    if not value > 0:
        raise ConfigError(f"{name} must be above 0, not {value}")
    return value


def _number(env: dict[str, str], name: str, default, kind: type, minimum=None):
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _limit(env: dict[str, str], name: str, default: str) -> str:
    """A rate in the `limits` library's notation, e.g. 10/minute."""
    raw = env.get(name) or default
    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate like 10/minute, not {raw!r}") from None
    return raw


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if not raw:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _instant(env: dict[str, str], name: str) -> datetime | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name} must be an ISO-8601 instant, not {raw!r}") from None
    if value.tzinfo is None:
        raise ConfigError(f"{name} must carry a time zone, e.g. 2027-01-01T00:00:00+09:00")
    return value


def _origin(url: str, name: str) -> str:
    """scheme://host[:port] as browsers send it in Origin: lower case, no default port."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(f"{name} must hold http(s)://host[:port] origins, not {url!r}")
    default_port = 443 if parts.scheme == "https" else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")


def _origins(env: dict[str, str], frontend_url: str, app_env: str) -> tuple[str, ...]:
    """CORS_ALLOWED_ORIGINS: exact origins, comma-separated.

    Unset: the Money For Rabbit front end's origin, plus a local dev server's
    (http://localhost:3000) outside production.
    """
    raw = env.get("CORS_ALLOWED_ORIGINS")
    if raw:
        entries = [entry for entry in raw.split(",") if entry.strip()]
        for entry in entries:
            if urlsplit(entry.strip()).path not in ("", "/"):
                raise ConfigError(f"CORS_ALLOWED_ORIGINS takes origins, not paths: {entry!r}")
        origins = [_origin(entry, "CORS_ALLOWED_ORIGINS") for entry in entries]
    else:
        origins = [_origin(frontend_url, "RABBIT_FRONTEND_URL")]
        if app_env != "production":
            origins.append("http://localhost:3000")
    return tuple(dict.fromkeys(origins))


def _schedule(env: dict[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated integers, not {raw!r}") from None

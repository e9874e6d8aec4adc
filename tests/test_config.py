"""Configuration from the environment: defaults, production rules, clear errors."""

from datetime import UTC, datetime

import pytest

from settings import Config, ConfigError

STRONG_KEY = "k" * 48
# Durations and ports: integers of at least 1.
POSITIVE = [
    "PORT",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "RABBIT_ACCESS_TOKEN_TTL",
    "RABBIT_REFRESH_TOKEN_TTL",
]


def load(tmp_path, **env):
    return Config.from_env({"VAR_DIR": str(tmp_path), **env})


def test_embedded_defaults(tmp_path):
    config = load(tmp_path)
    assert config.app_env == "development"
    assert config.database_url == f"sqlite:///{tmp_path / 'app.sqlite3'}"
    assert config.redis_url is None
    assert config.broker_url == "filesystem://"
    assert config.rate_limit_storage_url == "memory://"
    assert config.smtp_url is None and config.mail_dir == tmp_path / "mail"
    assert config.port == 8000
    assert config.access_token_ttl == 3600 and config.refresh_token_ttl == 2_592_000
    assert config.rabbit_access_token_ttl == 259_200  # 3 days
    assert config.rabbit_refresh_token_ttl == 604_800  # 7 days
    assert config.refresh_reuse_interval == 10
    assert config.cors_allowed_origins == ("http://localhost:3000",)
    assert config.rate_limit_login == "10/minute" and config.rate_limit_ip == "100/minute"
    assert config.rabbit_frontend_url == "http://localhost:3000"
    assert config.public_base_url == "http://localhost:8000"
    assert config.free_card_limit == 50
    assert config.renewal_retry_schedule == (1, 3, 7)
    assert config.webhook_allow_private_urls is False
    assert config.messages_open_at is None


def test_production_engines_come_from_urls_alone(tmp_path):
    config = load(
        tmp_path,
        DATABASE_URL="postgresql://app:pw@db:5432/app",
        REDIS_URL="redis://cache:6379/0",
    )
    assert config.database_url == "postgresql://app:pw@db:5432/app"
    assert config.broker_url == "redis://cache:6379/0"
    assert config.rate_limit_storage_url == "redis://cache:6379/0"


def test_a_tls_redis_url_verifies_its_certificate_unless_told(tmp_path):
    tls = "rediss://:pw@cache:6380"
    assert load(tmp_path, REDIS_URL=tls).redis_url == f"{tls}?ssl_cert_reqs=required"
    told = load(tmp_path, REDIS_URL=tls + "/0?x=1", REDIS_SSL_CERT_REQS="none")
    assert told.redis_url == f"{tls}/0?x=1&ssl_cert_reqs=none"
    own = f"{tls}?ssl_cert_reqs=optional"
    assert load(tmp_path, REDIS_URL=own, REDIS_SSL_CERT_REQS="none").redis_url == own
    plain = "redis://cache:6379/0"
    assert load(tmp_path, REDIS_URL=plain, REDIS_SSL_CERT_REQS="none").redis_url == plain
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS"):
        load(tmp_path, REDIS_URL=tls, REDIS_SSL_CERT_REQS="off")


def test_outside_production_a_secret_is_generated_once_and_kept(tmp_path):
    first = load(tmp_path)
    second = load(tmp_path)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").read_text().strip() == first.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgres://app:pw@db:5432/app",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": STRONG_KEY,
    "SMTP_URL": "smtps://mailer:pw@smtp.example.com",
    "PUBLIC_BASE_URL": "https://api.example.com",
    "CORS_ALLOWED_ORIGINS": "https://rabbit.example.com",
    "MAIL_FROM": "no-reply@example.com",
}


def test_production_with_every_required_setting(tmp_path):
    config = load(tmp_path, **PRODUCTION)
    assert config.production and config.secret_key == STRONG_KEY
    assert config.smtp_url == PRODUCTION["SMTP_URL"]
    assert config.public_base_url == "https://api.example.com"


def test_production_names_every_problem_at_once(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, APP_ENV="production", SECRET_KEY="k" * 31, PUBLIC_BASE_URL="http://x.io")
    assert [problem.split()[0] for problem in caught.value.problems] == [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "SMTP_URL",
        "PUBLIC_BASE_URL",
        "CORS_ALLOWED_ORIGINS",
        "MAIL_FROM",
    ]
    assert "31 bytes" in caught.value.problems[2]
    assert "https" in caught.value.problems[4]
    # Refused before anything is made: no secret is generated into ./var/.
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "name, value",
    [
        ("DATABASE_URL", "sqlite:///var/app.sqlite3"),
        ("SECRET_KEY", "k" * 31),
        ("SECRET_KEY", "é" * 15),  # 30 bytes, 15 characters
        ("PUBLIC_BASE_URL", "http://api.example.com"),
        ("PUBLIC_BASE_URL", "https://"),
    ],
)
def test_production_refuses_unsafe_values(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{**PRODUCTION, name: value})
    assert [problem.split()[0] for problem in caught.value.problems] == [name]


def test_production_names_no_password(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{**PRODUCTION, "DATABASE_URL": "mysql://app:hunter2@db/app"})
    assert "hunter2" not in str(caught.value)


def test_an_unknown_app_env_fails(tmp_path):
    with pytest.raises(ConfigError, match="APP_ENV"):
        load(tmp_path, APP_ENV="prod")


@pytest.mark.parametrize("name", [*POSITIVE, "REFRESH_REUSE_INTERVAL", "FREE_CARD_LIMIT"])
@pytest.mark.parametrize("value", ["ten", "1.5", "0x10", "10s"])
def test_bad_integers_fail_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name} must be an integer"):
        load(tmp_path, **{name: value})


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", ["0", "-5"])
def test_non_positive_durations_and_ports_fail(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, **{name: value})


@pytest.mark.parametrize("name", ["WEBHOOK_RETRY_SCHEDULE", "RENEWAL_RETRY_SCHEDULE"])
def test_bad_schedules_fail(tmp_path, name):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, **{name: "1,two,3"})


def test_schedules_parse(tmp_path):
    config = load(tmp_path, WEBHOOK_RETRY_SCHEDULE="1, 1,2", RENEWAL_RETRY_SCHEDULE="2,4")
    assert config.webhook_retry_schedule == (1, 1, 2)
    assert config.renewal_retry_schedule == (2, 4)


@pytest.mark.parametrize("name", ["RATE_LIMIT_LOGIN", "RATE_LIMIT_IP"])
def test_bad_rate_limits_fail(tmp_path, name):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, **{name: "ten a minute"})


def test_rate_limits_parse(tmp_path):
    config = load(tmp_path, RATE_LIMIT_LOGIN="5/second", RATE_LIMIT_IP="1000 per hour")
    assert config.rate_limit_login == "5/second" and config.rate_limit_ip == "1000 per hour"


def test_an_unsupported_database_fails(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load(tmp_path, DATABASE_URL="mysql://db/app")


def test_messages_open_at_needs_a_time_zone(tmp_path):
    with pytest.raises(ConfigError, match="MESSAGES_OPEN_AT"):
        load(tmp_path, MESSAGES_OPEN_AT="2027-01-01T00:00:00")
    with pytest.raises(ConfigError, match="MESSAGES_OPEN_AT"):
        load(tmp_path, MESSAGES_OPEN_AT="new year")
    config = load(tmp_path, MESSAGES_OPEN_AT="2027-01-01T00:00:00+09:00")
    assert config.messages_open_at == datetime(2026, 12, 31, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, expected", [("true", True), ("1", True), ("yes", True), ("false", False), ("0", False)]
)
def test_booleans(tmp_path, raw, expected):
    assert load(tmp_path, WEBHOOK_ALLOW_PRIVATE_URLS=raw).webhook_allow_private_urls is expected


def test_urls_lose_their_trailing_slash(tmp_path):
    config = load(
        tmp_path, RABBIT_FRONTEND_URL="https://rabbit.example/", PUBLIC_BASE_URL="https://api.x/"
    )
    assert config.rabbit_frontend_url == "https://rabbit.example"
    assert config.public_base_url == "https://api.x"


def test_public_base_url_defaults_to_the_port(tmp_path):
    assert load(tmp_path, PORT="9000").public_base_url == "http://localhost:9000"


def test_the_encryption_key_is_derived_from_the_secret_unless_given(tmp_path):
    a = load(tmp_path, SECRET_KEY=STRONG_KEY)
    b = load(tmp_path, SECRET_KEY=STRONG_KEY)
    c = load(tmp_path, SECRET_KEY="z" * 48)
    assert a.encryption_key == b.encryption_key != c.encryption_key
    from cryptography.fernet import Fernet

    Fernet(a.encryption_key)  # a valid Fernet key
    given = Fernet.generate_key()
    assert load(tmp_path, ENCRYPTION_KEY=given.decode()).encryption_key == given


def test_token_lifetimes_are_set_per_surface(tmp_path):
    config = load(
        tmp_path,
        ACCESS_TOKEN_TTL="60",
        REFRESH_TOKEN_TTL="600",
        RABBIT_ACCESS_TOKEN_TTL="120",
        RABBIT_REFRESH_TOKEN_TTL="1200",
        REFRESH_REUSE_INTERVAL="0",
    )
    assert (config.access_token_ttl, config.refresh_token_ttl) == (60, 600)
    assert (config.rabbit_access_token_ttl, config.rabbit_refresh_token_ttl) == (120, 1200)
    assert config.refresh_reuse_interval == 0  # every reuse ends the session
    with pytest.raises(ConfigError, match="REFRESH_REUSE_INTERVAL"):
        load(tmp_path, REFRESH_REUSE_INTERVAL="-1")


def test_cors_origins_default_to_the_front_end(tmp_path):
    config = load(tmp_path, RABBIT_FRONTEND_URL="https://rabbit.example/app/")
    assert config.cors_allowed_origins == ("https://rabbit.example", "http://localhost:3000")
    # Production names its origins itself: nothing is added to them.
    production = load(tmp_path, **{**PRODUCTION, "CORS_ALLOWED_ORIGINS": "https://rabbit.example"})
    assert production.cors_allowed_origins == ("https://rabbit.example",)


def test_cors_origins_are_read_as_browsers_send_them(tmp_path):
    config = load(
        tmp_path,
        CORS_ALLOWED_ORIGINS=" https://A.example:443, http://b.example:8080/ ,,http://[::1]:3000",
    )
    assert config.cors_allowed_origins == (
        "https://a.example",
        "http://b.example:8080",
        "http://[::1]:3000",
    )


@pytest.mark.parametrize(
    "raw",
    ["*", "rabbit.example", "ftp://rabbit.example", "https://rabbit.example/app", "http://x:99999"],
)
def test_cors_origins_must_be_origins(tmp_path, raw):
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        load(tmp_path, CORS_ALLOWED_ORIGINS=raw)

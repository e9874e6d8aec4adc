"""The long-lived collaborators that resources receive through their constructors."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from api.auth import RABBIT, ZELLYY, Authenticator, TokenService
from api.ratelimit import AuthRateLimiter
from settings import Config


@dataclass(frozen=True)
class Deps:
    config: Config
    tokens: TokenService
    limiter: AuthRateLimiter
    # Caches and readiness; None in embedded mode. Every call is bounded (REDIS_TIMEOUT).
    redis: redis.Redis | None

    @classmethod
    def from_config(cls, config: Config) -> Deps:
        return cls(
            config=config,
            tokens=TokenService(
                config.secret_key,
                {ZELLYY: config.access_token_ttl, RABBIT: config.rabbit_access_token_ttl},
            ),
            redis=(
                redis.Redis.from_url(config.redis_url, **config.redis_options)
                if config.redis_url
                else None
            ),
            limiter=AuthRateLimiter(
                config.rate_limit_storage_url,
                per_email=config.rate_limit_login,
                per_ip=config.rate_limit_ip,
                prefix=config.rate_limit_prefix,
                trusted_proxies=config.forwarded_allow_ips,
                per_mail=config.rate_limit_recovery_mail,
                storage_options=config.redis_options if config.redis_url else None,
            ),
        )

    def authenticator(self, audience: str) -> Authenticator:
        return Authenticator(self.tokens, audience)

    @property
    def zellyy_auth(self) -> Authenticator:
        return self.authenticator(ZELLYY)

    @property
    def rabbit_auth(self) -> Authenticator:
        return self.authenticator(RABBIT)

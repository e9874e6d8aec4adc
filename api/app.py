"""The app factory: middleware, the route catalogue of both surfaces, error handlers."""

from __future__ import annotations

import logging

import falcon

from api import errors, health, openapi
from api.auth import TokenService
from api.config import Config
from api.middleware import BodyLimit, Surface, Transaction
from api.rabbit import users as rabbit_users
from api.ratelimit import AuthRateLimiter
from api.zellyy import auth as zellyy_auth
from api.zellyy import users as zellyy_users
from models import init_db
from models.errors import DomainError

# Zellyy's resources answer under both prefixes: /api/v1 and the seed's /api.
ZELLYY_PREFIXES = ("/api/v1", "/api")


def create_app(config: Config | None = None) -> falcon.App:
    config = config or Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    init_db(config.database_url)

    app = falcon.App(middleware=[BodyLimit(config.max_body_bytes), Surface(), Transaction()])
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(errors.serialize_http_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(falcon.HTTPError, _reraise)
    app.add_error_handler(DomainError, errors.handle_domain_error)

    tokens = TokenService(config.secret_key, config.access_token_ttl)
    limiter = AuthRateLimiter(
        config.rate_limit_storage_url,
        per_email=config.rate_limit_login,
        per_ip=config.rate_limit_ip,
        prefix=config.rate_limit_prefix,
    )
    ttl = config.refresh_token_ttl

    zellyy = {
        "/auth/signup": zellyy_auth.Signup(tokens, limiter, ttl),
        "/auth/login": zellyy_auth.Login(tokens, limiter, ttl),
        "/auth/refresh": zellyy_auth.Refresh(tokens, limiter, ttl),
        "/auth/logout": zellyy_auth.Logout(tokens, limiter, ttl),
        "/users/me": zellyy_users.Me(tokens),
    }
    for prefix in ZELLYY_PREFIXES:
        for path, resource in zellyy.items():
            app.add_route(prefix + path, resource)

    app.add_route(
        "/api/user/register",
        rabbit_users.Register(tokens, limiter, ttl, config.public_base_url),
    )
    app.add_route("/api/user/login", rabbit_users.Login(tokens, limiter, ttl))
    app.add_route("/api/user/refresh", rabbit_users.Refresh(tokens, limiter, ttl))
    app.add_route("/api/user/withdraw", rabbit_users.Withdraw(tokens, limiter, ttl))
    app.add_route("/api/user/{user_id}", rabbit_users.Profile(tokens, limiter, ttl))
    app.add_route(
        "/api/confirm-user/{user_id}/{token}",
        rabbit_users.ConfirmEmail(tokens, limiter, ttl, config.rabbit_frontend_url),
    )

    app.add_route("/healthz", health.Health())
    app.add_route("/readyz", health.Ready(config.redis_url, config.var_dir / "broker"))
    app.add_route("/openapi.json", openapi.OpenAPIDocument(app))
    return app


def _reraise(req, resp, ex, params):
    # Falcon's own HTTP errors keep their status and go through the serializer.
    raise ex

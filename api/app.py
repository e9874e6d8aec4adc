"""The app factory: middleware, the route catalogue of both surfaces, error handlers."""

from __future__ import annotations

import json

import falcon
import orjson

from api import auth, docs, errors, health, observability, openapi
from api.conventions import HeadRouter, SecurityHeaders
from api.cors import CORS
from api.deps import Deps
from api.idempotency import Idempotency
from api.middleware import BodyLimit, Surface, Transaction
from api.rabbit import messages as rabbit_messages
from api.rabbit import recovery as rabbit_recovery
from api.rabbit import users as rabbit_users
from api.zellyy import auth as zellyy_auth
from api.zellyy import card_image as zellyy_card_image
from api.zellyy import cards as zellyy_cards
from api.zellyy import payments as zellyy_payments
from api.zellyy import recovery as zellyy_recovery
from api.zellyy import shares as zellyy_shares
from api.zellyy import social as zellyy_social
from api.zellyy import subscriptions as zellyy_subscriptions
from api.zellyy import users as zellyy_users
from api.zellyy import webhooks as zellyy_webhooks
from models import init_db, tasks
from models.errors import DomainError
from settings import Config
from telemetry import logs
from worker.celery import publish

# Zellyy's resources answer under both prefixes: /api/v1 and the seed's /api.
ZELLYY_PREFIXES = ("/api/v1", "/api")

# The route catalogue: each module's routes(deps) maps paths to resources.
# Zellyy paths are relative to ZELLYY_PREFIXES; Money For Rabbit paths are absolute.
ZELLYY_MODULES = (
    zellyy_auth,
    zellyy_recovery,
    zellyy_users,
    zellyy_cards,
    zellyy_webhooks,
    zellyy_social,
    zellyy_shares,
    zellyy_card_image,
    zellyy_subscriptions,
    zellyy_payments,
)
RABBIT_MODULES = (rabbit_users, rabbit_recovery, rabbit_messages)


def create_app(config: Config | None = None) -> falcon.App:
    config = config or Config.from_env()
    logs.setup()
    init_db(config.database_url)
    tasks.set_publisher(publish)

    # The request log first: its response step runs last, after every other, so it
    # sees the final status. Then CORS: it answers preflights before the others run,
    # and (responses run in reverse) it and SecurityHeaders dress every answer, errors
    # included. Idempotency after Transaction: it stores the answer before Transaction
    # commits (so replays get fresh CORS, security and request-id headers).
    middleware = [
        observability.RequestLog(),
        CORS(config.cors_allowed_origins),
        SecurityHeaders(),
        BodyLimit(config.max_body_bytes),
        Surface(),
        Transaction(),
        Idempotency(config.encryption_key),
    ]
    app = falcon.App(middleware=middleware, router=HeadRouter(), request_type=auth.Request)
    app.req_options.strip_url_path_trailing_slash = True
    # Answers are encoded by orjson (several times faster than the json module);
    # request bodies are still parsed by the json module, which keeps lone
    # surrogates and huge integers for validation to refuse field by field.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(dumps=_dumps)
    app.set_error_serializer(errors.serialize_http_error)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(falcon.HTTPError, _reraise)
    app.add_error_handler(DomainError, errors.handle_domain_error)

    deps = Deps.from_config(config)
    for module in ZELLYY_MODULES:
        for path, resource in module.routes(deps).items():
            for prefix in ZELLYY_PREFIXES:
                app.add_route(prefix + path, resource)
    for module in RABBIT_MODULES:
        for path, resource in module.routes(deps).items():
            app.add_route(path, resource)

    app.add_route("/healthz", health.Health())
    app.add_route("/readyz", health.Ready(deps.redis, config.var_dir / "broker"))
    app.add_route("/openapi.json", openapi.OpenAPIDocument(app))
    for path, resource in docs.routes().items():
        app.add_route(path, resource)
    app.add_route(observability.METRICS_ROUTE, observability.Metrics(config.metrics_token))
    return app


def _dumps(media) -> bytes:
    try:
        return orjson.dumps(media, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer past 64 bits: as Falcon's own handler does
        return json.dumps(media, ensure_ascii=False).encode()


def _reraise(req, resp, ex, params):
    # Falcon's own HTTP errors keep their status and go through the serializer.
    raise ex

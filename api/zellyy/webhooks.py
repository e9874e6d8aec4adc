"""Zellyy webhook administration (seed 웹훅): endpoints, their deliveries, manual retries."""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.pages import listing, page_query
from api.schemas import HTTP_URL, obj
from api.validation import operation
from api.zellyy.schemas import DELIVERY, DELIVERY_PAGE, WEBHOOK, WEBHOOK_CREATED, WEBHOOKS
from models import webhook_outbox, webhooks
from models.errors import PermissionDenied
from models.events import EVENT_TYPES

CREATE = obj(
    ["url", "events", "secret"],
    url=HTTP_URL,
    events={
        "type": "array",
        "minItems": 1,
        "maxItems": 50,
        "items": {"type": "string", "enum": list(EVENT_TYPES)},
    },
    secret={
        "type": "string",
        "minLength": 8,
        "maxLength": 256,
        "x-message": "whsec_<base64>, or any string of 8 to 256 characters",
    },
)
PAGE = page_query()
ADMIN_ONLY = {403: "The caller is not an administrator"}
NOT_FOUND = {**ADMIN_ONLY, 404: "No such webhook endpoint"}


def routes(deps: Deps) -> dict:
    return {
        "/webhooks": Collection(deps),
        "/webhooks/{webhook_id}": Item(deps),
        "/webhooks/{webhook_id}/resume": Resume(deps),
        "/webhooks/{webhook_id}/deliveries": Deliveries(deps),
        "/webhooks/{webhook_id}/deliveries/{delivery_id:int}/retry": Retry(deps),
    }


class _AdminResource:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth
        self.config = deps.config

    @staticmethod
    def require_admin(req: falcon.Request) -> None:
        if not req.context.user.is_admin:
            raise PermissionDenied("Only administrators may manage webhooks")


class Collection(_AdminResource):
    @operation(
        "Register a webhook endpoint (admin)",
        body=CREATE,
        auth=True,
        status=201,
        idempotent=True,
        returns=WEBHOOK_CREATED,
        responses={
            **ADMIN_ONLY,
            400: "Invalid request, a URL that is not public, or a malformed whsec_ secret",
            409: "A request with this Idempotency-Key is running",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.require_admin(req)
        body = req.context.body
        endpoint = webhooks.create_endpoint(
            body["url"],
            body["events"],
            body["secret"],
            encryption_key=self.config.encryption_key,
            allow_private=self.config.webhook_allow_private_urls,
        )
        endpoint.flush()
        shown = endpoint.to_dict()
        resp.media = {key: shown[key] for key in ("id", "url", "events", "created_at")}
        resp.location = req.path + "/" + shown["id"]

    @operation("List webhook endpoints (admin)", auth=True, returns=WEBHOOKS, responses=ADMIN_ONLY)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.require_admin(req)
        resp.media = {"data": [e.to_dict() for e in webhooks.list_endpoints()]}


class Item(_AdminResource):
    @operation("One webhook endpoint (admin)", auth=True, returns=WEBHOOK, responses=NOT_FOUND)
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        self.require_admin(req)
        resp.media = webhooks.get_endpoint(webhook_id).to_dict()

    @operation(
        "Delete a webhook endpoint; nothing more is sent to it (admin)",
        auth=True,
        status=204,
        responses=NOT_FOUND,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        self.require_admin(req)
        webhooks.delete_endpoint(webhooks.get_endpoint(webhook_id))


class Deliveries(_AdminResource):
    @operation(
        "Deliveries to an endpoint, newest first, with attempts (admin)",
        query=PAGE,
        auth=True,
        returns=DELIVERY_PAGE,
        responses=NOT_FOUND,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        self.require_admin(req)
        endpoint = webhooks.get_endpoint(webhook_id)
        page, limit = req.context.query["page"], req.context.query["limit"]
        data, total = webhooks.deliveries_page(endpoint, page, limit)
        resp.media = listing(data, total, page, limit)


class Retry(_AdminResource):
    @operation(
        "Send a delivery again now (admin)",
        auth=True,
        status=202,
        responses={
            **NOT_FOUND,
            404: "No such webhook endpoint, or no such delivery of it",
            409: "The endpoint is disabled, or an attempt is in progress",
        },
        returns=DELIVERY,
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, webhook_id: str, delivery_id: int
    ) -> None:
        self.require_admin(req)
        endpoint = webhooks.get_endpoint(webhook_id)
        delivery = webhook_outbox.request_retry(endpoint, delivery_id)
        resp.media = delivery.to_dict(list(delivery.attempts.order_by(lambda a: a.number)))


class Resume(_AdminResource):
    @operation(
        "Resume an endpoint now: close its circuit breaker, enable it if disabled (admin)",
        auth=True,
        returns=WEBHOOK,
        responses=NOT_FOUND,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        self.require_admin(req)
        endpoint = webhooks.get_endpoint(webhook_id)
        webhooks.resume_endpoint(endpoint)
        resp.media = endpoint.to_dict()

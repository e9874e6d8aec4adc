"""Zellyy subscriptions (seed 구독 API): plans, subscribing, the current one, its card, cancel."""

from __future__ import annotations

import falcon

from api import idempotency
from api.deps import Deps
from api.schemas import NO_NEWLINE, obj
from api.validation import operation
from api.zellyy.schemas import CANCELED, PLANS, SUBSCRIPTION
from models import plans, subscribing, subscriptions
from models.errors import NotFound
from models.payment_gateway import PaymentGateway
from worker.clients.stripe_client import StripeGateway

PAYMENT_METHOD_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": NO_NEWLINE + "[A-Za-z0-9_]+$",
    "x-message": "Must be a payment method id such as pm_...",
}
SUBSCRIBE = obj(
    ["plan_id", "payment_method_id"],
    plan_id={"type": "string", "enum": list(plans.PLANS)},
    payment_method_id=PAYMENT_METHOD_ID,
    payment_provider={"type": "string", "enum": ["stripe"]},
)
CHANGE_CARD = obj(["payment_method_id"], payment_method_id=PAYMENT_METHOD_ID)
PAYMENT_ERRORS = {
    400: "Invalid request, or a payment method Stripe does not know",
    402: "payment_failed: declined, requires_action or processing_error (in details.reason)",
}


def routes(deps: Deps) -> dict:
    gateway = StripeGateway.from_config(deps.config)
    return {
        "/subscriptions/plans": Plans(),
        "/subscriptions": Subscriptions(deps, gateway),
        "/subscriptions/current": Current(deps),
        "/subscriptions/current/payment_method": PaymentMethod(deps, gateway),
        "/subscriptions/cancel": Cancel(deps),
    }


class Plans:
    surface = "zellyy"
    uses_db = False

    @operation("The subscription plans (no login needed)", returns=PLANS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"plans": plans.plan_list()}


class Subscriptions:
    surface = "zellyy"

    def __init__(self, deps: Deps, gateway: PaymentGateway | None):
        self.auth = deps.zellyy_auth
        self.gateway = gateway

    @operation(
        "Subscribe: charge the first period and start premium",
        body=SUBSCRIBE,
        auth=True,
        status=201,
        responses={
            **PAYMENT_ERRORS,
            409: "An active or past-due subscription exists, "
            "or a request with this Idempotency-Key is running",
        },
        idempotent=True,
        returns=SUBSCRIPTION,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.context.body
        sub = subscribing.subscribe(
            req.context.user,
            body["plan_id"],
            body["payment_method_id"],
            self.gateway,
            idempotency.attempt(req),
        )
        resp.media = sub.to_dict()


class Current:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "The current subscription: active, past due, or canceled but not ended",
        auth=True,
        responses={404: "No current subscription"},
        returns=SUBSCRIPTION,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        sub = subscriptions.current_subscription(req.context.user.id)
        if sub is None:
            raise NotFound("You have no current subscription", key="no_subscription")
        resp.media = sub.to_dict()


class PaymentMethod:
    surface = "zellyy"

    def __init__(self, deps: Deps, gateway: PaymentGateway | None):
        self.auth = deps.zellyy_auth
        self.gateway = gateway
        self.schedule = deps.config.renewal_retry_schedule

    @operation(
        "Use a new card; a past-due subscription is charged with it at once",
        body=CHANGE_CARD,
        auth=True,
        responses={
            **PAYMENT_ERRORS,
            404: "No current subscription",
            409: "A charge for this subscription is in progress",
        },
        returns=SUBSCRIPTION,
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        sub = subscribing.change_payment_method(
            req.context.user, req.context.body["payment_method_id"], self.gateway, self.schedule
        )
        resp.media = sub.to_dict()


class Cancel:
    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.auth = deps.zellyy_auth

    @operation(
        "Cancel: no more renewals; premium lasts until the end date",
        auth=True,
        responses={404: "No active or past-due subscription to cancel"},
        returns=CANCELED,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = subscriptions.cancel(req.context.user).cancel_dict()

"""The OpenAPI 3.1 document of both surfaces, built from the routes' own declarations."""

from __future__ import annotations

import re

import falcon

from api import idempotency, schemas
from api.validation import Operation, operation

OPENAPI_VERSION = "3.1.0"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_ZELLYY_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
_RABBIT_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_LOCATION = {
    "Location": {"description": "Where to go", "schema": {"type": "string", "format": "uri"}}
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def routes(app: falcon.App):
    """Every (uri_template, method, resource, responder) the app's router serves."""
    stack = list(app._router._roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not node.method_map:
            continue
        for method in _METHODS:
            responder = node.method_map.get(method)
            # Falcon fills unimplemented methods with its own 405 responders;
            # ours are bound methods of the routed resource.
            if responder is not None and getattr(responder, "__self__", None) is node.resource:
                yield node.uri_template, method, node.resource, responder


def document_path(template: str) -> str:
    """A route's path as the document names it: `{id:int}` is `{id}`."""
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", template)


def undocumented(app: falcon.App) -> list[str]:
    """Routes whose responder carries no @operation declaration."""
    return [
        f"{method} {template}"
        for template, method, _resource, responder in routes(app)
        if not isinstance(getattr(responder, "operation", None), Operation)
    ]


def build(app: falcon.App) -> dict:
    paths: dict[str, dict] = {}
    for template, method, resource, responder in sorted(routes(app), key=lambda r: r[:2]):
        spec = getattr(responder, "operation", None)
        if not isinstance(spec, Operation):
            continue
        path = document_path(template)
        item = paths.setdefault(path, {})
        item[method.lower()] = _operation(path, method, resource, spec)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Zellyy and Money For Rabbit API",
            "version": "1.0.0",
            "description": "Two client apps, one backend. Zellyy under /api/v1 (and /api); "
            "Money For Rabbit under /api/user and /api/confirm-user.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {
                "ZellyyError": _ZELLYY_ERROR,
                "RabbitError": _RABBIT_ERROR,
                **schemas.COMPONENTS,
            },
        },
    }


def _operation(path: str, method: str, resource, spec: Operation) -> dict:
    surface = getattr(resource, "surface", None)
    error_ref = {
        "$ref": "#/components/schemas/" + ("RabbitError" if surface == "rabbit" else "ZellyyError")
    }
    op: dict = {
        "summary": spec.summary,
        "operationId": f"{method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}",
        "tags": [surface or "service"],
        "responses": {str(spec.status): _success(spec)},
    }
    errors = dict(spec.responses)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    if spec.query:
        for name, schema in spec.query.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": False, "schema": _clean(schema)}
            )
        errors.setdefault(400, "Invalid request")
    if spec.idempotent:
        parameters.append(idempotency.PARAMETER)
        errors.setdefault(422, "The Idempotency-Key was already used for a different request")
    if parameters:
        op["parameters"] = parameters
    if spec.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _clean(spec.body)}},
        }
        errors.setdefault(400, "Invalid request")
        errors.setdefault(411, "A chunked body this server cannot read: send a Content-Length")
        errors.setdefault(413, "The body is over the size limit")
        errors.setdefault(415, "The body is not JSON")
    if spec.auth:
        op["security"] = [{"bearer": []}]
        errors.setdefault(401, "Authentication required")
    if getattr(resource, "uses_db", True):
        errors.setdefault(503, "The database or broker is briefly unavailable")
    for status, declared in sorted(errors.items()):
        description, schema = (declared, error_ref) if isinstance(declared, str) else declared
        response: dict = {"description": description}
        if status >= 400 or schema is not error_ref:  # a 304 Not Modified has no body
            response["content"] = {"application/json": {"schema": _clean(schema)}}
        if status in (429, 503) and schema is error_ref:  # a refusal says when to retry
            response["headers"] = _RETRY_AFTER
        op["responses"][str(status)] = response
    return op


def _success(spec: Operation) -> dict:
    if 300 <= spec.status < 400:
        return {"description": "Redirect", "headers": _LOCATION}
    if spec.status == 204 or spec.returns is None:
        return {"description": "Success"}
    return {"description": "Success", "content": {spec.media: {"schema": _clean(spec.returns)}}}


def _clean(schema):
    """The schema without our private x- keywords."""
    if isinstance(schema, dict):
        return {k: _clean(v) for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [_clean(v) for v in schema]
    return schema


# The document as a whole; OpenAPI's own schema describes the rest.
DOCUMENT = schemas.fixed(
    ["openapi", "info", "paths", "components"],
    openapi={"const": OPENAPI_VERSION},
    info=schemas.obj(["title", "version"]),
    paths={"type": "object"},
    components={"type": "object"},
)


class OpenAPIDocument:
    uses_db = False

    def __init__(self, app: falcon.App):
        self.app = app
        self._doc: dict | None = None

    @operation("This document", returns=DOCUMENT)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._doc is None:  # routes are fixed once the app serves
            self._doc = build(self.app)
        resp.media = self._doc

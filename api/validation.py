"""One declaration per operation: it validates the request and documents it in OpenAPI.

A responder is wrapped with `@operation(...)`, naming its summary, request body
and query schemas (JSON Schema 2020-12), whether it needs a token, and its
success status. The wrapper enforces all of it; `api.openapi` reads the same
declaration to describe the route.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import falcon
from jsonschema import Draft202012Validator, FormatChecker

from models.errors import InvalidInput

_FORMATS = FormatChecker()


@dataclass(frozen=True)
class Operation:
    summary: str
    body: dict | None = None
    query: dict | None = None
    auth: bool = False
    status: int = 200
    responses: dict[int, str] = field(default_factory=dict)


def operation(
    summary: str,
    *,
    body: dict | None = None,
    query: dict | None = None,
    auth: bool = False,
    status: int = 200,
    responses: dict[int, str] | None = None,
):
    """Declare, validate and document one responder.

    With `auth=True` the resource's `self.auth` authenticates the caller into
    `req.context.user` and `req.context.session` first; the parsed body and
    query land in `req.context.body` and `req.context.query`.
    """
    spec = Operation(summary, body, query, auth, status, responses or {})
    body_validator = Draft202012Validator(body, format_checker=_FORMATS) if body else None
    query_validator = Draft202012Validator(query, format_checker=_FORMATS) if query else None

    def decorate(responder):
        @functools.wraps(responder)
        def wrapper(self, req: falcon.Request, resp: falcon.Response, **params):
            if spec.auth:
                req.context.user, req.context.session = self.auth.authenticate(req)
            if body_validator is not None:
                req.context.body = _validate(body_validator, _media(req), "body")
            if query_validator is not None:
                req.context.query = _validate(query_validator, _query(req, query), "query")
            resp.status = spec.status
            return responder(self, req, resp, **params)

        wrapper.operation = spec
        return wrapper

    return decorate


def _media(req: falcon.Request):
    # An empty body is validated as {} so that it fails on "required" like any other.
    media = req.get_media(default_when_empty=None)
    return {} if media is None else media


def _query(req: falcon.Request, schema: dict) -> dict:
    """Query parameters, converted to the types their schema asks for."""
    values: dict = {}
    for name, prop in schema.get("properties", {}).items():
        raw = req.get_param(name)
        if raw is None:
            if "default" in prop:
                values[name] = prop["default"]
            continue
        values[name] = raw
        if prop.get("type") == "integer" and raw.isascii() and raw.lstrip("-").isdigit():
            values[name] = int(raw)  # anything else stays a string: the wrong type
    return values


def _validate(validator: Draft202012Validator, instance, where: str):
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return instance
    props = validator.schema.get("properties", {})
    details: dict[str, str] = {}
    texts: dict[str, str] = {}
    for error in errors:
        for name in _field_names(error, instance, where):
            details.setdefault(name, _message(error))
            text = props.get(name.split(".")[0], {}).get("x-error")
            if text:
                texts.setdefault(name.split(".")[0], text)
    ex = InvalidInput(f"Invalid request {where}", details=details, key="validation")
    # In the order the schema declares its fields: a surface that shows one
    # message (Money For Rabbit) shows the first field's.
    ex.texts = [texts[name] for name in props if name in texts]
    raise ex


def _field_names(error, instance, where: str) -> list[str]:
    prefix = ".".join(str(part) for part in error.path)
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [n for n in error.validator_value if n not in present]
        return [f"{prefix}.{n}" if prefix else n for n in missing]
    return [prefix or where]


def _message(error) -> str:
    if error.validator == "required":
        return "This field is required"
    if error.validator == "type":
        expected = error.validator_value
        return f"Must be of type {expected}" if isinstance(expected, str) else "Wrong type"
    if error.validator in ("minLength", "maxLength"):
        schema = error.schema
        return f"Must be {schema.get('minLength', 0)} to {schema.get('maxLength', '∞')} characters"
    if error.validator in ("minimum", "maximum"):
        schema = error.schema
        return f"Must be between {schema.get('minimum', '-∞')} and {schema.get('maximum', '∞')}"
    if error.validator == "enum":
        return "Must be one of: " + ", ".join(str(v) for v in error.validator_value)
    if error.validator == "format":
        return f"Must be a valid {error.validator_value}"
    if error.validator == "pattern":
        return error.schema.get("x-message", "Has an invalid format")
    return error.message

"""One declaration per operation: it validates the request and documents it in OpenAPI.

A responder is wrapped with `@operation(...)`, naming its summary, request body
and query schemas (JSON Schema 2020-12), whether it needs a token, and its
success status. The wrapper enforces all of it; `api.openapi` reads the same
declaration to describe the route.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import falcon
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from api import idempotency
from models.errors import InvalidInput

_FORMATS = FormatChecker()
# Strings longer than this never reach a regular expression (see _bounded_pattern).
_PATTERN_MAX = 10_000
_UNSTORABLE = "Must not contain NUL characters or invalid Unicode"
# Distinct query strings whose verdict each operation keeps (see _valid_queries).
_QUERY_CACHE_SIZE = 1024
_QUERY_CACHED_LENGTH = 64


def _bounded_pattern(validator, pattern, instance, schema):
    """`pattern`, run only on strings within the schema's maxLength.

    A regex with nested quantifiers can take hours on a megabyte string; an
    over-long string already fails on `maxLength`, so no regex needs to see it.
    """
    if not isinstance(instance, str):
        return
    if len(instance) > schema.get("maxLength", _PATTERN_MAX):
        if "maxLength" not in schema:
            yield ValidationError("too long to match the pattern")
        return
    if not re.search(pattern, instance):
        yield ValidationError(f"does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": _bounded_pattern})


@dataclass(frozen=True)
class Operation:
    summary: str
    body: dict | None = None
    query: dict | None = None
    auth: bool = False
    status: int = 200
    responses: dict[int, str | tuple[str, dict]] = field(default_factory=dict)
    idempotent: bool = False
    returns: dict | None = None
    media: str = "application/json"

    @property
    def described(self) -> bool:
        """Whether the success answer is declared (a 204 or a redirect has no body to declare)."""
        return self.returns is not None or self.status == 204 or 300 <= self.status < 400


def operation(
    summary: str,
    *,
    body: dict | None = None,
    query: dict | None = None,
    auth: bool = False,
    status: int = 200,
    responses: dict[int, str | tuple[str, dict]] | None = None,
    idempotent: bool = False,
    returns: dict | None = None,
    media: str = "application/json",
):
    """Declare, validate and document one responder.

    With `auth=True` the resource's `self.auth` authenticates the caller into
    `req.context.caller` (values; `req.context.user` loads the User entity on first
    use, see api.auth.RequestContext) first; the parsed body and
    query land in `req.context.body` and `req.context.query`. With
    `idempotent=True` an Idempotency-Key replays the first answer (api.idempotency).
    `returns` is the schema of the success body (of type `media`); `responses` maps
    each error status the operation itself can answer to its description, or to
    (description, schema) when its body is not the surface's error (the statuses
    every operation of its kind can answer are added by api.openapi).
    """
    spec = Operation(
        summary, body, query, auth, status, responses or {}, idempotent, returns, media
    )
    body_validator = Validator(body, format_checker=_FORMATS) if body else None
    query_validator = Validator(query, format_checker=_FORMATS) if query else None
    valid_query = _valid_queries(query_validator) if query else None

    def decorate(responder):
        @functools.wraps(responder)
        def wrapper(self, req: falcon.Request, resp: falcon.Response, **params):
            if spec.auth:
                req.context.caller = self.auth.authenticate(req)
            if body_validator is not None:
                req.context.body = _validate(body_validator, _media(req), "body")
            if query_validator is not None:
                values = _query(req, query)
                if not valid_query(values):
                    _validate(query_validator, values, "query")  # raises if invalid
                req.context.query = values
            resp.status = spec.status
            if spec.idempotent and idempotency.replayed(req, resp):
                return None
            return responder(self, req, resp, **params)

        wrapper.operation = spec
        return wrapper

    return decorate


def _media(req: falcon.Request):
    # JSON only: Falcon would also parse HTML form posts, which any site can make.
    content_type = (req.content_type or falcon.MEDIA_JSON).split(";")[0].strip().lower()
    if content_type != falcon.MEDIA_JSON and not content_type.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(description="Send the body as application/json")
    try:
        # An empty body is validated as {} so that it fails on "required" like any other.
        media = req.get_media(default_when_empty=None)
    except RecursionError:  # nested deeper than the JSON parser goes
        raise falcon.MediaMalformedError(falcon.MEDIA_JSON) from None
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


def _valid_queries(validator: Draft202012Validator):
    """Whether parsed query values pass `validator`; the verdicts for recent values are kept.

    Query values are a few short strings and integers that repeat from request to
    request (`?page=1`): looking the verdict up costs far less than JSON Schema's checks.
    """
    props = validator.schema.get("properties", {})

    @functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
    def checked(key: tuple) -> bool:
        values = {name: value for name, _, value in key}
        return validator.is_valid(values) and not _unstorable(values, props)

    def valid(values: dict) -> bool:
        if any(isinstance(v, str) and len(v) > _QUERY_CACHED_LENGTH for v in values.values()):
            return False  # long values (a search) are checked each time, not kept
        # The type goes into the key: 1 and "1" are equal, and only one is valid.
        try:
            return checked(tuple((name, type(v), v) for name, v in values.items()))
        except TypeError:  # an unhashable default (a list): checked every time
            return False

    return valid


def _validate(validator: Draft202012Validator, instance, where: str):
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    props = validator.schema.get("properties", {})
    problems = [(name, _message(e)) for e in errors for name in _field_names(e, instance, where)]
    problems += [(name, _UNSTORABLE) for name in _unstorable(instance, props)]
    if not problems:
        return instance
    details: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name, message in problems:
        details.setdefault(name, message)
        text = props.get(name.split(".")[0], {}).get("x-error")
        if text:
            texts.setdefault(name.split(".")[0], text)
    ex = InvalidInput(f"Invalid request {where}", details=details, key="validation")
    # In the order the schema declares its fields: a surface that shows one
    # message (Money For Rabbit) shows the first field's.
    ex.texts = [texts[name] for name in props if name in texts]
    raise ex


def _unstorable(instance, props: dict) -> list[str]:
    """Declared fields holding strings no database stores: NUL characters, lone surrogates.

    Walked without recursion, since JSON may nest as deep as its parser allows;
    undeclared fields are ignored like everywhere else.
    """
    if not isinstance(instance, dict):
        return []
    found = []
    for name in props:
        if name not in instance:
            continue
        stack = [instance[name]]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str) and not _storable(value):
                found.append(name)
                break
    return found


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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

"""The Idempotency-Key header on creating POSTs: a retry gets the first answer, done once.

An operation declared `idempotent=True` claims the key once its caller is
authenticated and its body valid (`replayed`); the `Idempotency` middleware
stores the answer in the same transaction. What is kept, for 24 hours: the
status, the body and the Location header, encrypted. What is not: answers
whose transaction rolls back (refusals, 5xx) leave no key, so a retry runs again.
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass

import falcon

from api.middleware import commits
from models import idempotency, users
from models.errors import InvalidInput

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
STORED_HEADERS = ("Location",)
# The draft standard sends the key as a structured-field string ("..."); Stripe and
# most clients send it bare. Both name the same key.
_QUOTED = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_PRINTABLE = re.compile(r"[ -~]+")
PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "A unique string per intended create (a UUID): a retry with the same key "
    "within 24 hours answers what the first request answered, with Idempotent-Replayed: "
    "true, and does nothing again. A request whose work rolls back keeps no key.",
    # (?!.*\n): Python's `$` also matches before a final newline (see api.schemas).
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?!.*\n)[ -~]+$"},
}


@dataclass
class Keyed:
    """A request's Idempotency-Key as sent, and (scope, key) once the request holds it."""

    raw: str
    secret: bytes
    claimed: tuple[str, str] | None = None


class Idempotency:
    """Stores the answer of a keyed request before its transaction commits.

    Comes after Transaction in the middleware list: Falcon runs process_response
    in reverse order, so this one runs before Transaction's commit.
    """

    def __init__(self, secret: bytes):
        self.secret = secret

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = req.get_header(HEADER)
        req.context.idempotency = None if raw is None else Keyed(raw, self.secret)

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        keyed = getattr(req.context, "idempotency", None)
        if keyed is None or keyed.claimed is None or not commits(req, req_succeeded):
            return
        try:
            idempotency.store(*keyed.claimed, _answer(resp), self.secret)
        except Exception:
            req.context.keep_changes = False  # a key must never commit without its answer
            raise


def replayed(req: falcon.Request, resp: falcon.Response) -> bool:
    """Claim the request's key, or answer as the first request with it did (True)."""
    keyed = getattr(req.context, "idempotency", None)
    if keyed is None:
        return False
    key = parse_key(keyed.raw)
    body = getattr(req.context, "body", None)
    scope = _scope(req, body)
    fingerprint = idempotency.fingerprint(req.method, req.path, body, keyed.secret)
    answer = idempotency.claim(scope, key, fingerprint, keyed.secret)
    if answer is None:
        keyed.claimed = (scope, key)
        return False
    resp.status = answer["status"]
    resp.content_type = answer["content_type"]
    resp.data = base64.b64decode(answer["body"])
    for name, value in answer["headers"].items():
        resp.set_header(name, value)
    resp.set_header(REPLAYED, "true")
    return True


def parse_key(raw: str) -> str:
    """The key of a header value: 1 to 255 printable ASCII characters, bare or quoted."""
    key = raw.strip(" \t")  # as HTTP parsers do; a test client may not
    if key.startswith('"'):  # a quoted string, whose escapes must be right
        quoted = _QUOTED.fullmatch(key)
        key = re.sub(r'\\(["\\])', r"\1", quoted.group(1)) if quoted else ""
    if len(key) > idempotency.MAX_KEY_LENGTH or not _PRINTABLE.fullmatch(key):
        raise InvalidInput(
            f"{HEADER} must be 1 to {idempotency.MAX_KEY_LENGTH} printable ASCII characters",
            details={HEADER: "Invalid idempotency key"},
            key="idempotency_key_invalid",
        )
    return key


def _scope(req: falcon.Request, body) -> str:
    """Whose keys these are: the caller's, so that no caller ever gets another's answer.

    Sign-up and register have no caller yet; their scope is the email of the
    account they create. A replay also needs the identical body, password
    included, so only whoever sent the first request can have its answer (and
    the session in it); anyone else with that email and key gets a 422.
    """
    user = getattr(req.context, "user", None)
    if user is not None:
        return f"user:{user.id}"
    return "email:" + users.email_key(body["email"])


def _answer(resp: falcon.Response) -> dict:
    return {
        "status": resp.status_code,
        "headers": {
            name: resp.get_header(name) for name in STORED_HEADERS if resp.get_header(name)
        },
        "body": base64.b64encode(resp.render_body() or b"").decode(),
        "content_type": resp.content_type,
    }


def attempt(req: falcon.Request) -> str | None:
    """A name for the intent of a request holding its key, the same on every retry with
    that key by that caller (None without a key): what work done outside our database
    (a charge) is keyed by."""
    keyed = getattr(req.context, "idempotency", None)
    if keyed is None or keyed.claimed is None:
        return None
    scope, key = keyed.claimed
    return hmac.new(keyed.secret, f"attempt\n{scope}\n{key}".encode(), "sha256").hexdigest()

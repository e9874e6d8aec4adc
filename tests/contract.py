"""A test client that checks every answer against the OpenAPI document.

Each answer of an operation whose success body is declared must carry a status
the document lists for it, and a JSON body must match that status's schema: the
whole suite then tests the document as much as the code.
"""

from __future__ import annotations

from falcon import testing
from jsonschema import Draft202012Validator

from api import openapi

# Answered before or outside any operation: CORS preflights, HEAD (GET's answer, no body).
_UNCHECKED_METHODS = {"OPTIONS", "HEAD"}


class ContractError(AssertionError):
    """An answer the document does not describe."""


class CheckedClient(testing.TestClient):
    def __init__(self, app, **kwargs):
        super().__init__(app, **kwargs)
        self._document: dict | None = None

    @property
    def document(self) -> dict:
        if self._document is None:
            self._document = openapi.build(self.app)
        return self._document

    def simulate_request(self, method="GET", path="/", *args, **kwargs):
        result = super().simulate_request(method, path, *args, **kwargs)
        if method.upper() not in _UNCHECKED_METHODS:
            check(self.app, self.document, method.upper(), path, result)
        return result


def check(app, document: dict, method: str, path: str, result) -> None:
    """Raise ContractError if `result` is not an answer the document gives to the request."""
    route = app._router.find(path.split("?")[0])
    if route is None:
        return  # no route: Falcon's 404, the same for every unknown path
    _resource, method_map, _params, template = route
    responder = method_map.get(method)
    spec = getattr(responder, "operation", None)
    if spec is None or not spec.described:
        return  # a 405, or an operation not yet declared
    responses = document["paths"][openapi.document_path(template)][method.lower()]["responses"]
    where = f"{method} {path} answered {result.status_code}"
    declared = responses.get(str(result.status_code))
    if declared is None:
        raise ContractError(f"{where}, which the document does not list: {result.text[:300]}")
    content = declared.get("content")
    if not content:
        if result.content:
            raise ContractError(f"{where} with a body the document does not describe")
        return
    media = result.headers.get("content-type", "").split(";")[0].strip()
    if media not in content:
        raise ContractError(f"{where} as {media!r}; the document says {sorted(content)}")
    if media != "application/json":
        return
    schema = {**content[media]["schema"], "components": document["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(result.json), key=str)
    if errors:
        found = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
        raise ContractError(f"{where} with a body unlike its schema: {found}")

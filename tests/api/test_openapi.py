"""GET /openapi.json: OpenAPI 3.1 of both surfaces, and no route it leaves out."""

import falcon
import pytest
from jsonschema import Draft202012Validator

from api import openapi
from api.validation import operation


@pytest.fixture
def document(client):
    resp = client.simulate_get("/openapi.json")
    assert resp.status_code == 200
    return resp.json


def test_it_is_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    assert document["paths"]


def test_it_passes_the_openapi_3_1_validator(document):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_no_route_is_undocumented(app):
    assert openapi.undocumented(app) == []


def test_every_operation_describes_its_answer(app):
    """Both surfaces, the docs and the service routes: each says what it answers."""
    served = list(openapi.routes(app))
    assert len(served) > 60
    undescribed = [
        f"{method} {template}"
        for template, method, _resource, responder in served
        if not responder.operation.described
    ]
    assert undescribed == []


def test_every_route_and_method_is_in_the_document(app, document):
    served = [(template, method) for template, method, *_ in openapi.routes(app)]
    assert len(served) > 10
    for template, method in served:
        path = openapi.document_path(template)
        assert method.lower() in document["paths"][path], f"{method} {path}"


@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/v1/auth/signup", "post"),
        ("/api/auth/signup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/user/register", "post"),
        ("/api/user/login", "post"),
        ("/api/user/refresh", "post"),
        ("/api/user/withdraw", "delete"),
        ("/api/user/{user_id}", "get"),
        ("/api/user/{user_id}", "put"),
        ("/api/confirm-user/{user_id}/{token}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/openapi.json", "get"),
    ],
)
def test_the_foundation_routes_are_described(document, path, method):
    assert method in document["paths"][path]
    assert document["paths"][path][method]["summary"]


def test_bodies_are_the_declared_schemas(document):
    signup = document["paths"]["/api/v1/auth/signup"]["post"]
    schema = signup["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["email", "password", "username"]
    assert schema["properties"]["password"]["minLength"] == 8
    assert "400" in signup["responses"] and "200" in signup["responses"]
    register = document["paths"]["/api/user/register"]["post"]
    assert "201" in register["responses"]
    rabbit_schema = register["requestBody"]["content"]["application/json"]["schema"]
    assert rabbit_schema["properties"]["username"]["pattern"]


def test_private_keywords_do_not_leak(document):
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                assert not key.startswith("x-"), key
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["paths"])


def test_every_schema_in_it_is_valid_json_schema(document):
    for item in document["paths"].values():
        for op in item.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                Draft202012Validator.check_schema(body["schema"])
            for param in op.get("parameters", []):
                Draft202012Validator.check_schema(param["schema"])


def test_authenticated_operations_say_so(document):
    me = document["paths"]["/api/v1/users/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "401" in me["responses"]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_logout_scope_is_a_documented_query_parameter(document):
    params = document["paths"]["/api/v1/auth/logout"]["post"]["parameters"]
    scope = next(p for p in params if p["name"] == "scope")
    assert scope["in"] == "query"
    assert scope["schema"]["enum"] == ["local", "global", "others"]


def test_path_parameters_are_declared(document):
    params = document["paths"]["/api/confirm-user/{user_id}/{token}"]["get"]["parameters"]
    assert {p["name"] for p in params if p["in"] == "path"} == {"user_id", "token"}


class Documented:
    @operation("documented")
    def on_get(self, req, resp):
        resp.media = {}


class Undocumented:
    def on_get(self, req, resp):
        resp.media = {}

    @operation("documented")
    def on_post(self, req, resp):
        resp.media = {}

    def on_delete_item(self, req, resp, item_id):
        resp.status = 204

    def on_options(self, req, resp):
        resp.status = 204


def test_a_responder_without_a_declaration_is_reported(app):
    app.add_route("/test/documented", Documented())
    app.add_route("/test/undocumented", Undocumented())
    app.add_route("/test/undocumented/{item_id}", Undocumented(), suffix="item")
    assert sorted(openapi.undocumented(app)) == [
        "DELETE /test/undocumented/{item_id}",
        "GET /test/undocumented",
        "OPTIONS /test/undocumented",
    ]
    doc = openapi.build(app)
    assert "post" in doc["paths"]["/test/undocumented"]
    assert "get" not in doc["paths"]["/test/undocumented"]


def test_a_plain_app_has_nothing_to_report():
    assert openapi.undocumented(falcon.App()) == []


THING = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "integer"}},
    "additionalProperties": False,
}


class Declared:
    uses_db = False

    def __init__(self, answer: dict, status: int = 200):
        self.answer, self.status = answer, status

    @operation("declared", returns=THING, responses={404: "No such thing"})
    def on_get(self, req, resp):
        resp.status = self.status
        resp.media = self.answer


@pytest.mark.parametrize(
    "answer, status, fault",
    [
        ({"id": 1}, 200, None),
        ({"id": "1"}, 200, "unlike its schema"),
        ({"id": 1, "secret": "x"}, 200, "unlike its schema"),
        ({"error": {"code": "not_found", "message": "Not found"}}, 404, None),
        ({"error": "not found"}, 404, "unlike its schema"),
        ({"error": {"code": "conflict", "message": "taken"}}, 409, "does not list"),
    ],
)
def test_the_test_client_holds_each_answer_to_the_document(app, answer, status, fault):
    from contract import CheckedClient, ContractError

    app.add_route("/test/declared", Declared(answer, status))
    client = CheckedClient(app)
    if fault is None:
        assert client.simulate_get("/test/declared").status_code == status
    else:
        with pytest.raises(ContractError, match=fault):
            client.simulate_get("/test/declared")


def test_declared_success_bodies_and_errors_are_in_the_document(app):
    app.add_route("/test/declared", Declared({"id": 1}))
    doc = openapi.build(app)
    responses = doc["paths"]["/test/declared"]["get"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == THING
    error = responses["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ZellyyError"}
    assert "503" not in responses  # no database, nothing to be unavailable

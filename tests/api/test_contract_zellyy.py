"""Zellyy's answers in the OpenAPI document: every operation declares its success body."""

import pytest
from jsonschema import Draft202012Validator

from api import openapi


def _zellyy(app):
    return [
        (template, method, responder.operation)
        for template, method, resource, responder in openapi.routes(app)
        if getattr(resource, "surface", None) == "zellyy"
    ]


def test_every_zellyy_route_is_under_both_prefixes(app):
    templates = {template for template, _method, _spec in _zellyy(app)}
    v1 = {t.removeprefix("/api/v1") for t in templates if t.startswith("/api/v1/")}
    seed = {t.removeprefix("/api") for t in templates if not t.startswith("/api/v1/")}
    assert v1 == seed


def _schema(document, ref: dict) -> dict:
    assert set(ref) == {"$ref"}
    return document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_a_card_is_described_key_by_key(document):
    get = document["paths"]["/api/v1/cards/{card_id}"]["get"]
    detail = _schema(document, get["responses"]["200"]["content"]["application/json"]["schema"])
    assert detail["additionalProperties"] is False
    assert {"id", "content", "tags", "is_synced", "share_count"} <= set(detail["required"])
    card = document["components"]["schemas"]["Card"]
    assert card["properties"]["text_align"]["enum"] == ["left", "center", "right"]
    assert "owner" not in card["properties"]


def test_an_unknown_card_is_a_404_in_zellyys_dialect(document):
    get = document["paths"]["/api/v1/cards/{card_id}"]["get"]
    not_found = get["responses"]["404"]["content"]["application/json"]["schema"]
    assert not_found == {"$ref": "#/components/schemas/ZellyyError"}
    assert {"401", "503"} <= set(get["responses"])


@pytest.mark.parametrize(
    "path, method, statuses",
    [
        ("/api/v1/auth/signup", "post", {"200", "400", "409", "422", "429"}),
        ("/api/v1/auth/login", "post", {"200", "400", "401", "429"}),
        ("/api/v1/auth/recover", "post", {"200", "400", "429"}),
        ("/api/v1/subscriptions", "post", {"201", "400", "401", "402", "409", "422"}),
        ("/api/v1/social/connect/{platform}", "post", {"200", "404", "502"}),
        ("/api/v1/webhooks/{webhook_id}", "get", {"200", "401", "403", "404"}),
    ],
)
def test_the_errors_an_operation_answers_are_listed(document, path, method, statuses):
    assert statuses <= set(document["paths"][path][method]["responses"])


def test_the_card_image_is_a_png(document):
    get = document["paths"]["/api/v1/cards/{card_id}/image.png"]["get"]
    content = get["responses"]["200"]["content"]
    assert content == {"image/png": {"schema": {"type": "string", "format": "binary"}}}


def test_a_page_of_cards_holds_cards_and_its_pagination(document):
    get = document["paths"]["/api/v1/cards"]["get"]
    page = _schema(document, get["responses"]["200"]["content"]["application/json"]["schema"])
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Card"}
    pagination = page["properties"]["pagination"]
    assert set(pagination["required"]) == {"total", "page", "limit", "total_pages"}


def _answered(document) -> str:
    """The text of every schema Zellyy answers with, components it refers to included."""
    schemas = document["components"]["schemas"]
    seen: dict[str, dict] = {}
    stack = [
        response.get("content", {})
        for item in document["paths"].values()
        for op in item.values()
        if op["tags"] == ["zellyy"]
        for response in op["responses"].values()
    ]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("$ref", "").rsplit("/", 1)[-1]
            if name and name not in seen:
                seen[name] = schemas[name]
                stack.append(schemas[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert {"Card", "Profile", "Webhook", "Subscription"} <= set(seen)
    return str(seen)


def test_no_secret_is_in_a_zellyy_answer(document):
    text = _answered(document)
    for secret in ("password", "secret", "encrypted", "hash", "lease_token"):
        assert secret not in text


def test_the_schemas_refuse_a_drifting_answer(document):
    card = {**document["components"]["schemas"]["Card"], "components": document["components"]}
    good = {
        "id": "6f1c1a52-3a2b-4c3d-9e8f-0a1b2c3d4e5f",
        "content": "hi",
        "background_color": "#FFFFFF",
        "text_color": "#000000",
        "font_family": "system",
        "font_size": 16,
        "text_align": "center",
        "is_public": False,
        "is_synced": False,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "tags": [],
    }
    validator = Draft202012Validator(card)
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "owner_id": 1})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "tags"})
    assert not validator.is_valid({**good, "font_size": "16"})


@pytest.fixture
def document(client):
    return client.simulate_get("/openapi.json").json

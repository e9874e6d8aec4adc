"""Zellyy cards over HTTP: the seed's shapes, validation, listing, ownership and the free limit."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from contract import CheckedClient
from pony import orm

from models import premium
from models.cards import Card
from models.shares import Share

SEED_FIELDS = {
    "id",
    "content",
    "background_color",
    "text_color",
    "font_family",
    "font_size",
    "text_align",
    "is_public",
    "is_synced",
    "created_at",
    "updated_at",
    "tags",
}
_emails = itertools.count()


def signup(client) -> dict:
    email = f"user{next(_emails)}@example.com"
    resp = client.simulate_post(
        "/api/v1/auth/signup", json={"email": email, "password": "password1", "username": "u"}
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json['session']['access_token']}"}


@pytest.fixture
def owner(client):
    return signup(client)


@pytest.fixture
def other(client):
    return signup(client)


def create(client, headers, prefix="/api/v1", **fields):
    fields.setdefault("content", "A card")
    resp = client.simulate_post(f"{prefix}/cards", json=fields, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json


def listing(client, headers, **params):
    resp = client.simulate_get("/api/v1/cards", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json


def set_times(card_id: str, created: datetime, updated: datetime | None = None) -> None:
    with orm.db_session:
        card = Card.get(public_id=uuid.UUID(card_id))
        card.set(created_at=created, updated_at=updated or created)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.json["error"]["code"] == code
    return resp.json["error"]


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api/v1", "/api"])
def test_create_fills_in_the_style_defaults(client, owner, prefix):
    resp = client.simulate_post(f"{prefix}/cards", json={"content": "Hello"}, headers=owner)
    assert resp.status_code == 201
    card = resp.json
    assert set(card) == SEED_FIELDS
    assert card["content"] == "Hello"
    assert {k: card[k] for k in SEED_FIELDS - {"id", "content", "created_at", "updated_at"}} == {
        "background_color": "#FFFFFF",
        "text_color": "#000000",
        "font_family": "system",
        "font_size": 16,
        "text_align": "center",
        "is_public": False,
        "is_synced": False,
        "tags": [],
    }
    assert uuid.UUID(card["id"])
    assert card["created_at"] == card["updated_at"]
    datetime.strptime(card["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert resp.headers["location"] == f"{prefix}/cards/{card['id']}"
    assert client.simulate_get(resp.headers["location"], headers=owner).status_code == 200


def test_create_keeps_every_given_field(client, owner):
    card = create(
        client,
        owner,
        content="  Line one\n\tline two  ",
        background_color="#f0f0f0",
        text_color="#333333",
        font_family="Noto Sans KR",
        font_size=18,
        text_align="left",
        is_public=True,
        tags=["personal", "ideas", " personal ", "아이디어"],
    )
    assert card["content"] == "  Line one\n\tline two  "
    assert card["background_color"] == "#F0F0F0"  # colours are kept upper-case
    assert card["text_color"] == "#333333"
    assert card["font_family"] == "Noto Sans KR"
    assert card["font_size"] == 18
    assert card["text_align"] == "left"
    assert card["is_public"] is True
    # Tags are trimmed and kept once, in the order given.
    assert card["tags"] == ["personal", "ideas", "아이디어"]


@pytest.mark.parametrize(
    "fields",
    [
        {"content": "x" * 2000},
        {"content": "x", "font_size": 8},
        {"content": "x", "font_size": 72},
        {"content": "x", "font_size": 16.0},
        {"content": "x", "tags": [f"t{i}" for i in range(10)]},
        {"content": "x", "tags": ["y" * 30]},
        {"content": "x", "text_align": "right"},
        {"content": "x", "font_family": "sans-serif"},
        {"content": "x", "font_family": "나눔고딕"},
        {"content": "x", "font_family": "Schön Grotesk"},
        {"content": "x", "font_family": "メイリオ"},
        {"content": "x", "font_family": "微软雅黑"},
        {"content": "x", "font_family": "Шрифт"},
        {"content": "x", "font_family": "Font_2.0"},
        {"content": "\ufeff"},  # not whitespace to Python's str.strip()
        {"content": "x", "tags": ["\ufeff"]},
        {"content": "한글 카드 😀"},
    ],
)
def test_create_accepts_values_at_the_edges(client, owner, fields):
    card = create(client, owner, **fields)
    for name, value in fields.items():
        assert card[name] == value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": "   \n "}, "content"),
        ({"content": "x" * 2001}, "content"),
        ({"content": 5}, "content"),
        ({"content": None}, "content"),
        ({"content": "nul\u0000byte"}, "content"),
        ({"content": "x", "background_color": "#FFF"}, "background_color"),
        ({"content": "x", "background_color": "white"}, "background_color"),
        ({"content": "x", "background_color": "#GGGGGG"}, "background_color"),
        ({"content": "x", "background_color": "#FFFFFF\n"}, "background_color"),
        ({"content": "x", "text_color": "000000"}, "text_color"),
        ({"content": "x", "text_color": "#0000000"}, "text_color"),
        ({"content": "x", "font_size": 7}, "font_size"),
        ({"content": "x", "font_size": 73}, "font_size"),
        ({"content": "x", "font_size": "16"}, "font_size"),
        ({"content": "x", "font_size": 16.5}, "font_size"),
        ({"content": "x", "font_size": True}, "font_size"),
        ({"content": "x", "font_size": 10**400}, "font_size"),
        ({"content": "x", "text_align": "justify"}, "text_align"),
        ({"content": "x", "text_align": "LEFT"}, "text_align"),
        ({"content": "x", "font_family": ""}, "font_family"),
        ({"content": "x", "font_family": "f" * 51}, "font_family"),
        ({"content": "x", "font_family": "Arial\n"}, "font_family"),
        ({"content": "x", "font_family": "<script>"}, "font_family"),
        ({"content": "x", "font_family": "system; DROP TABLE cards"}, "font_family"),
        ({"content": "x", "font_family": "Menlo\u2028"}, "font_family"),
        ({"content": "x", "font_family": "Arial×2"}, "font_family"),
        ({"content": "\u0085\u3000\u2028"}, "content"),  # whitespace to Python and clients
        ({"content": "x", "tags": ["\u0085"]}, "tags.0"),
        ({"content": "x", "is_public": "yes"}, "is_public"),
        ({"content": "x", "is_public": 1}, "is_public"),
        ({"content": "x", "tags": "personal"}, "tags"),
        ({"content": "x", "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"content": "x", "tags": [""]}, "tags.0"),
        ({"content": "x", "tags": ["ok", "y" * 31]}, "tags.1"),
        ({"content": "x", "tags": ["   "]}, "tags.0"),
        ({"content": "x", "tags": ["a\nb"]}, "tags.0"),
        ({"content": "x", "tags": ["a\n"]}, "tags.0"),
        ({"content": "x", "tags": [3]}, "tags.0"),
        ({"content": "x", "tags": None}, "tags"),
    ],
)
def test_create_refuses_invalid_fields(client, owner, body, field):
    resp = client.simulate_post("/api/v1/cards", json=body, headers=owner)
    error = assert_error(resp, 400, "invalid_request")
    assert field in error["details"]
    assert listing(client, owner)["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),
        (b'"content"', "application/json"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
    ],
)
def test_create_refuses_bodies_that_are_not_a_json_object(client, owner, body, content_type):
    resp = client.simulate_post(
        "/api/v1/cards", body=body, headers={**owner, "Content-Type": content_type}
    )
    assert 400 <= resp.status_code < 500
    assert resp.json["error"]["code"] == "invalid_request"


# --- read, change, delete --------------------------------------------------------------------


def test_detail_adds_successful_shares_only(client, owner):
    card = create(client, owner, tags=["a"])
    resp = client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner)
    assert resp.status_code == 200
    assert resp.json == {**card, "share_count": 0, "share_platforms": []}

    with orm.db_session:
        row = Card.get(public_id=uuid.UUID(card["id"]))
        for platform, status in [
            ("instagram", "success"),
            ("facebook", "success"),
            ("facebook", "success"),
            ("twitter", "failed"),
            ("twitter", "pending"),
        ]:
            Share(card=row, platform=platform, status=status)
    detail = client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner).json
    assert detail["share_count"] == 3
    assert detail["share_platforms"] == ["facebook", "instagram"]
    # The listing keeps the seed's item shape, without share fields.
    assert set(listing(client, owner)["data"][0]) == SEED_FIELDS


def test_patch_changes_only_the_given_fields(client, owner):
    card = create(client, owner, content="Before", font_size=20, tags=["personal", "ideas"])
    past = datetime(2023, 1, 1)
    set_times(card["id"], past)
    resp = client.simulate_patch(
        f"/api/v1/cards/{card['id']}",
        json={
            "content": "Updated card content",
            "background_color": "#f0f0f0",
            "is_public": True,
            "tags": ["ideas", "updated", "personal"],
        },
        headers=owner,
    )
    assert resp.status_code == 200
    updated = resp.json
    assert set(updated) == SEED_FIELDS
    assert updated["content"] == "Updated card content"
    assert updated["background_color"] == "#F0F0F0"
    assert updated["is_public"] is True
    assert updated["tags"] == ["ideas", "updated", "personal"]
    assert updated["font_size"] == 20  # untouched
    assert updated["created_at"] == "2023-01-01T00:00:00Z"
    assert updated["updated_at"] > "2023-01-01T00:00:00Z"
    again = client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner).json
    assert {k: again[k] for k in SEED_FIELDS} == updated


def test_patch_of_tags_alone_moves_updated_at_and_can_clear_them(client, owner):
    card = create(client, owner, tags=["a", "b"])
    set_times(card["id"], datetime(2023, 1, 1))
    resp = client.simulate_patch(f"/api/v1/cards/{card['id']}", json={"tags": []}, headers=owner)
    assert resp.json["tags"] == []
    assert resp.json["updated_at"] > "2023-01-01T00:00:00Z"
    assert listing(client, owner, tag="a")["data"] == []


def test_empty_patch_changes_nothing(client, owner):
    card = create(client, owner)
    set_times(card["id"], datetime(2023, 1, 1))
    resp = client.simulate_patch(f"/api/v1/cards/{card['id']}", json={}, headers=owner)
    assert resp.status_code == 200
    assert resp.json["updated_at"] == "2023-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": None}, "content"),
        ({"text_color": "#12345"}, "text_color"),
        ({"font_size": 100}, "font_size"),
        ({"text_align": None}, "text_align"),
        ({"tags": ["x" * 31]}, "tags.0"),
        ({"tags": [str(i) for i in range(11)]}, "tags"),
    ],
)
def test_patch_refuses_invalid_fields_and_keeps_the_card(client, owner, body, field):
    card = create(client, owner, tags=["keep"])
    resp = client.simulate_patch(f"/api/v1/cards/{card['id']}", json=body, headers=owner)
    assert field in assert_error(resp, 400, "invalid_request")["details"]
    detail = client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner).json
    assert {k: detail[k] for k in SEED_FIELDS} == card


def test_delete_removes_the_card_its_tags_and_shares(client, owner):
    card = create(client, owner, tags=["gone"])
    keep = create(client, owner, tags=["gone"])
    with orm.db_session:
        Share(card=Card.get(public_id=uuid.UUID(card["id"])), platform="twitter", status="success")
    resp = client.simulate_delete(f"/api/v1/cards/{card['id']}", headers=owner)
    assert resp.status_code == 204
    assert resp.text == ""
    assert_error(
        client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner), 404, "resource_not_found"
    )
    assert_error(
        client.simulate_delete(f"/api/v1/cards/{card['id']}", headers=owner),
        404,
        "resource_not_found",
    )
    page = listing(client, owner, tag="gone")
    assert [c["id"] for c in page["data"]] == [keep["id"]]
    assert listing(client, owner)["pagination"]["total"] == 1
    with orm.db_session:
        assert Share.select().count() == 0


# --- ownership, ids, authentication ------------------------------------------------------------


def test_another_users_card_is_not_found_for_every_method(client, owner, other):
    card = create(client, owner, content="Mine", tags=["secret"])
    url = f"/api/v1/cards/{card['id']}"
    assert_error(client.simulate_get(url, headers=other), 404, "resource_not_found")
    assert_error(
        client.simulate_patch(url, json={"content": "Theirs"}, headers=other),
        404,
        "resource_not_found",
    )
    assert_error(client.simulate_delete(url, headers=other), 404, "resource_not_found")
    # The same answer as for a card that never existed.
    unknown = client.simulate_get(f"/api/v1/cards/{uuid.uuid4()}", headers=other)
    assert unknown.json == client.simulate_get(url, headers=other).json
    # Untouched, and invisible in the other user's listing and tag filter.
    detail = client.simulate_get(url, headers=owner).json
    assert detail["content"] == "Mine"
    assert listing(client, other)["data"] == []
    assert listing(client, other, tag="secret")["data"] == []
    assert listing(client, other, search="Mine")["data"] == []


@pytest.mark.parametrize(
    "card_id",
    [
        "abc",
        "1",
        "0",
        "-1",
        "null",
        "00000000-0000-0000-0000-00000000000g",
        "x" * 300,
        "%00",
        "%20",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_malformed_card_ids_are_not_found(client, owner, card_id, method):
    resp = client.simulate_request(
        method, f"/api/v1/cards/{card_id}", json={"content": "x"}, headers=owner
    )
    assert_error(resp, 404, "resource_not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/cards"),
        ("GET", "/api/v1/cards"),
        ("GET", "/api/v1/cards/{id}"),
        ("PATCH", "/api/v1/cards/{id}"),
        ("DELETE", "/api/v1/cards/{id}"),
    ],
)
@pytest.mark.parametrize("token", [None, "Bearer nonsense"])
def test_every_card_route_needs_a_token(client, owner, method, path, token):
    card = create(client, owner)
    headers = {"Authorization": token} if token else {}
    resp = client.simulate_request(
        method, path.format(id=card["id"]), json={"content": "x"}, headers=headers
    )
    assert_error(resp, 401, "authentication_required")
    assert client.simulate_get(f"/api/v1/cards/{card['id']}", headers=owner).json["content"] == (
        "A card"
    )


def test_wrong_method_is_405(client, owner):
    assert client.simulate_put("/api/v1/cards", json={}, headers=owner).status_code == 405


# --- listing -----------------------------------------------------------------------------------


def test_empty_listing(client, owner):
    assert listing(client, owner) == {
        "data": [],
        "pagination": {"total": 0, "page": 1, "limit": 20, "total_pages": 0},
    }


def test_pagination_first_last_and_beyond(client, owner):
    ids = [create(client, owner, content=f"card {i}")["id"] for i in range(45)]
    newest_first = ids[::-1]

    first = listing(client, owner)
    assert first["pagination"] == {"total": 45, "page": 1, "limit": 20, "total_pages": 3}
    assert [c["id"] for c in first["data"]] == newest_first[:20]

    last = listing(client, owner, page=3)
    assert last["pagination"] == {"total": 45, "page": 3, "limit": 20, "total_pages": 3}
    assert [c["id"] for c in last["data"]] == newest_first[40:]

    beyond = listing(client, owner, page=4)
    assert beyond["data"] == []
    assert beyond["pagination"] == {"total": 45, "page": 4, "limit": 20, "total_pages": 3}
    assert listing(client, owner, page=2**31 - 1)["data"] == []

    pages = [listing(client, owner, page=p, limit=7)["data"] for p in range(1, 8)]
    assert [c["id"] for page in pages for c in page] == newest_first
    assert listing(client, owner, limit=100)["pagination"]["total_pages"] == 1
    assert len(listing(client, owner, limit=1)["data"]) == 1
    assert listing(client, owner, limit=45)["pagination"]["total_pages"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "one"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": " 1"}, "page"),
        ({"page": str(2**31)}, "page"),
        ({"page": "9" * 40}, "page"),
        ({"page": "١"}, "page"),  # an Arabic-Indic digit is not an integer here
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "id"}, "sort"),
        ({"sort": "content; DROP TABLE cards"}, "sort"),
        ({"order": "up"}, "order"),
        ({"order": "DESC"}, "order"),
        ({"tag": "t" * 31}, "tag"),
        ({"tag": "   "}, "tag"),
        ({"search": "nul\u0000"}, "search"),
        ({"search": "s" * 2001}, "search"),
    ],
)
def test_out_of_range_list_parameters_are_refused_not_clamped(client, owner, params, field):
    create(client, owner)
    resp = client.simulate_get("/api/v1/cards", params=params, headers=owner)
    assert field in assert_error(resp, 400, "invalid_request")["details"]


@pytest.mark.parametrize("sort", ["created_at", "updated_at"])
@pytest.mark.parametrize("order", ["asc", "desc", None])
def test_every_sort_and_order_with_ties_in_creation_order(client, owner, sort, order):
    base = datetime(2024, 5, 1, 12, 0, 0)
    cards = [create(client, owner, content=f"card {i}")["id"] for i in range(5)]
    # created_at: c0 < c1 == c2 == c3 < c4;  updated_at: c4 < c0 < c2 == c3 < c1
    created = [0, 1, 1, 1, 2]
    updated = [5, 9, 7, 7, 3]
    for card_id, c, u in zip(cards, created, updated, strict=True):
        set_times(card_id, base + timedelta(minutes=c), base + timedelta(minutes=u))
    keys = created if sort == "created_at" else updated
    # Equal keys fall back to creation order, in the requested direction.
    expected = sorted(range(5), key=lambda i: (keys[i], i), reverse=order != "asc")
    params = {"sort": sort} | ({"order": order} if order else {})
    page = listing(client, owner, **params)
    assert [c["id"] for c in page["data"]] == [cards[i] for i in expected]
    # The same order holds across page boundaries.
    paged = [listing(client, owner, page=p, limit=2, **params)["data"] for p in (1, 2, 3)]
    assert [c["id"] for page in paged for c in page] == [cards[i] for i in expected]


def test_default_sort_is_newest_created_first(client, owner):
    first = create(client, owner)["id"]
    second = create(client, owner)["id"]
    client.simulate_patch(f"/api/v1/cards/{first}", json={"content": "edited"}, headers=owner)
    assert [c["id"] for c in listing(client, owner)["data"]] == [second, first]


def test_tag_filter(client, owner, other):
    a = create(client, owner, tags=["work", "ideas"])["id"]
    b = create(client, owner, tags=["personal"])["id"]
    c = create(client, owner, tags=["work"])["id"]
    create(client, other, tags=["work"])
    page = listing(client, owner, tag="work")
    assert [x["id"] for x in page["data"]] == [c, a]
    assert page["pagination"] == {"total": 2, "page": 1, "limit": 20, "total_pages": 1}
    assert page["data"][1]["tags"] == ["work", "ideas"]
    assert [x["id"] for x in listing(client, owner, tag="personal")["data"]] == [b]
    assert listing(client, owner, tag="Work")["data"] == []  # tags match exactly
    assert listing(client, owner, tag="wor")["data"] == []
    assert listing(client, owner, tag="%")["data"] == []
    assert [x["id"] for x in listing(client, owner, tag="work", search="")["data"]] == [c, a]
    only = listing(client, owner, tag="work", limit=1, page=2)
    assert [x["id"] for x in only["data"]] == [a]
    assert only["pagination"]["total_pages"] == 2


def test_search_is_a_case_insensitive_substring(client, owner):
    hello = create(client, owner, content="Hello World")["id"]
    create(client, owner, content="Goodbye")
    korean = create(client, owner, content="새해 복 많이 받으세요")["id"]
    assert [c["id"] for c in listing(client, owner, search="WORLD")["data"]] == [hello]
    assert [c["id"] for c in listing(client, owner, search="lo wo")["data"]] == [hello]
    assert [c["id"] for c in listing(client, owner, search="복 많이")["data"]] == [korean]
    assert listing(client, owner, search="worlds")["data"] == []


@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("%", ["100% sure"]),
        ("0%", ["100% sure"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("s_a", []),  # "_" is not a one-character wildcard
        ("1%s", []),  # "%" is not a wildcard either
        ("!", ["bang!"]),
        ("!%", []),
        ("\\", ["back\\slash"]),
        ("' OR '1'='1", ["it's ' OR '1'='1"]),
        ("'; DROP TABLE cards; --", []),
        ('"', []),
    ],
)
def test_search_treats_wildcards_and_sql_as_plain_text(client, owner, search, matches):
    for content in [
        "100% sure",
        "snake_case",
        "snakeXcase",
        "bang!",
        "back\\slash",
        "it's ' OR '1'='1",
    ]:
        create(client, owner, content=content)
    found = listing(client, owner, search=search)
    assert [c["content"] for c in found["data"]] == matches
    assert found["pagination"]["total"] == len(matches)
    assert listing(client, owner)["pagination"]["total"] == 6


def test_search_and_tag_together(client, owner):
    create(client, owner, content="alpha", tags=["x"])
    both = create(client, owner, content="alpha beta", tags=["x", "y"])["id"]
    create(client, owner, content="beta", tags=["x"])
    found = listing(client, owner, search="ALPHA", tag="y")
    assert [c["id"] for c in found["data"]] == [both]


# --- free limit and premium --------------------------------------------------------------------


@pytest.fixture
def limited(config):
    """A client whose free limit is 3 cards."""
    from api.app import create_app

    return CheckedClient(create_app(dataclasses.replace(config, free_card_limit=3)))


def test_free_limit(limited):
    headers = signup(limited)
    cards = [create(limited, headers)["id"] for _ in range(3)]
    resp = limited.simulate_post("/api/v1/cards", json={"content": "fourth"}, headers=headers)
    error = assert_error(resp, 403, "permission_denied")
    assert error["details"] == {"limit": 3}
    assert listing(limited, headers)["pagination"]["total"] == 3

    # Each user has their own allowance.
    create(limited, signup(limited))

    assert limited.simulate_delete(f"/api/v1/cards/{cards[0]}", headers=headers).status_code == 204
    create(limited, headers, content="fits again")
    assert_error(
        limited.simulate_post("/api/v1/cards", json={"content": "x"}, headers=headers),
        403,
        "permission_denied",
    )


def test_concurrent_creates_never_pass_the_free_limit(limited):
    headers = signup(limited)
    create(limited, headers)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def post():
        barrier.wait()
        resp = limited.simulate_post("/api/v1/cards", json={"content": "race"}, headers=headers)
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 403, 403, 403, 403]
    assert listing(limited, headers)["pagination"]["total"] == 3
    with orm.db_session:
        assert Card.select().count() == 3


def test_premium_users_are_unlimited_and_synced(limited, monkeypatch):
    headers = signup(limited)
    create(limited, headers)
    monkeypatch.setattr(premium, "premium_until", lambda user: datetime(2099, 1, 1))
    created = [create(limited, headers) for _ in range(4)]
    assert all(card["is_synced"] for card in created)
    page = listing(limited, headers)
    assert page["pagination"]["total"] == 5
    assert all(card["is_synced"] for card in page["data"])
    url = f"/api/v1/cards/{created[0]['id']}"
    assert limited.simulate_get(url, headers=headers).json["is_synced"] is True
    patched = limited.simulate_patch(url, json={"content": "y"}, headers=headers)
    assert patched.json["is_synced"] is True

    # Premium ends: the cards stay, but no new ones over the limit, and nothing is synced.
    monkeypatch.setattr(premium, "premium_until", lambda user: None)
    assert_error(
        limited.simulate_post("/api/v1/cards", json={"content": "x"}, headers=headers),
        403,
        "permission_denied",
    )
    assert not any(card["is_synced"] for card in listing(limited, headers)["data"])


# --- documentation -----------------------------------------------------------------------------


def test_card_routes_are_documented(client):
    paths = client.simulate_get("/openapi.json").json["paths"]
    for prefix in ("/api/v1", "/api"):
        assert set(paths[f"{prefix}/cards"]) == {"get", "post"}
        assert set(paths[f"{prefix}/cards/{{card_id}}"]) == {"get", "patch", "delete"}
    names = {p["name"] for p in paths["/api/v1/cards"]["get"]["parameters"]}
    assert names == {"page", "limit", "sort", "order", "tag", "search"}

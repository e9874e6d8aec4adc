"""Card rules below the API: the counter, cascades, and listings that use their indexes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from pony import orm

from models import db
from models.cards import Card, CardCount, CardTag, card_count, create_card, list_cards
from models.errors import PermissionDenied
from models.shares import Share
from models.users import User, create_user


def new_user() -> User:
    return create_user(f"{uuid.uuid4().hex}@example.com", "password1", "u")


def seed_cards(owner: User, n: int) -> None:
    """Rows written behind the model's back, as a bulk import or a benchmark would."""
    base = datetime(2024, 1, 1)
    for i in range(n):
        Card(
            owner=owner,
            content=f"card {i}",
            background_color="#FFFFFF",
            text_color="#000000",
            font_family="system",
            font_size=16,
            text_align="center",
            created_at=base + timedelta(seconds=i),
            updated_at=base + timedelta(seconds=n - i),
        )


def test_counter_starts_from_the_cards_already_there(config):
    with orm.db_session:
        owner = new_user()
        seed_cards(owner, 4)
    with orm.db_session:
        owner = User[owner.id]
        assert CardCount.get(owner=owner) is None
        assert card_count(owner) == 4
        with pytest.raises(PermissionDenied) as caught:
            create_card(owner, {"content": "fifth"}, free_limit=4)
        assert caught.value.details == {"limit": 4}
    with orm.db_session:
        owner = User[owner.id]
        create_card(owner, {"content": "fifth"}, free_limit=5)
    with orm.db_session:
        owner = User[owner.id]
        assert card_count(owner) == 5
        assert list_cards(owner).total == 5


def test_deleting_a_user_deletes_their_cards_tags_shares_and_counter(config):
    with orm.db_session:
        owner = new_user()
        keeper = new_user()
        card = create_card(owner, {"content": "x", "tags": ["a", "b"]}, free_limit=10)
        Share(card=card, platform="facebook", status="success")
        create_card(keeper, {"content": "y", "tags": ["a"]}, free_limit=10)
    with orm.db_session:
        User[owner.id].delete()
    with orm.db_session:
        assert [c.content for c in Card.select()] == ["y"]
        assert [t.tag for t in CardTag.select()] == ["a"]
        assert Share.select().count() == 0
        assert CardCount.select().count() == 1


def _statements(run) -> list[str]:
    """The SQL statements `run()` sends, in no particular order."""
    db.merge_local_stats()
    run()
    return [sql for sql in db.local_stats if sql]


def _plan(sql: str, owner_id: int) -> str:
    cursor = db.get_connection().cursor()
    if db.provider.dialect == "PostgreSQL":
        cursor.execute("EXPLAIN " + sql, {"p1": owner_id})
        return "\n".join(row[0] for row in cursor.fetchall())
    cursor.execute("EXPLAIN QUERY PLAN " + sql, [owner_id])
    return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.parametrize("sort", ["created_at", "updated_at"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_page_reads_only_its_rows_in_index_order(config, sort, order):
    with orm.db_session:
        owner = new_user()
        seed_cards(owner, 3000)
        seed_cards(new_user(), 300)
        create_card(owner, {"content": "counted", "tags": ["t"]}, free_limit=10**6)
    if db.provider.dialect == "PostgreSQL":
        with orm.db_session:
            db.execute("ANALYZE")
    with orm.db_session:
        owner = User[owner.id]
        result = []
        statements = _statements(
            lambda: result.append(list_cards(owner, sort=sort, order=order, page=3, limit=20))
        )
        page = result[0]
        assert page.total == 3001
        assert len(page.items) == 20
        selects = [sql for sql in statements if 'FROM "cards"' in sql]
        # The total comes from the counter row, not from counting the user's cards.
        assert not any("COUNT" in sql.upper() for sql in selects)
        [listing] = selects
        assert "LIMIT 20" in listing
        plan = _plan(listing, owner.id)
        assert f"idx_cards__owner_{sort}_id" in plan, plan
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_every_query_has_its_index(config):
    """Listing orders, tag filter, and the share counts each have an index to use."""
    with orm.db_session:
        if db.provider.dialect == "PostgreSQL":
            rows = db.select(
                "SELECT tablename, indexdef FROM pg_indexes"
                " WHERE tablename IN ('cards', 'card_tags', 'shares')"
            )
            defs = {(table, d[d.index("(") :]) for table, d in rows}
        else:
            rows = db.select(
                "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                " AND tbl_name IN ('cards', 'card_tags', 'shares')"
            )
            defs = {(table, d[d.index("(") :]) for table, d in rows}
    normalized = {(table, d.replace('"', "").replace(" ", "")) for table, d in defs}
    for expected in [
        ("cards", "(owner,created_at,id)"),
        ("cards", "(owner,updated_at,id)"),
        ("card_tags", "(tag,card)"),
        ("shares", "(card,status)"),
    ]:
        assert expected in normalized, normalized

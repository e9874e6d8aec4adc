"""Content rows for the benchmark, written straight in SQL (generate_series), not via the API.

The columns are those of models/cards.py and models/messages.py; the run checks
each seeded endpoint's answer (totals included) before loading it.
"""

from __future__ import annotations

CARDS = "cards"
MESSAGES = "messages"
MONEY_UNIT_VALUES = (100, 500, 1000, 5000, 10000, 50000, 99999)
MONEY_UNITS = "ARRAY[" + ", ".join(map(str, MONEY_UNIT_VALUES)) + "]"


def tables(con) -> set[str]:
    with con.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {row[0] for row in cur.fetchall()}


def cards(con, owner_id: int, count: int) -> None:
    """`count` cards a second apart, newest last, each with one of ten tags, and the counter."""
    with con.cursor() as cur:
        cur.execute(
            """
            INSERT INTO cards (public_id, owner, content, background_color, text_color,
                               font_family, font_size, text_align, is_public,
                               created_at, updated_at)
            SELECT gen_random_uuid(), %(owner)s, 'Benchmark card number ' || i,
                   '#FFFFFF', '#000000', 'system', 16, 'center', i %% 3 = 0,
                   ts, ts
            FROM generate_series(1, %(count)s) AS i,
                 LATERAL (SELECT (now() AT TIME ZONE 'UTC')
                                 - make_interval(secs => %(count)s - i) AS ts) AS t
            """,
            {"owner": owner_id, "count": count},
        )
        cur.execute(
            """
            INSERT INTO card_tags (card, tag, position)
            SELECT id, 'tag' || (id %% 10), 0 FROM cards WHERE owner = %(owner)s
            """,
            {"owner": owner_id},
        )
        cur.execute(
            """
            INSERT INTO card_counts (owner, cards) VALUES (%(owner)s, %(count)s)
            ON CONFLICT (owner) DO UPDATE SET cards = EXCLUDED.cards
            """,
            {"owner": owner_id, "count": count},
        )


def messages(con, recipient_id: int, author_id: int, count: int) -> None:
    """`count` messages to the recipient from one author, every money unit in turn, and totals."""
    with con.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO messages (recipient_id, author_id, message, amount, is_moneybag,
                                  created_at)
            SELECT %(recipient)s, %(author)s, '새해 복 많이 받으세요 ' || i,
                   ({MONEY_UNITS})[1 + i %% 7], false,
                   (now() AT TIME ZONE 'UTC') - make_interval(secs => %(count)s - i)
            FROM generate_series(1, %(count)s) AS i
            """,  # noqa: S608 (a constant, no input)
            {"recipient": recipient_id, "author": author_id, "count": count},
        )
        # The recipient's totals row, as models/messages.write keeps it.
        cur.execute(
            """
            INSERT INTO message_totals (recipient_id, message_count, total_amount)
            SELECT %(recipient)s, COUNT(*), COALESCE(SUM(amount), 0)
            FROM messages WHERE recipient_id = %(recipient)s
            ON CONFLICT (recipient_id) DO UPDATE
            SET message_count = EXCLUDED.message_count, total_amount = EXCLUDED.total_amount
            """,
            {"recipient": recipient_id},
        )


def analyze(con) -> None:
    """Fresh planner statistics, as autovacuum would have after a bulk load."""
    with con.cursor() as cur:
        cur.execute("VACUUM ANALYZE")

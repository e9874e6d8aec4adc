"""Idempotency keys: the first answer to a create, replayed to retries for 24 hours.

Revision ID: 0003_idempotency_keys
Revises: 0002_withdrawn_authors
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_idempotency_keys"
down_revision = "0002_withdrawn_authors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As Pony spells the entity: DATETIME on SQLite, TIMESTAMP on PostgreSQL.
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_index("idx_idempotency_keys__created_at", "idempotency_keys", ["created_at"])

"""Shares: when each pending share is next due, so a sweeper can send the ones whose task was lost.

A share's task is published after its commit; with the broker down then, or a
retry's message lost, nothing would ever post it. `next_attempt_at` says when
the worker should take it up (now for a new share, the end of the wait for one
to retry, the end of the lease for one being posted); settled shares have none.
The index, like 0006's, holds pending shares only. Pending shares already
there are due since they were made.

Revision ID: 0007_share_next_attempt
Revises: 0006_pending_delivery_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_share_next_attempt"
down_revision = "0006_pending_delivery_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shares", sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
    op.execute('UPDATE "shares" SET "next_attempt_at" = "created_at" WHERE "status" = \'pending\'')
    op.execute(
        'CREATE INDEX "idx_shares__next_attempt_at" ON "shares" ("next_attempt_at")'
        " WHERE \"status\" = 'pending'"
    )

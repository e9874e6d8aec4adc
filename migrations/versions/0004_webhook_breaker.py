"""Webhook circuit breaker: each endpoint's failures in a row, since when, and its pause.

Also two indexes on deliveries for one endpoint: what is due for it, and its
attempts in flight (live leases), which limit how many it gets at once.

Revision ID: 0004_webhook_breaker
Revises: 0003_idempotency_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_webhook_breaker"
down_revision = "0003_idempotency_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOT NULL with a default, as the entities declare it: existing endpoints start closed.
    for name in ("consecutive_failures", "pauses"):
        op.add_column(
            "webhook_endpoints",
            sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")),
        )
    for name in ("failing_since", "paused_until"):
        op.add_column("webhook_endpoints", sa.Column(name, sa.DateTime(), nullable=True))
    op.create_index(
        "idx_webhook_deliveries__endpoint_status_next_attempt_at",
        "webhook_deliveries",
        ["endpoint", "status", "next_attempt_at"],
    )
    op.create_index(
        "idx_webhook_deliveries__endpoint_locked_until",
        "webhook_deliveries",
        ["endpoint", "locked_until"],
    )

"""Webhook deliveries: the indexes of the drain hold only the deliveries it still needs.

What is due is looked up among pending deliveries only, attempts in flight
among leased ones only. A delivery that has succeeded or failed for good stays
in the table (the deliveries list) but leaves these two indexes: settling it
writes no entry in them, and they stay the size of the backlog. Same columns
as before, partial (both engines).

The index of what is due over all endpoints goes: the one per endpoint, now
pending deliveries only, serves the count of the whole backlog as well, and
the planner no longer walks all endpoints' backlog to find one's next due.

Revision ID: 0006_pending_delivery_indexes
Revises: 0005_mail_outbox
"""

from __future__ import annotations

from alembic import op

revision = "0006_pending_delivery_indexes"
down_revision = "0005_mail_outbox"
branch_labels = None
depends_on = None

PARTIAL = {
    "idx_webhook_deliveries__endpoint_status_next_attempt_at": (
        '"endpoint", "status", "next_attempt_at"',
        "\"status\" = 'pending'",
    ),
    "idx_webhook_deliveries__endpoint_locked_until": (
        '"endpoint", "locked_until"',
        '"locked_until" IS NOT NULL',
    ),
}


def upgrade() -> None:
    op.execute('DROP INDEX "idx_webhook_deliveries__status_next_attempt_at"')
    for name, (columns, where) in PARTIAL.items():
        op.execute(f'DROP INDEX "{name}"')
        op.execute(f'CREATE INDEX "{name}" ON "webhook_deliveries" ({columns}) WHERE {where}')

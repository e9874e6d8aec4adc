"""Mail outbox: every mail is a row written with the change that causes it; open-day claims go.

The open-day job now writes each user's mail to the outbox in the transaction
that marks the user told, so open_day_mails keeps only who was told: its claim
columns go. Rows claimed but never handed to the broker (queued_at null) are
deleted: the next run of the job writes their mails to the outbox.

Revision ID: 0005_mail_outbox
Revises: 0004_webhook_breaker
"""

from __future__ import annotations

from alembic import op

revision = "0005_mail_outbox"
down_revision = "0004_webhook_breaker"
branch_labels = None
depends_on = None

# As Pony's create_tables makes the table, per engine.
MAIL_OUTBOX = """CREATE TABLE "mail_outbox" (
  "id" {serial},
  "recipient" TEXT NOT NULL,
  "subject" TEXT NOT NULL,
  "text" TEXT NOT NULL,
  "html" TEXT,
  "status" VARCHAR(16) NOT NULL,
  "next_attempt_at" {time},
  "locked_until" {time},
  "lease_token" VARCHAR(32),
  "attempt_count" INTEGER NOT NULL,
  "last_error" VARCHAR(500),
  "created_at" {time} NOT NULL,
  "sent_at" {time}
)"""
TYPES = {
    "postgresql": {"serial": "SERIAL PRIMARY KEY", "time": "TIMESTAMP"},
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "DATETIME"},
}


def upgrade() -> None:
    engine = op.get_bind().dialect.name  # sqlite | postgresql
    op.execute(MAIL_OUTBOX.format(**TYPES[engine]))
    op.execute(
        'CREATE INDEX "idx_mail_outbox__status_next_attempt_at"'
        ' ON "mail_outbox" ("status", "next_attempt_at")'
    )
    op.execute('DELETE FROM "open_day_mails" WHERE "queued_at" IS NULL')
    op.execute('DROP INDEX "idx_open_day_mails__claim_token"')
    op.execute('DROP INDEX "idx_open_day_mails__open_at_queued_at"')
    for column in ("claim_token", "claimed_at", "queued_at"):
        op.execute(f'ALTER TABLE "open_day_mails" DROP COLUMN "{column}"')

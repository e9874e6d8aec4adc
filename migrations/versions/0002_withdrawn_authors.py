"""Messages of authors who withdrew before withdrawal took them along go now too.

Until this release a withdrawing author's messages stayed with their recipients
(author_id NULL, shown as "탈퇴한 사용자"). Withdrawal now deletes them, as the app
promises ("보냈던 세뱃돈과 덕담은 사라집니다"); this applies the same to earlier
withdrawals and recounts the recipients' totals. The column stays nullable.

Revision ID: 0002_withdrawn_authors
Revises: 0001_baseline
"""

from __future__ import annotations

from alembic import op

revision = "0002_withdrawn_authors"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE message_totals SET"
        " message_count = (SELECT COUNT(*) FROM messages m"
        "  WHERE m.recipient_id = message_totals.recipient_id AND m.author_id IS NOT NULL),"
        " total_amount = (SELECT COALESCE(SUM(m.amount), 0) FROM messages m"
        "  WHERE m.recipient_id = message_totals.recipient_id AND m.author_id IS NOT NULL)"
        " WHERE recipient_id IN (SELECT recipient_id FROM messages WHERE author_id IS NULL)"
    )
    op.execute("DELETE FROM messages WHERE author_id IS NULL")

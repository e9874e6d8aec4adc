"""Baseline: the schema Pony's create_tables made before migrations existed, per engine.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    engine = op.get_bind().dialect.name  # sqlite | postgresql
    script = Path(__file__).with_name(f"0001_baseline.{engine}.sql").read_text()
    lines = [line for line in script.splitlines() if not line.startswith("--")]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            op.execute(statement)

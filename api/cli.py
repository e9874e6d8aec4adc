"""Operations commands: `migrate` (the release process) and `create-admin`."""

from __future__ import annotations

import argparse
import sys

from pony import orm

from api.config import Config
from models import init_db
from models.users import User, create_user, email_key


def migrate(config: Config) -> None:
    """Create missing tables and indexes; existing ones are left as they are."""
    init_db(config.database_url, create_tables=True)
    print("schema is up to date")


def create_admin(config: Config, email: str, password: str, username: str) -> None:
    init_db(config.database_url, create_tables=True)
    with orm.db_session:
        user = User.get(email_key=email_key(email))
        if user is None:
            create_user(email, password, username, confirmed=True, is_admin=True)
            print(f"created admin {email}")
        else:
            user.is_admin = True
            print(f"promoted {email} to admin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database schema")
    admin = commands.add_parser(
        "create-admin", help="create a user with the admin flag, or promote one"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--username", default="admin")
    args = parser.parse_args(argv)

    config = Config.from_env()
    if args.command == "migrate":
        migrate(config)
    elif args.command == "create-admin":
        if len(args.password) < 8:
            parser.error("--password must be at least 8 characters")
        create_admin(config, args.email, args.password, args.username)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Operations commands: `migrate` (the release process), `create-admin`, `renewals`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime

from api.schemas import EMAIL
from migrations.runner import BASELINE, MigrationError, upgrade
from models import init_db, tasks
from models.clock import rfc3339, to_naive_utc, utcnow
from models.transaction import transaction
from models.users import User, create_user, email_key
from settings import Config
from startup import config_or_exit, services_or_exit


def migrate(config: Config) -> None:
    """Apply the pending migrations (see migrations/), then map the entities onto the result."""
    outcome = upgrade(config.database_url)
    if outcome.adopted:
        print(f"adopted the existing tables as {BASELINE}")
    for revision in outcome.applied:
        print(f"applied {revision}")
    if not outcome.applied:
        print(f"schema is up to date at {outcome.head}")
    # Pony checks every table and column it maps: a migration that falls short fails here.
    init_db(config.database_url)


def create_admin(config: Config, email: str, password: str, username: str) -> None:
    init_db(config.database_url)
    # transaction(), not a bare db_session: the user.created deliveries leave at commit.
    with transaction():
        user = User.get(email_key=email_key(email))
        if user is None:
            create_user(email, password, username, confirmed=True, is_admin=True)
            print(f"created admin {email}")
        else:
            user.is_admin = True
            print(f"promoted {email} to admin")


def renewals(config: Config, as_of: datetime) -> None:
    """One renewal pass in this process, as if it were `as_of` (to catch up, or in tests)."""
    from worker.billing import run_pass
    from worker.clients.stripe_client import StripeGateway

    init_db(config.database_url)
    report = run_pass(StripeGateway.from_config(config), as_of, config.renewal_retry_schedule)
    print(f"renewal pass as of {rfc3339(as_of)}: {report}")


def _instant(value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {value!r}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2030-01-01T00:00:00Z")
    return to_naive_utc(instant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations")
    admin = commands.add_parser(
        "create-admin", help="create a user with the admin flag, or promote one"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--username", default="admin")
    renew = commands.add_parser("renewals", help="run one subscription renewal pass now")
    renew.add_argument("--as-of", type=_instant, default=None, help="pretend it is this instant")
    args = parser.parse_args(argv)

    config = config_or_exit()
    # Only the commands that send tasks need the broker: a release migrates without it.
    services_or_exit(config, broker=args.command != "migrate")
    from worker.celery import publish  # after the check: it reads the configuration too

    tasks.set_publisher(publish)
    if args.command == "migrate":
        try:
            migrate(config)
        except MigrationError as ex:
            parser.exit(1, f"migrate: {ex}\n")
    elif args.command == "create-admin":
        if len(args.password) < 8:
            parser.error("--password must be at least 8 characters")
        if not re.fullmatch(EMAIL["pattern"], args.email):
            parser.error("--email must be an email address")
        create_admin(config, args.email, args.password, args.username)
    elif args.command == "renewals":
        renewals(config, args.as_of or utcnow())
    return 0


if __name__ == "__main__":
    sys.exit(main())

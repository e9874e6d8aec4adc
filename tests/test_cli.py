"""`python -m api.cli migrate` and `create-admin`, run as the release process would run them."""

import sqlite3

import pytest
from helpers import cli
from pony import orm

from models.users import User, email_key


def admin_flag(email: str):
    with orm.db_session:
        user = User.get(email_key=email_key(email))
        return None if user is None else user.is_admin


def test_migrate_creates_the_schema_on_a_fresh_database(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    result = cli("migrate", DATABASE_URL=f"sqlite:///{path}", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "applied 0001_baseline"
    with sqlite3.connect(path) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
    assert {"users", "auth_sessions", "refresh_tokens", "events", "alembic_version"} <= tables
    again = cli("migrate", DATABASE_URL=f"sqlite:///{path}", VAR_DIR=str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("schema is up to date at ")


def test_migrate_leaves_existing_data_alone(config, zellyy_signup):
    account = zellyy_signup()
    result = cli("migrate")
    assert result.returncode == 0, result.stderr
    assert admin_flag(account.email) is False


def test_create_admin_creates_then_promotes(config, client):
    email = "Boss@Example.com"
    first = cli("create-admin", "--email", email, "--password", "admin password")
    assert first.returncode == 0, first.stderr
    assert "created admin" in first.stdout
    assert admin_flag(email) is True
    # The admin logs in like anyone else, with a confirmed email on both surfaces.
    login = client.simulate_post(
        "/api/v1/auth/login", json={"email": "boss@example.com", "password": "admin password"}
    )
    assert login.status_code == 200
    with orm.db_session:
        assert User.get(email_key=email_key(email)).email_confirmed

    second = cli("create-admin", "--email", "boss@example.com", "--password", "admin password")
    assert second.returncode == 0, second.stderr
    assert "promoted" in second.stdout
    with orm.db_session:
        assert User.select(lambda u: u.email_key == "boss@example.com").count() == 1


@pytest.mark.redis
def test_create_admin_sends_the_user_created_webhook(
    config, celery_worker, register_webhook, receiver
):
    """The command line registers its own publisher: the delivery leaves at commit."""
    register_webhook(receiver.url)
    result = cli("create-admin", "--email", "hooked@example.com", "--password", "admin password")
    assert result.returncode == 0, result.stderr

    (request,) = receiver.wait_for(1)
    assert request.json["type"] == "user.created"
    assert request.json["data"]["email"] == "hooked@example.com"


def test_create_admin_promotes_an_existing_user_keeping_their_password(
    config, client, zellyy_signup
):
    account = zellyy_signup()
    assert admin_flag(account.email) is False
    result = cli("create-admin", "--email", account.email.upper(), "--password", "other password")
    assert result.returncode == 0, result.stderr
    assert "promoted" in result.stdout
    assert admin_flag(account.email) is True
    login = client.simulate_post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--email", "a@example.com", "--password", "short"], "at least 8"),
        (["--email", "not-an-email", "--password", "long enough"], "email"),
        (["--email", " ", "--password", "long enough"], "email"),
        (["--email", "\u00a0", "--password", "long enough"], "email"),
        (["--email", "a@example.com\n", "--password", "long enough"], "email"),
        (["--email", "a@example.com"], "--password"),
        (["--password", "long enough"], "--email"),
    ],
)
def test_create_admin_refuses_bad_arguments(config, args, message):
    result = cli("create-admin", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert admin_flag("a@example.com") is None


def test_an_unknown_command_is_refused():
    result = cli("drop-everything")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr

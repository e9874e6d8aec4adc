"""Accounts shared by both apps: one user store, email as the identity."""

from __future__ import annotations

import uuid
from datetime import datetime

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.errors import AuthenticationFailed, Conflict, InvalidInput
from models.events import emit
from models.messages import release_user
from models.passwords import hash_password, verify_password


class User(db.Entity):
    _table_ = "users"

    id = orm.PrimaryKey(int, auto=True)
    public_id = orm.Required(uuid.UUID, unique=True, default=uuid.uuid4)
    email = orm.Required(str, 254)
    # Lower-cased email: the unique key that makes email case-insensitive.
    email_key = orm.Required(str, 254, unique=True)
    username = orm.Required(str, 50)
    password_hash = orm.Required(str, 255)
    display_name = orm.Optional(str, 50, nullable=True)
    avatar_url = orm.Optional(str, 2048, nullable=True)
    is_admin = orm.Required(bool, default=False)
    email_confirmed_at = orm.Optional(datetime)
    created_at = orm.Required(datetime, default=utcnow)
    updated_at = orm.Required(datetime, default=utcnow)
    sessions = orm.Set("AuthSession", cascade_delete=True)
    cards = orm.Set("Card", cascade_delete=True)
    card_count = orm.Optional("CardCount", cascade_delete=True)
    received_messages = orm.Set("Message", reverse="recipient", cascade_delete=True)
    message_totals = orm.Optional("MessageTotals", cascade_delete=True)
    # Removed in bulk with the recipients' totals (messages.release_user) before the
    # user goes; deleting a user who still has some fails instead of loading them all.
    authored_messages = orm.Set("Message", reverse="author", cascade_delete=False)
    open_day_mails = orm.Set("OpenDayMail", cascade_delete=True)
    social_accounts = orm.Set("SocialAccount", cascade_delete=True)

    def before_update(self):
        self.updated_at = utcnow()

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    def confirm_email(self) -> None:
        """The address is proven to be the user's; the first proof's time is kept."""
        if self.email_confirmed_at is None:
            self.email_confirmed_at = utcnow()

    def public_dict(self) -> dict:
        return public_dict(self)


def public_dict(user) -> dict:
    """A user (entity or models.caller.Caller) as GET /users/me and user.created show it."""
    return {
        "id": str(user.public_id),
        "email": user.email,
        "username": user.username,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "created_at": rfc3339(user.created_at),
    }


def email_key(email: str) -> str:
    """The address as the unique key: case and surrounding whitespace do not count.

    A blank address is no address: it is refused here rather than looked up
    (Pony refuses an empty value for a required attribute, even in a query).
    """
    key = email.strip().lower()
    if not key:
        raise InvalidInput(
            "Email must not be blank", details={"email": "Must not be blank"}, key="validation"
        )
    return key


def create_user(
    email: str, password: str, username: str, *, confirmed: bool = False, is_admin: bool = False
) -> User:
    key = email_key(email)
    if User.exists(email_key=key):
        raise Conflict("A user with this email already exists", key="duplicate_email")
    now = utcnow()
    user = User(
        email=email.strip(),
        email_key=key,
        username=username,
        password_hash=hash_password(password),
        is_admin=is_admin,
        email_confirmed_at=now if confirmed else None,
        created_at=now,
        updated_at=now,
    )
    # Flush now so a concurrent sign-up with the same email fails here, as a
    # Conflict, rather than at commit time.
    try:
        orm.flush()
    except orm.TransactionIntegrityError:
        raise Conflict("A user with this email already exists", key="duplicate_email") from None
    emit("user.created", user.public_dict())
    return user


def authenticate(email: str, password: str) -> User:
    """The user whose email and password these are; the same failure for either mistake."""
    user = User.get(email_key=email_key(email))
    if not verify_password(user.password_hash if user else None, password):
        raise AuthenticationFailed("Invalid email or password", key="credentials")
    return user


def withdraw(user: User) -> None:
    """Delete the account and everything it owns, the messages it sent included."""
    release_user(user)
    try:
        user.delete()
        orm.flush()  # now, so that a clash is a Conflict rather than a failed commit
    except (orm.ConstraintError, orm.IntegrityError, orm.TransactionIntegrityError):
        # The user sent a message (from another tab) while withdrawing.
        message = "A message was sent during the withdrawal"
        raise Conflict(message, key="concurrent_change") from None

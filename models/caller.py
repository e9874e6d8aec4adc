"""The caller of an authenticated request: their live session, profile and premium, one query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models import db, select_rows
from models.clock import utcnow
from models.errors import AuthenticationFailed
from models.sessions import AuthSession, LiveSession
from models.subscriptions import CANCELED, HELD, Subscription
from models.users import User, public_dict

_USER_COLUMNS = (
    "id",
    "public_id",
    "email",
    "username",
    "display_name",
    "avatar_url",
    "is_admin",
    "email_confirmed_at",
    "created_at",
)
# The session must be live and the token's audience's; premium is models.subscriptions'
# current subscription (a held one, else the canceled one that ends last), by its index.
_SQL = f"""SELECT {", ".join("u." + name for name in _USER_COLUMNS)},
  (SELECT sub.end_date FROM subscriptions sub
   WHERE sub.user_id = u.id
     AND (sub.status IN ({", ".join(f"'{status}'" for status in HELD)})
          OR (sub.status = '{CANCELED}' AND sub.end_date > $now))
   ORDER BY sub.status = '{CANCELED}', sub.end_date DESC
   LIMIT 1)
FROM auth_sessions s JOIN users u ON u.id = s."user"
WHERE s.id = $session AND s.audience = $audience AND s.revoked_at IS NULL"""  # noqa: S608 (constants)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request, as values: read-only paths need no entity (see `entity`)."""

    id: int
    public_id: uuid.UUID
    email: str
    username: str
    display_name: str | None
    avatar_url: str | None
    is_admin: bool
    email_confirmed_at: datetime | None
    created_at: datetime
    premium_until: datetime | None  # end of the current premium period, None without one
    session: LiveSession

    public_dict = public_dict

    def entity(self) -> User:
        """The caller's User entity, for paths that change or relate to it (one more query)."""
        user = User.get(id=self.id)
        if user is None:  # removed since the request began (the user withdrew)
            raise AuthenticationFailed("Session has ended", key="invalid")
        return user


def find(session_id: uuid.UUID, audience: str) -> Caller | None:
    """The caller whose access token names this session, if it is live; one statement."""
    convert = _converters()
    # Pony adapts no UUID in raw SQL; the key's converter does (SQLite stores it as a blob).
    session_key = convert[-1](session_id)
    rows = select_rows(_SQL, {"now": utcnow(), "session": session_key, "audience": audience})
    if not rows:
        return None
    row = rows[0]
    if db.provider.dialect != "PostgreSQL":  # psycopg2 gives the entities' types already
        # SQLite gives text dates and blob UUIDs: Pony's converters for these columns
        # turn them into what the entities would hold.
        row = [sql2py(value) for sql2py, value in zip(convert, row, strict=False)]
    return Caller(*row, session=LiveSession(session_id))


def _converters() -> list:
    if not _CONVERTERS:  # Pony makes them when it maps the entities (init_db)
        attrs = [getattr(User, name) for name in _USER_COLUMNS] + [Subscription.end_date]
        _CONVERTERS.extend(_sql2py(attr.converters[0]) for attr in attrs)
        _CONVERTERS.append(AuthSession.id.converters[0].py2sql)
    return _CONVERTERS


def _sql2py(converter):
    return lambda value: None if value is None else converter.sql2py(value)


_CONVERTERS: list = []

"""Login sessions and their single-use, rotating refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import utcnow
from models.errors import AuthenticationFailed

LOGOUT_SCOPES = ("local", "global", "others")


class AuthSession(db.Entity):
    """One login: every access and refresh token descended from it carries its id."""

    _table_ = "auth_sessions"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    user = orm.Required("User")
    audience = orm.Required(str, 32)
    created_at = orm.Required(datetime, default=utcnow)
    # Revoking is idempotent, so racing revocations (a logout while a reused
    # token revokes) must not fail Pony's optimistic check: the last one wins.
    revoked_at = orm.Optional(datetime, optimistic=False)
    refresh_tokens = orm.Set("RefreshToken", cascade_delete=True)
    orm.composite_index(user, revoked_at)


class RefreshToken(db.Entity):
    _table_ = "refresh_tokens"

    id = orm.PrimaryKey(int, auto=True)
    session = orm.Required(AuthSession)
    # Only a hash is kept: a database leak yields no usable token.
    token_hash = orm.Required(str, 64, unique=True)
    created_at = orm.Required(datetime, default=utcnow)
    expires_at = orm.Required(datetime)
    spent_at = orm.Optional(datetime)


@dataclass(frozen=True)
class Issued:
    """What a login or a refresh hands back: the session and a new refresh token."""

    session: AuthSession
    refresh_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_refresh_token(session: AuthSession, ttl: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    RefreshToken(
        session=session,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    return token


def start_session(user, audience: str, refresh_ttl: int) -> Issued:
    session = AuthSession(user=user, audience=audience)
    return Issued(session, _new_refresh_token(session, refresh_ttl))


def rotate(token: str, audience: str, refresh_ttl: int, reuse_interval: int = 0) -> Issued:
    """Spend `token` and issue its successor in the same session.

    A token that was already spent is refused. Presented more than
    `reuse_interval` seconds after it was spent, it also revokes its whole
    session: someone holds a copy. Within the interval it ends nothing, since
    that is what a client sends whose requests expired together and each
    refreshed with the same token. Of concurrent refreshes with one token
    exactly one wins, and the others, refused within the interval, leave the
    winner's tokens valid.
    """
    row = RefreshToken.get(token_hash=_hash(token))
    if row is None or row.session.audience != audience:
        raise AuthenticationFailed("Invalid refresh token", key="invalid")
    session = row.session
    if row.spent_at is not None:
        stolen = utcnow() - row.spent_at > timedelta(seconds=reuse_interval)
        if stolen:
            revoke_session(session)
        # A revocation must outlive the refusal.
        raise AuthenticationFailed(
            "Refresh token was already used", key="refresh_reused", keep_changes=stolen
        )
    now = utcnow()
    if row.expires_at <= now:
        raise AuthenticationFailed("Refresh token has expired", key="expired")
    # A conditional update is the arbiter between concurrent refreshes on any
    # engine. It comes before the session check: a racer that lost may find the
    # session already revoked by another loser, and must still answer as a loser.
    won = db.execute(
        "UPDATE refresh_tokens SET spent_at = $now WHERE id = $token_id AND spent_at IS NULL",
        {"now": now, "token_id": row.id},
    ).rowcount
    if won != 1:
        raise AuthenticationFailed("Refresh token was already used", key="refresh_reused")
    if session.revoked_at is not None:
        raise AuthenticationFailed("Session has ended", key="invalid")
    return Issued(session, _new_refresh_token(session, refresh_ttl))


def revoke_session(session: AuthSession) -> None:
    if session.revoked_at is None:
        session.revoked_at = utcnow()


def logout(session: AuthSession, scope: str) -> int:
    """End sessions of the session's user as `scope` says; returns how many ended."""
    if scope == "local":
        ended = session.revoked_at is None
        revoke_session(session)
        return int(ended)
    return end_sessions(session.user, keep=session if scope == "others" else None)


def end_sessions(user, keep: AuthSession | None = None) -> int:
    """End every live session of `user` on both apps but `keep`; returns how many ended."""
    now = utcnow()
    targets = AuthSession.select(lambda s: s.user == user and s.revoked_at is None)
    ended = 0
    for target in targets:
        if keep is None or target.id != keep.id:
            target.revoked_at = now
            ended += 1
    return ended


@dataclass(frozen=True)
class LiveSession:
    """The caller's session, found live by models.caller; its row is read only on demand."""

    id: uuid.UUID

    def load(self) -> AuthSession:
        """The session entity (one more query, which only logout needs)."""
        session = AuthSession.get(id=self.id)
        if session is None:  # removed since the request began (the user withdrew)
            raise AuthenticationFailed("Session has ended", key="invalid")
        return session

"""Connected social accounts, and the rules of sharing a card through them.

The worker posts in three steps: `start_attempt` (a short transaction that
checks the account and marks the post as going out), the platform call outside
any transaction, and `record_result`, which decides between success, failure
and a retry after a wait.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pony import orm

from models import db
from models.cards import get_card
from models.clock import rfc3339, unix, utcnow
from models.crypto import DecryptionError, decrypt, encrypt
from models.errors import Conflict, InvalidInput, NotFound
from models.events import emit
from models.shares import Share
from models.tasks import send_after_commit

PLATFORMS = ("facebook", "instagram", "twitter")
# Tokens that expire within this window are flagged for the user to reconnect.
EXPIRY_WARNING = timedelta(days=1)
# 5xx and connection errors: retried with exponential backoff until this many
# attempts (rate-limited ones included) have been made.
MAX_TRIES = 5
# Every attempt, rate-limited ones included; a platform asking for longer than
# MAX_RATE_LIMIT_WAIT is not waited for (a Celery countdown must stay short).
MAX_ATTEMPTS = 10
MAX_RATE_LIMIT_WAIT = 900
SHARE_TASK = "social.share"
# Longer than a post can take (Instagram polls its container for 30 s): the sweeper
# leaves a share being posted alone until then, and a run that finds the lease run
# out knows the one before it died mid-post.
POST_LEASE = 300


class SocialAccount(db.Entity):
    _table_ = "social_accounts"

    id = orm.PrimaryKey(int, auto=True)
    user = orm.Required("User")
    platform = orm.Required(str, 16)
    platform_user_id = orm.Required(str, 255)
    # Fernet ciphertexts (ENCRYPTION_KEY); the tokens never leave except to the platform.
    access_token_encrypted = orm.Required(str)
    refresh_token_encrypted = orm.Optional(str, nullable=True)
    expires_at = orm.Optional(datetime)
    needs_reconnect = orm.Required(bool, default=False)
    connected_at = orm.Required(datetime, default=utcnow)
    orm.composite_key(user, platform)

    def to_dict(self) -> dict:
        return {
            "platform": self.platform,
            "platform_user_id": self.platform_user_id,
            "connected_at": rfc3339(self.connected_at),
            "expires_at": unix(self.expires_at) if self.expires_at else None,
            "needs_reconnect": self.needs_reconnect,
        }


def require_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise NotFound(f"Unknown platform {platform!r}", key="platform")
    return platform


def connect(
    user,
    platform: str,
    *,
    platform_user_id: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: int | None,
    key: bytes,
) -> SocialAccount:
    """Store the account the platform vouched for; reconnecting replaces its tokens."""
    values = {
        "platform_user_id": platform_user_id,
        "access_token_encrypted": encrypt(access_token, key),
        "refresh_token_encrypted": encrypt(refresh_token, key) if refresh_token else None,
        "expires_at": from_unix(expires_at) if expires_at else None,
        "needs_reconnect": False,
        "connected_at": utcnow(),
    }
    account = SocialAccount.get_for_update(user=user, platform=platform)
    if account is not None:
        account.set(**values)
        return account
    account = SocialAccount(user=user, platform=platform, **values)
    try:
        orm.flush()
    except orm.TransactionIntegrityError:
        raise Conflict(f"{platform} is being connected by another request") from None
    return account


def disconnect(user, platform: str) -> None:
    account = SocialAccount.get(user=user, platform=require_platform(platform))
    if account is None:
        raise NotFound(f"No {platform} account is connected", key="social_account")
    account.delete()


def accounts_of(user) -> list[dict]:
    accounts = SocialAccount.select(lambda a: a.user == user).order_by(SocialAccount.platform)
    return [account.to_dict() for account in accounts]


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


# Sharing, as the API asks for it.


def share_card(user, card_id: str, platform: str, message: str | None) -> Share:
    """A pending share of the user's card; the worker posts it once this commits (or the
    sweeper sends it, if that task is lost)."""
    require_platform(platform)
    card = get_card(user, card_id)
    if not SocialAccount.exists(user=user, platform=platform):
        raise InvalidInput(
            f"No {platform} account is connected",
            details={"platform": f"Connect {platform} first: POST /social/connect/{platform}"},
            key="not_connected",
        )
    share = Share(card=card, platform=platform, message=message or None, next_attempt_at=utcnow())
    orm.flush()
    send_after_commit(SHARE_TASK, share_id=str(share.id))
    return share


def shares_of(user, card_id: str) -> list[Share]:
    card = get_card(user, card_id)
    return list(Share.select(lambda s: s.card == card).order_by(orm.desc(Share.created_at)))


def share_of(user, card_id: str, share_id: str) -> Share:
    card = get_card(user, card_id)
    try:
        share = Share.get(id=uuid.UUID(share_id))
    except ValueError:
        share = None
    if share is None or share.card != card:
        raise NotFound("Share not found", key="share")
    return share


def share_dict(share: Share) -> dict:
    """The seed's share, plus why it failed."""
    return {**share.to_dict(), "error": share.error}


# Sharing, as the worker carries it out.


@dataclass(frozen=True)
class ShareJob:
    """What the worker needs to post one share, read in one short transaction."""

    share_id: str
    platform: str
    token: str
    platform_user_id: str
    message: str | None
    content: str
    card_id: str


def start_attempt(share_id: str, key: bytes) -> ShareJob | None:
    """The next attempt at a pending share, or None when there is nothing (more) to post.

    A share whose post went out with no answer recorded is never posted again:
    while its lease runs, another run is posting it; after, that run died.
    """
    now = utcnow()
    share = Share.get_for_update(id=uuid.UUID(share_id))
    if share is None or share.status != "pending":
        return None
    if share.post_started_at is not None:
        if share.next_attempt_at is not None and share.next_attempt_at > now:
            return None
        _fail(share, "unconfirmed")
        return None
    card = share.card
    account = SocialAccount.get(user=card.owner, platform=share.platform)
    if account is None:
        _fail(share, "not_connected")
        return None
    if account.expires_at is not None and account.expires_at <= utcnow():
        _fail(share, "token_expired")
        return None
    try:
        token = decrypt(account.access_token_encrypted, key)
    except DecryptionError:
        account.needs_reconnect = True
        _fail(share, "token_unreadable")
        return None
    share.attempts += 1
    share.post_started_at = now
    share.next_attempt_at = now + timedelta(seconds=POST_LEASE)
    return ShareJob(
        share_id=str(share.id),
        platform=share.platform,
        token=token,
        platform_user_id=account.platform_user_id,
        message=share.message,
        content=card.content,
        card_id=str(card.public_id),
    )


@dataclass(frozen=True)
class Decision:
    status: str  # success | failed | retry
    retry_in: float | None = None


def record_result(share_id: str, result) -> Decision:
    """Apply one attempt's normalised result; a retry is due after `retry_in` seconds."""
    share = Share.get_for_update(id=uuid.UUID(share_id))
    if share is None or share.status != "pending":
        return Decision("failed")  # the card was deleted meanwhile, or a duplicate run
    share.post_started_at = None
    kind = result.kind
    if kind == "ok":
        share.set(
            status="success",
            share_url=result.share_url,
            shared_at=utcnow(),
            platform_post_id=result.post_id,
            error=None,
            next_attempt_at=None,
        )
        emit("card.shared", _shared_event(share))
        return Decision("success")
    if kind == "unauthorized":
        account = SocialAccount.get(user=share.card.owner, platform=share.platform)
        if account is not None:
            account.needs_reconnect = True
        return _fail(share, "unauthorized")
    if kind == "rate_limited":
        wait = result.wait if result.wait is not None else 60
        if share.attempts >= MAX_ATTEMPTS or wait > MAX_RATE_LIMIT_WAIT:
            return _fail(share, "rate_limited")
        return _retry(share, max(1.0, wait))
    if kind == "transient":
        if share.attempts >= MAX_TRIES:
            return _fail(share, _with_detail("upstream_unavailable", result.detail))
        return _retry(share, backoff(share.attempts - 1))
    if kind == "unconfirmed":
        return _fail(share, "unconfirmed")
    return _fail(share, _with_detail("bad_request", result.detail))


def backoff(failures: int) -> float:
    """1, 2, 4, 8 … seconds, each shortened by up to half at random (jitter)."""
    return 2**failures * random.uniform(0.5, 1.0)


def _retry(share: Share, wait: float) -> Decision:
    share.next_attempt_at = utcnow() + timedelta(seconds=wait)
    return Decision("retry", wait)


def _fail(share: Share, error: str) -> Decision:
    share.set(status="failed", error=error[:255], post_started_at=None, next_attempt_at=None)
    return Decision("failed")


def _with_detail(code: str, detail: str) -> str:
    return f"{code}: {detail}" if detail else code


def _shared_event(share: Share) -> dict:
    return {
        "share_id": str(share.id),
        "card_id": str(share.card.public_id),
        "user_id": str(share.card.owner.public_id),
        "platform": share.platform,
        "share_url": share.share_url,
        "shared_at": rfc3339(share.shared_at),
    }


def due_shares(now: datetime, grace: float, limit: int) -> list[str]:
    """Pending shares due for `grace` seconds (their task lost, or late), oldest first,
    then the undated ones that are due (see _due)."""
    dated, undated = _due(now - timedelta(seconds=grace))
    due = [share_id for _due_at, share_id in dated.order_by(1)[:limit]]
    if len(due) < limit:
        due += undated[: limit - len(due)]
    return [str(share_id) for share_id in due]


def due_count(now: datetime) -> int:
    """Pending shares waiting to be posted now, dated or not."""
    dated, undated = _due(now)
    return dated.count() + undated.count()


def _due(cutoff: datetime) -> tuple[orm.core.Query, orm.core.Query]:
    """The pending shares due by `cutoff`, as (next_attempt_at, id), and the undated ones', as id.

    Undated: a web process of the release before next_attempt_at existed, still
    running while migration 0007 ran, wrote shares without it, whose tasks may be
    lost too. One is due once it was made by `cutoff` or, if its post started, once
    its lease had run out by then.
    """
    dated = orm.select(
        (s.next_attempt_at, s.id)
        for s in Share
        if s.status == "pending" and s.next_attempt_at <= cutoff
    )
    lease_cutoff = cutoff - timedelta(seconds=POST_LEASE)
    undated = orm.select(
        s.id
        for s in Share
        if s.status == "pending"
        and s.next_attempt_at is None
        and s.created_at <= cutoff
        and (s.post_started_at is None or s.post_started_at <= lease_cutoff)
    )
    return dated, undated


# Token care, for the beat job.


def accounts_expiring(now: datetime) -> list[int]:
    """Ids of accounts not yet flagged whose token expires within EXPIRY_WARNING."""
    horizon = now + EXPIRY_WARNING
    return orm.select(
        a.id
        for a in SocialAccount
        if a.expires_at is not None and a.expires_at <= horizon and not a.needs_reconnect
    )[:]


@dataclass(frozen=True)
class RefreshJob:
    account_id: int
    refresh_token: str
    refresh_token_encrypted: str


def refresh_job(account_id: int, key: bytes, can_refresh_twitter: bool) -> RefreshJob | None:
    """The X account's refresh token to trade in; any other expiring account is flagged."""
    account = SocialAccount.get(id=account_id)
    if account is None:
        return None
    if account.platform == "twitter" and can_refresh_twitter and account.refresh_token_encrypted:
        try:
            token = decrypt(account.refresh_token_encrypted, key)
        except DecryptionError:
            account.needs_reconnect = True
            return None
        return RefreshJob(account.id, token, account.refresh_token_encrypted)
    account.needs_reconnect = True
    return None


def store_refreshed(job: RefreshJob, tokens, key: bytes) -> None:
    """Keep the new tokens, unless the user reconnected meanwhile (their tokens win)."""
    account = SocialAccount.get_for_update(id=job.account_id)
    if account is None or account.refresh_token_encrypted != job.refresh_token_encrypted:
        return
    account.access_token_encrypted = encrypt(tokens.access_token, key)
    if tokens.refresh_token:
        account.refresh_token_encrypted = encrypt(tokens.refresh_token, key)
    account.expires_at = (
        utcnow() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    )
    account.needs_reconnect = False


def flag_for_reconnect(account_id: int) -> None:
    account = SocialAccount.get(id=account_id)
    if account is not None:
        account.needs_reconnect = True

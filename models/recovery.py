"""Getting an account back: a password reset by mailed link, and what completing one proves.

A reset link carries `fingerprint(user)`, a digest of the password hash it was
mailed for. Setting a password changes the hash, so each link works once and
every older one is spent with it, without a single link being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from pony import orm

from models.errors import InvalidInput
from models.passwords import hash_password
from models.sessions import end_sessions
from models.social import SocialAccount
from models.users import User, email_key

# The subject and fingerprint of links made for addresses nobody has: as costly
# to make as a real one, and never sent.
NOBODY = str(uuid.UUID(int=0))
_NOBODY_HASH = "no account has this password hash"


def account_for(email: str) -> User | None:
    """The account an address belongs to, if any."""
    return User.get(email_key=email_key(email))


def fingerprint(user: User | None) -> str:
    """What a reset link remembers of the password it replaces."""
    source = user.password_hash if user is not None else _NOBODY_HASH
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def reset_password(user_id: str, link_fingerprint: str, password: str) -> User:
    """Set the password of the user whose link this is, and spend the link.

    Following the mailed link proves the address: it counts as confirmed, and
    every session of the user ends, on both apps. If the address had never been
    confirmed, whoever signed up with it never showed it was theirs: the social
    accounts they connected are disconnected, so their tokens pass to nobody.
    """
    user = _user(user_id)
    if user is None:
        raise InvalidInput("This link is not valid", key="link_invalid")
    if not hmac.compare_digest(str(link_fingerprint), fingerprint(user)):
        raise InvalidInput("This link was already used", key="link_used")
    password_hash = hash_password(password)
    # Of two requests racing with one link, the one whose writes find the old hash
    # gone (Pony's optimistic check, on a flush before a query or at the end) must
    # answer as a spent link.
    try:
        if not user.email_confirmed:
            SocialAccount.select(lambda a: a.user == user).delete(bulk=True)
        user.password_hash = password_hash
        user.confirm_email()
        end_sessions(user)
        orm.flush()
    except orm.OptimisticCheckError:
        raise InvalidInput("This link was already used", key="link_used") from None
    return user


def confirm_email(user_id: str) -> User:
    """Confirm the address of the user a confirmation link was mailed to."""
    user = _user(user_id)
    if user is None:
        raise InvalidInput("This link is not valid", key="link_invalid")
    user.confirm_email()
    return user


def _user(user_id: str) -> User | None:
    try:
        public_id = uuid.UUID(user_id)
    except (TypeError, ValueError, AttributeError):
        return None
    return User.get(public_id=public_id)

"""Access tokens (HS256 JWTs) and signed links: issuing them, and checking them on requests."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import falcon
import jwt

from models import caller
from models.errors import AuthenticationFailed
from models.sessions import AuthSession

ZELLYY = "zellyy"
RABBIT = "money-for-rabbit"
_ALGORITHM = "HS256"
_ACCESS_CLAIMS = ["sub", "aud", "exp", "iat", "nbf", "jti", "sid", "type"]
_LEEWAY = 5  # seconds of clock skew allowed on exp, nbf and iat
# Access tokens whose signature and claims were checked, per process: a request
# with one of them costs a dict lookup instead of PyJWT's ~0.15 ms of checks.
_VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: int


class TokenService:
    """Issues and verifies every token the service signs with SECRET_KEY.

    `access_ttls` gives each audience (surface) the lifetime of its access tokens.
    """

    def __init__(self, secret_key: str, access_ttls: Mapping[str, int]):
        self._key = secret_key
        self.access_ttls = dict(access_ttls)
        # Failures raise, so only tokens that passed every check are remembered.
        self._verified_access = functools.lru_cache(maxsize=_VERIFIED_CACHE_SIZE)(
            self._check_access
        )

    def issue_access(self, session: AuthSession) -> AccessToken:
        user = session.user
        now = int(time.time())
        claims = {
            "sub": str(user.id) if session.audience == RABBIT else str(user.public_id),
            "aud": session.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttls[session.audience],
            "jti": uuid.uuid4().hex,
            "sid": str(session.id),
            "type": "access",
        }
        if session.audience == RABBIT:
            claims["username"] = user.username  # the Money For Rabbit client reads it
        return AccessToken(jwt.encode(claims, self._key, algorithm=_ALGORITHM), claims["exp"])

    def verify_access(self, token: str, audience: str) -> dict:
        claims = self._verified_access(token, audience)
        # Only expiry changes with time (nbf and iat, once passed, stay passed):
        # an expired token goes through the full check, which refuses it.
        if claims["exp"] <= time.time() - _LEEWAY:
            claims = self._check_access(token, audience)
        return dict(claims)

    def _check_access(self, token: str, audience: str) -> dict:
        claims = self._decode(token, audience, _ACCESS_CLAIMS)
        if claims.get("type") != "access":
            raise AuthenticationFailed("Not an access token", key="invalid")
        return claims

    def issue_link(self, purpose: str, subject: str, audience: str, ttl: int, **claims) -> str:
        """A signed, expiring token for a link sent by mail, with any further `claims`."""
        now = int(time.time())
        claims = {
            **claims,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "type": purpose,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify_link(self, token: str, purpose: str, subject: str | None, audience: str) -> dict:
        """The claims of a link's token; `subject` None accepts any subject."""
        claims = self._decode(token, audience, ["sub", "aud", "exp", "iat", "type"])
        if claims.get("type") != purpose or subject not in (None, claims.get("sub")):
            raise AuthenticationFailed("Link does not match", key="invalid")
        return claims

    def _decode(self, token: str, audience: str, required: list[str]) -> dict:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],  # never "none", never what the header asks for
                audience=audience,
                options={"require": required},
                leeway=_LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("Token has expired", key="expired") from None
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("Invalid token", key="invalid") from None


def bearer_token(req: falcon.Request) -> str:
    header = req.get_header("Authorization")
    if not header:
        raise AuthenticationFailed("Authentication required", key="missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authorization must be 'Bearer <token>'", key="invalid")
    return token.strip()


class Authenticator:
    """Turns a request's bearer access token into the `Caller` (models.caller) for one audience.

    Every request's token is checked against its session in the database (one
    statement that also reads the user and their premium): a logout is immediate.
    """

    def __init__(self, tokens: TokenService, audience: str):
        self.tokens = tokens
        self.audience = audience

    def authenticate(self, req: falcon.Request) -> caller.Caller:
        claims = self.tokens.verify_access(bearer_token(req), self.audience)
        try:
            session_id = uuid.UUID(claims["sid"])
        except (ValueError, TypeError, AttributeError):
            raise AuthenticationFailed("Invalid token", key="invalid") from None
        found = caller.find(session_id, self.audience)
        if found is None:
            raise AuthenticationFailed("Session has ended", key="invalid")
        expected_sub = str(found.id) if self.audience == RABBIT else str(found.public_id)
        if claims["sub"] != expected_sub:
            raise AuthenticationFailed("Invalid token", key="invalid")
        return found


class RequestContext(falcon.Context):
    """`req.context`, where an authenticated operation finds its caller (api.validation).

    `caller` holds what the authentication query read; `user` is the caller's
    User entity, loaded on first use: read-only paths that need only the
    caller's columns never load it.
    """

    caller: caller.Caller | None = None

    @property
    def user(self):
        if self.caller is None:
            raise AttributeError("user: the operation is not authenticated")
        user = self.__dict__.get("_user")
        if user is None:
            user = self._user = self.caller.entity()
        return user


class Request(falcon.Request):
    context_type = RequestContext

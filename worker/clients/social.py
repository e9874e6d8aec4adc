"""What every social platform adapter offers, and the one shape of result they all return."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

# Seconds to wait for a platform: connecting, then for its answer.
IDENTIFY_TIMEOUT = 10  # the token check gives up after 10 s
POST_TIMEOUT = (5, 30)
# A 429 that names no wait is retried after this many seconds.
DEFAULT_RATE_LIMIT_WAIT = 60
# Graph API error codes: 190 is an invalid, expired or revoked token; the rest are throttling.
GRAPH_TOKEN_ERRORS = {190}
GRAPH_THROTTLE_ERRORS = {4, 17, 32, 613}


@dataclass(frozen=True)
class Result:
    """How an attempt to post ended, the same for every platform.

    kind is one of: ok, rate_limited (retry after `wait` seconds), unauthorized
    (the token was refused), bad_request (retrying would not help), transient
    (5xx or no connection: retry with backoff), unconfirmed (the request went
    out and no answer came back: the post may exist, so it is never re-sent).
    """

    kind: str
    post_id: str | None = None
    share_url: str | None = None
    wait: float | None = None
    detail: str = ""

    @classmethod
    def ok(cls, post_id: str, share_url: str | None) -> Result:
        return cls("ok", post_id=post_id, share_url=share_url)


@dataclass(frozen=True)
class Post:
    """One share to publish: the account's token and id, what to say, the card's image URL."""

    token: str
    platform_user_id: str
    message: str | None
    content: str
    image_url: str | None = None

    @property
    def prefix(self) -> str:
        return f"{self.message}\n\n" if self.message else ""

    @property
    def text(self) -> str:
        """The share's message, a blank line, the card's content."""
        return self.prefix + self.content


class TokenRefused(Exception):
    """The platform says the token is not valid (connect answers 400)."""


class PlatformUnavailable(Exception):
    """The platform did not answer in time, or answered 5xx (connect answers 502)."""


class Outcome(Exception):
    """Raised inside an adapter to end the attempt with `result`."""

    def __init__(self, result: Result):
        super().__init__(result.kind)
        self.result = result


class Adapter:
    """One platform. Subclasses set `name` and implement `identify` and `publish`.

    An instance serves one caller at a time: `post` keeps its HTTP session on it.
    """

    name = ""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def identify(self, token: str) -> str:
        """The platform's id of the account this token belongs to."""
        raise NotImplementedError

    def publish(self, post: Post) -> Result:
        raise NotImplementedError

    def post(self, post: Post, *, timeout=POST_TIMEOUT) -> Result:
        """Publish, turning every way of failing into a Result."""
        with requests.Session() as http:
            self.http, self.timeout = http, timeout
            try:
                return self.publish(post)
            except Outcome as ex:
                return ex.result

    # Helpers for subclasses.

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def call(self, method: str, path: str, token: str, *, sends: bool = False, **kwargs) -> dict:
        """One request; anything but a 2xx JSON answer raises Outcome.

        `sends` marks a request that creates something on the platform: if it
        went out and no answer came back, the attempt is unconfirmed.
        """
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            response = self.http.request(
                method, self.url(path), headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as ex:
            if sends and request_went_out(ex):
                raise Outcome(Result("unconfirmed", detail=type(ex).__name__)) from None
            raise Outcome(Result("transient", detail=type(ex).__name__)) from None
        failure = classify(response)
        if failure is not None:
            raise Outcome(failure)
        body = _json(response)
        if not isinstance(body, dict):
            kind = "unconfirmed" if sends else "transient"
            raise Outcome(Result(kind, detail="answer was not a JSON object"))
        return body

    def get_identity(self, path: str, token: str, pick) -> str:
        """GET a "who am I" path with the token and pick the account id out of the answer."""
        try:
            response = requests.get(
                self.url(path),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=IDENTIFY_TIMEOUT,
            )
        except requests.RequestException as ex:
            raise PlatformUnavailable(f"{self.name} did not answer ({type(ex).__name__})") from None
        failure = classify(response)
        if failure is not None:
            if failure.kind in ("unauthorized", "bad_request"):
                raise TokenRefused(f"{self.name} refused the access token")
            raise PlatformUnavailable(f"{self.name} answered {response.status_code}")
        try:
            value = pick(response.json())
        except (ValueError, KeyError, TypeError):
            value = None
        if not isinstance(value, str | int) or not str(value):
            raise PlatformUnavailable(f"{self.name} gave an answer without an account id")
        return str(value)


def adapter(platform: str, config) -> Adapter:
    """A new adapter for `platform`, pointed at the API root the configuration names."""
    from worker.clients import facebook, instagram, twitter

    if platform == "facebook":
        return facebook.Facebook(config.facebook_graph_url)
    if platform == "instagram":
        return instagram.Instagram(config.instagram_graph_url)
    if platform == "twitter":
        return twitter.Twitter(config.twitter_api_url)
    raise ValueError(f"unknown platform {platform!r}")


def classify(response: requests.Response) -> Result | None:
    """None for a 2xx; otherwise the Result this answer means."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    detail = f"{status} {_error_text(response)}".strip()[:200]
    if status == 429:
        return Result("rate_limited", wait=rate_limit_wait(response), detail=detail)
    if status == 401:
        return Result("unauthorized", detail=detail)
    if status >= 500:
        return Result("transient", detail=detail)
    code = _graph_error_code(response)
    if code in GRAPH_TOKEN_ERRORS:
        return Result("unauthorized", detail=detail)
    if code in GRAPH_THROTTLE_ERRORS:
        return Result("rate_limited", wait=DEFAULT_RATE_LIMIT_WAIT, detail=detail)
    return Result("bad_request", detail=detail)


def rate_limit_wait(response: requests.Response) -> float:
    """Seconds to wait, from Retry-After (seconds or a date) or X's x-rate-limit-reset."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        if retry_after.strip().isdigit():
            return float(retry_after)
        try:
            return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) - time.time())
    return float(DEFAULT_RATE_LIMIT_WAIT)


def request_went_out(ex: requests.RequestException) -> bool:
    """Whether the request may have reached the platform before the failure."""
    if isinstance(ex, requests.ConnectTimeout):
        return False
    if isinstance(ex, requests.ConnectionError):
        reason = ex.args[0] if ex.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return not isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return isinstance(ex, requests.Timeout)


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _graph_error_code(response: requests.Response) -> int | None:
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, int) else None
    return None


def _error_text(response: requests.Response) -> str:
    """The platform's own short error text, for the share's `error`: never a token."""
    body = _json(response)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        for key in ("detail", "title", "error_description"):
            if isinstance(body.get(key), str):
                return body[key]
    return response.reason or ""

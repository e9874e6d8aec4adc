"""What Money For Rabbit answers: the success bodies of its operations, as JSON Schema."""

from __future__ import annotations

from api.schemas import component, fixed
from models import messages

_TEXT = {"type": "string", "minLength": 1}
_COUNT = {"type": "integer", "minimum": 0}
# The seed's usernames are checked on the way in; read back they are whatever is stored.
_USERNAME = {"type": "string", "minLength": 1, "maxLength": 50}
_PAGE_URL = {"type": ["string", "null"], "format": "uri"}

# A Korean sentence for the user: {"success": "토끼 님, 회원가입을 환영합니다!"}.
SUCCESS = component("RabbitSuccess", fixed(["success"], success=_TEXT))
# The access token (a JWT that also carries the username) and the single-use refresh token.
TOKENS = component(
    "RabbitTokens",
    fixed(["access_token", "refresh_token"], access_token=_TEXT, refresh_token=_TEXT),
)
PROFILE = component(
    "RabbitProfile",
    fixed(
        ["user_info"],
        user_info=fixed(["username", "total_amount"], username=_USERNAME, total_amount=_COUNT),
    ),
)
MESSAGE = component(
    "RabbitMessage",
    fixed(
        ["id", "message", "amount", "is_moneybag", "image_name", "author_name"],
        id={"type": "integer", "minimum": 1},
        message={"type": "string", "minLength": 1, "maxLength": 150},
        amount={
            "type": "integer",
            "minimum": messages.MONEYBAG_MIN,
            "maximum": max(messages.MONEYBAG_MAX, *messages.MONEY_UNITS),
        },
        is_moneybag={"type": "boolean"},
        # The picture the app shows: the banknote or coin, or the money bag.
        image_name={"enum": [f"Money_{unit}.png" for unit in messages.MONEY_UNITS]},
        author_name=_USERNAME,
    ),
)
MESSAGE_LIST = component(
    "RabbitMessageList",
    fixed(
        ["user_info", "message_set_count", "next", "prev", "messages"],
        user_info=fixed(
            ["username", "email", "total_amount"],
            username=_USERNAME,
            email={"type": "string"},
            total_amount=_COUNT,
        ),
        message_set_count=_COUNT,
        # The next and previous page's URLs, null on the last and the first page.
        next=_PAGE_URL,
        prev=_PAGE_URL,
        messages={"type": "array", "maxItems": messages.PAGE_SIZE, "items": MESSAGE},
    ),
)

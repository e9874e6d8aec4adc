"""Money For Rabbit messages: leave a friend a message with money; the owner reads them once open.

Reads check, in order: the token (401) and the page number (400), the user of
the path (404), that the caller owns it (403), the opening date (400), then the
message (404). A page number that is not an integer from 1 to MAX_PAGE is 400
(the original service quietly showed page 1); a page past the last one is 200
with no messages, as the original's paginate(error_out=False) answered, and its
`prev` points at the last page.
"""

from __future__ import annotations

import falcon

from api.deps import Deps
from api.rabbit import schemas as answers
from api.rabbit.users import path_int, user_or_404
from api.schemas import SPACE, obj
from api.validation import operation
from models import messages
from models.errors import NotFound, PermissionDenied

MAX_PAGE = 1_000_000
LIST_FORBIDDEN = "쪽지는 본인만 조회할 수 있습니다"
DETAIL_FORBIDDEN = "상세내용 조회는 본인만 가능합니다."

# Any text of 1..150 characters that is not blank, without control characters (line
# breaks and tabs are fine). Unpaired surrogates, which no database stores, are refused
# apart (api.validation): in a pattern, ECMAScript without its u flag reads the halves
# of every emoji as such.
MESSAGE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 150,
    "pattern": rf"^(?=[\s\S]*[^{SPACE}])[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
    "x-error": "쪽지는 공백이 아닌 1자 이상 150자 이하로 작성해 주세요.",
}
AMOUNT = {"type": "integer", "x-error": "금액(amount)은 정수로 입력해 주세요."}
IS_MONEYBAG = {
    "type": "boolean",
    "x-error": "돈봉투 사용 여부(is_moneybag)는 true 또는 false 로 입력해 주세요.",
}
WRITE = obj(
    ["message", "amount", "is_moneybag"],
    message=MESSAGE,
    amount=AMOUNT,
    is_moneybag=IS_MONEYBAG,
)
PAGE = {
    "type": "object",
    "properties": {
        "page": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE,
            "default": 1,
            "x-error": f"페이지 번호는 1 이상 {MAX_PAGE} 이하의 정수여야 합니다.",
        }
    },
}
LIST_ERRORS = {
    400: "Not a page number, or before the opening date (MESSAGES_OPEN_AT)",
    403: "Not the caller's page: " + LIST_FORBIDDEN,
    404: "No such user",
}
DETAIL_ERRORS = {
    400: "Before the opening date (MESSAGES_OPEN_AT)",
    403: "Not the caller's page: " + DETAIL_FORBIDDEN,
    404: "No such user, or no such message on the caller's page",
}


def routes(deps: Deps) -> dict:
    return {
        "/api/user/{user_id}/messages": Messages(deps),
        "/api/user/{user_id}/messages/{message_id}": MessageDetail(deps),
    }


class _MessagesResource:
    surface = "rabbit"

    def __init__(self, deps: Deps):
        self.auth = deps.rabbit_auth
        self.config = deps.config

    def _owned_page(self, req: falcon.Request, user_id: str, forbidden: str) -> int:
        """The path's user id, if it is the caller's and messages are open."""
        caller = req.context.caller
        if path_int(user_id) != caller.id:  # the caller exists: no query on their own page
            user_or_404(user_id)
            raise PermissionDenied(forbidden)
        messages.ensure_open(self.config.messages_open_at)
        return caller.id


class Messages(_MessagesResource):
    @operation(
        "Leave a user a message with money",
        body=WRITE,
        auth=True,
        status=201,
        returns=answers.MESSAGE,
        responses={
            400: "An invalid field, an amount outside the money rules, or a malformed "
            "Idempotency-Key",
            404: "No such user",
            409: "The recipient withdrew at the same time",
        },
        idempotent=True,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        body = req.context.body
        message = messages.write(
            user_or_404(user_id),
            req.context.user,
            body["message"],
            int(body["amount"]),  # JSON Schema counts 5000.0 as an integer
            body["is_moneybag"],
        )
        resp.media = message.to_dict()

    @operation(
        "The caller's messages, 6 per page, newest first",
        query=PAGE,
        auth=True,
        returns=answers.MESSAGE_LIST,
        responses=LIST_ERRORS,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        owner = self._owned_page(req, user_id, LIST_FORBIDDEN)
        caller = req.context.caller
        page = req.context.query["page"]
        totals, items = messages.page_of(owner, page)  # past the last page: none
        last = messages.last_page(totals.count)
        url = f"{self.config.public_base_url}/api/user/{owner}/messages?page="
        resp.media = {
            "user_info": {
                "username": caller.username,
                "email": caller.email,
                "total_amount": totals.amount,
            },
            "message_set_count": totals.count,
            "next": f"{url}{page + 1}" if page < last else None,
            "prev": f"{url}{min(page - 1, last)}" if page > 1 else None,
            "messages": items,
        }


class MessageDetail(_MessagesResource):
    @operation(
        "One of the caller's messages",
        auth=True,
        returns=answers.MESSAGE,
        responses=DETAIL_ERRORS,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, message_id: str
    ) -> None:
        owner = self._owned_page(req, user_id, DETAIL_FORBIDDEN)
        number = path_int(message_id)
        if number is None:
            raise NotFound(messages.MESSAGE_NOT_FOUND)
        resp.media = messages.received(owner, number).to_dict()

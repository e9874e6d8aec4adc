"""Money For Rabbit's error dialect: {"error": "<Korean text>"} with the seed's texts."""

from __future__ import annotations

from models import errors

TOKEN_MISSING = "토큰 정보가 필요합니다."
TOKEN_INVALID = "잘못된 토큰입니다."
TOKEN_EXPIRED = "토큰이 만료되었습니다."
BAD_CREDENTIALS = "이메일과 비밀번호를 확인하세요."
REFRESH_REUSED = "refresh token 은 2회 이상 사용될 수 없습니다."
DUPLICATE_EMAIL = "중복된 이메일입니다."
INVALID_EMAIL = "유효한 이메일 값이 아닙니다."
# The original service's texts, whole: the web app shows them to the user as they are.
INVALID_PASSWORD = (
    "유효한 비밀번호 값이 아닙니다. 12 ~ 16자, 대문자 1개, 소문자 1개, 숫자 1개 및 "
    "특수 문자 1개를 포함해야 합니다."
)
INVALID_USERNAME = (
    "유효한 닉네임 값이 아닙니다. 2 ~ 5자, 특수 문자와 초성, 공백은 포함될 수 없습니다."
)
EMAIL_NOT_CONFIRMED = "이메일 인증이 되지 않은 계정입니다."
USER_NOT_FOUND = "사용자를 찾을 수 없습니다."
FORBIDDEN = "권한이 없습니다."
BAD_ACCESS = "잘못된 접근입니다."
BAD_REQUEST = "잘못된 요청입니다."
CONCURRENT_CHANGE = "다른 요청과 동시에 변경되었습니다. 다시 시도하세요."
UNAVAILABLE = "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도하세요."
IDEMPOTENCY_KEY_INVALID = (
    "Idempotency-Key 는 1자 이상 255자 이하의 영문, 숫자, 기호로 입력해 주세요."
)
IDEMPOTENCY_KEY_REUSED = "이미 다른 요청에 사용된 Idempotency-Key 입니다. 새 키로 요청해 주세요."

_AUTH = {
    "missing": TOKEN_MISSING,
    "invalid": TOKEN_INVALID,
    "expired": TOKEN_EXPIRED,
    "credentials": BAD_CREDENTIALS,
    "refresh_reused": REFRESH_REUSED,
}

# Shared domain rules that this surface words (and sometimes numbers) its own way.
_KEYS = {
    "duplicate_email": (400, DUPLICATE_EMAIL),
    "concurrent_change": (409, CONCURRENT_CHANGE),
    "unavailable": (503, UNAVAILABLE),
    "idempotency_key_invalid": (400, IDEMPOTENCY_KEY_INVALID),
    "idempotency_key_reused": (422, IDEMPOTENCY_KEY_REUSED),
}

_STATUS = {
    errors.InvalidInput: 400,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
}

_HTTP = {
    400: BAD_REQUEST,
    401: TOKEN_MISSING,
    403: FORBIDDEN,
    404: "요청하신 경로를 찾을 수 없습니다.",
    405: "허용되지 않은 요청 방식입니다.",
    411: BAD_REQUEST,
    413: "요청 본문이 너무 큽니다. (최대 1MB)",
    415: "JSON 형식으로 요청해 주세요.",
    429: "요청이 너무 많습니다. 잠시 후 다시 시도하세요.",
}
INTERNAL = "서버 내부 오류가 발생했습니다."


def body(text: str) -> dict:
    return {"error": text}


def from_domain(ex: errors.DomainError) -> tuple[int, dict]:
    if isinstance(ex, errors.AuthenticationFailed):
        return 401, body(_AUTH.get(ex.key, TOKEN_INVALID))
    if ex.key in _KEYS:
        status, text = _KEYS[ex.key]
        return status, body(text)
    if isinstance(ex, errors.RateLimited):
        return 429, body(_HTTP[429])
    status = next((s for cls, s in _STATUS.items() if isinstance(ex, cls)), 400)
    if ex.key == "validation":
        texts = getattr(ex, "texts", None)
        return status, body(texts[0] if texts else BAD_REQUEST)
    return status, body(ex.message)


def from_http(status: int) -> dict:
    if status >= 500:
        return body(INTERNAL)
    return body(_HTTP.get(status, BAD_REQUEST))

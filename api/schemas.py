"""JSON Schema pieces that more than one declaration uses."""

from __future__ import annotations

# Named schemas of the OpenAPI document's components, filled by `component`.
COMPONENTS: dict[str, dict] = {}


def component(name: str, schema: dict) -> dict:
    """Name `schema` in the document's components; the answer refers to it there."""
    assert COMPONENTS.get(name, schema) == schema, f"two schemas named {name}"
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


# Patterns mean the same to the server (Python's re) and to clients (ECMAScript RegExp),
# so none uses \s, \S, \w, `.` or a bare `$`, whose meanings differ:
# - whitespace is SPACE, spelled out: what Python's str.strip() removes (ECMAScript's \s
#   leaves out U+001C-U+001F and U+0085, and adds U+FEFF);
# - [\s\S] is any character in both, where ECMAScript's `.` also stops at \r, U+2028, U+2029;
# - Python's `$` also matches before a final newline: `^(?![\s\S]*\n)` refuses one first.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NEWLINE = r"^(?![\s\S]*\n)"

EMAIL = {
    "type": "string",
    "maxLength": 254,
    "pattern": NO_NEWLINE + rf"[^@{SPACE}]+@[^@{SPACE}]+\.[^@{SPACE}]+$",
    "x-message": "Must be a valid email address",
}
# A login takes the address as typed (around it, whitespace is ignored), but never a blank one.
LOGIN_EMAIL = {
    "type": "string",
    "maxLength": 254,
    "pattern": f"[^{SPACE}]",
    "x-message": "Must not be blank",
}

NO_CONTROL_CHARS = r"^(?![\s\S]*[\u0000-\u001f\u007f])"

HTTP_URL = {
    "type": "string",
    "maxLength": 2048,
    # Two disjoint parts: no backtracking however long the string.
    "pattern": NO_NEWLINE + rf"https?://[^{SPACE}/?#]+(?:[/?#][^{SPACE}]*)?$",
    "x-message": "Must be an http(s) URL",
}


def obj(required: list[str], **properties) -> dict:
    """An object schema; unknown extra fields are allowed and ignored."""
    return {"type": "object", "required": required, "properties": properties}

"""JSON Schema pieces that more than one declaration uses."""

from __future__ import annotations

# Named schemas of the OpenAPI document's components, filled by `component`.
COMPONENTS: dict[str, dict] = {}


def component(name: str, schema: dict) -> dict:
    """Name `schema` in the document's components; the answer refers to it there."""
    assert COMPONENTS.get(name, schema) == schema, f"two schemas named {name}"
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


# Patterns are read by clients as ECMAScript and applied here by Python's re: they use only
# what both read alike. Not \d or \w (Unicode digits and letters in Python, ASCII in
# ECMAScript), nor \s or \S (each has whitespace the other lacks; [\s\S], any character,
# is fine), nor \A, \Z or inline flags; and no `$` that a final "\n" could precede, since
# Python's `$` also matches before one (hence the `(?!.*\n)` lookaheads).

# Whitespace as Python's str.isspace() and str.strip() count it, spelled out.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Starts a pattern whose `$` must not pass a final "\n" ([\s\S]: ECMAScript's `.` stops at \r).
NO_NEWLINE = r"^(?![\s\S]*\n)"
# Whitespace and control characters: what an address or a URL never holds.
_INVISIBLE = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

EMAIL = {
    "type": "string",
    "maxLength": 254,
    "pattern": rf"^(?!.*\n)[^@{_INVISIBLE}]+@[^@{_INVISIBLE}]+\.[^@{_INVISIBLE}]+$",
    "x-message": "Must be a valid email address",
}
# A login takes the address as typed (around it, whitespace is ignored), but never a blank one.
LOGIN_EMAIL = {
    "type": "string",
    "maxLength": 254,
    "pattern": f"[^{SPACE}]",
    "x-message": "Must not be blank",
}

# A lookahead rather than ^[^…]*$, for Python's `$`.
NO_CONTROL_CHARS = r"^(?![\s\S]*[\u0000-\u001f\u007f])"

HTTP_URL = {
    "type": "string",
    "maxLength": 2048,
    # Two disjoint parts: no backtracking however long the string.
    "pattern": rf"^(?!.*\n)https?://[^/?#{_INVISIBLE}]+(?:[/?#][^{_INVISIBLE}]*)?$",
    "x-message": "Must be an http(s) URL",
}


def obj(required: list[str], **properties) -> dict:
    """An object schema; unknown extra fields are allowed and ignored."""
    return {"type": "object", "required": required, "properties": properties}


def fixed(required: list[str], **properties) -> dict:
    """An answer's object with exactly these keys: one that gains or loses a key fails."""
    return {**obj(required, **properties), "additionalProperties": False}

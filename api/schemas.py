"""JSON Schema pieces that more than one declaration uses."""

from __future__ import annotations

# Named schemas of the OpenAPI document's components, filled by `component`.
COMPONENTS: dict[str, dict] = {}


def component(name: str, schema: dict) -> dict:
    """Name `schema` in the document's components; the answer refers to it there."""
    assert COMPONENTS.get(name, schema) == schema, f"two schemas named {name}"
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


# Python's \s, like str.strip(), is Unicode's whitespace: no-break and ideographic spaces too.
EMAIL = {
    "type": "string",
    "maxLength": 254,
    # (?!.*\n): Python's `$` also matches before a final newline.
    "pattern": r"^(?!.*\n)[^@\s]+@[^@\s]+\.[^@\s]+$",
    "x-message": "Must be a valid email address",
}
# A login takes the address as typed (around it, whitespace is ignored), but never a blank one.
LOGIN_EMAIL = {
    "type": "string",
    "maxLength": 254,
    "pattern": r"\S",
    "x-message": "Must not be blank",
}

# A lookahead rather than ^[^…]*$: in Python's re, $ also matches before a final "\n".
NO_CONTROL_CHARS = r"^(?![\s\S]*[\u0000-\u001f\u007f])"
# The same, with something visible: the database strips a required name, and a blank one is none.
VISIBLE_TEXT = NO_CONTROL_CHARS + r"(?=[\s\S]*\S)"

HTTP_URL = {
    "type": "string",
    "maxLength": 2048,
    # Two disjoint parts: no backtracking however long the string.
    "pattern": r"^https?://[^\s/?#]+(?:[/?#]\S*)?$",
    "x-message": "Must be an http(s) URL",
}


def obj(required: list[str], **properties) -> dict:
    """An object schema; unknown extra fields are allowed and ignored."""
    return {"type": "object", "required": required, "properties": properties}

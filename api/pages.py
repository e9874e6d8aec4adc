"""Zellyy's paginated listings: one query declaration and one `pagination` object."""

from __future__ import annotations

import math

# Large enough for any real listing, small enough that the offset stays a 64-bit integer.
MAX_PAGE = 2**31 - 1
PAGE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}


def page_query(**more) -> dict:
    """A query schema with `page` and `limit`, plus the listing's own parameters."""
    return {"type": "object", "properties": {"page": PAGE, "limit": LIMIT, **more}}


def page_of(item: dict) -> dict:
    """The schema of a list body (`listing`) whose items match `item`."""
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "required": ["data", "pagination"],
        "properties": {
            "data": {"type": "array", "items": item},
            "pagination": {
                "type": "object",
                "required": ["total", "page", "limit", "total_pages"],
                "properties": {
                    "total": count,
                    "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    "limit": {"type": "integer", "minimum": 1, "maximum": LIMIT["maximum"]},
                    "total_pages": count,
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }


def listing(items: list, total: int, page: int, limit: int) -> dict:
    """The seed's list body: {"data", "pagination": {total, page, limit, total_pages}}."""
    return {
        "data": items,
        "pagination": {
            "total": total,
            "page": page,
            "limit": limit,
            "total_pages": math.ceil(total / limit),
        },
    }

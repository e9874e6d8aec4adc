"""Zellyy's request patterns mean the same to the server (Python) and to clients (ECMAScript).

Clients validate with the document's schemas (in JavaScript, with RegExp); the
server with Python's re. Each pattern is run on the same strings by both, the
whitespace, line breaks and scripts on which the two languages differ above all.
"""

from __future__ import annotations

import re

from api import openapi

BASES = ["", "a", "#ABCDEF", "a@b.cd", "https://x.y/z", "pm_123", "Noto Sans KR", "tok-en_1"]
TRICKY = [
    *"\n\r\t \x0b\x0c\x00\x1c\x1f\x7f\x85\xa0\u1680\u2000\u200a\u200b\u2028\u2029\u3000\ufeff",
    *"é가ひ😀_-.@#/?",
]


def _probes() -> list[str]:
    probes = set(BASES)
    for base in BASES:
        for c in TRICKY:
            probes |= {c, base + c, c + base, base + c + base, base + c + "x"}
    return sorted(probes)


def _patterns(app) -> dict[str, str]:
    """Each pattern of a Zellyy request body or query, by where it is."""
    found: dict[str, str] = {}
    for template, method, resource, responder in openapi.routes(app):
        if getattr(resource, "surface", None) != "zellyy":
            continue
        spec = responder.operation
        stack = [
            (f"{method} {template} {part}", s)
            for part, s in (("body", spec.body), ("query", spec.query))
            if s
        ]
        while stack:
            where, node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("pattern"), str):
                    found.setdefault(node["pattern"], where)
                stack.extend((f"{where}.{k}", v) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((where, v) for v in node)
    return {where: pattern for pattern, where in found.items()}


def test_every_kind_of_zellyy_pattern_is_checked(app):
    patterns = _patterns(app)
    assert len(patterns) >= 10
    for field in ("email", "tag", "font_family", "url", "_token", "signature"):
        assert any(field in where for where in patterns), field


def test_zellyy_patterns_accept_the_same_strings_in_python_and_ecmascript(app, page):
    """Chromium reads each pattern as a client does: with the u flag (Ajv) and without."""
    patterns = _patterns(app)
    probes = _probes()
    ecmascript = page.evaluate(
        """([patterns, probes]) => {
            const out = {};
            for (const flags of ["u", ""]) {
              out[flags] = patterns.map((p) => {
                const re = new RegExp(p, flags);
                return probes.map((s) => re.test(s));
              });
            }
            return out;
        }""",
        [list(patterns.values()), probes],
    )
    differ = []
    for i, (where, pattern) in enumerate(patterns.items()):
        for j, probe in enumerate(probes):
            python = re.search(pattern, probe) is not None
            for flags, answers in ecmascript.items():
                if answers[i][j] != python:
                    differ.append(f"{where} {probe!r}: Python {python}, /{flags} {answers[i][j]}")
    assert differ == []

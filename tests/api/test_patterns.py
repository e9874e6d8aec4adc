"""Each request `pattern` in /openapi.json means the same to clients (ECMAScript) and server.

OpenAPI 3.1 and JSON Schema say a pattern is an ECMAScript regular expression:
a client checks its input with `new RegExp(pattern, "u")` (as Ajv does), or
without the `u` flag (as many generated clients do), before sending it, and the
server checks it again with Python's `re.search` (api.validation). Where the
engines read a pattern differently (`\\w`, `\\s`, `\\d`, `.` and `$` all do), a
client would send what the server refuses, or refuse what the server takes. Each
pattern is run on the same probe strings in both, ECMAScript in a real Chromium.
"""

from __future__ import annotations

import json
import re

# Characters on which the engines' classes and anchors differ, and their neighbours.
TRICKY = [
    "\n",
    "\r",
    "\t",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x7f",
    "\x85",
    "\u00a0",
    "\u1680",
    "\u2028",
    "\u2029",
    "\u3000",
    "\ufeff",
    "\u200b",
    "\u0000",
    "\ud800",  # a lone surrogate: JSON may carry one
    "é",
    "ß",
    "日",
    "토",
    "٣",  # an Arabic-Indic digit
    "²",
    "İ",
    "\U0001f600",
    " ",
    "_",
    "-",
    ".",
    "@",
]
# Strings of the shapes the API's patterns look for, to put the tricky characters into.
BASES = [
    "",
    "a",
    "a b",
    "x@y.z",
    "#ffffff",
    "http://a.b/c",
    "https://example.com/path?q=1#f",
    "ab_c-d.e",
    "abc",
    "토끼",
    "Rabbitpass123!",
    "price_1Abc",
    "0",
    "123456",
    "hello world",
    "a" * 300,
    "日本",
]

FLAGS = ("u", "")
# Every pattern, with each flag, on each of its probes; a pattern that does not compile
# answers the error.
ECMASCRIPT = """([cases, flags]) => JSON.parse(cases).map(([pattern, probes]) =>
  flags.map((flag) => {
    let regex;
    try {
      regex = new RegExp(pattern, flag);
    } catch (e) {
      return e.name + ": " + e.message;
    }
    return probes.map((probe) => regex.test(probe));
  })
)"""


def request_patterns(document: dict) -> dict[str, set[str]]:
    """Each `pattern` the server applies to requests (bodies and parameters), with examples."""
    found: dict[str, set[str]] = {}
    for item in document["paths"].values():
        for op in item.values():
            patterns_in([op.get("requestBody"), op.get("parameters")], document, found)
    return found


def patterns_in(node, document: dict, found: dict[str, set[str]]) -> None:
    """Each `pattern` under `node` (following its $refs), with the example values it gives."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            target = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            patterns_in(target, document, found)
        if isinstance(node.get("pattern"), str):
            examples = found.setdefault(node["pattern"], set())
            for key in ("examples", "enum"):
                examples.update(v for v in node.get(key, []) if isinstance(v, str))
            for key in ("example", "default", "const"):
                if isinstance(node.get(key), str):
                    examples.add(node[key])
        for value in node.values():
            patterns_in(value, document, found)
    elif isinstance(node, list):
        for value in node:
            patterns_in(value, document, found)


def probes_for(examples: set[str]) -> list[str]:
    probes = set(TRICKY)
    for base in [*BASES, *sorted(examples)]:
        probes.update({base, base + "\n", "\n" + base})
        for char in TRICKY:
            probes.update({base + char, char + base, base[:1] + char + base[1:]})
    return sorted(probes, key=lambda probe: (len(probe), probe))  # the plainest first


def disagreements(page, patterns: dict[str, set[str]]) -> dict[str, list[str]]:
    """Pattern -> what the two engines judge differently: each probe, or the pattern itself."""
    cases = [(pattern, probes_for(examples)) for pattern, examples in sorted(patterns.items())]
    # ASCII-escaped JSON carries every string, lone surrogates included, into the page.
    answers = page.evaluate(ECMASCRIPT, [json.dumps(cases), FLAGS])
    found: dict[str, list[str]] = {}
    for (pattern, probes), by_flag in zip(cases, answers, strict=True):
        try:
            regex = re.compile(pattern)
        except re.error as ex:
            found[pattern] = [f"Python refuses it ({ex})"]
            continue
        in_python = [regex.search(probe) is not None for probe in probes]
        if not any(in_python):
            # Nothing matched, so nothing near a match was tried either.
            found[pattern] = ["No probe matches it: give its schema `examples`"]
            continue
        for flag, answer in zip(FLAGS, by_flag, strict=True):
            engine = f"ECMAScript /{flag}"
            if isinstance(answer, str):
                found.setdefault(pattern, []).append(f"{engine} refuses it ({answer})")
                continue
            for probe, python, js in zip(probes, in_python, answer, strict=True):
                if python != js:
                    shown = repr(probe) if len(probe) < 40 else f"{probe[:12]!r}…{probe[-12:]!r}"
                    line = f"{shown}: Python {python}, {engine} {js}"
                    found.setdefault(pattern, []).append(line)
    return found


def test_the_comparison_sees_where_the_engines_differ(page):
    found = disagreements(
        page, {r"^\w+$": set(), r"^[a-f]+$": set(), "^.$": set(), "a\\-": set(), "b": set()}
    )
    assert "'é': Python True, ECMAScript /u False" in found[r"^\w+$"]
    assert r"'abc\n': Python True, ECMAScript / False" in found["^[a-f]+$"]
    assert "'😀': Python True, ECMAScript / False" in found["^.$"]  # two UTF-16 units
    assert found["a\\-"][0].startswith("ECMAScript /u refuses it (SyntaxError")
    assert "b" not in found
    assert disagreements(page, {"^evt_[0-9a-f]{4}$": set()}) == {
        "^evt_[0-9a-f]{4}$": ["No probe matches it: give its schema `examples`"]
    }
    found = disagreements(page, {"^evt_[0-9a-f]{4}$": {"evt_00ff"}})
    assert "'evt_00ff\\n': Python True, ECMAScript /u False" in found["^evt_[0-9a-f]{4}$"]


def test_patterns_are_collected_from_requests_only_and_through_refs():
    document = {
        "paths": {
            "/x/{id}": {
                "post": {
                    "parameters": [{"name": "id", "schema": {"pattern": "^[0-9]+$"}}],
                    "requestBody": {"$ref": "#/components/requestBodies/X"},
                    "responses": {"200": {"content": {"schema": {"pattern": "^out$"}}}},
                }
            }
        },
        "components": {
            "requestBodies": {"X": {"properties": {"a": {"pattern": "^a", "examples": ["ab"]}}}}
        },
    }
    assert request_patterns(document) == {"^[0-9]+$": set(), "^a": {"ab"}}


def test_every_pattern_means_the_same_to_clients_and_server(client, page):
    document = client.simulate_get("/openapi.json").json
    patterns = request_patterns(document)
    assert len(patterns) >= 10  # the document's patterns were found
    found = disagreements(page, patterns)
    report = [
        f"{pattern!r}:\n    "
        + "\n    ".join(lines[:6])
        + (f"\n    … {len(lines) - 6} more" if len(lines) > 6 else "")
        for pattern, lines in found.items()
    ]
    assert not found, "Patterns the engines read differently:\n" + "\n".join(report)

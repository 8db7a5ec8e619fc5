"""The paths a jq path expression names, as Argo CD runs an ignoreDifferences jqPathExpression (del(EXPR)): read
for the plain forms only. What this reader does not know (recursive descent, functions), and what is too deep
(MAX_JQ_DEPTH parentheses) or too wide (MAX_JQ_PATHS paths), ends where it stands, unknown: it may reach anything
below there."""

from __future__ import annotations

import json
import re
from typing import Iterator


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) of every character of TEXT from START outside a "string"."""
    depth, quoted, i = 0, False, start
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        else:
            depth += (c in "([{") - (c in ")]}")
            yield i, c, depth
        i += 1


def _split_top(text: str, sep: str) -> list[str]:
    """TEXT split at SEP outside brackets and strings (a '|' of '|=' or '//' is not split at)."""
    parts, start = [], 0
    for i, c, depth in _unquoted(text):
        if c == sep and depth == 0 and text[i + 1:i + 2] != "=":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\s*-?\d*\s*(:\s*-?\d*\s*)?")


def _closing(text: str, i: int) -> int:
    """The index of the bracket closing the one at I (-1 when unbalanced)."""
    return next((j for j, c, depth in _unquoted(text, i) if c in ")]}" and depth == 0), -1)


def _string(text: str) -> str | None:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"' and "\\(" not in text:
        try:
            return str(json.loads(text))
        except ValueError:
            return None
    return None


# Beyond these an expression is not read: it counts as reaching everything below where it starts.
MAX_JQ_DEPTH = 32  # nested parentheses
MAX_JQ_PATHS = 256  # paths its commas and pipes multiply into


def _step(term: str, prefix: list[str], depth: int) -> list[tuple[list[str], bool]]:
    """The paths one pipe stage alternative navigates to from PREFIX: (path, known). A stage this reader does not
    know (recursive descent, functions) ends the path where it stands, unknown: it may reach anything below."""
    term = term.strip()
    if term.startswith("select(") and _closing(term, 6) == len(term) - 1:
        return [(prefix, True)]  # a filter keeps the path
    if term.startswith("(") and _closing(term, 0) == len(term) - 1:
        return paths(term[1:-1], prefix, depth + 1)
    path, i = list(prefix), 0
    if term == ".":
        return [(path, True)]
    while i < len(term):
        if term[i] == "." and term[i + 1:i + 2] == ".":
            return [(path, False)]
        if term[i] == ".":
            i += 1
            m = _IDENT.match(term, i)
            if m:
                path.append(m.group(0))
                i = m.end()
            elif term[i:i + 1] == '"':
                end = term.find('"', i + 1)
                while end > 0 and term[end - 1] == "\\":
                    end = term.find('"', end + 1)
                key = _string(term[i:end + 1]) if end > 0 else None
                if key is None:
                    return [(path, False)]
                path.append(key)
                i = end + 1
            elif term[i:i + 1] != "[":
                return [(path, False)]
        elif term[i] == "[":
            end = _closing(term, i)
            if end < 0:
                return [(path, False)]
            inner = term[i + 1:end]
            key = _string(inner)
            if key is not None:
                path.append(key)
            elif _INDEX.fullmatch(inner):
                path.append("*")
            else:
                return [(path, False)]
            i = end + 1
        else:
            return [(path, False)]
        while i < len(term) and term[i] in "? \t\n":
            i += 1
    return [(path, True)]


def paths(expr: str, prefix: list[str] | None = None, depth: int = 0) -> list[tuple[list[str], bool]]:
    """The paths a jq path expression (as Argo CD runs it: del(EXPR)) names, read for the plain forms: `.a.b`,
    `.["a"]`, `.a[]`, `.a[0]`, `?`, pipes, commas, `select(...)` and parentheses (up to MAX_JQ_DEPTH deep, and
    MAX_JQ_PATHS paths)."""
    start = list(prefix or [])
    if depth > MAX_JQ_DEPTH:
        return [(start, False)]
    current = [(start, True)]
    for stage in _split_top(expr, "|"):
        following = []
        for path, known in current:
            if not known:
                following.append((path, known))
                continue
            for term in _split_top(stage, ","):
                following.extend(_step(term, path, depth))
                if len(following) > MAX_JQ_PATHS:
                    return [(start, False)]
        current = following
    return current

"""The paths a jq path expression names, as Argo CD runs an ignoreDifferences jqPathExpression (gojq, del(EXPR)): read
for the plain forms only. What this reader does not know ends where it stands, unknown: it may reach anything below
there. A step that only descends (recursive descent, a computed index, a function of the current value) is unknown
below the path so far; a query that is more than a path at its top level (bindings: `E as $x | body` evaluates body
on E's input, not on E; reduce, foreach, label, def; conditions, `//` and other operators; comments, string
interpolation) is unknown below its input. What is too long (MAX_JQ_LENGTH characters), too deep (MAX_JQ_DEPTH
parentheses) or too wide (MAX_JQ_PATHS paths, MAX_JQ_WORK path steps) is unknown from the start. Every step is linear
in the expression: nothing here backtracks."""

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
_BOUND = re.compile(r"-?[0-9]*")
# Keywords that make a query more than a path (a field named so, `.as`, is none), and the characters of operators,
# variables, comments and `;`: seen at a query's top level, the reader does not follow it.
_KEYWORDS = re.compile(r"(?<![.\w$])(?:as|reduce|foreach|label|def|if|try|and|or|import|include)(?!\w)")
_OPERATORS = frozenset("=<>!+-*/%$;:#")


def _is_index(inner: str) -> bool:
    """`[]`, `[N]`, `[N:M]` (either bound optional, negative allowed): an element of the array, by number."""
    bounds = inner.split(":")
    return len(bounds) <= 2 and all(_BOUND.fullmatch(b.strip(" \t\r\n")) for b in bounds)


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
MAX_JQ_LENGTH = 4096  # characters (Argo CD gives the query itself one second)
MAX_JQ_DEPTH = 32  # nested parentheses
MAX_JQ_PATHS = 256  # paths its commas and pipes multiply into
MAX_JQ_WORK = 20_000  # path steps made, every stage of every path together


def too_long(expr: str) -> bool:
    return len(expr) > MAX_JQ_LENGTH


def _more_than_a_path(expr: str) -> bool:
    """EXPR has, at its top level (outside brackets and strings), a keyword or operator that makes it more than a
    path; or anywhere a comment or a string interpolation, which this reader's tokens do not follow."""
    if "\\(" in expr:
        return True
    top = [" "] * len(expr)  # its top-level characters; strings and what is in brackets blanked
    for i, c, depth in _unquoted(expr):
        if c == "#" or (depth == 0 and c in _OPERATORS):
            return True
        if depth == 0 and c not in ")]}":
            top[i] = c
    return _KEYWORDS.search("".join(top)) is not None


class _TooWide(Exception):
    """More paths or path steps than the reader follows."""


def _step(term: str, depth: int, work: list[int]) -> list[tuple[list[str], bool]]:
    """The paths one pipe stage alternative navigates to, relative to its input: (path, known). A step that only
    descends and that this reader does not know (recursive descent, a computed index) ends the path where it stands,
    unknown: it may reach anything below. Anything else it does not know (a function, a literal, a stray character)
    is unknown from the term's input."""
    term = term.strip()
    if term.startswith("select(") and _closing(term, 6) == len(term) - 1:
        return [([], True)]  # a filter keeps the path
    if term.startswith("(") and _closing(term, 0) == len(term) - 1:
        return _paths(term[1:-1], depth + 1, work)
    path: list[str] = []
    i = 0
    if term == ".":
        return [(path, True)]
    while i < len(term):
        if term.startswith("..", i):
            return [(path, False)]  # recursive descent: anything below
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
                    return [(path, False)]  # a key this reader does not read: some key below
                path.append(key)
                i = end + 1
            elif term[i:i + 1] != "[":
                return [([], False)]
        elif term[i] == "[":
            end = _closing(term, i)
            if end < 0:
                return [([], False)]
            inner = term[i + 1:end]
            key = _string(inner)
            if key is not None:
                path.append(key)
            elif _is_index(inner):
                path.append("*")
            else:
                return [(path, False)]  # a computed index: some element or key below
            i = end + 1
        else:
            return [([], False)]  # a function, a literal, or what follows a path that is not part of it
        while i < len(term) and term[i] in "? \t\r\n":
            i += 1
    return [(path, True)]


def _paths(expr: str, depth: int, work: list[int]) -> list[tuple[list[str], bool]]:
    """paths() relative to EXPR's input; _TooWide past MAX_JQ_PATHS paths or MAX_JQ_WORK path steps."""
    if depth > MAX_JQ_DEPTH or _more_than_a_path(expr):
        return [([], False)]
    current: list[tuple[list[str], bool]] = [([], True)]
    for stage in _split_top(expr, "|"):
        alternatives = [_step(term, depth, work) for term in _split_top(stage, ",")]  # each read once
        following: list[tuple[list[str], bool]] = []
        for path, known in current:
            if not known:
                following.append((path, known))
                continue
            for steps in alternatives:
                for step, step_known in steps:
                    following.append((path + step, step_known))
                    work[0] += len(path) + len(step) + 1
            if len(following) > MAX_JQ_PATHS or work[0] > MAX_JQ_WORK:
                raise _TooWide
        current = following
    return current


def paths(expr: str, prefix: list[str] | None = None) -> list[tuple[list[str], bool]]:
    """The paths a jq path expression (as Argo CD runs it: del(EXPR)) names below PREFIX, read for the plain forms:
    `.a.b`, `.["a"]`, `.a[]`, `.a[0]`, `?`, pipes, commas, `select(...)` and parentheses (up to MAX_JQ_DEPTH deep,
    MAX_JQ_PATHS paths and MAX_JQ_WORK steps); (path, known), where unknown means anything below PATH. An expression
    longer than MAX_JQ_LENGTH characters is not read (too_long)."""
    start = list(prefix or [])
    if too_long(expr):
        return [(start, False)]
    try:
        return [(start + path, known) for path, known in _paths(expr, 0, [0])]
    except _TooWide:
        return [(start, False)]

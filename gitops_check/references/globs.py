"""The two kinds of pattern Argo CD matches names with, translated to RE2 (linear time, whatever the pattern):
util/glob (gobwas/glob without separators) for source repositories, destinations and ignoreDifferences, and Go's
filepath.Match for an AppProject's resource lists. A pattern Argo CD cannot compile matches nothing. compile_re2
also serves the regexes a pull request writes itself (Prometheus label matchers, Istio URI regexes)."""

from __future__ import annotations

import re
from typing import Any

import re2

_RE2 = re2.Options()
_RE2.log_errors = False  # a pattern RE2 refuses is a non-match for the caller, not a line on stderr


def compile_re2(regex: str | None):
    """RE2 for a regex (linear time, whatever the pull request wrote); None when there is none or RE2 refuses it."""
    if regex is None:
        return None
    try:
        return re2.compile(regex, options=_RE2)
    except re2.error:
        return None


def _glob(pattern: str) -> str | None:
    """Argo CD's util/glob.Match pattern (gobwas/glob without separators) as a regex: `*` any text, `?` one
    character, `[...]` and `[!...]` classes with ranges, `{a,b}` alternatives (nested), `\\` escapes. None when
    gobwas cannot compile it (Argo CD then matches nothing)."""
    out, depth, i, n = [], 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return None
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append(f"[{'^' if negate else ''}{''.join(re.escape(ch) if ch != '-' else '-' for ch in body)}]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return None if depth else "".join(out)


def argo_match(pattern: Any, value: str) -> bool:
    compiled = compile_re2(_glob(str(pattern)))
    return compiled is not None and compiled.fullmatch(value) is not None


def _go_glob(pattern: str) -> str | None:
    """Go's filepath.Match pattern (how Argo CD matches AppProject groups, kinds and names) as an RE2 regex: `*` and
    `?` (not across '/'), `[...]` classes (`^` negates, ranges), `\\` escapes. None for a malformed pattern, which
    Argo CD's match treats as no match."""
    out, i, n = [], 0, len(pattern)

    def char(j: int) -> tuple[str | None, int]:
        if j >= n or pattern[j] in "-]":
            return None, j
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                return None, j
        return pattern[j], j + 1

    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                return None
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j, negate, ranges = i + 1, False, []
            if j < n and pattern[j] == "^":
                negate, j = True, j + 1
            while not (ranges and j < n and pattern[j] == "]"):
                lo, j = char(j)
                if lo is None:
                    return None
                hi = lo
                if j < n and pattern[j] == "-":
                    hi, j = char(j + 1)
                    if hi is None or hi < lo:
                        return None
                ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            out.append(f"[{'^' if negate else ''}{''.join(ranges)}]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def go_match(pattern: Any, value: str) -> bool:
    compiled = compile_re2(_go_glob("" if pattern is None else str(pattern)))
    return compiled is not None and compiled.fullmatch(value) is not None

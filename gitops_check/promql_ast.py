"""PromQL syntax trees from Prometheus' own parser, and small helpers to walk them.

`parse` sends a batch of expressions to ONE `promql-ast` process (tools/promql: parser.ParseExpr of
github.com/prometheus/prometheus v0.42.0, the release of Debian's promtool) and returns, per id, the tree
as plain JSON dicts or the parser's error. Every id sent must come back: a missing, extra or unreadable
answer is a ToolError, never an expression silently left unchecked.

A tree node is a dict with "node" (AggregateExpr, BinaryExpr, Call, MatrixSelector, SubqueryExpr,
NumberLiteral, StringLiteral, ParenExpr, UnaryExpr, VectorSelector), "type" (vector, scalar, matrix,
string) and "pos" ([start, end) byte offsets into the expression); tools/promql/cmd/promql-ast/main.go
lists the fields of each kind. Durations are in seconds.
"""

from __future__ import annotations

import json
import sys
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping

from . import runner
from .errors import InputError, ToolError

if TYPE_CHECKING:
    from .settings import Settings

Node = dict


@dataclass(frozen=True)
class Parsed:
    """What the parser made of one expression: a tree, or its error (`1:5: parse error: ...`)."""

    expr: str
    tree: Node | None
    error: str | None = None
    refused: bool = False  # the harness would not judge it (too long or too deep): never "promtool reports it"

    def text(self, node: Node) -> str:
        """The part of the expression a node was parsed from, as written."""
        start, end = node["pos"]
        return self.expr.encode()[start:end].decode(errors="replace")


def parse(exprs: Mapping[str, str], binary: str, timeout: float | None = None,
          settings: Settings | None = None) -> dict[str, Parsed]:
    """id -> Parsed for every expression, from one run of the promql-ast binary (bounded by gitops_check.runner;
    TIMEOUT overrides the setting tool-timeout-seconds, for tests)."""
    new = {}  # each text once, and only texts this process has not parsed yet (a fleet repeats its queries)
    for i, e in exprs.items():
        if len(e) > MAX_EXPR_CHARS:  # the converter is quadratic in a long chain: a+a+... of 160 kB took 196 s
            _PARSED[(binary, e)] = Parsed(e, None, f"longer than {MAX_EXPR_CHARS:,} characters: refused", refused=True)
        elif (binary, e) not in _PARSED:
            new.setdefault(e, i)
    if new:
        request = json.dumps([{"id": i, "expr": e} for e, i in new.items()])
        proc = runner.run([binary], tool="promql-ast", settings=settings, input=request, timeout=timeout)
        if proc.returncode != 0:
            raise ToolError(f"promql-ast failed (exit {proc.returncode}): {runner.one_line(proc.stderr)}")
        answers = _results({i: e for e, i in new.items()}, proc.stdout)
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.clear()
        _PARSED.update(((binary, e), answers[i]) for e, i in new.items())
    return {i: _PARSED[(binary, e)] for i, e in exprs.items()}


MAX_EXPR_CHARS = 16_384  # one PromQL expression (the longest here is a few hundred characters)


def refusal(parsed: Parsed, where: str) -> InputError:
    """The one line for an expression the harness would not judge: skipping it would pass it unjudged (promtool
    accepts it, so no finding would ever be made)."""
    return InputError(f"{where}: the PromQL expression is {parsed.error}")


_ID = re.compile(r'\{"id":("(?:[^"\\]|\\.)*")')  # promql-ast prints each answer's id first

# (binary, expression) -> what it parsed to, for the life of the process: trees are read, never modified.
_PARSED: dict[tuple[str, str], Parsed] = {}
_PARSED_MAX = 100_000


def _results(exprs: Mapping[str, str], out: str) -> dict[str, Parsed]:
    found: dict[str, Parsed] = {}
    for line in filter(None, out.split("\n")):  # not splitlines(): a U+0085 (NEL) in a string ends no line of JSON
        refused = False
        try:
            answer = json.loads(line)
            ident, tree, error = answer["id"], answer.get("tree"), answer.get("error")
        except RecursionError:  # a tree deeper than Python's JSON reader goes ("a+" 2,000 times): judged as an error
            head = _ID.match(line)
            ident, tree = (json.loads(head[1]) if head else None), None
            error = f"nested deeper than the harness reads ({sys.getrecursionlimit()} levels of its syntax tree): refused"
            refused = True
        except (ValueError, KeyError, TypeError):
            raise ToolError(f"promql-ast printed something that is not a result: {runner.one_line(line)}") from None
        if not isinstance(ident, str) or ident not in exprs or ident in found or (tree is None) == (error is None):
            raise ToolError(f"promql-ast answered {runner.one_line(repr(ident))} unexpectedly "
                            "(unknown, twice, or neither tree nor error)")
        found[ident] = Parsed(exprs[ident], tree, error, refused)
    missing = [i for i in exprs if i not in found]
    if missing:
        raise ToolError(f"promql-ast returned no result for {len(missing)} of {len(exprs)} expression(s), first {missing[0]!r}")
    return found


# --------------------------------------------------------------------------- walking a tree


def children(node: Node) -> list[Node]:
    kids = [node[k] for k in ("param", "expr", "lhs", "rhs") if isinstance(node.get(k), dict)]
    return kids + list(node.get("args", []))


def walk(node: Node) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    """Every node, depth first, with the nodes above it (outermost first). Trees are never modified, so each
    is walked once per process: a fleet's dashboards and rules repeat the same expressions."""
    key = id(node)
    if key not in _WALKED:
        if len(_WALKED) > _WALKED_MAX:
            _WALKED.clear()
        found: list[tuple[Node, tuple[Node, ...]]] = []
        pending = [(node, ())]
        while pending:
            current, above = pending.pop()
            found.append((current, above))
            pending.extend((child, above + (current,)) for child in reversed(children(current)))
        _WALKED[key] = (node, found)  # the node is kept alive with its walk, so its id is never reused
    return iter(_WALKED[key][1])


_WALKED: dict[int, tuple[Node, list[tuple[Node, tuple[Node, ...]]]]] = {}
_WALKED_MAX = 50_000


def unwrap(node: Node) -> Node:
    """The node inside any parentheses."""
    while node["node"] == "ParenExpr":
        node = node["expr"]
    return node


def metric_name(selector: Node) -> str:
    """A VectorSelector's metric name: written before the braces or as `__name__="..."`; "" when neither."""
    if selector.get("name"):
        return selector["name"]
    return next((m["value"] for m in selector["matchers"] if m["name"] == "__name__" and m["type"] == "="), "")


@dataclass(frozen=True)
class Matcher:
    name: str  # label name; the metric name appears as __name__
    type: str  # "=", "!=", "=~" or "!~"
    value: str


@dataclass(frozen=True)
class Selector:
    """One vector selector of an expression, as the parser read it."""

    metric: str  # "" when it selects by labels only
    matchers: tuple[Matcher, ...]  # every label matcher, including __name__="<metric>" when the name is written
    range_seconds: float | None  # the window when it is a range selector (`x[5m]`), else None
    node: Node  # the VectorSelector node

    def matching(self, label: str) -> list[Matcher]:
        return [m for m in self.matchers if m.name == label]


def vector_selectors(tree: Node) -> list[Selector]:
    """Every vector selector in the tree, in the order written, with its matchers and range window."""
    found = []
    for node, ancestors in walk(tree):
        if node["node"] == "VectorSelector":
            parent = ancestors[-1] if ancestors else {}
            window = parent.get("range_seconds") if parent.get("node") == "MatrixSelector" else None
            matchers = tuple(Matcher(m["name"], m["type"], m["value"]) for m in node["matchers"])
            found.append(Selector(metric_name(node), matchers, window, node))
    return found


def calls(tree: Node, *functions: str) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    """Every call of one of `functions` (all calls when none is given), with the nodes above it."""
    for node, ancestors in walk(tree):
        if node["node"] == "Call" and (not functions or node["func"] in functions):
            yield node, ancestors


# --------------------------------------------------------------------------- Prometheus durations

# prometheus/common v0.39.0 model.ParseDuration (the version Prometheus 2.42.0 uses): units y w d h m s ms,
# each at most once and in this order, integers only; a bare "0" is zero.
_DURATION = re.compile(r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$")
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def duration_seconds(text: str) -> float:
    """A Prometheus duration ("30s", "1m30s", "2d") in seconds; ValueError when Prometheus would reject it
    (model.ParseDuration: int64 milliseconds, so "1" and 400 zeros "ms" is out of range, not a float overflow)."""
    if text == "0":
        return 0.0
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not text or not match:
        raise ValueError(f"not a valid duration string: {str(text)[:100]!r}")
    if any(n and len(n) > 19 for n in match.groups()):
        raise ValueError("duration out of range")
    ms = sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_MS) if n)
    if ms > 2 ** 63 - 1:
        raise ValueError("duration out of range")
    return ms / 1000


def format_duration(seconds: float) -> str:
    """Seconds as the shortest Prometheus duration (120 -> "2m", 90 -> "1m30s", 0.5 -> "500ms")."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        out += f"{count}{unit}" if count else ""
    return out

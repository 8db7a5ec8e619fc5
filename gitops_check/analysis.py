"""Argo Rollouts analysis, offline: read AnalysisTemplates, substitute their args, query Prometheus and
judge a measurement exactly as the Rollouts controller does.

Shared by the `promql` stage (which needs the queries with args substituted), `scripts/canary-analysis`
(operators asking "would the canary pass right now?") and the tests that run the rendered templates
against a real Prometheus: one implementation, so what the tests prove is what the script reports.

The success/failure conditions are expr-lang expressions in Argo Rollouts. We never eval() them: a
small recursive-descent parser covers the subset the templates use (`result[0] >= 0.995`,
`len(result) == 0 || isNaN(result[0])`, `&&`, `||`, `!`, comparisons, arithmetic, numbers, booleans).
Anything else is a ConditionError that names the expression, so an unsupported template is reported,
never silently judged.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, Union

from .loader import Expansion
from .model import Document

ANALYSIS_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
PLACEHOLDER = "placeholder"  # stands in for an arg whose value the Rollout supplies at run time

# Measurement phases, spelled as Argo Rollouts spells them in AnalysisRun status.
SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = "Successful", "Failed", "Inconclusive", "Error"

_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")

Value = Union[float, bool, list]


class AnalysisError(Exception):
    """A query or a condition could not be evaluated; the message is one line saying why."""


class ConditionError(AnalysisError):
    """A success/failure condition is not valid in the supported expression subset."""


class PrometheusUnreachable(AnalysisError):
    """Prometheus did not answer at all (wrong URL, no port-forward): nothing was measured."""


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Metric:
    """One Prometheus metric of an AnalysisTemplate, args already substituted."""

    name: str
    query: str | None  # None when the prometheus provider has no query
    success: str  # successCondition ("" when absent)
    failure: str  # failureCondition ("" when absent)


def arg_values(doc: Document, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The template's args as Argo resolves them: declared `value`, then `overrides` (what a Rollout
    or the operator passes). Args without either resolve to PLACEHOLDER."""
    values: dict[str, str] = {}
    args = _spec(doc).get("args")
    for arg in args if isinstance(args, list) else []:
        if isinstance(arg, dict) and isinstance(arg.get("name"), str):
            value = arg.get("value")
            values[arg["name"]] = PLACEHOLDER if value is None else str(value)
    values.update(overrides or {})
    return values


def substitute(text: str, values: dict[str, str], budget: Expansion | None = None) -> str:
    """Replace every `{{args.NAME}}`; an undeclared arg becomes PLACEHOLDER (the policies stage reports it). What it
    makes counts against BUDGET (by default its own: a 200 kB arg in 1,000 placeholders made a 200 MB query)."""
    budget = budget or Expansion("an AnalysisTemplate's query or condition")
    return budget.sub(_ARG, text, lambda m: values.get(m.group(1), PLACEHOLDER))


def prometheus_metrics(doc: Document, overrides: dict[str, str] | None = None) -> list[Metric]:
    """The metrics of an AnalysisTemplate that use the Prometheus provider, in template order."""
    values = arg_values(doc, overrides)
    metrics = _spec(doc).get("metrics")
    found: list[Metric] = []
    for metric in metrics if isinstance(metrics, list) else []:
        if not isinstance(metric, dict):
            continue
        provider = metric.get("provider")
        prometheus = provider.get("prometheus") if isinstance(provider, dict) else None
        if not isinstance(prometheus, dict):
            continue
        query = prometheus.get("query")
        budget = Expansion(f"{doc.source}: {doc.ref} metric {str(metric.get('name', ''))[:100]!r}")
        found.append(
            Metric(
                name=str(metric.get("name", "")),
                query=substitute(str(query), values, budget) if isinstance(query, (str, int, float)) else None,
                success=substitute(str(metric.get("successCondition") or ""), values, budget),
                failure=substitute(str(metric.get("failureCondition") or ""), values, budget),
            )
        )
    return found


def unresolved_args(doc: Document, overrides: dict[str, str] | None = None) -> list[str]:
    """Args a Prometheus query or condition references that have no value (declared nor given)."""
    values = arg_values(doc, overrides)
    used: set[str] = set()
    metrics = _spec(doc).get("metrics")
    for metric in metrics if isinstance(metrics, list) else []:
        if isinstance(metric, dict):
            used |= set(_ARG.findall(json.dumps(metric)))
    return sorted(name for name in used if values.get(name, PLACEHOLDER) == PLACEHOLDER)


def rollout_args(docs: list[Document]) -> dict[str, dict[str, str]]:
    """template name -> the arg values the Rollouts among `docs` pass to it: plain `value`s, and
    `valueFrom.fieldRef` on the Rollout's own metadata (namespace, name, labels, annotations).
    Other valueFrom sources (secrets, pod-template hashes) need a cluster and stay unresolved."""
    passed: dict[str, dict[str, str]] = {}
    for doc in (d for d in docs if d.kind == "Rollout"):
        strategy = _dict(_spec(doc).get("strategy"))
        canary, blue_green = _dict(strategy.get("canary")), _dict(strategy.get("blueGreen"))
        blocks = [canary.get("analysis"), blue_green.get("prePromotionAnalysis"), blue_green.get("postPromotionAnalysis")]
        blocks += [step.get("analysis") for step in _items(canary.get("steps")) if isinstance(step, dict)]
        for block in (b for b in blocks if isinstance(b, dict)):
            values = {}
            for arg in (a for a in _items(block.get("args")) if isinstance(a, dict) and "name" in a):
                value = arg["value"] if "value" in arg else _field_ref(doc, arg.get("valueFrom"))
                if value is not None:
                    values[str(arg["name"])] = str(value)
            for template in (t for t in _items(block.get("templates")) if isinstance(t, dict)):
                passed.setdefault(str(template.get("templateName")), {}).update(values)
    return passed


def _field_ref(doc: Document, value_from: Any) -> str | None:
    path = _dict(_dict(value_from).get("fieldRef")).get("fieldPath")
    if path in ("metadata.namespace", "metadata.name"):
        return doc.namespace if path == "metadata.namespace" else doc.name
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", str(path))
    return _dict(doc.metadata.get(match[1])).get(match[2]) if match else None


def _dict(value: Any) -> dict:
    """The value when it is a mapping, else {}: a malformed field is the schema stage's finding, not a crash."""
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


def _spec(doc: Document) -> dict:
    return _dict(doc.obj.get("spec"))


@dataclass(frozen=True)
class Measurement:
    """One metric of one template, measured once, as an AnalysisRun would record it."""

    template: str
    metric: str
    query: str
    result: Value | None  # None when the query itself failed
    success: str
    failure: str
    phase: str
    why: str


def measure_template(
    doc: Document, url: str, overrides: dict[str, str] | None = None, at: float | None = None
) -> list[Measurement]:
    """Query every Prometheus metric of the template and judge it. A query Prometheus rejects is an
    Error measurement (as in an AnalysisRun); PrometheusUnreachable propagates (nothing was measured)."""
    measurements = []
    for metric in prometheus_metrics(doc, overrides):
        result: Value | None = None
        if metric.query is None:
            phase, why = ERROR, "the prometheus provider has no query"
        else:
            try:
                result = query_prometheus(url, metric.query, at)
            except PrometheusUnreachable:
                raise
            except AnalysisError as exc:
                phase, why = ERROR, str(exc)
            else:
                phase, why = measure(result, metric.success, metric.failure)
        measurements.append(
            Measurement(doc.name, metric.name, metric.query or "", result, metric.success, metric.failure, phase, why)
        )
    return measurements


# --------------------------------------------------------------------------- Prometheus


def query_prometheus(url: str, query: str, at: float | None = None, timeout: float = 10.0) -> Value:
    """Run an instant query; return what Argo Rollouts hands to the conditions as `result`:
    a list of floats for a vector, a float for a scalar."""
    import urllib.error  # urllib.request pulls in http, email and ssl: 15 ms a run that never queries
    import urllib.parse
    import urllib.request

    params = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    endpoint = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        detail = _error_body(exc)
        raise AnalysisError(f"Prometheus at {url} rejected the query ({exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrometheusUnreachable(f"cannot query Prometheus at {url}: {reason}") from None
    return _result_value(body, url)


def _error_body(exc) -> str:  # urllib.error.HTTPError
    try:
        return str(json.load(exc).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def _result_value(body: Any, url: str) -> Value:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or body.get("status") != "success":
        raise AnalysisError(f"Prometheus at {url} answered without data: {str(body)[:200]}")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector":
        return [float(sample["value"][1]) for sample in result]
    if kind == "scalar":
        return float(result[1])
    raise AnalysisError(f"query returned a {kind}; Argo Rollouts accepts only a vector or a scalar")


# --------------------------------------------------------------------------- conditions


def measure(result: Value, success: str, failure: str) -> tuple[str, str]:
    """(phase, why) for `result`, by the rules of Argo Rollouts' evaluate.EvaluateResult: a condition
    that cannot be computed (e.g. `result[0]` of an empty vector) is Error; with only a success
    condition, not-success is Failed; with only a failure condition, not-failure is Successful; with
    both and neither true, Inconclusive. ConditionError (unsupported syntax) propagates."""
    try:
        succeeded = evaluate(success, result) if success else None
        failed = evaluate(failure, result) if failure else None
    except ConditionError:
        raise
    except AnalysisError as exc:
        return ERROR, str(exc)
    if failed:
        return FAILED, f"failureCondition is true: {failure}"
    if succeeded is False and failed is None:
        return FAILED, f"successCondition is false: {success}"
    if succeeded is not False:  # true, or no success condition and the failure condition is false/absent
        return SUCCESSFUL, ""
    return INCONCLUSIVE, "neither successCondition nor failureCondition is true"


def evaluate(condition: str, result: Value) -> bool:
    """Evaluate one condition against `result`; ConditionError when it is outside the subset,
    AnalysisError when it is valid but cannot be computed for this result."""
    value = compile_condition(condition)(result)
    if not isinstance(value, bool):
        raise ConditionError(f"condition {condition!r} does not evaluate to true/false")
    return value


def compile_condition(condition: str) -> Callable[[Value], Value]:
    """Parse a condition once (ConditionError when it is outside the subset) into a function of
    `result`. `&&` and `||` short-circuit like expr-lang, so `len(result) == 0 || result[0] > 1`
    is true, not an error, for an empty vector."""
    return _Parser(condition).parse()


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\]+\-*/])|(?P<name>[A-Za-z_]\w*))"
)
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: _divide(a, b)}
_FUNCTIONS = {
    "len": lambda v: float(len(_list(v, "len"))),
    "isNaN": lambda v: math.isnan(_number(v, "isNaN")),
    "isInf": lambda v: math.isinf(_number(v, "isInf")),
}

Node = Callable[[Value], Value]  # a parsed sub-expression: result -> value


def _number(value: Value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnalysisError(f"{where}: expected a number, got {_show(value)}")
    return float(value)


def _list(value: Value, where: str) -> list:
    if not isinstance(value, list):
        raise AnalysisError(f"{where}: expected a vector, got {_show(value)}")
    return value


def _boolean(value: Value, where: str) -> bool:
    if not isinstance(value, bool):
        raise AnalysisError(f"{where}: expected true/false, got {_show(value)}")
    return value


def _show(value: Value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(_show, value)) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Parser:
    """Recursive descent over: or := and ('||'|'or' and)*; and := not ('&&'|'and' not)*;
    not := ('!'|'not') not | cmp; cmp := sum (OP sum)?; sum := term (('+'|'-') term)*;
    term := unary (('*'|'/') unary)*; unary := '-' unary | atom;
    atom := NUMBER | true | false | result ('[' sum ']')? | FUNC '(' or ')' | '(' or ')'.
    Every rule returns a Node; nothing is evaluated while parsing."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[str]:
        tokens, at = [], 0
        while text[at:].strip():
            match = _TOKEN.match(text, at)
            if not match:
                self._fail(f"unsupported syntax at {text[at:].strip()!r}")
            tokens.append(match.group(match.lastgroup))
            at = match.end()
        return tokens

    def parse(self) -> Node:
        if not self.tokens:
            self._fail("empty")
        node = self._or()
        if self.pos != len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.pos]!r}")
        return node

    def _fail(self, problem: str) -> NoReturn:
        raise ConditionError(f"condition {self.text!r}: {problem}")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, *expected: str) -> str | None:
        token = self._peek()
        if token is not None and token in expected:
            self.pos += 1
            return token
        return None

    def _expect(self, token: str) -> None:
        if not self._take(token):
            self._fail(f"expected {token!r}, found {self._peek() or 'the end'!r}")

    def _or(self) -> Node:
        node = self._and()
        while self._take("||", "or"):
            node = (lambda left, right: lambda r: _boolean(left(r), "||") or _boolean(right(r), "||"))(node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._take("&&", "and"):
            node = (lambda left, right: lambda r: _boolean(left(r), "&&") and _boolean(right(r), "&&"))(node, self._not())
        return node

    def _not(self) -> Node:
        if self._take("!", "not"):
            operand = self._not()
            return lambda r: not _boolean(operand(r), "!")
        return self._compare()

    def _compare(self) -> Node:
        left = self._sum()
        op = self._take(*_COMPARE)
        if not op:
            return left
        right, compare = self._sum(), _COMPARE[op]

        def node(r: Value) -> bool:
            a, b = left(r), right(r)
            if isinstance(a, bool) and isinstance(b, bool) and op in ("==", "!="):
                return compare(a, b)
            return compare(_number(a, op), _number(b, op))

        return node

    def _binary(self, operand: Callable[[], Node], ops: tuple[str, ...]) -> Node:
        node = operand()
        while (op := self._take(*ops)) is not None:
            node = (lambda left, right, op: lambda r: _ARITHMETIC[op](_number(left(r), op), _number(right(r), op)))(
                node, operand(), op
            )
        return node

    def _sum(self) -> Node:
        return self._binary(self._term, ("+", "-"))

    def _term(self) -> Node:
        return self._binary(self._unary, ("*", "/"))

    def _unary(self) -> Node:
        if self._take("-"):
            operand = self._unary()
            return lambda r: -_number(operand(r), "-")
        return self._atom()

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            self._fail("ends too early")
        self.pos += 1
        if token == "(":
            node = self._or()
            self._expect(")")
            return node
        if token[0].isdigit() or token[0] == ".":
            number = float(token)
            return lambda r: number
        if token in ("true", "false"):
            return lambda r: token == "true"
        if token == "result":
            return self._index()
        if token in _FUNCTIONS:
            self._expect("(")
            argument, function = self._or(), _FUNCTIONS[token]
            self._expect(")")
            return lambda r: function(argument(r))
        self._fail(f"unsupported name {token!r} (supported: result, len, isNaN, isInf, true, false)")

    def _index(self) -> Node:
        if not self._take("["):
            return lambda r: r
        index = self._sum()
        self._expect("]")

        def node(r: Value) -> Value:
            items, position = _list(r, "result[...]"), _number(index(r), "index")
            if position != int(position) or not 0 <= position < len(items):
                raise AnalysisError(f"index {_show(position)} out of range for result {_show(items)}")
            return items[int(position)]

        return node


def _divide(left: float, right: float) -> float:
    if right == 0:
        return math.nan if left == 0 else math.copysign(math.inf, left)
    return left / right

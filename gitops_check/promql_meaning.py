"""What a PromQL expression means, judged on the syntax tree of Prometheus' own parser (part of the `promql` stage).

promtool proves an expression loads; it says nothing about whether it measures anything. Every alert and
recording rule of every PrometheusRule, every Prometheus query of every AnalysisTemplate (args substituted,
as promql.py checks them) and every Prometheus query of every Grafana dashboard shipped in a ConfigMap
(gitops_check/grafana.py; variables substituted) is parsed by ONE promql-ast process (promql_ast.py) and
checked for the classic mistakes that parse fine and mean nothing:

* WH-PROM-004 a division of two rates with neither side aggregated (a per-series ratio);
* WH-PROM-005 histogram_quantile over buckets aggregated away from their `le` label;
* WH-PROM-006 rate()/irate()/increase() of something that is not a counter: a metric whose name says so, or a
  subquery of an aggregation or arithmetic across series (sum-then-rate);
* WH-PROM-007 a rate-like window shorter than four scrape intervals: the longest `interval` of the source's
  ServiceMonitors/PodMonitors, else `params.prometheus.scrapeInterval` of policies/data/params.yaml; the Istio
  sidecar's series (istio_*, envoy_*) only by the monitors of the sidecar's port (scrape.SIDECAR_PORT_NAME, 15090);
* WH-PROM-008 a dashboard query that does not parse (rules and analysis queries that do not parse are
  promtool's to report: WH-PROM-001/002);
* WH-PROM-009 histogram_quantile over raw cumulative bucket counters (no rate() or increase() in between);
* WH-PROM-010 a quantile φ outside [0, 1] (histogram_quantile, quantile, quantile_over_time);
* WH-PROM-011 a binary operation between two vectors whose label sets (known from their aggregations) cannot
  match under its matching (no on()/ignoring(), or ones that leave different labels): an always empty result.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Callable, Iterator

from . import analysis, grafana, loader, promql_ast
from . import scrape as scrape_
from .context import Context
from .errors import InputError
from .model import Document, Source, Violation
from .promql_ast import Node, Parsed, calls, format_duration, metric_name, unwrap, walk
from .references.inputs import load_network_peers
from .rules import Rule, rule
from .scrape import Scrape

RATIO_OF_RATES = rule(
    "WH-PROM-004",
    "error",
    "promql",
    "A division of rates aggregates both sides (no per-series ratio of unaggregated rate(), irate() or increase())",
    "rate(a[5m]) / rate(b[5m]) divides series one by one: one ratio per pod or code, and series whose labels differ "
    "between the sides silently drop out",
)
QUANTILE_WITHOUT_LE = rule(
    "WH-PROM-005",
    "error",
    "promql",
    "histogram_quantile's buckets keep the le label through every aggregation (sum by (le, ...))",
    "Aggregating buckets without le merges every bucket into one series: the quantile is NaN or the top bucket, and "
    "latency alerts and analysis never see real latency",
)
RATE_OF_GAUGE = rule(
    "WH-PROM-006",
    "error",
    "promql",
    "rate(), irate() and increase() only read counters (names ending _total, _count, _sum or _bucket, or listed in "
    "params.prometheus.counters; no subquery of an aggregation or of arithmetic across series)",
    "These functions read every decrease as a counter reset: over a gauge they return made-up numbers, and over a "
    "sum of counters (sum-then-rate) one pod's restart drops the sum and reads as a huge spike",
)
SHORT_WINDOW = rule(
    "WH-PROM-007",
    "error",
    "promql",
    "Rate-like range windows span at least four scrape intervals (the source's monitors of the port the metric comes from, "
    "else params.prometheus.scrapeInterval)",
    "A shorter window holds fewer than two samples after one late or missed scrape: the rate vanishes, graphs gap and "
    "alerts and analysis flap",
)
DASHBOARD_INVALID = rule(
    "WH-PROM-008",
    "error",
    "promql",
    "Every Grafana dashboard in a ConfigMap is valid JSON and each Prometheus panel query parses (variables substituted)",
    "Grafana shows an error instead of the panel: the graph operators look at during a rollout is empty",
)
RAW_BUCKETS = rule(
    "WH-PROM-009",
    "error",
    "promql",
    "histogram_quantile reads bucket counters through rate() or increase()",
    "Classic _bucket series are counters since the process started: a quantile of the raw counts describes the whole "
    "uptime, barely moves when latency changes now, and latency alerts and analysis never see a bad canary",
)
QUANTILE_OUT_OF_RANGE = rule(
    "WH-PROM-010",
    "error",
    "promql",
    "The quantile φ of histogram_quantile, quantile and quantile_over_time is between 0 and 1",
    "Prometheus returns +Inf for φ > 1 (and -Inf below 0, NaN for NaN): a threshold compared with it always or never "
    "fires, whatever the latency is (95 is not the 95th percentile, 0.95 is)",
)
UNMATCHED_LABELS = rule(
    "WH-PROM-011",
    "error",
    "promql",
    "A binary operation between two vectors matches on labels both sides keep (by() label sets that differ need "
    "on()/ignoring() with group_left/group_right)",
    "Prometheus pairs series whose matching labels are equal; when the aggregations on either side keep different "
    "labels no series pairs up: the result is always empty, so the alert never fires and the analysis measures "
    "nothing (and `and`/`unless` never or always filter)",
)

RATE_LIKE = ("rate", "irate", "increase")
WINDOWED = RATE_LIKE + ("delta", "idelta", "deriv")  # compute from two or more samples of the window
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
LABEL_DROPPING = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile")  # not topk/bottomk
SCRAPES_PER_WINDOW = 4


@dataclass(frozen=True)
class Query:
    doc: Document
    where: str  # how messages name it: `group "g", alert "A"`, `metric "m"`, `dashboard "D" (f.json), panel "P", query A`
    expr: str
    scrape: Scrape  # of the service's own metrics
    dashboard: bool = False
    # The Istio sidecar's metrics (names starting with sidecar_prefixes) come from its own port: scraped by the
    # monitors of that port, else (None) at the default, read only when a query needs it.
    sidecar: Scrape | None = None
    sidecar_prefixes: tuple[str, ...] = ()
    default: Callable[[], Scrape] | None = field(default=None, compare=False, hash=False)  # one per run
    counters: frozenset[str] = frozenset()  # counters named without a counter's suffix (params.prometheus.counters)


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    default = cache(lambda: _default_scrape(ctx))  # params.yaml is read only when a query needs it
    peers = cache(lambda: load_network_peers(ctx.settings.policies_dir))
    ports = cache(lambda: peers().sidecar_metrics_ports)
    counters = cache(lambda: _known_counters(ctx))
    queries: list[Query] = []
    violations: list[Violation] = []
    for source in sources:
        scrape = cache(lambda source=source: scrape_.interval(source.documents, default, ports))
        sidecar = cache(lambda source=source: scrape_.interval(source.documents, lambda: None, ports, sidecar=True))
        for doc in source.documents:
            found = _queries(doc, scrape, violations)
            queries += [dataclasses.replace(q, sidecar=sidecar(), sidecar_prefixes=peers().sidecar_metric_prefixes,
                                            default=default, counters=counters()) for q in found]
    if not queries:
        return violations
    ids = {expr: str(n) for n, expr in enumerate(dict.fromkeys(q.expr for q in queries))}  # each text parsed once
    parsed = promql_ast.parse({i: expr for expr, i in ids.items()}, ctx.tool("promql-ast"), settings=ctx.settings)
    judged: dict[tuple, list[tuple[Rule, str]]] = {}  # a check reads the expression, its scrape and kind only
    for query in queries:
        result = parsed[ids[query.expr]]
        if result.refused:
            raise promql_ast.refusal(result, f"{query.doc.source}: {query.doc.ref}: {query.where}")
        if result.tree is None:
            if query.dashboard:
                violations.append(
                    DASHBOARD_INVALID.violation(
                        query.doc, f"{query.where}: the query (Grafana variables substituted) is not valid PromQL: {result.error}; "
                        "fix it until it parses"
                    )
                )
            continue  # a rule or analysis query: promtool reports it (WH-PROM-001/002)
        key = (query.expr, query.scrape, query.sidecar, query.dashboard, query.counters)  # a fleet repeats its queries: each judged once
        if key not in judged:
            judged[key] = [finding for check_ in CHECKS for finding in check_(result, query)]
        violations += [r.violation(query.doc, f"{query.where}: {message}") for r, message in judged[key]]
    return violations


# --------------------------------------------------------------------------- what is checked, and where


def _queries(doc: Document, scrape: Callable[[], Scrape], violations: list[Violation]) -> list[Query]:
    if doc.kind == "PrometheusRule" and doc.group == "monitoring.coreos.com":
        groups = (doc.obj.get("spec") or {}).get("groups")
        return [
            Query(doc, f'group "{group.get("name", n)}", {_rule_name(r)}', str(r["expr"]), scrape())
            for n, group in enumerate(groups if isinstance(groups, list) else [])
            if isinstance(group, dict) and isinstance(group.get("rules"), list)  # else promtool's WH-PROM-001
            for r in group["rules"]
            if isinstance(r, dict) and isinstance(r.get("expr"), (str, int, float))
        ]
    if doc.kind in analysis.ANALYSIS_KINDS and doc.group == "argoproj.io":
        return [Query(doc, f'metric "{m.name}"', m.query, scrape()) for m in analysis.prometheus_metrics(doc) if m.query is not None]
    found = []
    for board in grafana.dashboards(doc):
        if board.board is None:
            violations.append(
                DASHBOARD_INVALID.violation(
                    doc, f"dashboard {board.key}: not valid JSON ({board.error}), so Grafana loads none of it; fix the JSON"
                )
            )
            continue
        found += [Query(doc, q.where, q.expr, scrape(), dashboard=True) for q in grafana.queries(board.board, board.key, scrape().seconds, doc)]
    return found


def _rule_name(raw: dict) -> str:
    return next((f'{key} "{raw[key]}"' for key in ("alert", "record") if raw.get(key)), "a rule without alert or record")


def _default_scrape(ctx: Context) -> Scrape:
    return scrape_.default(ctx.settings.policies_dir, ctx.settings.display)


def _known_counters(ctx: Context) -> frozenset[str]:
    """params.prometheus.counters: counters their exporters name without _total (ingress-nginx, Envoy)."""
    path = ctx.settings.policies_dir / "data" / "params.yaml"
    try:
        raw = ((loader.data_file(path) or {}).get("params") or {}).get("prometheus", {}).get("counters", [])
    except (OSError, AttributeError):
        raw = None
    if not isinstance(raw, list) or not all(isinstance(n, str) and n for n in raw):
        raise InputError(f"{ctx.settings.display(path)}: params.prometheus.counters must be a list of metric names")
    return frozenset(raw)


# --------------------------------------------------------------------------- the checks

Finding = Iterator[tuple[Rule, str]]


def _ratio_of_rates(parsed: Parsed, query: Query) -> Finding:
    reported: list[Node] = []
    for node, above in walk(parsed.tree):
        if node["node"] != "BinaryExpr" or node["op"] != "/" or _aggregated(above) or any(a is r for a in above for r in reported):
            continue
        if node["lhs"]["type"] == node["rhs"]["type"] == "vector" and _bare_rate(node["lhs"]) and _bare_rate(node["rhs"]):
            reported.append(node)
            yield RATIO_OF_RATES, (
                f"{_short(parsed.text(node))} divides rates series by series with neither side aggregated: one ratio per "
                "pod or code, and series whose labels differ between the sides drop out, so it says nothing about the "
                "service; aggregate both sides first: sum by (<labels to keep>) (rate(...)) / sum by (<labels to keep>) (rate(...))"
            )


def _aggregated(above: tuple[Node, ...]) -> bool:
    return any(a["node"] == "AggregateExpr" for a in above)


def _bare_rate(node: Node) -> bool:
    """True when `node` holds a rate-like call over a range selector that no aggregation inside `node` wraps."""
    return any(unwrap(c["args"][0])["node"] == "MatrixSelector" and not _aggregated(above) for c, above in calls(node, *RATE_LIKE))


def _quantile_without_le(parsed: Parsed, query: Query) -> Finding:
    for call, _ in calls(parsed.tree, "histogram_quantile"):
        for agg, above in walk(call["args"][-1]):
            nested = any(a["node"] == "Call" and a["func"] == "histogram_quantile" for a in above)  # judged on its own
            if agg["node"] != "AggregateExpr" or agg["op"] not in LABEL_DROPPING or nested or not _over_buckets(agg):
                continue
            grouping, without = agg["grouping"], agg["without"]
            if ("le" in grouping) != without:  # by (..., le) or without (...) that spares le
                continue
            how = "drops le (without (le))" if without else f"keeps only ({', '.join(grouping)})" if grouping else "keeps no label"
            kept = [g for g in grouping if g != "le"] if without else grouping + ["le"]
            keep = f"{agg['op']} {'without' if without else 'by'} ({', '.join(kept)})"
            yield QUANTILE_WITHOUT_LE, (
                f"histogram_quantile() reads {_short(parsed.text(agg))}, which {how}: every bucket collapses into one "
                f"series and the quantile is meaningless; keep le in the grouping: {keep} (...)"
            )
            break  # the outermost one; fixing it shows the next


def _over_buckets(node: Node) -> bool:
    """True when the aggregation reads classic histogram buckets (`x_bucket`, or a recording rule of them):
    a native histogram, or the divisor of a ratio inside the argument, has no le to keep."""
    return any(re.search(r"_bucket(:|$)", s.metric) for s in promql_ast.vector_selectors(node))


def _rate_of_gauge(parsed: Parsed, query: Query) -> Finding:
    for call, above in calls(parsed.tree, *RATE_LIKE):
        func, arg = call["func"], unwrap(call["args"][0])
        if arg["node"] == "SubqueryExpr":
            combined = _combines_series(arg["expr"])
            if combined is not None:
                yield RATE_OF_GAUGE, _sum_then_rate(parsed, func, arg, combined)
                continue
            inner = _through_labels(arg["expr"])
            name = metric_name(inner) if inner["node"] == "VectorSelector" else ""
        else:
            name = metric_name(arg["expr"]) if arg["node"] == "MatrixSelector" else ""
        # inside histogram_quantile() and friends it is a histogram: a native one's name has no suffix
        native = any(a["node"] == "Call" and a["func"].startswith("histogram_") for a in above)
        if name and not native and not _counter(name) and name not in query.counters:
            yield RATE_OF_GAUGE, (
                f'{func}() over "{name}", whose name says it is not a counter (it does not end in _total, _count, _sum '
                f"or _bucket): {func}() reads every decrease of a gauge as a counter reset and returns made-up numbers; use "
                "deriv() or delta() for how a gauge changes, avg_over_time() or max_over_time() for its level (a counter "
                "of ours named without _total should be renamed; one a third-party exporter names so belongs in "
                "params.prometheus.counters)"
            )


# Functions whose result is their first argument's series with the same values (labels aside).
SAME_VALUES = ("label_replace", "label_join", "last_over_time")
ARITHMETIC = ("+", "-", "*", "/", "%", "^", "atan2")


def _through_labels(node: Node) -> Node:
    """The expression inside parentheses and label_replace()/label_join() (which change labels, not values)."""
    node = unwrap(node)
    while node["node"] == "Call" and node["func"] in SAME_VALUES and node["args"]:
        node = unwrap(node["args"][0])
        node = node["expr"] if node["node"] == "MatrixSelector" else node  # last_over_time(x[5m])
    return node


def _combines_series(node: Node) -> Node | None:
    """The aggregation, or vector-to-vector arithmetic, that makes the values of a subquery's expression out of
    several series (None when each series is one series' own values): such a result is not a counter, since a
    reset of one input series shows as a drop of the combination."""
    node = _through_labels(node)
    if node["node"] == "AggregateExpr":
        return node
    if node["node"] == "BinaryExpr":
        if node["lhs"]["type"] == node["rhs"]["type"] == "vector" and node["op"] in ARITHMETIC:
            return node
        if node["op"] in ("and", "or", "unless") or node["op"] in ("*", "/"):  # filters, unions, unit conversions
            sides = [s for s in (node["lhs"], node["rhs"]) if s["type"] == "vector"]
            return next((c for c in map(_combines_series, sides) if c is not None), None)
        if node["op"] in ("==", "!=", ">", "<", ">=", "<=") and not node["return_bool"]:  # a filter keeps the left side
            return _combines_series(node["lhs"]) if node["lhs"]["type"] == "vector" else None
    return None


def _sum_then_rate(parsed: Parsed, func: str, subquery: Node, combined: Node) -> str:
    if combined["node"] == "AggregateExpr":
        op = combined["op"]
        what = f"the {op}() of several series"
        by = f" {'without' if combined['without'] else 'by'} ({', '.join(combined['grouping'])})" if combined["grouping"] else ""
        fix = f"{op}{by} ({func}(<counter>[{format_duration(subquery['range_seconds'])}]))"
    else:
        what = f"arithmetic across series ({combined['op']})"
        fix = f"{func}(<a>[{format_duration(subquery['range_seconds'])}]) {combined['op']} {func}(<b>[...])"
    return (
        f"{func}() over the subquery {_short(parsed.text(subquery))} reads {what} as one counter: when one series "
        f"resets (a pod restarts) the combination drops and {func}() takes the drop for a counter reset, a spike as "
        f"large as the whole total, and series that appear or vanish do the same; take {func}() of each counter "
        f"first, then combine: {fix}"
    )


def _counter(name: str) -> bool:
    parts = name.split(":")
    if len(parts) == 3:  # level:metric:operations, a recording rule: a rate or ratio of counters is a gauge
        return parts[1].endswith(COUNTER_SUFFIXES) and not re.search(r"rate|increase|ratio|quantile|avg", parts[2])
    return parts[-1].endswith(COUNTER_SUFFIXES)


def _window_scrape(selector: Node, query: Query) -> Scrape:
    """Who scrapes what a range selector reads: the Istio sidecar's series (istio_*, envoy_*) come from its own port,
    scraped by the monitors of that port or at the default interval, not by the service's ServiceMonitor."""
    names = [s.metric for s in promql_ast.vector_selectors(selector)]
    if query.sidecar_prefixes and names and all(n.startswith(query.sidecar_prefixes) for n in names):
        return query.sidecar or (query.default() if query.default else query.scrape)
    return query.scrape


def _short_window(parsed: Parsed, query: Query) -> Finding:
    for call, _ in calls(parsed.tree, *WINDOWED):
        arg = unwrap(call["args"][0])
        scraped = _window_scrape(arg, query) if arg["node"] == "MatrixSelector" else query.scrape
        minimum = SCRAPES_PER_WINDOW * scraped.seconds
        if arg["node"] == "MatrixSelector" and arg["range_seconds"] < minimum:
            grafana_hint = " ([$__rate_interval] in Grafana)" if query.dashboard else ""
            yield SHORT_WINDOW, (
                f"{_short(parsed.text(call))} looks back {format_duration(arg['range_seconds'])}, less than four scrape "
                f"intervals ({scraped.origin}: {format_duration(scraped.seconds)}): one late or missed scrape leaves "
                f"fewer than two samples and the result vanishes; widen the window to at least {format_duration(minimum)}{grafana_hint}"
            )


def _raw_buckets(parsed: Parsed, query: Query) -> Finding:
    for call, _ in calls(parsed.tree, "histogram_quantile"):
        reported: set[str] = set()
        for node, above in walk(call["args"][-1]):
            if node["node"] != "VectorSelector" or any(a["node"] == "Call" and a["func"] == "histogram_quantile" for a in above):
                continue  # a nested histogram_quantile is judged on its own
            name = metric_name(node)
            if not re.search(r"_bucket(:|$)", name) or not _counter(name) or name in reported:
                continue  # not classic buckets, or a recording rule that already holds their rate
            if any(a["node"] == "Call" and a["func"] in RATE_LIKE for a in above):
                continue
            reported.add(name)
            yield RAW_BUCKETS, (
                f'histogram_quantile() reads the bucket counters "{name}" without rate() or increase(): they count every '
                "observation since the process started, so the quantile describes the whole uptime and hardly moves when "
                "latency changes now (and jumps when a pod restarts); read the buckets through a window: "
                f"histogram_quantile(φ, sum by (le) (rate({name}{{...}}[5m])))"
            )


QUANTILE_ARG = {"histogram_quantile": 0, "quantile_over_time": 0}


def _quantile_out_of_range(parsed: Parsed, query: Query) -> Finding:
    for node, _ in walk(parsed.tree):
        if node["node"] == "Call" and node["func"] in QUANTILE_ARG:
            name, phi = f"{node['func']}()", node["args"][QUANTILE_ARG[node["func"]]]
        elif node["node"] == "AggregateExpr" and node["op"] == "quantile" and isinstance(node.get("param"), dict):
            name, phi = "quantile()", node["param"]
        else:
            continue
        value = _constant(phi)
        if value is None or 0 <= value <= 1:
            continue  # not a constant (a scalar of a metric), or a real quantile
        result = "NaN" if math.isnan(value) else "+Inf" if value > 1 else "-Inf"
        meant = f" ({_number(value / 100)} for the {_number(value)}th percentile)" if 10 <= value <= 100 else ""
        written = _short(parsed.text(phi))
        shown = written if written in (_number(value), result, result.lstrip("+")) else f"{written} = {_number(value)}"
        yield QUANTILE_OUT_OF_RANGE, (
            f"{name} with φ = {shown}: φ is a fraction between 0 and 1, and for anything "
            f"else Prometheus returns {result} for every series, so a threshold compared with it always or never holds, "
            f"whatever the data; write φ between 0 and 1{meant}"
        )


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else "+Inf" if value == math.inf else "-Inf" if value == -math.inf else f"{value:g}"


def _constant(node: Node) -> float | None:
    """The value of a scalar expression made of number literals only (None when it depends on data)."""
    node = unwrap(node)
    if node["node"] == "NumberLiteral":
        return float(node["value"])  # "NaN", "+Inf" and "-Inf" arrive as strings
    if node["node"] == "UnaryExpr":
        inner = _constant(node["expr"])
        return None if inner is None else -inner if node["op"] == "-" else inner
    if node["node"] == "BinaryExpr" and node["op"] in ("+", "-", "*", "/", "^"):
        a, b = _constant(node["lhs"]), _constant(node["rhs"])
        if a is None or b is None:
            return None
        try:
            value = {"+": a + b, "-": a - b, "*": a * b, "^": a ** b}[node["op"]] if node["op"] != "/" else (
                a / b if b else math.copysign(math.inf, a) if a else math.nan)
        except (OverflowError, ZeroDivisionError, TypeError):
            return None
        return math.nan if isinstance(value, complex) else value  # Go's math.Pow(-1, 0.5) is NaN, Python's a complex
    return None


# --------------------------------------------------------------------------- WH-PROM-011: labels on both sides

# Aggregations whose result keeps the input series as they are (topk/bottomk select series, they do not merge them).
SELECTING = ("topk", "bottomk")
# Calls whose labels are not those of their vector argument (None: unknown), beyond the ones handled below.
RELABELLING = ("label_replace", "label_join", "absent", "absent_over_time", "scalar", "vector")


def _labels(node: Node) -> frozenset[str] | None:
    """The label names every series of a vector expression carries (the metric name aside), when the expression
    fixes them through its aggregations; None when they depend on the data (a selector's series)."""
    kind = node["node"]
    if kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return _labels(node["expr"])
    if kind == "AggregateExpr":
        inner = _labels(node["expr"])
        if node["op"] in SELECTING:
            return inner
        grouping = frozenset(node["grouping"])
        if node["without"]:
            return None if inner is None else inner - grouping
        if node["op"] == "count_values":
            param = node.get("param") or {}
            return grouping | {param["value"]} if param.get("node") == "StringLiteral" else None
        return grouping
    if kind == "Call":
        vectors = [a for a in node["args"] if a["type"] in ("vector", "matrix")]
        if node["func"] == "vector" or (not node["args"] and node["type"] == "vector"):  # vector(s), day_of_week()...
            return frozenset()
        if node["func"] in RELABELLING or len(vectors) != 1:
            return None
        inner = _labels(vectors[0])
        return inner - {"le"} if inner is not None and node["func"] == "histogram_quantile" else inner
    if kind == "BinaryExpr":
        lhs, rhs = node["lhs"], node["rhs"]
        if lhs["type"] != "vector" or rhs["type"] != "vector":
            return _labels(lhs if lhs["type"] == "vector" else rhs)
        left, right = _labels(lhs), _labels(rhs)
        matching = node.get("matching") or {}
        card, labels, include = matching.get("card"), frozenset(matching.get("labels", ())), frozenset(matching.get("include", ()))
        if node["op"] in ("and", "unless"):
            return left
        if node["op"] == "or":
            return left if left == right else None
        if card == "one-to-one":
            if left is None:
                return None
            return left & labels if matching.get("on") else left - labels
        many, one = (left, right) if card == "many-to-one" else (right, left)
        if many is None or (include and one is None):
            return None
        return (many - include) | (include & one) if include else many
    return None  # a selector: whatever labels its series have


def _show(labels: frozenset[str]) -> str:
    return f"({', '.join(sorted(labels))})" if labels else "no label"


def _unmatched_labels(parsed: Parsed, query: Query) -> Finding:
    for node, _ in walk(parsed.tree):
        if node["node"] != "BinaryExpr" or node["op"] == "or" or not node.get("matching"):
            continue  # `or` is a union: it needs no partner; a scalar operand matches every series
        if node["lhs"]["type"] != "vector" or node["rhs"]["type"] != "vector":
            continue
        left, right = _labels(node["lhs"]), _labels(node["rhs"])
        if left is None or right is None:
            continue
        matching = node["matching"]
        listed = frozenset(matching["labels"])
        if matching["on"]:
            lkey, rkey, how = left & listed, right & listed, f"on {_show(listed)}"
        else:
            lkey, rkey = left - listed, right - listed
            how = f"ignoring {_show(listed)}" if listed else "no on() or ignoring()"
        if lkey == rkey:
            continue
        op, common = node["op"], left & right
        sides = f"the left side keeps {_show(left)} and the right side {_show(right)}"
        if op in ("and", "unless"):
            effect = ("so no left series has a partner and the result is always empty" if op == "and"
                      else "so no left series has a partner and unless never removes any: the filter does nothing")
            fix = f"match on the labels both sides keep: {op} on {_show(common) if common else '()'}"
        else:
            effect = "so no series pairs up and the result is always empty (an alert on it never fires, an analysis gets no data)"
            if right <= left:
                fix = f"match the right side to each left series: {op} on ({', '.join(sorted(common))}) group_left"
            elif left <= right:
                fix = f"match each right series to the left side: {op} on ({', '.join(sorted(common))}) group_right"
            else:
                fix = f"aggregate both sides by the same labels (by ({', '.join(sorted(common))}))"
        yield UNMATCHED_LABELS, (
            f"{_short(parsed.text(node))}: {sides}; with {how} Prometheus pairs two series only when the labels it "
            f"compares are equal, and it compares {_show(lkey)} on the left with {_show(rkey)} on the right, {effect}; {fix}"
        )


CHECKS = (_ratio_of_rates, _quantile_without_le, _rate_of_gauge, _short_window, _raw_buckets, _quantile_out_of_range,
          _unmatched_labels)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""What a PromQL expression means, judged on the syntax tree of Prometheus' own parser (part of the `promql` stage).

promtool proves an expression loads; it says nothing about whether it measures anything. Every alert and
recording rule of every PrometheusRule, every Prometheus query of every AnalysisTemplate (args substituted,
as promql.py checks them) and every Prometheus query of every Grafana dashboard shipped in a ConfigMap
(gitops_check/grafana.py; variables substituted) is parsed by ONE promql-ast process (promql_ast.py) and
checked for the classic mistakes that parse fine and mean nothing:

* WH-PROM-004 a division of two rates with neither side aggregated (a per-series ratio);
* WH-PROM-005 histogram_quantile over buckets aggregated away from their `le` label;
* WH-PROM-006 rate()/irate()/increase() of a metric whose name says it is not a counter;
* WH-PROM-007 a rate-like window shorter than four scrape intervals: the longest `interval` of the source's
  ServiceMonitors/PodMonitors, else `params.prometheus.scrapeInterval` of policies/data/params.yaml;
* WH-PROM-008 a dashboard query that does not parse (rules and analysis queries that do not parse are
  promtool's to report: WH-PROM-001/002).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Callable, Iterator

from . import analysis, grafana, promql_ast, scrape
from .context import Context
from .model import Document, Source, Violation
from .promql_ast import Node, Parsed, calls, format_duration, metric_name, unwrap, walk
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
    "rate(), irate() and increase() only read counters (names ending _total, _count, _sum or _bucket)",
    "These functions read every decrease as a counter reset: over a gauge they return made-up numbers",
)
SHORT_WINDOW = rule(
    "WH-PROM-007",
    "error",
    "promql",
    "Rate-like range windows span at least four scrape intervals (the source's ServiceMonitor, else params.prometheus.scrapeInterval)",
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
    scrape: Scrape
    dashboard: bool = False


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    default = cache(lambda: _default_scrape(ctx))  # params.yaml is read only when a query needs it
    queries: list[Query] = []
    violations: list[Violation] = []
    for source in sources:
        scrape = cache(lambda source=source: _scrape(source, default))
        for doc in source.documents:
            queries += _queries(doc, scrape, violations)
    if not queries:
        return violations
    ids = {expr: str(n) for n, expr in enumerate(dict.fromkeys(q.expr for q in queries))}  # each text parsed once
    parsed = promql_ast.parse({i: expr for expr, i in ids.items()}, ctx.tool("promql-ast"))
    for query in queries:
        result = parsed[ids[query.expr]]
        if result.tree is None:
            if query.dashboard:
                violations.append(
                    DASHBOARD_INVALID.violation(
                        query.doc, f"{query.where}: the query (Grafana variables substituted) is not valid PromQL: {result.error}; "
                        "fix it until it parses"
                    )
                )
            continue  # a rule or analysis query: promtool reports it (WH-PROM-001/002)
        for check_ in CHECKS:
            violations += [r.violation(query.doc, f"{query.where}: {message}") for r, message in check_(result, query)]
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
        found += [Query(doc, q.where, q.expr, scrape(), dashboard=True) for q in grafana.queries(board.board, board.key, scrape().seconds)]
    return found


def _rule_name(raw: dict) -> str:
    return next((f'{key} "{raw[key]}"' for key in ("alert", "record") if raw.get(key)), "a rule without alert or record")


def _scrape(source: Source, default: Callable[[], Scrape]) -> Scrape:
    return scrape.interval(source.documents, default)


def _default_scrape(ctx: Context) -> Scrape:
    return scrape.default(ctx.settings.policies_dir, ctx.settings.display)


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
        arg = unwrap(call["args"][0])
        name = metric_name(arg["expr"]) if arg["node"] == "MatrixSelector" else ""
        # inside histogram_quantile() and friends it is a histogram: a native one's name has no suffix
        native = any(a["node"] == "Call" and a["func"].startswith("histogram_") for a in above)
        if name and not native and not _counter(name):
            func = call["func"]
            yield RATE_OF_GAUGE, (
                f'{func}() over "{name}", whose name says it is not a counter (it does not end in _total, _count, _sum '
                f"or _bucket): {func}() reads every decrease of a gauge as a counter reset and returns made-up numbers; use "
                "deriv() or delta() for how a gauge changes, avg_over_time() or max_over_time() for its level (a counter "
                "named without _total should be renamed)"
            )


def _counter(name: str) -> bool:
    parts = name.split(":")
    if len(parts) == 3:  # level:metric:operations, a recording rule: a rate or ratio of counters is a gauge
        return parts[1].endswith(COUNTER_SUFFIXES) and not re.search(r"rate|increase|ratio|quantile|avg", parts[2])
    return parts[-1].endswith(COUNTER_SUFFIXES)


def _short_window(parsed: Parsed, query: Query) -> Finding:
    minimum = SCRAPES_PER_WINDOW * query.scrape.seconds
    for call, _ in calls(parsed.tree, *WINDOWED):
        arg = unwrap(call["args"][0])
        if arg["node"] == "MatrixSelector" and arg["range_seconds"] < minimum:
            grafana_hint = " ([$__rate_interval] in Grafana)" if query.dashboard else ""
            yield SHORT_WINDOW, (
                f"{_short(parsed.text(call))} looks back {format_duration(arg['range_seconds'])}, less than four scrape "
                f"intervals ({query.scrape.origin}: {format_duration(query.scrape.seconds)}): one late or missed scrape leaves "
                f"fewer than two samples and the result vanishes; widen the window to at least {format_duration(minimum)}{grafana_hint}"
            )


CHECKS = (_ratio_of_rates, _quantile_without_le, _rate_of_gauge, _short_window)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""What PromQL means (WH-PROM-004..011): the promql stage's checks on the syntax tree of Prometheus' own parser.

Every expression goes through the real promql-ast (github.com/prometheus/prometheus v0.42.0's parser, built
by `make tools`) and the real promtool, as in a validation run: no mock, except the fake binaries that prove a
broken tool is a ToolError.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO
from gitops_check import grafana, loader, promql, promql_ast, promql_meaning, runner, settings
from gitops_check.context import Context
from gitops_check.errors import ToolError
from gitops_check.model import Document, Source
from gitops_check.rules import REGISTRY, Rule

PROMQL = FIXTURES / "promql"
RULES = sorted(r.id for r in vars(promql_meaning).values() if isinstance(r, Rule))


def run_stage(tmp_path: Path, *sources: Source):
    return promql.check(list(sources), Context(settings.load(), tmp_path))


def messages(violations) -> list[str]:
    return [f"{v.rule}: {v.message}" for v in violations]


def rule_source(*exprs: str, extra: tuple[dict, ...] = ()) -> Source:
    rules = [{"record": f"x:y:z{n}", "expr": e} for n, e in enumerate(exprs)]
    rule_ = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "ns"},
             "spec": {"groups": [{"name": "g", "rules": rules}]}}
    return Source("inline", "file", [Document(d, "inline") for d in (rule_, *extra)])


def analysis_source(*queries: str) -> Source:
    metrics = [{"name": f"m{n}", "provider": {"prometheus": {"address": "http://p:9090", "query": q}}} for n, q in enumerate(queries)]
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "t", "namespace": "ns"},
                "spec": {"metrics": metrics}}
    return Source("inline", "file", [Document(template, "inline")])


def dashboard_source(*exprs: str) -> Source:
    board = {"title": "Board", "panels": [{"title": f"P{n}", "targets": [{"refId": "A", "expr": e}]} for n, e in enumerate(exprs)]}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "boards", "namespace": "ns", "labels": {"grafana_dashboard": "1"}},
          "data": {"board.json": json.dumps(board)}}
    return Source("inline", "file", [Document(cm, "inline")])


def monitor(interval: str | None) -> dict:
    endpoint = {"port": "metrics", **({"interval": interval} if interval else {})}
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "sm", "namespace": "ns"},
            "spec": {"selector": {}, "endpoints": [endpoint]}}


# --------------------------------------------------------------------------- one fixture per rule


def test_the_rules_are_registered_in_the_promql_stage():
    assert RULES == [
        "WH-PROM-004", "WH-PROM-005", "WH-PROM-006", "WH-PROM-007", "WH-PROM-008", "WH-PROM-009", "WH-PROM-010", "WH-PROM-011",
    ]
    assert all(REGISTRY[r].stage == "promql" and REGISTRY[r].severity == "error" for r in RULES)


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_on_its_fixture_and_nothing_else(rule_id, tmp_path):
    fixture = PROMQL / f"{rule_id}.yaml"
    assert fixture.is_file(), f"rule {rule_id} has no fixture {fixture.name}"
    found = run_stage(tmp_path, Source(fixture.name, "file", loader.read_file(fixture, fixture.name)))
    assert [v.rule for v in found] == [rule_id], messages(found)
    [v] = found
    assert v.severity == "error" and v.kind and v.name and v.source == fixture.name
    assert "; " in v.message, "a message says what is wrong, then how to fix it"


def test_every_fixture_belongs_to_a_rule():
    assert sorted(p.stem for p in PROMQL.glob("WH-PROM-*.yaml")) == RULES


def test_fixture_messages_name_where_and_what(tmp_path):
    def message(rule_id: str) -> str:
        fixture = PROMQL / f"{rule_id}.yaml"
        [v] = run_stage(tmp_path, Source(fixture.name, "file", loader.read_file(fixture, fixture.name)))
        return v.message

    assert message("WH-PROM-004").startswith(
        'group "webhook-service.requests", alert "WebhookServiceHighErrorRate": rate(http_requests_total'
    )
    assert message("WH-PROM-005").startswith('metric "latency-p95": histogram_quantile() reads sum by (destination_service_name) (')
    assert "keep le in the grouping: sum by (destination_service_name, le) (...)" in message("WH-PROM-005")
    assert message("WH-PROM-006").startswith(
        'dashboard "webhook-service / Resources" (resources.json), panel "Memory growth", query A: '
        'rate() over "container_memory_working_set_bytes"'
    )
    assert "(ServiceMonitor webhook-service: 1m)" in message("WH-PROM-007") and "at least 4m" in message("WH-PROM-007")
    assert message("WH-PROM-008").startswith('dashboard "webhook-service / Errors" (errors.json), panel "5xx ratio", query A: ')
    assert "parse error" in message("WH-PROM-008")
    assert message("WH-PROM-009").startswith(
        'metric "latency-p95": histogram_quantile() reads the bucket counters "istio_request_duration_milliseconds_bucket" '
        "without rate() or increase()"
    )
    assert message("WH-PROM-010").startswith(
        'group "webhook-service.latency", record "webhook_service:request_duration_seconds:p95_rate5m": histogram_quantile() '
        "with φ = 95: "
    )
    assert "returns +Inf" in message("WH-PROM-010") and "(0.95 for the 95th percentile)" in message("WH-PROM-010")
    assert message("WH-PROM-011").startswith(
        'group "webhook-service.requests", alert "WebhookServiceHighErrorRate": sum by (response_code) (rate(istio_requests_total'
    )
    assert "the left side keeps (response_code) and the right side no label" in message("WH-PROM-011")
    assert message("WH-PROM-011").endswith("; match the right side to each left series: / on () group_left")


# --------------------------------------------------------------------------- each rule, violating and valid

CASES = [
    # WH-PROM-004: per-series ratios of unaggregated rates
    ('rate(http_requests_total{code=~"5.."}[5m]) / rate(http_requests_total[5m])', {"WH-PROM-004"}),
    ("increase(errors_total[10m]) / on (pod) irate(requests_total[5m])", {"WH-PROM-004"}),
    ("(rate(a_total[5m]) / rate(b_total[5m])) > 0.1", {"WH-PROM-004"}),
    ("sum(rate(x_total[5m])) / sum(rate(y_total[5m]))", set()),
    ("sum by (pod) (rate(a_total[5m])) / sum by (pod) (rate(b_total[5m]))", set()),
    ("rate(x_total[5m]) / 60", set()),  # a unit conversion, not a ratio of series
    ("rate(x_total[5m]) / on () group_left sum(rate(x_total[5m]))", set()),  # each series' share of the total
    ("sum(rate(a_total[5m]) / rate(b_total[5m]))", set()),  # an aggregation wraps it
    # WH-PROM-005: histogram_quantile over buckets without le
    ("histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])))", {"WH-PROM-005"}),
    ("histogram_quantile(0.95, sum by (service) (rate(x_bucket[5m])))", {"WH-PROM-005"}),
    ("histogram_quantile(0.95, sum without (le) (rate(x_bucket[5m])))", {"WH-PROM-005"}),
    ("histogram_quantile(0.95, sum by (le) (max by (pod) (rate(x_bucket[5m]))))", {"WH-PROM-005"}),
    ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))", set()),
    ("histogram_quantile(0.95, sum by (service, le) (rate(x_bucket[5m])))", set()),
    ("histogram_quantile(0.95, sum without (pod) (rate(x_bucket[5m])))", set()),
    ("histogram_quantile(0.95, rate(x_bucket[5m]))", set()),
    ("histogram_quantile(0.9, sum(rate(http_request_duration_seconds[5m])))", set()),  # a native histogram: no le, no suffix
    # WH-PROM-006: rate-like functions over gauges
    ("rate(container_memory_working_set_bytes[5m])", {"WH-PROM-006"}),
    ("sum(increase(process_resident_memory_bytes[5m]))", {"WH-PROM-006"}),
    ("irate({__name__=\"queue_depth\"}[5m])", {"WH-PROM-006"}),
    ("rate(webhook_service:request_error_ratio:rate5m[5m])", {"WH-PROM-006"}),
    ("avg_over_time(container_memory_working_set_bytes[5m])", set()),
    ("deriv(queue_depth[5m])", set()),
    ("rate(job:http_requests_total:sum[5m])", set()),
    ("sum(rate(istio_requests_total[5m])) + sum(rate(istio_request_duration_milliseconds_count[5m]))", set()),
    # WH-PROM-007: windows shorter than four scrape intervals (30s by default)
    ("sum(rate(http_requests_total[1m]))", {"WH-PROM-007"}),
    ("deriv(queue_depth[90s])", {"WH-PROM-007"}),
    ("sum(rate(http_requests_total[2m]))", set()),
    ("max_over_time(up[1m])", set()),  # a level, not a difference of samples
    ("max_over_time(rate(http_requests_total[5m])[1m:15s])", set()),  # a subquery samples at its own step
    # WH-PROM-006 over subqueries: sum-then-rate, arithmetic across series, gauges
    ("rate(sum(x_total)[5m:30s])", {"WH-PROM-006"}),
    ("sum(increase(sum by (pod) (x_total)[1h:1m]))", {"WH-PROM-006"}),
    ("rate((sum(x_total) * 1000)[5m:])", {"WH-PROM-006"}),  # a unit conversion does not hide the sum
    ("increase((a_total + b_total)[1h:])", {"WH-PROM-006"}),
    ("rate(queue_depth[5m:])", {"WH-PROM-006"}),
    ("rate(x_total[5m:30s])", set()),  # one counter, resampled: still a counter
    ('rate(label_replace(x_total, "a", "$1", "b", "(.*)")[5m:])', set()),
    ("rate((x_total > 0)[5m:])", set()),  # a filter keeps each series' own values
    ("sum(rate(x_total[5m]))", set()),  # rate first, then sum: right
    ("max_over_time(sum(rate(x_total[5m]))[10m:1m])", set()),  # not rate-like
    # WH-PROM-009: histogram_quantile over raw bucket counters
    ('histogram_quantile(0.95, sum by (le) (istio_request_duration_milliseconds_bucket{reporter="destination"}))',
     {"WH-PROM-009"}),
    ("histogram_quantile(0.9, x_bucket)", {"WH-PROM-009"}),
    ("histogram_quantile(0.9, sum by (le) (avg_over_time(x_bucket[5m])))", {"WH-PROM-009"}),
    ("histogram_quantile(0.9, sum by (le) (job:x_bucket:sum))", {"WH-PROM-009"}),  # a recorded sum of the counters
    ("histogram_quantile(0.9, sum by (le) (increase(x_bucket[1h])))", set()),
    ("histogram_quantile(0.9, sum by (le) (irate(x_bucket[5m])))", set()),
    ("histogram_quantile(0.9, sum by (le) (job:x_bucket:rate5m))", set()),  # a recorded rate
    ("histogram_quantile(0.9, sum(rate(http_request_duration_seconds[5m])))", set()),  # a native histogram
    # WH-PROM-010: φ outside [0, 1]
    ("histogram_quantile(95, sum by (le) (rate(x_bucket[5m])))", {"WH-PROM-010"}),
    ("histogram_quantile(-0.5, sum by (le) (rate(x_bucket[5m])))", {"WH-PROM-010"}),
    ("histogram_quantile(NaN, sum by (le) (rate(x_bucket[5m])))", {"WH-PROM-010"}),
    ("histogram_quantile(2 * 0.75, sum by (le) (rate(x_bucket[5m])))", {"WH-PROM-010"}),
    ("quantile(99, rate(x_total[5m]))", {"WH-PROM-010"}),
    ("quantile_over_time(50, up[5m])", {"WH-PROM-010"}),
    ("histogram_quantile(95 / 100, sum by (le) (rate(x_bucket[5m])))", set()),
    ("histogram_quantile(1, sum by (le) (rate(x_bucket[5m])))", set()),
    ("histogram_quantile(0, sum by (le) (rate(x_bucket[5m])))", set()),
    ("quantile(0.99, rate(x_total[5m])) + quantile_over_time(0.5, up[5m])", set()),
    ("histogram_quantile(scalar(phi), sum by (le) (rate(x_bucket[5m])))", set()),  # depends on data: not judged
    # WH-PROM-011: binary operations whose sides keep different labels
    ("sum by (code) (rate(a_total[5m])) / sum(rate(a_total[5m]))", {"WH-PROM-011"}),
    ("sum by (a, b) (rate(x_total[5m])) / sum by (b, c) (rate(y_total[5m]))", {"WH-PROM-011"}),
    ("sum by (code) (rate(a_total[5m])) / ignoring (pod) sum(rate(a_total[5m]))", {"WH-PROM-011"}),
    ("sum by (a) (rate(x_total[5m])) / on (a) sum by (b) (rate(y_total[5m]))", {"WH-PROM-011"}),
    ("sum by (code) (rate(a_total[5m])) > 1 and sum(rate(b_total[5m])) > 1", {"WH-PROM-011"}),
    ("sum by (code) (rate(a_total[5m])) > 1 unless sum(rate(b_total[5m])) > 1", {"WH-PROM-011"}),
    ("sum by (code) (rate(a_total[5m])) > bool vector(1)", {"WH-PROM-011"}),
    ("histogram_quantile(0.9, sum by (le, code) (rate(x_bucket[5m]))) > sum(rate(a_total[5m]))", {"WH-PROM-011"}),
    ("sum by (code) (rate(a_total[5m])) / on () group_left sum(rate(a_total[5m]))", set()),
    ("sum by (code) (rate(a_total[5m])) / ignoring (code) group_left sum(rate(a_total[5m]))", set()),
    ("sum by (a, b) (rate(x_total[5m])) / on (a) group_left sum by (a) (rate(y_total[5m]))", set()),
    ("sum by (code) (rate(a_total[5m])) / sum by (code) (rate(b_total[5m]))", set()),
    ("sum without (pod) (rate(a_total[5m])) / sum(rate(a_total[5m]))", set()),  # labels depend on the data
    ("sum by (code) (rate(a_total[5m])) / scalar(sum(rate(a_total[5m])))", set()),  # a scalar matches every series
    ("sum by (code) (rate(a_total[5m])) / 60", set()),
    ("sum by (code) (rate(a_total[5m])) or vector(0)", set()),  # a union needs no partner
    ("sum by (code) (rate(a_total[5m])) / rate(a_total[5m])", set()),  # a selector's labels are the data's
    ("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m]))) > sum(rate(a_total[5m]))", set()),  # le is gone
    ("topk(3, sum by (pod) (rate(a_total[5m]))) / sum by (pod) (rate(b_total[5m]))", set()),
]


@pytest.mark.parametrize("expr, expected", CASES)
def test_each_rule_on_alert_expressions(expr, expected, tmp_path):
    found = run_stage(tmp_path, rule_source(expr))
    assert {v.rule for v in found} == expected, messages(found)


ONE_PER_RULE = {
    "WH-PROM-004": 'rate(http_requests_total{code=~"5.."}[5m]) / rate(http_requests_total[5m])',
    "WH-PROM-005": "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])))",
    "WH-PROM-006": "rate(container_memory_working_set_bytes[5m])",
    "WH-PROM-007": "sum(rate(http_requests_total[1m]))",
    "WH-PROM-009": "histogram_quantile(0.95, sum by (le) (http_request_duration_seconds_bucket))",
    "WH-PROM-010": "histogram_quantile(95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "WH-PROM-011": "sum by (code) (rate(http_requests_total[5m])) / sum(rate(http_requests_total[5m]))",
}
WHERE = {
    rule_source: 'group "g", record "x:y:z{n}": ',
    analysis_source: 'metric "m{n}": ',
    dashboard_source: 'dashboard "Board" (board.json), panel "P{n}", query A: ',
}


@pytest.mark.parametrize("make", WHERE, ids=["alerts", "analysis", "dashboards"])
def test_alerts_analysis_queries_and_dashboards_are_all_judged(make, tmp_path):
    found = run_stage(tmp_path, make(*ONE_PER_RULE.values()))
    assert [v.rule for v in found] == list(ONE_PER_RULE), messages(found)
    for n, v in enumerate(found):
        assert v.message.startswith(WHERE[make].format(n=n)), v.message


def test_the_scrape_interval_comes_from_the_source_monitor(tmp_path):
    expr = "sum(rate(http_requests_total[2m]))"
    assert run_stage(tmp_path, rule_source(expr, extra=(monitor("15s"),))) == []
    [found] = run_stage(tmp_path, rule_source(expr, extra=(monitor("1m"),)))
    assert found.rule == "WH-PROM-007" and "(ServiceMonitor sm: 1m)" in found.message
    # an endpoint without interval is scraped at Prometheus' global interval: the default (30s)
    assert run_stage(tmp_path, rule_source("sum(rate(http_requests_total[1m]))", extra=(monitor("15s"), monitor(None)))) != []
    [found] = run_stage(tmp_path, rule_source("sum(rate(http_requests_total[1m]))"))
    assert "(params.prometheus.scrapeInterval: 30s)" in found.message and "at least 2m" in found.message


# --------------------------------------------------------------------------- Grafana dashboards


def test_a_dashboard_query_that_does_not_parse_is_reported(tmp_path):
    [found] = run_stage(tmp_path, dashboard_source("sum(rate(x_total[5m])", "sum(rate(x_total[5m]))"))
    assert found.rule == "WH-PROM-008" and (found.kind, found.name) == ("ConfigMap", "boards")
    assert found.message.startswith('dashboard "Board" (board.json), panel "P0", query A: the query (Grafana variables substituted)')
    assert "unclosed left parenthesis" in found.message  # the parser's own words


def test_a_dashboard_that_is_not_json_is_reported(tmp_path):
    source = dashboard_source("up")
    source.documents[0].obj["data"]["board.json"] = "{not json"
    [found] = run_stage(tmp_path, source)
    assert found.rule == "WH-PROM-008" and "board.json: not valid JSON" in found.message


def test_grafana_variables_are_substituted_as_grafana_would():
    board = {
        "title": "B",
        "templating": {"list": [
            {"name": "namespace", "current": {"value": "webhook-service"}},
            {"name": "pod", "current": {"value": ["$__all"]}, "allValue": "webhook-.*"},
            {"name": "window", "type": "interval", "query": "5m,10m"},
        ]},
        "rows": [{"panels": [{"title": "P", "targets": [
            {"refId": "A", "expr": 'rate(x_total{namespace="$namespace", pod=~"${pod:regex}"}[$__rate_interval])'},
            {"refId": "B", "expr": "rate(x_total[[[window]]]) * $__interval_ms / $unknown"},
            {"refId": "C", "expr": '{app="x"} |= "error"', "datasource": {"type": "loki", "uid": "logs"}},
        ]}]}],
    }
    found = grafana.queries(board, "b.json", 30)
    assert [q.expr for q in found] == [
        'rate(x_total{namespace="webhook-service", pod=~"webhook-.*"}[2m])',
        "rate(x_total[5m]) * 30000 / $unknown",  # an unknown variable stays, as Grafana leaves it
    ]
    assert found[0].where == 'dashboard "B" (b.json), panel "P", query A'


def test_rate_over_grafana_interval_is_too_short(tmp_path):
    """$__interval falls to one scrape interval when zoomed in; $__rate_interval is four."""
    found = run_stage(tmp_path, dashboard_source("sum(rate(x_total[$__interval]))", "sum(rate(x_total[$__rate_interval]))"))
    assert [(v.rule, v.message.split(":")[0]) for v in found] == [("WH-PROM-007", 'dashboard "Board" (board.json), panel "P0", query A')]
    assert "[$__rate_interval] in Grafana" in found[0].message


@pytest.mark.parametrize("target", ["overlays/staging", "overlays/production", "tests/overlays/blue-green", "argocd"])
def test_real_targets_are_clean_and_their_dashboards_are_read(target, rendered, tmp_path):
    docs = rendered(target)
    assert run_stage(tmp_path, Source(target, "overlay", docs)) == []
    if target != "argocd":
        boards = [b for d in docs for b in grafana.dashboards(d)]
        # every dashboard of base/dashboards, whichever ConfigMap carries it
        expected = len(list((REPO / "base" / "dashboards").glob("*.json")))
        assert len(boards) == expected and sum(len(grafana.queries(b.board, b.key, 30)) for b in boards) >= 15


# --------------------------------------------------------------------------- promql_ast: the tool and the trees


def promql_ast_binary() -> str:
    return Context(settings.load(), Path(".")).tool("promql-ast")


def test_one_promql_ast_process_per_run(tmp_path, monkeypatch):
    started = []
    real = runner.run

    def run(cmd, **kwargs):
        started.append(cmd[0])
        return real(cmd, **kwargs)

    monkeypatch.setattr(runner, "run", run)
    run_stage(tmp_path, rule_source(*ONE_PER_RULE.values()), analysis_source("up"), dashboard_source("up", "rate(x_total[5m])"))
    assert len([c for c in started if c.endswith("promql-ast")]) == 1


def fake_tool(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-promql-ast"
    path.write_text(f"#!{sys.executable}\nimport json, sys\nitems = json.load(sys.stdin)\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_an_id_the_tool_does_not_answer_is_a_tool_error(tmp_path):
    """Never fail open: an expression without an answer would otherwise go unchecked."""
    tool = fake_tool(tmp_path, 'print(json.dumps({"id": items[0]["id"], "tree": {"node": "NumberLiteral"}}))')
    with pytest.raises(ToolError, match=r"^promql-ast returned no result for 1 of 2 expression\(s\), first 'b'$"):
        promql_ast.parse({"a": "1", "b": "2"}, tool)


@pytest.mark.parametrize(
    "body, message",
    [
        ('sys.stderr.write("boom\\n"); sys.exit(3)', r"^promql-ast failed \(exit 3\): boom$"),
        ('print("not json")', r"^promql-ast printed something that is not a result: not json$"),
        ('print(json.dumps({"id": "zzz", "error": "x"}))', r"answered 'zzz' unexpectedly"),
        ('[print(json.dumps({"id": i["id"]})) for i in items]', r"answered 'a' unexpectedly"),
    ],
)
def test_a_broken_tool_is_a_tool_error(tmp_path, body, message):
    with pytest.raises(ToolError, match=message):
        promql_ast.parse({"a": "1"}, fake_tool(tmp_path, body))


def test_a_tool_that_hangs_is_stopped_and_a_tool_error(tmp_path):
    with pytest.raises(ToolError, match=r"^promql-ast gave no answer within 2s \(setting tool-timeout-seconds\): stopped it$"):
        promql_ast.parse({"a": "1"}, fake_tool(tmp_path, "import time; time.sleep(60)"), timeout=2)


def test_a_missing_tool_is_a_tool_error(tmp_path):
    with pytest.raises(ToolError, match="promql-ast could not run"):
        promql_ast.parse({"a": "1"}, str(tmp_path / "nowhere"))


def test_trees_carry_types_matching_and_selectors():
    parsed = promql_ast.parse(
        {"q": 'sum by (le) (rate(x_bucket{a=~"b.*"}[5m] offset 1m)) / on (pod) group_left (v) rate(y_total[1m:30s])', "bad": "rate(x)"},
        promql_ast_binary(),
    )
    assert parsed["bad"].tree is None and "expected type range vector in call to function \"rate\"" in parsed["bad"].error
    tree = parsed["q"].tree
    assert (tree["node"], tree["op"], tree["type"]) == ("BinaryExpr", "/", "vector")
    assert tree["matching"] == {"card": "many-to-one", "on": True, "ignoring": False, "labels": ["pod"], "include": ["v"]}
    assert (tree["lhs"]["op"], tree["lhs"]["grouping"], tree["lhs"]["without"]) == ("sum", ["le"], False)
    assert tree["rhs"]["args"][0]["node"] == "SubqueryExpr" and tree["rhs"]["args"][0]["step_seconds"] == 30
    [bucket, total] = promql_ast.vector_selectors(tree)
    assert (bucket.metric, bucket.range_seconds, total.range_seconds) == ("x_bucket", 300, None)
    assert bucket.matching("a") == [promql_ast.Matcher("a", "=~", "b.*")]
    assert bucket.node["offset_seconds"] == 60
    assert parsed["q"].text(tree["lhs"]) == 'sum by (le) (rate(x_bucket{a=~"b.*"}[5m] offset 1m))'


def test_vector_selectors_of_the_real_analysis_queries_name_the_canary_service(rendered):
    """What a reference check needs: the matchers of every selector of a rendered analysis query."""
    from gitops_check import analysis

    docs = rendered("overlays/production")
    templates = ("webhook-service-success-rate", "webhook-service-latency-p95")
    queries = {f"{d.name}/{m.name}": m.query for d in docs if d.kind == "AnalysisTemplate" and d.name in templates
               for m in analysis.prometheus_metrics(d, {"canary-service": "webhook-service-canary"})}
    assert len(queries) == 2
    for key, result in promql_ast.parse(queries, promql_ast_binary()).items():
        selectors = promql_ast.vector_selectors(result.tree)
        assert selectors, key
        for selector in selectors:
            assert selector.matching("destination_service_name") == [
                promql_ast.Matcher("destination_service_name", "=", "webhook-service-canary")
            ], key


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("1m30s", 90), ("2d", 172800), ("1y", 31536000), ("1w", 604800), ("500ms", 0.5), ("0", 0), ("1h0m", 3600)],
)
def test_prometheus_durations(text, seconds):
    assert promql_ast.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1.5m", "1s1m", "5 m", "-1m", "1M"])
def test_what_prometheus_rejects_is_not_a_duration(text):
    with pytest.raises(ValueError):
        promql_ast.duration_seconds(text)


@pytest.mark.parametrize("seconds, text", [(120, "2m"), (90, "1m30s"), (0.5, "500ms"), (86400 * 2, "2d"), (0, "0s")])
def test_durations_are_written_the_way_prometheus_reads_them(seconds, text):
    assert promql_ast.format_duration(seconds) == text
    assert promql_ast.duration_seconds(text) == seconds


def test_a_missing_default_scrape_interval_is_an_input_error(tmp_path):
    import dataclasses

    from gitops_check.errors import InputError

    (tmp_path / "data").mkdir()
    params = yaml.safe_load((settings.load().policies_dir / "data" / "params.yaml").read_text())
    del params["params"]["prometheus"]["scrapeInterval"]
    (tmp_path / "data" / "params.yaml").write_text(yaml.safe_dump(params))
    ctx = Context(dataclasses.replace(settings.load(), policies_dir=tmp_path), tmp_path)
    with pytest.raises(InputError, match=r"params.yaml: cannot read params.prometheus.scrapeInterval"):
        promql_meaning.check([rule_source("sum(rate(x_total[5m]))")], ctx)
    # read only when a query needs it: a monitor's interval, or nothing to check, needs no default
    assert promql_meaning.check([rule_source("sum(rate(x_total[5m]))", extra=(monitor("30s"),))], ctx) == []
    assert promql_meaning.check([Source("empty", "file", [Document(monitor(None), "inline")])], ctx) == []


def test_the_sidecars_metrics_are_judged_by_the_scrape_of_the_sidecars_port(tmp_path):
    """The service's ServiceMonitor scrapes its own metrics port, not Envoy's: a 1m interval there does not make a 2m
    window over istio_* too short (the cluster's Prometheus scrapes every sidecar at params.prometheus.scrapeInterval,
    30s); a PodMonitor of the sidecar's port (by the injector's name for it, or 15090) does."""
    slow_app = monitor("1m")
    istio = "sum(rate(istio_requests_total[2m]))"
    assert messages(promql_meaning.check([rule_source(istio, extra=(slow_app,))], Context(settings.load(), tmp_path))) == []
    found = promql_meaning.check([rule_source("sum(rate(http_requests_total[2m]))", extra=(slow_app,))],
                                 Context(settings.load(), tmp_path))
    assert [v.rule for v in found] == ["WH-PROM-007"]
    for endpoint in ({"port": "http-envoy-prom", "interval": "1m"}, {"portNumber": 15090, "interval": "1m"}):
        envoy = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "envoy", "namespace": "ns"},
                 "spec": {"selector": {}, "podMetricsEndpoints": [endpoint]}}
        found = promql_meaning.check([rule_source(istio, extra=(envoy,))], Context(settings.load(), tmp_path))
        assert [v.rule for v in found] == ["WH-PROM-007"] and "(PodMonitor envoy: 1m)" in found[0].message
    # each window by the scrape of what it reads: here only the service's own metric's window is too short
    mixed = "sum(rate(istio_requests_total[2m])) / sum(rate(http_requests_total[2m]))"
    [v] = promql_meaning.check([rule_source(mixed, extra=(slow_app,))], Context(settings.load(), tmp_path))
    assert v.rule == "WH-PROM-007" and "rate(http_requests_total[2m])" in v.message and "(ServiceMonitor sm: 1m)" in v.message


def test_counters_third_party_exporters_name_without_total_are_listed_in_params(tmp_path):
    """ingress-nginx's nginx_ingress_controller_requests is a counter (a CounterVec) without _total: listed in
    params.prometheus.counters, rate() over it is fine; unlisted it is WH-PROM-006; a malformed list is bad input."""
    import dataclasses

    from gitops_check.errors import InputError

    query = 'sum(rate(nginx_ingress_controller_requests{status=~"5.."}[5m]))'
    params = yaml.safe_load((settings.load().policies_dir / "data" / "params.yaml").read_text())

    def judged(counters) -> list[str]:
        folder = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
        (folder / "data").mkdir(parents=True)
        params["params"]["prometheus"]["counters"] = counters
        (folder / "data" / "params.yaml").write_text(yaml.safe_dump(params))
        ctx = Context(dataclasses.replace(settings.load(), policies_dir=folder), tmp_path)
        return [v.rule for v in promql_meaning.check([rule_source(query)], ctx)]

    assert judged(["nginx_ingress_controller_requests"]) == []
    assert judged([]) == ["WH-PROM-006"]
    with pytest.raises(InputError, match=r"params.prometheus.counters must be a list of metric names"):
        judged("nginx_ingress_controller_requests")

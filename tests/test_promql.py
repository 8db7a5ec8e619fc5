"""The promql stage, the analysis evaluator and the canary-analysis script, against the real tools.

promtool checks every rule and query (no mock); the rendered alerts are unit-tested with
`promtool test rules`; the rendered AnalysisTemplates are run against a real Prometheus server loaded
with synthetic canary traffic, and judged by the same code the script uses.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO
from gitops_check import analysis, loader, promql, runner, settings
from gitops_check.context import Context
from gitops_check.model import Document, Source

PROMQL = FIXTURES / "promql"
OVERLAYS = ("overlays/staging", "overlays/production")
SCRIPT = REPO / "scripts" / "canary-analysis"


def fixture_source(*names: str) -> Source:
    docs = [d for name in names for d in loader.read_file(PROMQL / name, f"promql/{name}")]
    return Source("promql/" + "+".join(names), "file", docs)


def run_stage(tmp_path: Path, *sources: Source):
    return promql.check(list(sources), Context(settings.load(), tmp_path))


def ids(violations) -> set[str]:
    return {v.rule for v in violations}


# --------------------------------------------------------------------------- the promql stage


def test_valid_rules_and_queries_are_clean(tmp_path):
    assert run_stage(tmp_path, fixture_source("valid/resources.yaml")) == []


def test_broken_alert_expression_and_template_fire_wh_prom_001(tmp_path):
    found = run_stage(tmp_path, fixture_source("broken-rule.yaml"))
    assert ids(found) == {"WH-PROM-001"}
    messages = sorted(v.message for v in found)
    assert len(messages) == 2  # the valid alert "Fine" beside them is not reported
    assert 'group "webhook-service.slo", alert "WebhookServiceHighErrorRate" does not load' in messages[0]
    assert "unclosed left parenthesis" in messages[0]  # promtool's own words
    assert 'group "webhook-service.templates", alert "BadTemplate" does not load' in messages[1]
    assert 'annotation "summary"' in messages[1]
    assert all(v.kind == "PrometheusRule" and v.name == "broken" for v in found)


def test_broken_analysis_query_fires_wh_prom_002(tmp_path):
    [found] = run_stage(tmp_path, fixture_source("broken-query.yaml"))
    assert found.rule == "WH-PROM-002" and found.severity == "error"
    assert (found.kind, found.name) == ("ClusterAnalysisTemplate", "latency")
    assert 'metric "latency-p95"' in found.message and "parse error" in found.message


def test_prometheus_provider_without_query_fires_wh_prom_002(tmp_path):
    doc = loader.read_file(PROMQL / "broken-query.yaml")[0]
    del doc.obj["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    [found] = run_stage(tmp_path, Source("inline", "file", [doc]))
    assert found.rule == "WH-PROM-002" and "has no query" in found.message


def test_duplicate_alert_in_one_source_warns_wh_prom_003(tmp_path):
    found = run_stage(tmp_path, fixture_source("duplicate-rule.yaml"))
    assert ids(found) == {"WH-PROM-003"}
    assert {v.name for v in found} == {"first", "second"}
    assert all(v.severity == "warning" and 'alert "WebhookServiceDown" (severity=page)' in v.message for v in found)


def test_the_same_rules_in_two_overlays_are_not_duplicates(tmp_path):
    assert run_stage(tmp_path, fixture_source("valid/resources.yaml"), fixture_source("valid/resources.yaml")) == []


def test_malformed_groups_are_reported_not_skipped(tmp_path):
    doc = loader.read_file(PROMQL / "broken-rule.yaml")[0]
    doc.obj["spec"]["groups"] = {"not": "a list"}
    [found] = run_stage(tmp_path, Source("inline", "file", [doc]))
    assert found.rule == "WH-PROM-001" and "spec.groups is not a list" in found.message


def test_a_promtool_error_that_names_no_rule_is_still_reported():
    source = fixture_source("valid/resources.yaml")
    batch = promql._Batch()
    files = {"000.rules.yaml": promql._RuleFile(source)}
    [found] = promql._Output(batch, files).parse('Checking 000.rules.yaml\n  FAILED:\n000.rules.yaml: not a valid duration string: "2x"\n')
    assert found.rule == "WH-PROM-001" and found.source == source.name and "not a valid duration string" in found.message


def test_every_source_is_checked_by_one_promtool_process(tmp_path, monkeypatch):
    calls = []
    real_run = runner.run
    monkeypatch.setattr(runner, "run", lambda cmd, **kw: calls.append(cmd) or real_run(cmd, **kw))
    found = run_stage(tmp_path, *(fixture_source(n) for n in ("valid/resources.yaml", "broken-rule.yaml", "broken-query.yaml")))
    calls = [c for c in calls if c[0].endswith("promtool")]
    assert len(calls) == 1 and calls[0][1:3] == ["check", "rules"]
    assert ids(found) == {"WH-PROM-001", "WH-PROM-002"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_real_overlays_alerts_and_queries_load_in_prometheus(overlay, rendered, tmp_path):
    docs = rendered(overlay)
    assert [d for d in docs if d.kind == "PrometheusRule"], f"{overlay} renders no PrometheusRule"
    assert [d for d in docs if d.kind in analysis.ANALYSIS_KINDS], f"{overlay} renders no AnalysisTemplate"
    assert run_stage(tmp_path, Source(overlay, "overlay", docs)) == []


# --------------------------------------------------------------------------- the condition evaluator

EMPTY, NAN = [], [float("nan")]


@pytest.mark.parametrize(
    "condition, result, expected",
    [
        ("result[0] >= 0.995", [0.999], True),
        ("result[0] >= 0.995", [0.99], False),
        ("result[0] <= 0.5 && result[0] > 0", [0.2], True),
        ("result[0] < 0.1 || result[0] > 0.9", [0.5], False),
        ("len(result) == 0 || result[0] > 1", EMPTY, True),  # || short-circuits like expr-lang
        ("len(result) > 0 && result[0] > 1", EMPTY, False),  # && too
        ("isNaN(result[0])", NAN, True),
        ("!isNaN(result[0]) and result[0] >= 1e-3", [0.5], True),
        ("result >= 0.5", 0.7, True),  # a scalar query
        ("(result[1] - result[0]) * 2 / 4 == 0.5", [1.0, 2.0], True),
        ("result[0] >= 0.995", NAN, False),  # NaN compares false, as in Go
    ],
)
def test_conditions_evaluate_like_argo_rollouts(condition, result, expected):
    assert analysis.evaluate(condition, result) is expected


@pytest.mark.parametrize(
    "condition", ["", "result[0] >=", "__import__('os')", "result.foo", "1 == 1 == 1", "(1 < 2", "result[0] ~ 1", "result[0] + 1"]
)
def test_conditions_outside_the_subset_are_rejected_not_evaluated(condition):
    with pytest.raises(analysis.ConditionError):
        analysis.evaluate(condition, [1.0])


@pytest.mark.parametrize(
    "result, success, failure, phase",
    [
        ([0.999], "result[0] >= 0.995", "result[0] < 0.995", analysis.SUCCESSFUL),
        ([0.9], "result[0] >= 0.995", "result[0] < 0.995", analysis.FAILED),
        (NAN, "result[0] >= 0.995", "result[0] < 0.995", analysis.INCONCLUSIVE),  # both set, neither true
        ([0.9], "result[0] >= 0.995", "", analysis.FAILED),  # success only: not success is failure
        ([0.9], "", "result[0] < 0.5", analysis.SUCCESSFUL),  # failure only: not failure is success
        ([0.9], "", "", analysis.SUCCESSFUL),
        ([0.999], "result[0] >= 0.995", "result[0] > 0.5", analysis.FAILED),  # failure wins
        (EMPTY, "result[0] >= 0.995", "", analysis.ERROR),  # index out of range: measurement Error
    ],
)
def test_measurement_phases_follow_the_rollouts_controller(result, success, failure, phase):
    assert analysis.measure(result, success, failure)[0] == phase


def test_args_are_substituted_in_queries_and_conditions():
    doc = loader.read_file(PROMQL / "valid" / "resources.yaml")[1]
    [rate, latency] = analysis.prometheus_metrics(doc, {"canary-service": "webhook-service-canary"})
    assert 'destination_service_name="webhook-service-canary"' in rate.query and "{{" not in rate.query
    assert rate.success == "len(result) > 0 && result[0] >= 0.995"
    assert analysis.unresolved_args(doc) == ["canary-service"]
    assert analysis.unresolved_args(doc, {"canary-service": "x"}) == []


# --------------------------------------------------------------------------- promtool test rules


def rendered_rule_groups(docs: list[Document]) -> list[dict]:
    return [g for d in docs if d.kind == "PrometheusRule" for g in d.obj["spec"]["groups"]]


def test_rendered_alerts_fire_as_specified(rendered, tmp_path):
    """tests/promql/alerts_test.yaml feeds series into the production overlay's rules (rendered by
    kustomize, as Prometheus would load them) and asserts which alerts fire when, with which labels.
    Annotations are dropped first so the tests pin behaviour, not wording."""
    groups = rendered_rule_groups(rendered("overlays/production"))
    assert groups, "overlays/production renders no PrometheusRule groups"
    for rule_ in (r for g in groups for r in g["rules"]):
        rule_.pop("annotations", None)  # prose, policed elsewhere (WH-PROM-001 checks the templates parse)
    (tmp_path / "rendered-rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    shutil.copy(REPO / "tests" / "promql" / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    promtool = Context(settings.load(), tmp_path).tool("promtool")
    proc = subprocess.run([promtool, "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


# --------------------------------------------------------------------------- a real Prometheus

NOW = (int(time.time()) // 60) * 60 - 600  # evaluation time: recent past, inside the default retention
SCENARIOS = {
    # service: (requests per second, share of 5xx, bucket (le, ms) every request falls into)
    "canary-good": (20.0, 0.001, "100"),
    "canary-errors": (20.0, 0.05, "100"),
    "canary-slow": (20.0, 0.0, "2500"),
    "canary-idle": (0.0, 0.0, "100"),  # series exist, counters flat: no traffic
}  # and "canary-absent" has no series at all
BUCKETS = ("5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "+Inf")


def openmetrics(start: int, end: int, step: int = 15) -> str:
    """Istio's request metrics for each scenario's destination Service, as counters growing at a
    constant rate (so rate() over any window returns the scenario's numbers)."""
    families: dict[str, list[str]] = {"istio_requests": [], "istio_request_duration_milliseconds": []}
    for service, (rps, error_share, bucket) in SCENARIOS.items():
        labels = (
            f'reporter="destination",destination_service_name="{service}",destination_service_namespace="webhook-service",'
            f'destination_service="{service}.webhook-service.svc.cluster.local",destination_workload="webhook-service",'
            f'destination_workload_namespace="webhook-service",destination_app="webhook-service",request_protocol="http"'
        )
        for code, share in (("200", 1 - error_share), ("503", error_share)):
            series = f"{labels},response_code=\"{code}\""
            families["istio_requests"] += [
                f"istio_requests_total{{{series}}} {rps * share * (t - start):.6f} {t}" for t in range(start, end + 1, step)
            ]
            for le in BUCKETS:
                inside = BUCKETS.index(le) >= BUCKETS.index(bucket)
                families["istio_request_duration_milliseconds"] += [
                    f'istio_request_duration_milliseconds_bucket{{{series},le="{le}"}} {rps * share * (t - start) * inside:.6f} {t}'
                    for t in range(start, end + 1, step)
                ]
    lines = []
    for family, kind in (("istio_requests", "counter"), ("istio_request_duration_milliseconds", "histogram")):
        lines += [f"# TYPE {family} {kind}", *families[family]]
    return "\n".join(lines + ["# EOF"]) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {seconds}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus on 127.0.0.1 (random port) whose TSDB holds the scenarios' last 30 minutes."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: run `make tools` (Debian package prometheus)"
    tmp = tmp_path_factory.mktemp("prometheus")
    (tmp / "series.om").write_text(openmetrics(NOW - 1800, NOW))
    promtool = Context(settings.load(), tmp).tool("promtool")
    created = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "series.om", "data"], cwd=tmp, capture_output=True, text=True
    )
    assert created.returncode == 0, created.stderr
    (tmp / "prometheus.yml").write_text("global: {}\n")
    url, log = f"http://127.0.0.1:{free_port()}", tmp / "prometheus.log"
    command = [
        binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}", "--storage.tsdb.retention.time=3650d",
    ]
    with log.open("w") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def templates(docs: list[Document]) -> list[Document]:
    found = [d for d in docs if d.kind in analysis.ANALYSIS_KINDS and analysis.prometheus_metrics(d)]
    assert found, "no AnalysisTemplate with a Prometheus metric"
    return found


def phases(url: str, docs: list[Document], service: str, service_arg: str) -> dict[str, str]:
    """metric name -> phase, every template measured at NOW with the args the Rollout passes (as the
    script resolves them), the canary Service swapped for a scenario's."""
    passed = analysis.rollout_args(docs)
    return {
        m.metric: m.phase
        for doc in templates(docs)
        for m in analysis.measure_template(doc, url, {**passed.get(doc.name, {}), service_arg: service}, at=NOW)
    }


def latency_metrics(docs: list[Document]) -> set[str]:
    return {m.name for d in templates(docs) for m in analysis.prometheus_metrics(d) if "duration" in (m.query or "")}


def expect(found: dict[str, str], failing: set[str]) -> None:
    for metric, phase in found.items():
        assert phase == (analysis.FAILED if metric in failing else analysis.SUCCESSFUL), found


def assert_scenarios(url: str, docs: list[Document], service_arg: str, quiet: str) -> None:
    """good -> all Successful; 5% errors -> the success-rate metrics Failed; slow -> the latency
    metrics Failed; no traffic (flat counters, or no series at all) -> `quiet`, never Failed."""
    latency = latency_metrics(docs)
    everything = set(phases(url, docs, "canary-good", service_arg))
    assert latency and everything - latency, f"expected success-rate and latency metrics, found {everything}"
    expect(phases(url, docs, "canary-good", service_arg), set())
    expect(phases(url, docs, "canary-errors", service_arg), everything - latency)
    expect(phases(url, docs, "canary-slow", service_arg), latency)
    for service in ("canary-idle", "canary-absent"):
        found = phases(url, docs, service, service_arg)
        assert set(found.values()) == {quiet}, (service, found)


def test_fixture_templates_judge_canary_traffic(prometheus):
    """Both conditions require data: a quiet canary is Inconclusive (Argo Rollouts pauses)."""
    docs = loader.read_file(PROMQL / "valid" / "resources.yaml")
    assert_scenarios(prometheus, docs, "canary-service", analysis.INCONCLUSIVE)


def test_rendered_templates_judge_canary_traffic(prometheus, rendered):
    """The real templates treat no traffic as Successful (documented in base/analysistemplates.yaml:
    an Inconclusive run would pause the rollout); what matters is that it is never Failed."""
    assert_scenarios(prometheus, rendered("overlays/production"), "canary-service", analysis.SUCCESSFUL)


# --------------------------------------------------------------------------- scripts/canary-analysis


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)


FIXTURE_OVERLAY = str(PROMQL / "valid")


@pytest.mark.parametrize(
    "service, code, verdict",
    [("canary-good", 0, "SUCCESSFUL"), ("canary-errors", 1, "FAILED"), ("canary-slow", 1, "FAILED"), ("canary-idle", 3, "INCONCLUSIVE")],
)
def test_script_prints_a_table_and_exits_with_the_verdict(prometheus, service, code, verdict):
    proc = script("--overlay", FIXTURE_OVERLAY, "--prometheus", prometheus, "--service", service, "--at", str(NOW))
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TEMPLATE", "METRIC", "VALUE", "THRESHOLD", "VERDICT"]
    assert lines[1].split()[:2] == ["success-rate", "success-rate"] and "pass if len(result) > 0 && result[0] >= 0.995" in lines[1]
    assert lines[-1].startswith(f"verdict: {verdict}")


def test_script_on_the_production_overlay_passes_a_good_canary(prometheus):
    """The default overlay, with the args the Rollout passes; only the canary Service is swapped."""
    proc = script("--prometheus", prometheus, "--service", "canary-good", "--at", str(NOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arg", "novalue"], "--arg 'novalue': expected NAME=VALUE"),
        (["--overlay", "overlays/nowhere"], "overlays/nowhere: no such file or directory"),
        (["--overlay", FIXTURE_OVERLAY, "--prometheus", "http://127.0.0.1:9"], "cannot query Prometheus at http://127.0.0.1:9"),
        (["--overlay", FIXTURE_OVERLAY, "--service-arg", "other"], "no value for arg(s) canary-service"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_script_bad_input_is_one_line_and_exit_2(args, message):
    proc = script(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_script_help_works():
    proc = script("--help")
    assert proc.returncode == 0 and "--prometheus URL" in proc.stdout and "Exit codes" in proc.stdout

"""Success and failure conditions judged by Argo Rollouts' own evaluator (the rollouts stage, WH-ANA-008).

rollouts-validate evaluates every Prometheus (and Datadog) metric's conditions with upstream's
evaluate.EvaluateResult, args substituted as the analysis controller substitutes them, over probe results a
query can return (empty and NaN vectors, scalars, -Inf..+Inf, each literal of the conditions ± epsilon). A
metric no probe fails cannot stop a bad canary: WH-ANA-008. One every probe errors can never succeed:
WH-RVAL-004 at its template (WH-RVAL-003 at the Rollout whose args cause it).

tests/fixtures/rollouts/conditions/invalid/ holds one source per case; its header says what is broken and
the one finding expected (`# expect: RULE KIND NAME`). Every file in valid/ must stay clean. All fixtures go
to rollouts-validate in one process, each as its own source.
"""

from __future__ import annotations

import re

import pytest

from conftest import FIXTURES
from gitops_check import loader, rollouts, settings
from gitops_check.context import Context
from gitops_check.model import Source
from gitops_check.rules import REGISTRY

CONDITIONS = FIXTURES / "rollouts" / "conditions"
INVALID = sorted((CONDITIONS / "invalid").glob("*.yaml"))
VALID = sorted((CONDITIONS / "valid").glob("*.yaml"))
HEADER = re.compile(r"\A# breaks: .+\n# expect: (?P<rule>WH-[A-Z]+-\d{3}) (?P<kind>\w+) (?P<name>\S+)\n")
PROBES = "{-Inf, -1e+09, -1, 0, 1e-09, 0.5, 1, 1e+09, +Inf}"


def template(name: str, success: str | None, failure: str | None, provider: dict | None = None) -> dict:
    metric = {"name": name, "interval": "1m", "failureLimit": 1,
              "provider": provider or {"prometheus": {"address": "http://prometheus:9090", "query": "sum(rate(ok[2m])) / sum(rate(all[2m]))"}}}
    if success is not None:
        metric["successCondition"] = success
    if failure is not None:
        metric["failureCondition"] = failure
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": name, "namespace": "demo"},
            "spec": {"metrics": [metric]}}


def judge(docs_by_source: dict[str, list], tmp_path) -> dict[str, list]:
    sources = [Source(name, "file", docs) for name, docs in docs_by_source.items()]
    found = rollouts.check(sources, Context(settings.load(), tmp_path))
    return {s.name: [v for v in found if v.source == s.name] for s in sources}


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """fixture name -> the rollouts stage's violations, for every conditions fixture, in one run."""
    names = {p: p.relative_to(CONDITIONS).as_posix() for p in INVALID + VALID}
    return judge({name: loader.read_file(p, name) for p, name in names.items()}, tmp_path_factory.mktemp("conditions"))


def test_the_rule_is_an_error_of_the_rollouts_stage():
    rule = REGISTRY["WH-ANA-008"]
    assert (rule.severity, rule.stage) == ("error", "rollouts")
    assert "Argo Rollouts' evaluator" in rule.title and "never stops a bad canary" in rule.why
    assert rollouts.RULES["evaluate.EvaluateResult"] is rollouts.CANNOT_FAIL


def test_fixtures_cover_every_case():
    rules = {HEADER.match(p.read_text())["rule"] for p in INVALID}
    kinds = {HEADER.match(p.read_text())["kind"] for p in INVALID}
    assert rules == {"WH-ANA-008", "WH-RVAL-004"}
    assert kinds == {"AnalysisTemplate", "ClusterAnalysisTemplate", "Rollout"}
    assert len(VALID) >= 4


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_each_condition_that_cannot_fail_or_succeed_is_reported(judged, path):
    h = HEADER.match(path.read_text())
    assert h, f"{path.name}: must start with '# breaks:' and '# expect: RULE KIND NAME' lines"
    found = judged[f"invalid/{path.name}"]
    assert [(v.rule, v.kind, v.name) for v in found] == [(h["rule"], h["kind"], h["name"])], [(v.rule, v.message) for v in found]
    assert found[0].severity == "error"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_conditions_a_bad_result_fails_stay_clean(judged, path):
    assert judged[f"valid/{path.name}"] == []


def test_the_message_names_template_metric_conditions_probes_and_the_fix(judged):
    [v] = judged["invalid/failure-condition-unreachable.yaml"]
    assert v.message.startswith('spec.metrics[0]: AnalysisTemplate "success-rate" metric "success-rate": ')
    # the conditions as they run: the template's own arg value substituted
    assert 'failureCondition "len(result) > 0 && isNaN(result[0]) && result[0] < 0.995"' in v.message
    assert "cannot fail the analysis: no Failed measurement for any of" in v.message
    assert PROBES in v.message and "the conditions' literals {0, 0.995}" in v.message
    assert "phases: Successful" in v.message and "Inconclusive" in v.message and "Failed" not in v.message.split("phases:")[1]
    assert "(Argo Rollouts evaluate.EvaluateResult); fix: compare result[0] with the SLO arg" in v.message
    assert "the failure condition must be reachable" in v.message


def test_a_rollout_whose_args_make_the_run_unfailable_is_reported_at_the_rollout(judged):
    [v] = judged["invalid/rollout-args-switch-off-the-failure.yaml"]
    assert v.message.startswith("spec.strategy.canary.steps[1].analysis.templates: with the args this Rollout passes, "
                                'AnalysisTemplate "success-rate" metric "success-rate": successCondition "true || result[0] >= 0.995"')


def test_a_condition_every_result_errors_is_the_templates_error(judged):
    [v] = judged["invalid/condition-errors-for-every-result.yaml"]
    assert "is an evaluation error for every one of" in v.message and "can never succeed" in v.message
    assert "(Argo Rollouts evaluate.EvalCondition)" in v.message


# Argo Rollouts' semantics (utils/evaluate EvaluateResult): only a successCondition -> a false success is
# Failed; only a failureCondition -> a false failure is Successful; both and neither true -> Inconclusive.
# -1, -1e9, -Inf and +Inf are results a query can return (a delta, x/0), so `result[0] >= 0` alone and
# `result[0] > 1e12` alone can fail.
SEMANTICS = {
    "success-true": ("true", None, "WH-ANA-008"),
    "success-length": ("len(result) >= 0", None, "WH-ANA-008"),
    "success-or-true": ("result[0] >= 0.995 || true", None, "WH-ANA-008"),
    "failure-false": (None, "false", "WH-ANA-008"),
    "failure-nan-and-value": (None, "isNaN(result[0]) && result[0] < 0.995", "WH-ANA-008"),
    "both-never-failed-only-inconclusive": ("result[0] >= 0.995", "result[0] < 0.995 && result[0] > 0.995", "WH-ANA-008"),
    "success-only-false-is-failed": ("result[0] >= 0.995", None, None),
    "success-nonnegative": ("result[0] >= 0", None, None),
    "failure-only-huge-threshold": (None, "result[0] > 1e12", None),
    "failure-only-reached-at-its-literal": (None, "result[0] == 0.123", None),
    "failure-only-just-above-literal": ("result[0] <= 0.5", "result[0] > 0.5 && result[0] < 0.5000001", None),
    "guarded-both": ("len(result) == 0 || isNaN(result[0]) || result[0] >= 0.995",
                     "len(result) > 0 && !isNaN(result[0]) && result[0] < 0.995", None),
    "scalar-style": ("result > 0.99", None, None),  # an Error on vectors, but a scalar query fails it
    "every-result-errors": ("result[0].value > 0.99", None, "WH-RVAL-004"),
    "syntax-error": ("result[0] >=", None, "WH-RVAL-004"),
    "no-conditions": (None, None, None),  # WH-ANA-001's finding (policies), not repeated here
}


def test_phases_are_argo_rollouts_own(tmp_path):
    docs = {name: loader.parse(_yaml(template(name, s, f)), name) for name, (s, f, _) in SEMANTICS.items()}
    found = judge(docs, tmp_path)
    got = {name: [v.rule for v in found[name]] for name in SEMANTICS}
    assert got == {name: [rule] if rule else [] for name, (_, _, rule) in SEMANTICS.items()}


def test_datadog_no_data_is_a_probe(tmp_path):
    datadog = {"datadog": {"query": "avg:requests.errors{service:demo}", "apiVersion": "v2"}}
    docs = {
        "no-data-only": [template("no-data-only", "isNil(result) || result >= 0", None, datadog)],
        "default-zero": [template("default-zero", "default(result, 0) >= 0.99", None, datadog)],
    }
    found = judge({k: loader.parse(_yaml(v[0]), k) for k, v in docs.items()}, tmp_path)
    assert [v.rule for v in found["no-data-only"]] == []  # -1 fails it
    assert [v.rule for v in found["default-zero"]] == []  # no data is 0: Failed
    always = template("always", "isNil(result) || !isNil(result)", None, datadog)
    found = judge({"always": loader.parse(_yaml(always), "always")}, tmp_path)
    assert [v.rule for v in found["always"]] == ["WH-ANA-008"]
    assert "Datadog results: no data and x" in found["always"][0].message


def test_an_arg_the_run_alone_knows_is_judged_at_the_rollout_not_at_the_template(tmp_path):
    path = CONDITIONS / "valid" / "rollout-passes-the-threshold.yaml"
    alone = [d for d in loader.read_file(path) if d.kind == "AnalysisTemplate"]
    assert judge({"alone": alone}, tmp_path) == {"alone": []}  # success-rate-min has no value: not judged


def test_a_condition_the_rollouts_args_make_always_error_is_its_runs_error(tmp_path):
    path = CONDITIONS / "valid" / "rollout-passes-the-threshold.yaml"
    text = path.read_text().replace('value: "0.995"', 'value: "high"')
    found = judge({"x": loader.parse(text, "x")}, tmp_path)["x"]
    assert [(v.rule, v.kind) for v in found] == [("WH-RVAL-003", "Rollout")], [(v.rule, v.message) for v in found]
    assert "(Argo Rollouts evaluate.EvalCondition)" in found[0].message


def _yaml(obj: dict) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False)

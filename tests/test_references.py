"""The references stage: every WH-REF rule fires on a fixture broken in exactly that one way, and the
clean fixtures (a full webhook-service set, Argo CD objects) stay quiet."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import FIXTURES
from gitops_check import loader, references, settings
from gitops_check.context import Context
from gitops_check.errors import InputError
from gitops_check.model import Document, Source
from gitops_check.references.index import Selector, seconds
from gitops_check.rules import REGISTRY

HERE = FIXTURES / "references"
RULES = sorted(r.id for r in REGISTRY.values() if r.stage == "references")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Settings with the fixtures' own replica minimums (production 3, staging 2), so the fixtures do
    not depend on how the repository tunes policies/data/params.yaml."""
    fixed = dataclasses.replace(settings.load(), policies_dir=HERE / "policies")
    return Context(fixed, tmp_path_factory.mktemp("references"))


def run(ctx, *docs_or_files) -> list:
    sources = []
    for item in docs_or_files:
        if isinstance(item, str):
            sources.append(Source(item, "file", loader.read_file(HERE / item, item)))
        else:
            sources.append(Source("inline", "file", list(item)))
    return references.check(sources, ctx)


def docs(text: str) -> list[Document]:
    return loader.parse(text, "inline")


def test_rules_are_registered():
    assert len(RULES) >= 30
    assert all(REGISTRY[r].severity in ("error", "warning") for r in RULES)


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_on_its_fixture_and_nothing_else(ctx, rule_id):
    fixture = HERE / f"{rule_id}.yaml"
    assert fixture.is_file(), f"rule {rule_id} has no fixture {fixture.name}"
    found = run(ctx, fixture.name)
    assert {v.rule for v in found} == {rule_id}, [f"{v.rule}: {v.message}" for v in found]
    for v in found:
        assert v.severity == REGISTRY[rule_id].severity
        assert v.kind and v.name and v.source == fixture.name
        assert "; " in v.message, "a message says what is wrong, then how to fix it"


def test_every_fixture_belongs_to_a_rule():
    assert sorted(p.stem for p in HERE.glob("WH-REF-*.yaml")) == RULES


@pytest.mark.parametrize("name", ["clean.yaml", "clean-argocd.yaml"])
def test_clean_fixtures_are_quiet(ctx, name):
    assert [f"{v.rule}: {v.message}" for v in run(ctx, name)] == []


def test_sources_are_judged_separately(ctx):
    """A Service in one source does not satisfy a Rollout in another: each source syncs on its own."""
    rollout = [d for d in loader.read_file(HERE / "clean.yaml") if d.kind != "Service"]
    services = [d for d in loader.read_file(HERE / "clean.yaml") if d.kind == "Service"]
    rules = {v.rule for v in run(ctx, rollout, services)}
    assert "WH-REF-011" in rules


def test_references_are_namespace_local(ctx):
    """An object in another namespace of the same source counts as missing, and the message says where it is."""
    text = (HERE / "clean.yaml").read_text().replace(
        "kind: ServiceAccount\nmetadata:\n  name: webhook-service\n  namespace: webhook-service",
        "kind: ServiceAccount\nmetadata:\n  name: webhook-service\n  namespace: other",
    )
    found = [v for v in run(ctx, docs(text)) if v.rule == "WH-REF-025"]
    assert len(found) == 1
    assert 'exists in namespace "other"' in found[0].message


def test_missing_namespace_means_the_main_namespace(ctx):
    text = (HERE / "clean.yaml").read_text().replace("  namespace: webhook-service\n", "", 3)
    assert run(ctx, docs(text)) == []


def test_cluster_analysis_template_outside_the_source_is_reported(ctx):
    text = (HERE / "clean.yaml").read_text().replace(
        "          - templateName: webhook-service-success-rate",
        "          - templateName: cluster-success-rate\n            clusterScope: true",
    )
    found = [v for v in run(ctx, docs(text)) if v.rule == "WH-REF-019"]
    assert len(found) == 1 and "ClusterAnalysisTemplate" in found[0].message and "not in this source" in found[0].message


def test_inline_metric_without_count_never_finishes(ctx):
    text = (HERE / "clean.yaml").read_text().replace("      count: 5\n", "")
    found = [v for v in run(ctx, docs(text)) if v.rule == "WH-REF-022"]
    assert len(found) == 1 and "forever" in found[0].message


def test_object_without_environment_is_judged_as_production(ctx):
    text = (HERE / "WH-REF-006.yaml").read_text()
    text = text.replace("labels: {environment: staging}", "labels: {}").replace("name: webapp", "name: web")
    text = text.replace("  replicas: 2\n", "")
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-008"]
    assert "production minimum of 3" in found[0].message


def test_hpa_on_a_workload_ref_deployment_is_reported(ctx):
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: app}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  strategy: {canary: {steps: [{setWeight: 50}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: web, image: web:1}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: app}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: app}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 5
"""
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-006"] and "workloadRef" in found[0].message


def test_malformed_fields_never_raise(ctx):
    """Wrong types are the schema stage's finding; the references stage must not crash on them."""
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, labels: [x]}
spec: {selector: 5, template: {metadata: {labels: x}, spec: {containers: [1, {ports: 7, env: {a: b}}]}},
       strategy: {canary: {steps: [1, {pause: 5}, {analysis: {templates: x}}], trafficRouting: {istio: []}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: [a], ports: {a: 1}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec: {source: {path: ../../etc}, destination: 3, project: 7}
"""
    assert isinstance(run(ctx, docs(text)), list)


def test_missing_params_file_is_an_input_error(tmp_path):
    broken = Context(dataclasses.replace(settings.load(), policies_dir=tmp_path), tmp_path)
    with pytest.raises(InputError, match="params.yaml"):
        run(broken, "WH-REF-008.yaml")


@pytest.mark.parametrize(
    ("expressions", "labels", "matches"),
    [
        ([{"key": "tier", "operator": "In", "values": ["a", "b"]}], {"tier": "b"}, True),
        ([{"key": "tier", "operator": "In", "values": ["a"]}], {}, False),
        ([{"key": "tier", "operator": "NotIn", "values": ["a"]}], {}, True),
        ([{"key": "tier", "operator": "NotIn", "values": ["a"]}], {"tier": "a"}, False),
        ([{"key": "tier", "operator": "Exists"}], {"tier": ""}, True),
        ([{"key": "tier", "operator": "DoesNotExist"}], {"tier": "a"}, False),
    ],
)
def test_selector_expressions(expressions, labels, matches):
    assert Selector({}, expressions).matches(labels) is matches


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1m30s", 90.0), ("2h", 7200.0), ("500ms", 0.5), (45, 45.0), ("30", 30.0), ("{{args.x}}", None), ("1x", None)],
)
def test_durations(value, expected):
    assert seconds(value) == expected


# A template whose thresholds are a lower bound (success rate) and, with reversed operands, an upper bound
# (latency); the Rollout's inline analysis overrides both.
THRESHOLDS = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: app, labels: {environment: staging}}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - analysis:
            templates:
              - templateName: slo
            args:
              - {name: service, value: web-canary}
              - {name: success-rate-min, value: "0.95"}
              - {name: latency-max, value: "0.5"}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: web:1.0.0
          ports:
            - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: app}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: slo, namespace: app}
spec:
  args:
    - name: service
    - name: success-rate-min
      value: "0.995"
    - name: latency-max
      value: "0.5"
  metrics:
    - name: success-rate
      interval: 1m
      count: 3
      successCondition: len(result) == 0 || result[0] >= {{args.success-rate-min}}
      failureCondition: len(result) > 0 && result[0] < {{args.success-rate-min}}
      provider:
        prometheus:
          address: http://prometheus.monitoring:9090
          query: sum(rate(http_requests_total{service="{{args.service}}"}[2m]))
    - name: latency
      interval: 1m
      count: 3
      successCondition: "{{args.latency-max}} >= result[0]"
      provider:
        prometheus:
          address: http://prometheus.monitoring:9090
          query: histogram_quantile(0.95, rate(latency_bucket{service="{{args.service}}"}[2m]))
"""


@pytest.mark.parametrize(
    ("passed_success", "passed_latency", "fires"),
    [
        ('"0.95"', '"0.5"', ["success-rate-min"]),  # lower bound loosened
        ('"0.995"', '"0.5"', []),  # the same value, passed explicitly
        ('"0.999"', '"0.25"', []),  # stricter on both
        ('"0.995"', '"0.8"', ["latency-max"]),  # upper bound (reversed operands `{{args.x}} >= result`) loosened
    ],
)
def test_threshold_overrides_are_judged_by_direction(ctx, passed_success, passed_latency, fires):
    text = THRESHOLDS.replace('{name: success-rate-min, value: "0.95"}', f"{{name: success-rate-min, value: {passed_success}}}")
    text = text.replace('{name: latency-max, value: "0.5"}', f"{{name: latency-max, value: {passed_latency}}}")
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-036"] * len(fires)
    for v, arg in zip(found, fires):
        assert arg in v.message and "slo.yaml" in v.message


def test_threshold_override_in_blue_green_pre_promotion_is_reported(ctx):
    text = THRESHOLDS.replace(
        "    canary:\n      steps:\n        - setWeight: 20\n        - analysis:",
        "    blueGreen:\n      activeService: web\n      prePromotionAnalysis:",
    ).replace("            templates:", "        templates:").replace("              - templateName", "          - templateName")
    text = text.replace("            args:", "        args:").replace("              - {name", "          - {name")
    text += """---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-036"] and "blueGreen.prePromotionAnalysis" in found[0].message


def test_same_canary_and_stable_service_is_reported_once(ctx):
    text = (HERE / "WH-REF-016.yaml").read_text().replace("canaryService: web-canary", "canaryService: web")
    assert [v.rule for v in run(ctx, docs(text))] == ["WH-REF-012"]


def test_workload_without_replicas_defaults_to_one(ctx):
    text = (HERE / "WH-REF-008.yaml").read_text().split("---\napiVersion: autoscaling")[0]
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-008"] and "defaults to 1 replica" in found[0].message


def test_application_environment_from_its_label(ctx):
    text = (HERE / "WH-REF-039.yaml").read_text().replace(
        "metadata: {name: web-production, namespace: argocd}",
        "metadata: {name: web-a, namespace: argocd, labels: {environment: production}}",
    ).replace("destination: {name: production", "destination: {name: cluster-a")
    text = text.replace("- {name: production, namespace: app}", "- {name: cluster-a, namespace: app}")
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-039"] and "environment label" in found[0].message


def test_application_of_unknown_environment_is_not_judged(ctx):
    text = (HERE / "WH-REF-039.yaml").read_text().replace("web-production", "web-a").replace(
        "name: production", "name: cluster-a"
    )
    assert run(ctx, docs(text)) == []

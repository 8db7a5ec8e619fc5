"""The references stage: every WH-REF rule fires on a fixture broken in exactly that one way, and the
clean fixtures (a full webhook-service set, Argo CD objects) stay quiet, as do the valid cases Argo
Rollouts accepts and the facts its own validation (the rollouts stage) already reports."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import FIXTURES
from gitops_check import loader, references, settings
from gitops_check.context import Context
from gitops_check.errors import InputError
from gitops_check.model import Document, Source
from gitops_check.references.index import Selector
from gitops_check.rules import REGISTRY

HERE = FIXTURES / "references"
RULES = sorted(r.id for r in REGISTRY.values() if r.stage == "references")


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


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
    assert sorted(p.stem for p in HERE.glob("WH-*.yaml")) == RULES


@pytest.mark.parametrize("name", ["clean.yaml", "clean-argocd.yaml"])
def test_clean_fixtures_are_quiet(ctx, name):
    assert [f"{v.rule}: {v.message}" for v in run(ctx, name)] == []


def test_sources_are_judged_separately(ctx):
    """A ServiceAccount in one source does not satisfy a Rollout in another: each source syncs on its own."""
    rollout = [d for d in loader.read_file(HERE / "clean.yaml") if d.kind != "ServiceAccount"]
    accounts = [d for d in loader.read_file(HERE / "clean.yaml") if d.kind == "ServiceAccount"]
    rules = {v.rule for v in run(ctx, rollout, accounts)}
    assert "WH-REF-025" in rules


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


def test_cluster_analysis_template_outside_the_source_is_reported_for_experiments(ctx):
    text = (HERE / "WH-REF-019.yaml").read_text().replace(
        "                templateName: success-rte\n",
        "                templateName: cluster-success-rate\n                clusterScope: true\n",
    )
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-019"]
    assert "ClusterAnalysisTemplate" in found[0].message and "not in this source" in found[0].message


def test_rollout_analyses_are_resolved_by_argo_rollouts_not_here(ctx):
    """A missing template or an unpassed required arg of a background, inline or pre/post-promotion analysis
    is Argo Rollouts' own finding (WH-RVAL-001/002/003): only experiment analyses are judged here."""
    missing = (HERE / "clean.yaml").read_text().replace(
        "          - templateName: webhook-service-success-rate",
        "          - templateName: cluster-success-rate\n            clusterScope: true",
    )
    assert run(ctx, docs(missing)) == []
    experiment = (
        "        - experiment:\n            duration: 5m\n            templates:\n              - {name: canary, specRef: canary}\n"
        "            analyses:\n              - name: success\n                templateName: success-rate\n"
    )
    text = (HERE / "WH-REF-020.yaml").read_text()
    assert experiment in text
    unpassed = text.replace(experiment, "        - analysis:\n            templates:\n              - templateName: success-rate\n")
    assert run(ctx, docs(unpassed)) == []


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
  progressDeadlineSeconds: 30
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


# A template whose thresholds are a lower bound (success rate) and, with reversed operands, an upper bound
# (latency); the Rollout's inline analysis overrides both.
THRESHOLDS = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: app, labels: {environment: staging}}
spec:
  progressDeadlineSeconds: 30
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
      interval: 30s
      count: 3
      successCondition: len(result) == 0 || result[0] >= {{args.success-rate-min}}
      failureCondition: len(result) > 0 && result[0] < {{args.success-rate-min}}
      provider:
        prometheus:
          address: http://prometheus.monitoring:9090
          query: sum(rate(http_requests_total{service="{{args.service}}"}[2m]))
    - name: latency
      interval: 30s
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


@pytest.mark.parametrize(
    "passed",
    ['value: "(1e9)"', 'value: "0.995 * 0"', 'value: "(0)"', 'value: ""',
     "valueFrom: {fieldRef: {fieldPath: \"metadata.annotations['slo/success-rate-min']\"}}"],
)
def test_a_threshold_that_is_not_a_plain_number_is_refused(ctx, passed):
    """Argo Rollouts pastes the arg into the condition: "(0)" or "0.995 * 0" makes `result[0] >= ...` always true,
    and a valueFrom (an annotation set to "0") is read only at run time. None can be compared with the SLO."""
    old = '{name: success-rate-min, value: "0.95"}'
    assert old in THRESHOLDS
    found = run(ctx, docs(THRESHOLDS.replace(old, "{name: success-rate-min, " + passed + "}")))
    assert [v.rule for v in found] == ["WH-REF-036"], [v.message for v in found]
    assert "not a plain number" in found[0].message and "success-rate-min" in found[0].message


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


def test_same_canary_and_stable_service_is_left_to_argo_rollouts(ctx):
    text = (HERE / "WH-REF-016.yaml").read_text().replace("canaryService: web-canary", "canaryService: web")
    assert run(ctx, docs(text)) == []


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


# --------------------------------------------------------------------------- duplicates (WH-REF-040)


def test_duplicate_object_names_every_copy(ctx):
    found = run(ctx, "WH-REF-040.yaml")
    assert [(v.rule, v.kind, v.name) for v in found] == [("WH-REF-040", "Service", "webhook-service")]
    assert "rendered 2 times" in found[0].message and "lines 2, 12" in found[0].message


def test_same_name_in_another_namespace_or_kind_is_no_duplicate(ctx):
    first, second = (HERE / "WH-REF-040.yaml").read_text().split("---\n")
    assert run(ctx, docs(first + "---\n" + second.replace("namespace: webhook-service", "namespace: other"))) == []
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: webhook-service\n  namespace: webhook-service\n"
    assert run(ctx, docs(first + "---\n" + config_map)) == []


# --------------------------------------------------------------------------- what Argo Rollouts accepts stays clean


def test_numeric_probe_port_on_a_container_without_ports_is_valid(ctx):
    """Valid Kubernetes: the probe works when the process listens (the former WH-PROBE-002 flagged it)."""
    found = run(ctx, "WH-REF-004.yaml")
    assert [v.rule for v in found] == ["WH-REF-004"]
    rollout = next(d for d in loader.read_file(HERE / "WH-REF-004.yaml") if d.kind in ("Rollout", "Deployment"))
    container = rollout.obj["spec"]["template"]["spec"]["containers"][0]
    container.pop("ports", None)
    container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}}
    container["livenessProbe"] = {"tcpSocket": {"port": 8080}}
    container.pop("startupProbe", None)
    others = [d for d in loader.read_file(HERE / "WH-REF-004.yaml") if d.kind not in ("Rollout", "Deployment")]
    assert [v.rule for v in run(ctx, [rollout, *others]) if v.rule == "WH-REF-004"] == []


@pytest.mark.parametrize(
    "selector", ["{app: web, rollouts-pod-template-hash: abc123}", "{}"], ids=["pod-template-hash", "empty"],
)
def test_service_selectors_argo_rollouts_accepts_stay_clean(ctx, selector):
    """The controller adds (and upstream's ValidateService skips) rollouts-pod-template-hash; a Service with
    an empty selector has hand-managed endpoints. Neither is a finding (the former WH-REF-013 flagged both)."""
    text = _without_stray_destination()
    old = "metadata: {name: web-canary, namespace: app}\nspec:\n  selector: {app: web}"
    assert old in text
    text = text.replace(old, f"metadata: {{name: web-canary, namespace: app}}\nspec:\n  selector: {selector}")
    assert run(ctx, docs(text)) == []


def _without_stray_destination() -> str:
    """WH-REF-016's fixture, fixed: the managed route sends traffic to canary and stable only."""
    text = (HERE / "WH-REF-016.yaml").read_text()
    stray = "        - destination: {host: web-old}\n          weight: 10\n"
    assert stray in text
    return text.replace(stray, "").replace("weight: 90", "weight: 100")


VS_WITH_MANAGED_ROUTE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {annotations: {argocd.argoproj.io/sync-wave: "-1"}, name: web, namespace: app}
spec:
  hosts: [web]
  http:
    - name: header-route
      match:
        - headers: {x-canary: {exact: "true"}}
      route:
        - destination: {host: web-canary}
    - route:
        - destination: {host: web}
          weight: 100
        - destination: {host: web-canary}
          weight: 0
"""


def test_omitted_routes_manage_the_first_unnamed_http_route(ctx):
    """Without virtualService.routes Argo Rollouts patches the only HTTP route, or else the first unnamed one;
    a managed route (trafficRouting.managedRoutes) next to it is fine (the former WH-REF-015 flagged it)."""
    base = (HERE / "WH-REF-016.yaml").read_text().split("---\napiVersion: networking.istio.io/v1")[0]
    text = (base + "---" + VS_WITH_MANAGED_ROUTE).replace(
        "virtualService: {name: web, routes: [primary]}", "virtualService: {name: web}"
    ).replace("      trafficRouting:\n", "      trafficRouting:\n        managedRoutes:\n          - name: header-route\n")
    assert run(ctx, docs(text)) == []
    old = "          weight: 100\n        - destination: {host: web-canary}\n          weight: 0\n"
    assert old in text
    stray = text.replace(old, old.replace("weight: 100", "weight: 90") + "        - destination: {host: web-old}\n          weight: 10\n")
    found = run(ctx, docs(stray))
    assert [v.rule for v in found] == ["WH-REF-016"] and "first unnamed HTTP route" in found[0].message


def test_destination_in_another_namespace_is_not_the_stable_service(ctx):
    """Argo Rollouts cuts a host at the first '.', so web.legacy.svc.cluster.local passes as the stable Service
    'web'; Istio routes it to namespace legacy, outside the rollout."""
    text = _without_stray_destination()
    assert run(ctx, docs(text)) == []
    assert run(ctx, docs(text.replace("destination: {host: web}", "destination: {host: web.app.svc.cluster.local}"))) == []
    found = run(ctx, docs(text.replace("destination: {host: web}", "destination: {host: web.legacy.svc.cluster.local}")))
    assert [v.rule for v in found] == ["WH-REF-016"] and "web.legacy.svc.cluster.local" in found[0].message


def test_canary_missing_from_the_route_is_left_to_argo_rollouts(ctx):
    text = _without_stray_destination().replace("        - destination: {host: web-canary}\n          weight: 0\n", "")
    assert "web-canary}" not in text.split("kind: VirtualService")[1]
    assert run(ctx, docs(text)) == []


# --------------------------------------------------------------------------- args the templates do not declare (WH-REF-021)


def test_undeclared_arg_without_a_likely_intended_name_says_remove(ctx):
    text = (HERE / "WH-REF-021.yaml").read_text().replace("success-rate-minimum", "team")
    found = run(ctx, docs(text))
    assert [(v.rule, v.severity) for v in found] == [("WH-REF-021", "warning")]
    assert "ignores it" in found[0].message and "remove it or fix its name" in found[0].message


def test_undeclared_arg_is_not_taken_for_a_typo_of_an_arg_already_passed(ctx):
    text = (HERE / "WH-REF-021.yaml").read_text().replace(
        '{name: success-rate-minimum, value: "0.999"}',
        '{name: success-rate-min, value: "0.999"}\n              - {name: servce, value: x}',
    )
    found = run(ctx, docs(text))
    assert [v.rule for v in found] == ["WH-REF-021"]
    assert "'servce'" in found[0].message and "typo" not in found[0].message


# --------------------------------------------------------------------------- the timeline reads durations as Argo Rollouts does


ANALYSIS_STEP = """        - analysis:
            templates:
              - templateName: success-rate
            args:
              - {name: service, value: web-canary}
"""


def _budget(ctx, steps: str, metric: str | None = None) -> list:
    """WH-REF-022's fixture with other steps (and another timing for its template's metric)."""
    text = (HERE / "WH-REF-022.yaml").read_text()
    head, rest = text.split("      steps:\n", 1)
    text = head + "      steps:\n" + steps + rest[rest.index("  template:\n"):]
    if metric is not None:
        assert "      interval: 1m\n      count: 3\n" in text
        text = text.replace("      interval: 1m\n      count: 3\n", metric)
    return run(ctx, docs(text))


@pytest.mark.parametrize(
    ("duration", "fits"),
    [(".5m", True), ("5.m", True), ("+120", True), ("-0", True), ("-0.5s", True), ("1μs", True), ("14m", True),
     ("14m1s", False), ("841", False), ("0.2h", True), ("0.25h", False), ("15.5m", False)],
)
def test_pause_durations_are_priced_as_argo_rollouts_reads_them(ctx, duration, fits):
    # besides the pause, two readiness waits of progressDeadlineSeconds (30 s): setWeight 20 and full promotion
    found = _budget(ctx, f"        - setWeight: 20\n        - pause: {{duration: {duration!r}}}\n")
    assert [v.rule for v in found] == ([] if fits else ["WH-REF-022"]), [v.message for v in found]


def test_a_pause_that_does_not_parse_is_never_counted_as_zero(ctx):
    # Argo Rollouts' own validation refuses the pause (WH-RVAL-001, the rollouts stage); the budget says it
    # could not count it instead of pricing it at 0.
    found = _budget(ctx, "        - setWeight: 20\n        - pause: {duration: 20m}\n        - pause: {duration: 1d}\n")
    assert [v.rule for v in found] == ["WH-REF-022"]
    assert "at least 21m" in found[0].message and "not counted: canary.steps[2].pause.duration" in found[0].message
    assert 'time: unknown unit "d" in duration "1d"' in found[0].message
    assert _budget(ctx, "        - setWeight: 20\n        - pause: {duration: 1d}\n") == []  # one check per fact


EXPERIMENT = "        - setWeight: 20\n        - experiment:\n            duration: {}\n            templates:\n              - {{name: canary, specRef: canary}}\n"


@pytest.mark.parametrize("duration", ["120", "1d", " 5m", "5 m", "٥m"])
def test_experiment_duration_that_does_not_parse_is_reported(ctx, duration):
    found = _budget(ctx, EXPERIMENT.format(repr(duration)))
    assert [v.rule for v in found] == ["WH-REF-041"]
    assert "experiment.duration" in found[0].message and "time: " in found[0].message


def test_experiment_duration_is_priced(ctx):
    found = _budget(ctx, EXPERIMENT.format("16m"))
    assert [v.rule for v in found] == ["WH-REF-022"] and "experiments 16m" in found[0].message


@pytest.mark.parametrize("interval", ["30", "1d", "1 m"])
def test_blocking_analysis_interval_that_does_not_parse_is_left_to_argo_rollouts(ctx, interval):
    # rollouts-validate refuses it (WH-RVAL-004 at the template); within the budget nothing repeats that here
    assert _budget(ctx, "        - setWeight: 20\n" + ANALYSIS_STEP, f"      interval: {interval!r}\n      count: 3\n") == []


def test_templated_interval_is_read_with_the_value_the_rollout_passes(ctx):
    steps = ("        - setWeight: 20\n" + ANALYSIS_STEP).replace(
        "              - {name: service, value: web-canary}\n",
        "              - {name: service, value: web-canary}\n              - {name: interval, value: '90'}\n",
    )
    text = (HERE / "WH-REF-022.yaml").read_text()
    head, rest = text.split("      steps:\n", 1)
    text = head + "      steps:\n" + steps + rest[rest.index("  template:\n"):]
    text = text.replace("  args:\n    - name: service\n", "  args:\n    - name: service\n    - name: interval\n      value: 1m\n")
    text = text.replace("      interval: 1m\n      count: 3\n", "      interval: '{{args.interval}}'\n      count: 3\n")
    assert run(ctx, docs(text)) == []  # '90' is refused by Argo Rollouts (WH-RVAL-003), not repeated here
    assert run(ctx, docs(text.replace("value: '90'", "value: 90s"))) == []


@pytest.mark.parametrize(
    ("metric", "rules"),
    [
        ("      interval: 1m\n", ["WH-REF-022"]),  # no count with an interval: measured until stopped
        ("      interval: 1m\n      count: 0\n", ["WH-REF-022"]),  # count 0 is the same (Metric.EffectiveCount)
        ("      interval: 0s\n", ["WH-REF-022"]),  # an interval of 0s is still an interval
        ("", []),  # neither: one measurement
        ("      count: 0\n", []),  # count 0 without interval: one measurement
        ("      interval: -1m\n      count: 5\n", []),  # a negative interval waits for nothing
        ("      interval: 4m\n      count: 5\n", ["WH-REF-022"]),  # 16m
        # with two readiness waits of 30 s (setWeight 20, full promotion) and a 30 s pause:
        ("      initialDelay: 12m30s\n      interval: 30s\n      count: 3\n", []),  # 15m: exactly the budget
        ("      initialDelay: 12m30s\n      interval: 30s\n      count: 4\n", ["WH-REF-022"]),  # 15m30s
        ("      initialDelay: .225h\n", []),  # 13m30s + 1m30s
    ],
)
def test_blocking_analysis_is_priced_with_argo_rollouts_counts(ctx, metric, rules):
    found = _budget(ctx, "        - setWeight: 20\n        - pause: {duration: 30s}\n" + ANALYSIS_STEP, metric)
    assert [v.rule for v in found] == rules, [v.message for v in found]
    if rules and "count: 5" not in metric and "initialDelay" not in metric:
        assert "forever" in found[0].message and "analysis forever" in found[0].message


def test_indefinite_background_analysis_is_not_over_budget(ctx):
    """Background analysis runs alongside the steps; measuring until the rollout ends is its normal use."""
    text = (HERE / "WH-REF-022.yaml").read_text()
    head, rest = text.split("      steps:\n", 1)
    head = head.replace(
        "    canary:\n",
        "    canary:\n      analysis:\n        templates:\n          - templateName: success-rate\n"
        "        args:\n          - {name: service, value: web-canary}\n",
    )
    text = head + "      steps:\n        - setWeight: 20\n        - pause: {duration: 5m}\n" + rest[rest.index("  template:\n"):]
    for metric in ("      interval: 1m\n", "      interval: 1m\n      count: 0\n"):
        assert run(ctx, docs(text.replace("      interval: 1m\n      count: 3\n", metric))) == []


def _rollout_fixture(name: str, old: str, new: str) -> list[Document]:
    text = (HERE / name).read_text()
    assert old in text, old
    return docs(text.replace(old, new, 1))


def test_a_rollback_within_rollback_window_is_one_readiness_wait(ctx):
    """WH-REF-046: with rollbackWindow the worst case is progressDeadlineSeconds, which must fit the budget too."""
    found = [v for v in run(ctx, _rollout_fixture("WH-REF-048.yaml", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 301"))
             if v.rule == "WH-REF-046"]  # three readiness waits of 301s are over the deployment budget too (WH-REF-022)
    assert len(found) == 1 and "one readiness wait of up to progressDeadlineSeconds 301" in found[0].message
    assert "rollbackBudgetSeconds in slo.yaml" in found[0].message
    at_budget = run(ctx, _rollout_fixture("WH-REF-048.yaml", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 300"))
    assert "WH-REF-046" not in {v.rule for v in at_budget}


def test_an_unset_progress_deadline_is_argo_rollouts_default_of_ten_minutes(ctx):
    found = run(ctx, _rollout_fixture("WH-REF-022.yaml", "  progressDeadlineSeconds: 30\n", ""))
    assert "WH-REF-046" in {v.rule for v in found}


def test_the_recovery_budget_counts_pods_that_never_become_available(ctx):
    """WH-REF-047: with progressDeadlineAbort a canary whose pods never become available is aborted at the deadline."""
    slow = _rollout_fixture("WH-REF-048.yaml", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 700\n  progressDeadlineAbort: true")
    rules = sorted(v.rule for v in run(ctx, slow))
    assert rules == ["WH-REF-022", "WH-REF-046", "WH-REF-047"]  # every readiness wait and the rollback too
    message = next(v.message for v in run(ctx, slow) if v.rule == "WH-REF-047")
    assert "pods never available: progressDeadlineSeconds 700" in message and "recoveryBudgetSeconds" in message


@pytest.mark.parametrize(
    ("probes", "fires"),
    [
        ("          startupProbe:\n            httpGet: {path: /ready, port: http}\n            initialDelaySeconds: 65\n", True),
        ("          startupProbe:\n            httpGet: {path: /ready, port: http}\n            failureThreshold: 30\n", False),
        ("          readinessProbe:\n            httpGet: {path: /ready, port: http}\n            initialDelaySeconds: 20\n"
         "            successThreshold: 3\n            periodSeconds: 20\n", True),  # 20 + 2 x 20 + minReadySeconds 10
        ("          readinessProbe:\n            httpGet: {path: /ready, port: http}\n            initialDelaySeconds: '90'\n", False),
    ],
)
def test_the_earliest_available_pod_is_read_from_its_probes(ctx, probes, fires):
    """WH-REF-048 counts what must pass before any pod can be available: a startupProbe's delay (not its
    failureThreshold, which only allows a slow start), the readiness probe's successes, minReadySeconds. A value
    the API server refuses (a string) is not counted: the bound stays a lower bound."""
    text = (HERE / "WH-REF-048.yaml").read_text()
    start = text.index("          readinessProbe:\n")
    end = text.index("successThreshold: 3\n", start) + len("successThreshold: 3\n")
    found = run(ctx, docs(text[:start] + probes + text[end:]))
    assert [v.rule for v in found] == (["WH-REF-048"] if fires else []), [v.message for v in found]


def test_the_production_overlays_fit_the_rollback_and_recovery_budgets(ctx):
    from gitops_check import timeline
    from gitops_check.references.index import Index

    source = Source("production", "overlay", loader.read_file(HERE / "WH-REF-044.yaml"))
    idx = Index(source)
    plan = timeline.plan(idx, idx.of_kind("Rollout")[0], 30.0)
    assert plan.rollback_most == 30 and plan.available_least == 0  # rollbackWindow: one readiness wait
    assert plan.recovery_most() == 30 + 2 * 180  # one scrape + (failureLimit + 1) x 3m, over the 30s deadline


def test_a_service_the_rollout_routes_is_left_to_argo_rollouts(ctx):
    """A canary Service whose selector misses the Rollout's pods is WH-RVAL-001's finding (Argo Rollouts refuses a
    selector label the template lacks); a Service nothing routes still gets WH-REF-002."""
    text = (HERE / "WH-REF-044.yaml").read_text()
    canary = "  name: webhook-service-canary\n  namespace: webhook-service\n  labels: {app.kubernetes.io/name: webhook-service, environment: production}\nspec:\n  selector: {app.kubernetes.io/name: webhook-service}\n"
    assert canary in text
    typo = canary.replace("selector: {app.kubernetes.io/name: webhook-service}", "selector: {app.kubernetes.io/name: webhook-svc}")
    assert "WH-REF-002" not in {v.rule for v in run(ctx, docs(text.replace(canary, typo)))}
    other = typo.replace("name: webhook-service-canary", "name: webhook-service-debug")
    assert "WH-REF-002" in {v.rule for v in run(ctx, docs(text.replace(canary, other)))}


def test_a_query_whose_arg_nobody_passes_is_left_to_argo_rollouts(ctx):
    """The Rollout no longer passes canary-service: Argo Rollouts refuses the analysis ("args.canary-service was not
    resolved", WH-RVAL-001/003), so WH-REF-045 does not judge the query with a placeholder in its place."""
    text = (HERE / "WH-REF-044.yaml").read_text()
    passed = "        args:\n          - name: canary-service\n            value: webhook-service-canary\n          - name: namespace\n"
    assert passed in text
    found = run(ctx, docs(text.replace(passed, "        args:\n          - name: namespace\n")))
    assert "WH-REF-045" not in {v.rule for v in found}, [v.message for v in found]

"""The webhook-service manifests: one small test per requirement of the deployment, on the rendered overlays.

Each test reads what kustomize renders (what Argo CD would sync), not the source files, so a patch or a
component that breaks a requirement fails here.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import REPO

ENVS = ["overlays/staging", "overlays/production"]
COMPONENT_OVERLAYS = ["tests/overlays/blue-green", "tests/overlays/header-routing"]
NS = "webhook-service"
SLO = yaml.safe_load((REPO / "base" / "slo.yaml").read_text())["data"]
SECRET_KEYS = {"jwt-secret", "database-password", "rabbitmq-password", "kms-key-id"}
PROBE_FIELDS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")


def seconds(duration) -> int:
    """Argo Rollouts durations: an int (seconds) or '<n>s|m|h'."""
    if isinstance(duration, int):
        return duration
    number, unit = re.fullmatch(r"(\d+)([smh]?)", str(duration)).groups()
    return int(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]


def env_of(overlay: str) -> str:
    return overlay.rsplit("/", 1)[-1]


def pod(rollout) -> dict:
    return rollout.obj["spec"]["template"]["spec"]


def container(rollout) -> dict:
    (c,) = [c for c in pod(rollout)["containers"] if c["name"] == "webhook-service"]
    return c


def canary(rollout) -> dict:
    return rollout.obj["spec"]["strategy"]["canary"]


@pytest.fixture(params=ENVS)
def overlay(request, rendered):
    return request.param, rendered(request.param)


# --------------------------------------------------------------------------- labels, namespace, identity


def test_every_object_is_labelled_and_namespaced(overlay):
    name, docs = overlay
    for d in docs:
        assert d.labels.get("app.kubernetes.io/name") == "webhook-service", d.ref
        assert d.labels.get("app.kubernetes.io/part-of") == "webhook-delivery", d.ref
        assert d.labels.get("environment") == env_of(name), d.ref
        assert d.kind == "Namespace" or d.namespace == NS, d.ref


def test_namespace_enforces_restricted_pod_security_and_istio_injection(overlay, find):
    labels = find(overlay[1], "Namespace", NS).labels
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["istio-injection"] == "enabled"


def test_service_account_has_no_token_and_no_rbac_exists(overlay, find):
    docs = overlay[1]
    assert find(docs, "ServiceAccount", "webhook-service").obj["automountServiceAccountToken"] is False
    assert pod(find(docs, "Rollout"))["automountServiceAccountToken"] is False
    assert not [d.ref for d in docs if d.group == "rbac.authorization.k8s.io"]


def test_only_a_rollout_runs_the_service(overlay):
    kinds = {d.kind for d in overlay[1]}
    assert "Rollout" in kinds and not kinds & {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


# --------------------------------------------------------------------------- configuration and secrets


def config_map(docs, find):
    (cm,) = [d for d in docs if d.kind == "ConfigMap" and d.name.startswith("webhook-service-config-")]
    return cm, yaml.safe_load(cm.obj["data"]["config.yaml"])


def test_config_values_are_generated_and_the_hashed_name_is_mounted(overlay, find):
    docs = overlay[1]
    cm, config = config_map(docs, find)
    assert config["server"] == {"host": "0.0.0.0", "port": 8080, "readTimeout": "30s", "writeTimeout": "30s"}
    assert config["database"] == {
        "host": "postgres-primary.database.svc.cluster.local", "port": 5432, "name": "webhook_delivery",
        "maxOpenConns": 100, "maxIdleConns": 20, "connMaxLifetime": "1h",
    }
    assert config["redis"] == {"address": "redis-cluster.message-broker.svc.cluster.local:6379", "poolSize": 50, "minIdleConns": 10}
    assert config["rabbitmq"] == {"host": "rabbitmq.message-broker.svc.cluster.local:5672", "user": "webhook-service", "prefetchCount": 100}
    assert config["webhook"] == {"maxPayloadSize": 1048576, "defaultTimeout": "30s", "queueDepth": 10000, "retryAttempts": 3}
    assert config["metrics"]["path"] == "/metrics"
    assert config["tracing"]["endpoint"] == "http://jaeger-collector.monitoring.svc.cluster.local:14268/api/traces"
    volumes = {v["name"]: v for v in pod(find(docs, "Rollout"))["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm.name


def test_no_secret_values_or_credentials_in_config_maps(overlay):
    for d in (d for d in overlay[1] if d.kind == "ConfigMap"):
        text = json.dumps(d.obj.get("data", {})).lower()
        assert not re.search(r"password\W+\s*[:=]|secret\W+\s*[:=]|://[^/\s\"]+:[^/\s\"]+@", text), d.ref
    assert not [d.ref for d in overlay[1] if d.kind == "Secret"]


def test_external_secret_fills_the_target_secret_from_the_cluster_store(overlay, find):
    es = find(overlay[1], "ExternalSecret", "webhook-service-secrets")
    assert es.api_version == "external-secrets.io/v1"
    spec = es.obj["spec"]
    assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "vault-backend"}
    assert spec["target"]["name"] == "webhook-service-secrets" and spec["target"]["creationPolicy"] == "Owner"
    assert {d["secretKey"] for d in spec["data"]} == SECRET_KEYS


# --------------------------------------------------------------------------- the pod


def test_production_pins_the_image_by_digest_and_staging_never_uses_latest(rendered, find):
    prod = container(find(rendered("overlays/production"), "Rollout"))["image"]
    assert re.fullmatch(r"ghcr\.io/company/webhook-service@sha256:[0-9a-f]{64}", prod)
    staging = container(find(rendered("overlays/staging"), "Rollout"))["image"]
    assert re.fullmatch(r"ghcr\.io/company/webhook-service(:[\w.-]+|@sha256:[0-9a-f]{64})", staging)
    assert not staging.endswith(":latest")


def test_ports_env_and_mounts(overlay, find):
    c = container(find(overlay[1], "Rollout"))
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "metrics": 9090}
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["CONFIG_PATH"]["value"] == "/etc/webhook-service/config.yaml"
    for var in ("JWT_SECRET", "DATABASE_PASSWORD", "RABBITMQ_PASSWORD", "KMS_KEY_ID"):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "webhook-service-secrets" and ref["key"] in SECRET_KEYS
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/webhook-service"]["readOnly"] is True and "/tmp" in mounts
    volumes = {v["name"]: v for v in pod(find(overlay[1], "Rollout"))["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_resources_and_probes(overlay, find):
    c = container(find(overlay[1], "Rollout"))
    assert c["resources"] == {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert [c["livenessProbe"][f] for f in PROBE_FIELDS] == [30, 10, 5, 3]
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert [c["readinessProbe"][f] for f in PROBE_FIELDS] == [5, 5, 3, 3]


def test_the_longest_request_the_policies_allow_for_is_the_servers(overlay, find):
    """WH-PROBE-004 gives the grace period the drain plus params.shutdown.longestRequestSeconds: that number must be
    at least the server's read and write timeouts of the rendered config, or requests are cut at shutdown."""
    from gitops_check.durations import duration_string_seconds

    params = yaml.safe_load((REPO / "policies" / "data" / "params.yaml").read_text())["params"]["shutdown"]
    server = config_map(overlay[1], find)[1]["server"]
    longest = max(duration_string_seconds(server[k]) for k in ("readTimeout", "writeTimeout"))
    assert params["longestRequestSeconds"] >= longest > 0


def test_pod_and_container_are_restricted(overlay, find):
    rollout = find(overlay[1], "Rollout")
    psc, csc = pod(rollout)["securityContext"], container(rollout)["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 1000 and psc["fsGroup"] == 1000
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert csc["runAsNonRoot"] is True and csc["runAsUser"] == 1000
    assert csc["allowPrivilegeEscalation"] is False and csc["readOnlyRootFilesystem"] is True
    assert csc["capabilities"]["drop"] == ["ALL"] and csc["seccompProfile"]["type"] == "RuntimeDefault"


def test_pods_spread_across_nodes_and_zones(overlay, find):
    spread = pod(find(overlay[1], "Rollout"))["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(s["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "webhook-service"} for s in spread)


def test_the_rollout_leaves_replicas_to_the_hpa(overlay, find):
    assert "replicas" not in find(overlay[1], "Rollout").obj["spec"]


def test_selectors_use_the_name_label_only(overlay, find):
    docs = overlay[1]
    only_name = {"app.kubernetes.io/name": "webhook-service"}
    assert find(docs, "Rollout").obj["spec"]["selector"]["matchLabels"] == only_name
    assert find(docs, "PodDisruptionBudget").obj["spec"]["selector"]["matchLabels"] == only_name
    for svc in (d for d in docs if d.kind == "Service"):
        assert svc.obj["spec"]["selector"] == only_name


# --------------------------------------------------------------------------- canary


def test_canary_uses_two_services_and_the_istio_route(overlay, find):
    docs = overlay[1]
    c = canary(find(docs, "Rollout"))
    assert (c["canaryService"], c["stableService"]) == ("webhook-service-canary", "webhook-service")
    assert {find(docs, "Service", s).name for s in (c["canaryService"], c["stableService"])}
    vs_ref = c["trafficRouting"]["istio"]["virtualService"]
    assert vs_ref == {"name": "webhook-service", "routes": ["primary"]}
    vs = find(docs, "VirtualService", "webhook-service")
    (route,) = [r for r in vs.obj["spec"]["http"] if r["name"] == "primary"]
    weights = {r["destination"]["host"]: r["weight"] for r in route["route"]}
    assert weights == {"webhook-service": 100, "webhook-service-canary": 0}


def test_weights_start_small_rise_to_100_and_every_pause_ends(overlay, find):
    steps = canary(find(overlay[1], "Rollout"))["steps"]
    weights = [s["setWeight"] for s in steps if "setWeight" in s]
    assert weights[0] <= int(SLO["firstCanaryWeightMaxPercent"])
    assert weights == sorted(weights) and weights[-1] == 100
    assert all("duration" in s["pause"] for s in steps if "pause" in s)


def test_background_analysis_starts_at_the_first_weight_with_both_templates(overlay, find):
    c = canary(find(overlay[1], "Rollout"))
    analysis = c["analysis"]
    first_weight = next(i for i, s in enumerate(c["steps"]) if "setWeight" in s)
    assert analysis.get("startingStep", 0) == first_weight
    names = {t["templateName"] for t in analysis["templates"]}
    assert names == {"webhook-service-success-rate", "webhook-service-latency-p95"}
    for name in names:
        find(overlay[1], "AnalysisTemplate", name)
    assert {"name": "canary-service", "value": "webhook-service-canary"} in analysis["args"]


@pytest.mark.parametrize(
    "template, arg, key",
    [
        ("webhook-service-success-rate", "success-rate-min", "successRateMin"),
        ("webhook-service-latency-p95", "latency-p95-max-seconds", "latencyP95MaxSeconds"),
    ],
)
def test_analysis_thresholds_come_from_slo_yaml(overlay, find, template, arg, key):
    spec = find(overlay[1], "AnalysisTemplate", template).obj["spec"]
    assert {"name": arg, "value": SLO[key]} in spec["args"]
    (metric,) = spec["metrics"]
    for condition in (metric["successCondition"], metric["failureCondition"]):
        assert f"{{{{args.{arg}}}}}" in condition
    assert "len(result) == 0 || isNaN(result[0])" in metric["successCondition"]
    query = metric["provider"]["prometheus"]["query"]
    assert 'destination_service_name="{{args.canary-service}}"' in query and "{{args.namespace}}" in query


def test_the_worst_case_rollout_fits_the_deployment_budget(overlay, find):
    rollout = find(overlay[1], "Rollout")
    steps = canary(rollout)["steps"]
    pauses = sum(seconds(s["pause"]["duration"]) for s in steps if "pause" in s)
    # every weight step may wait up to progressDeadlineSeconds for ready canary pods before aborting
    readiness = sum(1 for s in steps if "setWeight" in s) * rollout.obj["spec"]["progressDeadlineSeconds"]
    assert pauses + readiness <= int(SLO["deploymentBudgetSeconds"])


def test_an_abort_returns_traffic_to_stable_at_once(overlay, find):
    spec = find(overlay[1], "Rollout").obj["spec"]
    assert spec["progressDeadlineAbort"] is True and spec["progressDeadlineSeconds"] > 0
    c = spec["strategy"]["canary"]
    assert c["dynamicStableScale"] is False and 0 < c["abortScaleDownDelaySeconds"] <= 60


# --------------------------------------------------------------------------- edge, scaling, disruption


def test_ingress_host_tls_and_annotations(overlay, find):
    name, docs = overlay
    host = {"staging": "staging.api.webhooks.company.com", "production": "api.webhooks.company.com"}[env_of(name)]
    ing = find(docs, "Ingress", "webhook-service").obj
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert [r["host"] for r in ing["spec"]["rules"]] == [host]
    assert ing["spec"]["tls"][0]["hosts"] == [host] and ing["spec"]["tls"][0]["secretName"]
    notes = ing["metadata"]["annotations"]
    assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert notes["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert notes["nginx.ingress.kubernetes.io/limit-rpm"] == "1000"
    assert notes["nginx.ingress.kubernetes.io/service-upstream"] == "true"
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "webhook-service", "port": {"name": "http"}}


def test_hpa_scales_the_rollout_with_the_required_behaviour(overlay, find):
    name, docs = overlay
    spec = find(docs, "HorizontalPodAutoscaler", "webhook-service").obj["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "webhook-service"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == {"staging": (2, 5), "production": (3, 20)}[env_of(name)]
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in spec["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    down, up = spec["behavior"]["scaleDown"], spec["behavior"]["scaleUp"]
    assert down["stabilizationWindowSeconds"] == 300
    assert down["policies"] == [{"type": "Percent", "value": 10, "periodSeconds": 60}]
    assert up["stabilizationWindowSeconds"] == 0 and up["selectPolicy"] == "Max"
    assert {(p["type"], p["value"], p["periodSeconds"]) for p in up["policies"]} == {("Percent", 100, 15), ("Pods", 4, 15)}


def test_pdb_allows_drains(overlay, find):
    docs = overlay[1]
    spec = find(docs, "PodDisruptionBudget", "webhook-service").obj["spec"]
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    min_replicas = find(docs, "HorizontalPodAutoscaler").obj["spec"]["minReplicas"]
    assert spec.get("maxUnavailable", 0) >= 1 or spec["minAvailable"] < min_replicas


# --------------------------------------------------------------------------- network policy


def ns_of(peer) -> str | None:
    return (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")


def test_namespace_default_denies_all_traffic(overlay, find):
    spec = find(overlay[1], "NetworkPolicy", "default-deny-all").obj["spec"]
    assert spec["podSelector"] == {} and set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress") and not spec.get("egress")


def test_service_ingress_comes_only_from_the_mesh_edge_and_prometheus(overlay, find):
    spec = find(overlay[1], "NetworkPolicy", "webhook-service").obj["spec"]
    allowed = {(ns_of(p), port["port"]) for rule in spec["ingress"] for p in rule["from"] for port in rule["ports"]}
    assert allowed == {("istio-system", "http"), ("ingress-nginx", "http"), ("monitoring", "metrics"), ("monitoring", 15090)}
    prometheus = [p for rule in spec["ingress"] for p in rule["from"] if ns_of(p) == "monitoring"]
    assert all(p["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"} for p in prometheus)


def test_service_egress_is_limited_to_its_dependencies(overlay, find):
    spec = find(overlay[1], "NetworkPolicy", "webhook-service").obj["spec"]
    allowed = {
        (ns_of(p) or p.get("ipBlock", {}).get("cidr"), port["port"], port["protocol"])
        for rule in spec["egress"] for p in rule["to"] for port in rule["ports"]
    }
    assert allowed == {
        ("kube-system", 53, "UDP"), ("kube-system", 53, "TCP"), ("database", 5432, "TCP"),
        ("message-broker", 6379, "TCP"), ("message-broker", 5672, "TCP"), ("monitoring", 14268, "TCP"),
        ("istio-system", 15012, "TCP"), ("0.0.0.0/0", 443, "TCP"),
    }
    (internet,) = [p["ipBlock"] for rule in spec["egress"] for p in rule["to"] if "ipBlock" in p]
    assert set(internet["except"]) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


# --------------------------------------------------------------------------- monitoring


def test_service_monitor_scrapes_stable_and_canary(overlay, find):
    docs = overlay[1]
    spec = find(docs, "ServiceMonitor", "webhook-service").obj["spec"]
    assert spec["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]
    selector = spec["selector"]["matchLabels"]
    for name in ("webhook-service", "webhook-service-canary"):
        svc = find(docs, "Service", name)
        assert selector.items() <= svc.labels.items()
        assert "metrics" in {p["name"] for p in svc.obj["spec"]["ports"]}


def alerts(docs, find) -> dict[str, dict]:
    groups = find(docs, "PrometheusRule", "webhook-service").obj["spec"]["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_required_alerts_exist_with_severity_annotations_and_runbooks(overlay, find):
    rules = alerts(overlay[1], find)
    exprs = " ".join(r["expr"] for r in rules.values())
    assert 'rollout_info{' in exprs and 'phase=~"Abort|Timeout|Error|InvalidSpec"' in exprs  # never "Degraded"
    assert "analysis_run_info{" in exprs and "analysis_run_phase" not in exprs  # deprecated in Argo Rollouts 1.9
    assert rules["WebhookServiceHighErrorRate"]["for"] == "2m" and "> 0.05" in rules["WebhookServiceHighErrorRate"]["expr"]
    assert rules["WebhookServiceHighLatencyP95"]["for"] == "5m"
    assert {"WebhookServiceErrorBudgetBurnFast", "WebhookServiceErrorBudgetBurnSlow"} <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        url = rule["annotations"]["runbook_url"]
        assert url == f"https://github.com/company/webhook-service-gitops/blob/main/docs/runbooks/{name}.md"
        assert (REPO / "docs" / "runbooks" / f"{name}.md").is_file()
    for name in ("WebhookServiceHighErrorRate", "WebhookServiceHighLatencyP95"):
        assert rules[name]["labels"]["severity"] == "warning"


def test_alert_objectives_come_from_slo_yaml(overlay, find):
    groups = find(overlay[1], "PrometheusRule", "webhook-service").obj["spec"]["groups"]
    records = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    assert records["webhook_service:slo_success_rate:objective"] == SLO["successRateMin"]
    assert records["webhook_service:slo_latency_p95_seconds:objective"] == SLO["latencyP95MaxSeconds"]


def test_dashboards_are_grafana_config_maps_with_promql_panels(overlay, find):
    cm = find(overlay[1], "ConfigMap", "webhook-service-dashboards")
    assert cm.labels["grafana_dashboard"] == "1"
    boards = {k: json.loads(v) for k, v in cm.obj["data"].items()}
    assert set(boards) == {"deployment-status.json", "performance.json", "errors.json", "resources.json"}
    for board in boards.values():
        assert board["panels"] and all(t["expr"] for p in board["panels"] for t in p["targets"])


def test_sync_waves_put_namespace_then_identity_secrets_config_and_what_the_rollout_names_first(overlay):
    waves = {d.ref: (d.obj["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0") for d in overlay[1]}
    first = {"ServiceAccount", "ExternalSecret", "ConfigMap", "VirtualService", "AnalysisTemplate"}
    for d in overlay[1]:
        expected = "-2" if d.kind == "Namespace" else "-1" if d.kind in first else "0"
        assert waves[d.ref] == expected, d.ref


# --------------------------------------------------------------------------- Argo CD


@pytest.fixture(scope="module")
def argocd(rendered):
    return rendered("argocd")


def test_project_is_fenced_to_this_repo_namespace_and_kinds(argocd, find, rendered):
    spec = find(argocd, "AppProject", "webhook-service").obj["spec"]
    assert spec["sourceRepos"] == ["https://github.com/company/webhook-service-gitops.git"]
    assert spec["destinations"] == [{"name": env, "namespace": NS} for env in ("staging", "production")]
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    whitelist = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
    deployed = {(d.group, d.kind) for o in ENVS + COMPONENT_OVERLAYS for d in rendered(o) if d.kind != "Namespace"}
    assert whitelist == deployed


@pytest.mark.parametrize("env", ["staging", "production"])
def test_one_automated_application_per_environment(argocd, find, env):
    app = find(argocd, "Application", f"webhook-service-{env}")
    spec = app.obj["spec"]
    assert app.namespace == "argocd" and spec["project"] == "webhook-service"
    assert spec["source"]["repoURL"] == "https://github.com/company/webhook-service-gitops.git"
    assert spec["source"]["path"] == f"overlays/{env}"
    assert spec["destination"] == {"name": env, "namespace": NS}
    auto = spec["syncPolicy"]["automated"]
    assert auto["prune"] is True and auto["selfHeal"] is True
    assert {"ServerSideApply=true", "CreateNamespace=false"} <= set(spec["syncPolicy"]["syncOptions"])


def test_applications_ignore_fields_owned_by_controllers(argocd):
    for app in (d for d in argocd if d.kind == "Application"):
        ignored = {(i["group"], i["kind"]): i for i in app.obj["spec"]["ignoreDifferences"]}
        assert "/spec/replicas" in ignored[("argoproj.io", "Rollout")]["jsonPointers"]
        vs = ignored[("networking.istio.io", "VirtualService")]
        assert "/spec/http/0/route/0/weight" in vs["jsonPointers"]
        assert ".spec.http[].route[].weight" in vs["jqPathExpressions"]


def test_argocd_objects_carry_the_service_labels_but_no_environment(argocd):
    for d in argocd:
        assert d.labels.get("app.kubernetes.io/name") == "webhook-service" and "environment" not in d.labels
        assert d.namespace == "argocd"


# --------------------------------------------------------------------------- components


@pytest.mark.parametrize("overlay_path", COMPONENT_OVERLAYS)
def test_component_overlays_build_on_production(overlay_path, rendered, find):
    docs = rendered(overlay_path)
    prod = rendered("overlays/production")
    added = {"tests/overlays/blue-green": {"AnalysisTemplate/webhook-service-preview-load",
                                            "NetworkPolicy/webhook-service-preview-load"}}.get(overlay_path, set())
    assert {d.ref for d in docs} == {d.ref for d in prod} | added
    assert container(find(docs, "Rollout"))["image"] == container(find(prod, "Rollout"))["image"]


def test_blue_green_component_replaces_the_canary_with_analysed_blue_green(rendered, find):
    docs = rendered("tests/overlays/blue-green")
    strategy = find(docs, "Rollout").obj["spec"]["strategy"]
    assert "canary" not in strategy
    bg = strategy["blueGreen"]
    assert (bg["activeService"], bg["previewService"]) == ("webhook-service", "webhook-service-canary")
    assert {t["templateName"] for t in bg["prePromotionAnalysis"]["templates"]} == {
        "webhook-service-preview-load", "webhook-service-success-rate", "webhook-service-latency-p95"}
    for template in (d for d in docs if d.kind == "AnalysisTemplate"):
        for m in template.obj["spec"]["metrics"]:
            if "job" in m["provider"]:
                continue  # the preview load ends with its Job
            assert m["count"] > 0, "pre-promotion analysis must end"
            assert m["failureCondition"].startswith("len(result) == 0 ||"), "no data about the preview must fail it"


def test_header_routing_component_adds_a_managed_header_route_before_the_weights(rendered, find):
    rollout = find(rendered("tests/overlays/header-routing"), "Rollout")
    c = canary(rollout)
    assert c["trafficRouting"]["managedRoutes"] == [{"name": "header-canary"}]
    (route,) = [s["setHeaderRoute"] for s in c["steps"] if "setHeaderRoute" in s]
    assert route["name"] == "header-canary"
    assert route["match"] == [{"headerName": "X-Canary", "headerValue": {"exact": "true"}}]
    first_weight = next(i for i, s in enumerate(c["steps"]) if "setWeight" in s)
    assert c["analysis"]["startingStep"] == first_weight



# --------------------------------------------------------------------------- a regional copy (nameSuffix, namespace)


def test_a_regional_overlay_renames_both_ends_of_every_reference(rendered, find):
    """base/kustomizeconfig tells kustomize where a Rollout, its analysis, the VirtualService and the HPA name
    other objects: in tests/overlays/region-eu (namespace webhook-service-eu, nameSuffix -eu) every such
    reference names a renamed object of the same render, none the production name."""
    docs = rendered("tests/overlays/region-eu")
    names = {(d.kind, d.name) for d in docs}
    assert {d.namespace for d in docs if d.kind != "Namespace"} == {"webhook-service-eu"}
    rollout = find(docs, "Rollout").obj["spec"]
    canary = rollout["strategy"]["canary"]
    refs = [("Service", canary["canaryService"]), ("Service", canary["stableService"]),
            ("VirtualService", canary["trafficRouting"]["istio"]["virtualService"]["name"]),
            ("ServiceAccount", rollout["template"]["spec"]["serviceAccountName"]),
            ("HorizontalPodAutoscaler", find(docs, "HorizontalPodAutoscaler").name)]
    refs += [("AnalysisTemplate", t["templateName"]) for t in canary["analysis"]["templates"]]
    refs += [("Service", a["value"]) for a in canary["analysis"]["args"] if a["name"] == "canary-service"]
    refs += [("Service", r["destination"]["host"]) for r in find(docs, "VirtualService").obj["spec"]["http"][0]["route"]]
    refs += [("Rollout", find(docs, "HorizontalPodAutoscaler").obj["spec"]["scaleTargetRef"]["name"])]
    refs += [("ConfigMap", v["configMap"]["name"]) for v in rollout["template"]["spec"]["volumes"] if "configMap" in v]
    assert all("-eu" in name and (kind, name) in names for kind, name in refs), refs  # a generated ConfigMap: -eu-<hash>

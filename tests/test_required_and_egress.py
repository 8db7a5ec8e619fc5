"""Required objects per environment (WH-REQ-*) and the agreement between the service's configuration, its
traffic sources and its NetworkPolicies (WH-NET-007/008), on the real rendered overlays with the
repository's own parameters (policies/data/params.yaml).

Each held-out mistake is made in a copy of the rendered production overlay and must fire exactly its
rule; each valid variant must stay clean."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO
from gitops_check import loader, references, settings
from gitops_check.context import Context
from gitops_check.errors import InputError
from gitops_check.model import Document, Source
from gitops_check.references import traffic
from gitops_check.references.inputs import load_network_peers, load_required_objects

PRODUCTION, STAGING = "overlays/production", "overlays/staging"
OVERLAYS = [
    PRODUCTION, STAGING, "tests/overlays/blue-green", "tests/overlays/header-routing", "tests/overlays/e2e",
    "tests/overlays/e2e-blue-green", "tests/overlays/e2e-header-routing",
]
OWN = ("WH-REQ-", "WH-NET-007", "WH-NET-008")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(settings.load(), tmp_path_factory.mktemp("required"))


def copied(docs: list[Document]) -> list[Document]:
    return [Document(copy.deepcopy(d.obj), d.source, d.line) for d in docs]


def run(ctx, docs: list[Document]) -> list:
    """The references stage over one source (a "file": the copy must not stand in for the overlay itself)."""
    return references.check([Source("production (edited)", "file", docs)], ctx)


def rules_of(found) -> list[str]:
    return sorted(v.rule for v in found)


def one(docs: list[Document], kind: str, name: str | None = None) -> Document:
    (hit,) = [d for d in docs if d.kind == kind and (name is None or d.name == name)]
    return hit


def drop(docs: list[Document], kind: str, name: str | None = None) -> list[Document]:
    gone = one(docs, kind, name)
    return [d for d in docs if d is not gone]


def allow_policy(docs) -> dict:
    return one(docs, "NetworkPolicy", "webhook-service").obj["spec"]


def ns_of(peer: dict) -> str | None:
    return ((peer.get("namespaceSelector") or {}).get("matchLabels") or {}).get("kubernetes.io/metadata.name")


def egress_rule(docs, namespace: str) -> dict:
    (rule,) = [r for r in allow_policy(docs)["egress"] if any(ns_of(p) == namespace for p in r.get("to", []))]
    return rule


def config(docs) -> Document:
    return next(d for d in docs if d.kind == "ConfigMap" and d.name.startswith("webhook-service-config-"))


@pytest.fixture
def prod(rendered) -> list[Document]:
    return copied(rendered(PRODUCTION))


# --------------------------------------------------------------------------- the real overlays


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_real_overlays_meet_their_environment(ctx, rendered, overlay):
    found = references.check([Source(overlay, "overlay", rendered(overlay))], ctx)
    assert [f"{v.rule}: {v.message}" for v in found if v.rule.startswith(OWN)] == []


def test_the_checks_see_every_dependency_of_the_real_configuration(rendered):
    """Not vacuous: the production config's four dependencies are found, listen addresses are not."""
    from gitops_check.references.index import Index

    idx = Index(Source(PRODUCTION, "overlay", rendered(PRODUCTION)))
    (template,) = [t for t in idx.templates if t.owner.kind == "Rollout"]
    found = {(e.host, e.port, e.key) for e in traffic.config_endpoints(idx, template)}
    assert found == {
        ("postgres-primary.database.svc.cluster.local", 5432, "database.port"),
        ("redis-cluster.message-broker.svc.cluster.local", 6379, "redis.address"),
        ("rabbitmq.message-broker.svc.cluster.local", 5672, "rabbitmq.host"),
        ("jaeger-collector.monitoring.svc.cluster.local", 14268, "tracing.endpoint"),
    }


def test_production_requires_more_than_staging():
    required = load_required_objects(REPO / "policies")
    assert set(required["staging"]) < set(required["production"])
    assert "PodDisruptionBudget" in required["production"] and "PodDisruptionBudget" not in required["staging"]


# --------------------------------------------------------------------------- held-out mistakes


def test_deleting_the_pdb_from_production(ctx, prod):
    found = run(ctx, drop(prod, "PodDisruptionBudget"))
    assert rules_of(found) == ["WH-REQ-001"], [v.message for v in found]
    assert "params.environments.production.requiredObjects" in found[0].message
    assert "maxUnavailable: 1" in found[0].message


def test_deleting_the_default_deny(ctx, prod):
    found = run(ctx, drop(prod, "NetworkPolicy", "default-deny-all"))
    assert rules_of(found) == ["WH-REQ-002"], [v.message for v in found]
    assert "default-deny" in found[0].message and "Ingress and Egress" in found[0].message


def test_dns_egress_removed(ctx, prod):
    spec = allow_policy(prod)
    spec["egress"] = [r for r in spec["egress"] if ns_of(r["to"][0]) != "kube-system"]
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-007"], [v.message for v in found]
    assert "DNS (UDP 53 and TCP 53)" in found[0].message and 'namespace "kube-system"' in found[0].message


def test_database_egress_on_another_port_than_the_config(ctx, prod):
    egress_rule(prod, "database")["ports"][0]["port"] = 5433
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-007"], [v.message for v in found]
    message = found[0].message
    assert "database.port 5432" in message and f"in ConfigMap {config(prod).name} key config.yaml" in message
    assert "only TCP 5433 is allowed" in message and 'namespace "database"' in message


def test_redis_port_changed_in_the_config_only(ctx, prod):
    cm = config(prod)
    assert ":6379" in cm.obj["data"]["config.yaml"]
    cm.obj["data"]["config.yaml"] = cm.obj["data"]["config.yaml"].replace(":6379", ":6380")
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-007"], [v.message for v in found]
    assert "redis.address redis-cluster.message-broker.svc.cluster.local:6380" in found[0].message
    assert "TCP 6380" in found[0].message


def test_prometheus_ingress_port_removed(ctx, prod):
    (rule,) = [r for r in allow_policy(prod)["ingress"] if ns_of(r["from"][0]) == "monitoring"]
    rule["ports"] = [p for p in rule["ports"] if p["port"] != "metrics"]
    found = run(ctx, prod)
    # once per Service the ServiceMonitor scrapes would be noise: one finding per pod port
    assert rules_of(found) == ["WH-NET-008"], [v.message for v in found]
    assert "ServiceMonitor webhook-service" in found[0].message and "9090 (metrics)" in found[0].message
    assert 'Prometheus (namespace "monitoring"' in found[0].message


def test_ingress_controller_namespace_wrong(ctx, prod):
    for rule in allow_policy(prod)["ingress"]:
        for peer in rule["from"]:
            if ns_of(peer) == "ingress-nginx":
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] = "nginx-ingress"
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-008"], [v.message for v in found]
    assert "Ingress webhook-service (ingressClassName nginx)" in found[0].message
    assert 'namespace "ingress-nginx"' in found[0].message


def test_istio_gateway_must_be_let_in_when_the_virtual_service_is_bound_to_one(ctx, prod):
    one(prod, "VirtualService").obj["spec"]["gateways"] = ["istio-system/public-gateway"]
    assert run(ctx, prod) == []  # istio-system is admitted on http
    for rule in allow_policy(prod)["ingress"]:
        rule["from"] = [p for p in rule["from"] if ns_of(p) != "istio-system"]
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-008"] and "Istio gateway" in found[0].message


def test_unknown_ingress_class_is_reported_not_skipped(ctx, prod):
    one(prod, "Ingress").obj["spec"]["ingressClassName"] = "traefik"
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-008"] and found[0].kind == "Ingress"
    assert "params.network.ingressControllers" in found[0].message


def prometheus_rule(docs) -> dict:
    (rule,) = [r for r in allow_policy(docs)["ingress"] if ns_of(r["from"][0]) == "monitoring"]
    return rule


def without_sidecar_port(docs) -> list[Document]:
    rule = prometheus_rule(docs)
    rule["ports"] = [p for p in rule["ports"] if p["port"] != 15090]
    return docs


def queries_without_sidecar_metrics(docs) -> list[Document]:
    """The analysis and alerts rewritten to read the application's own metrics instead of istio_*."""
    for doc in docs:
        if doc.kind in ("AnalysisTemplate", "PrometheusRule"):
            doc.obj = yaml.safe_load(yaml.safe_dump(doc.obj).replace("istio_", "http_"))
    return docs


def test_sidecar_metrics_port_removed(ctx, prod):
    """Every canary analysis query reads istio_* series, which Prometheus scrapes from the sidecar's 15090: closed,
    the analysis reads nothing and an analysis that passes an empty result promotes every canary."""
    found = run(ctx, without_sidecar_port(prod))
    assert rules_of(found) == ["WH-NET-008"], [v.message for v in found]
    [v] = found
    assert (v.kind, v.name) == ("Rollout", "webhook-service")
    assert v.message.startswith(
        'The pods run an Istio sidecar (namespace "webhook-service" has istio-injection=enabled) and AnalysisTemplate '
        "webhook-service-latency-p95 queries istio_request_duration_milliseconds_bucket: Prometheus scrapes the sidecar's "
        "metrics (istio_* and envoy_*, params.network.prometheus.sidecarMetricsPorts) on the injected sidecar's port TCP "
        "15090 of Rollout webhook-service, but ingress is restricted by NetworkPolicy default-deny-all, webhook-service"
    )
    assert "the queries of AnalysisTemplate webhook-service-latency-p95 get no data" in v.message
    assert "promotes every canary; add an ingress rule to NetworkPolicy webhook-service with from: namespaceSelector" in v.message
    assert v.message.endswith("and port 15090")


def test_sidecar_metrics_port_is_needed_by_the_queries_alone(ctx, prod):
    """Without the Namespace in the source, the queries of istio_* metrics say the pods run the sidecar."""
    found = run(ctx, drop(without_sidecar_port(prod), "Namespace"))
    assert rules_of(found) == ["WH-NET-008"], [v.message for v in found]
    assert found[0].message.startswith("AnalysisTemplate webhook-service-latency-p95 queries istio_")
    assert "Istio sidecar (" not in found[0].message


def test_sidecar_metrics_port_is_needed_by_the_mesh_alone(ctx, prod):
    found = run(ctx, queries_without_sidecar_metrics(without_sidecar_port(prod)))
    assert rules_of(found) == ["WH-NET-008"], [v.message for v in found]
    assert "istio-injection=enabled): Prometheus" in found[0].message and "queries" not in found[0].message
    assert "the alerts and canary analysis that read them get no data" in found[0].message


@pytest.mark.parametrize("where", ["label", "annotation"])
def test_sidecar_injection_from_the_pod_template(ctx, prod, where):
    docs = queries_without_sidecar_metrics(drop(without_sidecar_port(prod), "Namespace"))
    assert run(ctx, docs) == []  # neither the source's mesh nor its queries say there is a sidecar
    meta = one(docs, "Rollout").obj["spec"]["template"]["metadata"]
    meta.setdefault(f"{where}s", {})["sidecar.istio.io/inject"] = "true"
    found = run(ctx, docs)
    assert rules_of(found) == ["WH-NET-008"] and "sets sidecar.istio.io/inject: true" in found[0].message


@pytest.mark.parametrize("opt_out", ["pod", "namespace"])
def test_pods_without_a_sidecar_need_no_sidecar_port(ctx, prod, opt_out):
    docs = without_sidecar_port(prod)
    if opt_out == "pod":
        one(docs, "Rollout").obj["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    else:
        one(docs, "Namespace").obj["metadata"]["labels"]["istio-injection"] = "disabled"
    assert [v.message for v in run(ctx, docs) if v.rule == "WH-NET-008"] == []


@pytest.mark.parametrize(
    "ports",
    [
        [{"port": "metrics", "protocol": "TCP"}, {"port": 15000, "endPort": 15100, "protocol": "TCP"}],
        None,  # every port
    ],
)
def test_the_sidecar_port_admitted_other_ways_is_clean(ctx, prod, ports):
    rule = prometheus_rule(prod)
    if ports is None:
        del rule["ports"]
    else:
        rule["ports"] = ports
    assert [v.message for v in run(ctx, prod)] == []


def test_the_sidecar_port_by_its_injected_name_is_left_to_wh_ref_038(ctx, prod):
    """A policy port named like the injected container's (http-envoy-prom) may be the sidecar's: not a WH-NET-008
    finding; a name no declared container port has is WH-REF-038's."""
    prometheus_rule(prod)["ports"] = [{"port": "metrics", "protocol": "TCP"}, {"port": "http-envoy-prom", "protocol": "TCP"}]
    assert rules_of(run(ctx, prod)) == ["WH-REF-038"]


def test_the_sidecar_port_on_udp_or_for_other_pods_is_not_enough(ctx, prod):
    rule = prometheus_rule(prod)
    rule["ports"] = [{"port": "metrics", "protocol": "TCP"}, {"port": 15090, "protocol": "UDP"}]
    assert rules_of(run(ctx, prod)) == ["WH-NET-008"]
    rule["ports"] = [{"port": "metrics", "protocol": "TCP"}]
    allow_policy(prod)["ingress"].append({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}],
                                          "ports": [{"port": 15090, "protocol": "TCP"}]})
    assert rules_of(run(ctx, prod)) == ["WH-NET-008"]


def test_staging_requires_a_monitor_but_no_pdb(ctx, rendered):
    staging = copied(rendered(STAGING))
    assert run(ctx, drop(staging, "PodDisruptionBudget")) == []
    found = run(ctx, drop(staging, "ServiceMonitor"))
    assert rules_of(found) == ["WH-REQ-004"] and "staging requires" in found[0].message


def test_an_unknown_environment_is_judged_as_production(ctx, rendered):
    docs = [d for d in copied(rendered(STAGING)) if d.kind != "PodDisruptionBudget"]
    for d in docs:
        if d.kind == "Rollout":
            d.obj["metadata"]["labels"]["environment"] = "qa"
    found = [v for v in run(ctx, docs) if v.rule == "WH-REQ-001"]
    assert len(found) == 1 and "'qa' is not in the parameters, so it is judged as production" in found[0].message


# --------------------------------------------------------------------------- valid variants stay clean


def test_pdb_as_a_percentage(ctx, prod):
    spec = one(prod, "PodDisruptionBudget").obj["spec"]
    del spec["maxUnavailable"]
    spec["minAvailable"] = "50%"
    assert run(ctx, prod) == []


def test_extra_egress_rule(ctx, prod):
    allow_policy(prod)["egress"].append({
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}}],
        "ports": [{"port": 8443, "protocol": "TCP"}],
    })
    assert run(ctx, prod) == []


def test_pod_monitor_instead_of_service_monitor(ctx, prod):
    docs = drop(prod, "ServiceMonitor")
    docs.append(Document({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": "webhook-service", "namespace": "webhook-service", "labels": {"environment": "production"}},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "webhook-service"}},
                 "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}]},
    }, PRODUCTION))
    assert run(ctx, docs) == []
    (rule,) = [r for r in allow_policy(docs)["ingress"] if ns_of(r["from"][0]) == "monitoring"]
    rule["ports"] = [p for p in rule["ports"] if p["port"] != "metrics"]
    found = run(ctx, docs)
    assert rules_of(found) == ["WH-NET-008"] and "PodMonitor webhook-service" in found[0].message


def test_ip_block_egress_for_the_database(ctx, prod):
    egress_rule(prod, "database")["to"] = [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert run(ctx, prod) == []


def test_named_egress_and_ingress_ports(ctx, prod):
    names = {5432: "postgresql", 6379: "redis", 5672: "amqp"}
    for rule in allow_policy(prod)["egress"]:
        for port in rule["ports"]:
            if port["port"] in names:
                port["port"] = names[port["port"]]
            elif port["port"] == 53:
                port["port"] = "dns" if port["protocol"] == "UDP" else "dns-tcp"
    assert run(ctx, prod) == []
    # a well-known name still means its number: redis is 6379, not the 6380 the config now says
    cm = config(prod)
    cm.obj["data"]["config.yaml"] = cm.obj["data"]["config.yaml"].replace(":6379", ":6380")
    assert rules_of(run(ctx, prod)) == ["WH-NET-007"]


def test_replicas_instead_of_an_hpa(ctx, prod):
    docs = drop(prod, "HorizontalPodAutoscaler")
    one(docs, "Rollout").obj["spec"]["replicas"] = 3
    assert run(ctx, docs) == []


def test_default_deny_split_in_two_policies(ctx, prod):
    deny = one(prod, "NetworkPolicy", "default-deny-all")
    deny.obj["spec"]["policyTypes"] = ["Ingress"]
    egress = copy.deepcopy(deny.obj)
    egress["metadata"]["name"] = "default-deny-egress"
    egress["spec"]["policyTypes"] = ["Egress"]
    assert run(ctx, [*prod, Document(egress, PRODUCTION)]) == []
    found = run(ctx, prod)  # without the second one egress is not denied by default
    assert rules_of(found) == ["WH-REQ-002"] and "covers Egress" in found[0].message


def test_unrestricted_egress_needs_no_rules(ctx, prod):
    """Without any policy restricting egress nothing is blocked: the configuration is not judged."""
    prod = drop(prod, "NetworkPolicy", "default-deny-all")
    allow_policy(prod)["policyTypes"] = ["Ingress"]
    del allow_policy(prod)["egress"]
    cm = config(prod)
    cm.obj["data"]["config.yaml"] = cm.obj["data"]["config.yaml"].replace(":6379", ":6380")
    assert rules_of(run(ctx, prod)) == ["WH-REQ-002"]  # the missing default deny, nothing about egress


# --------------------------------------------------------------------------- endpoints in a configuration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db: {host: pg.data.svc.cluster.local, port: 5432}", {("pg.data.svc.cluster.local", 5432, "db.port")}),
        ("db: {url: 'postgres://app@pg.data.svc:5432/app?sslmode=require'}", {("pg.data.svc", 5432, "db.url")}),
        ("db: {url: 'postgresql://pg.data.svc/app'}", {("pg.data.svc", 5432, "db.url")}),
        ("cache: {addrs: 'r1.cache:6379, r2.cache:6379'}", {("r1.cache", 6379, "cache.addrs"), ("r2.cache", 6379, "cache.addrs")}),
        ("brokers: [k1.kafka.svc:9092, k2.kafka.svc:9092]", {("k1.kafka.svc", 9092, "brokers[0]"), ("k2.kafka.svc", 9092, "brokers[1]")}),
        ("hook: {endpoint: 'https://hooks.example.com/x'}", {("hooks.example.com", 443, "hook.endpoint")}),
        ("server: {host: 0.0.0.0, port: 8080}\nadmin: {address: 'localhost:9000'}\nbind: ':8080'", set()),
        ("schedule: {at: '10:30'}\nmetrics: {port: 9090}\nlog: {level: info}", set()),
        ("upstream: {host: '10.1.2.3', port: 5432}", {("10.1.2.3", 5432, "upstream.port")}),
    ],
)
def test_endpoints_are_found_generically(text, expected):
    found = {(e.host, e.port, e.key) for e in traffic.endpoints_in(yaml.safe_load(text), "", "ConfigMap x key c.yaml")}
    assert found == expected


def test_environment_style_keys_are_endpoints_too(ctx, prod):
    """A ConfigMap key read through envFrom whose value is a URL is judged like a key of the mounted file."""
    cm = config(prod)
    cm.obj["data"]["AUDIT_URL"] = "http://audit.compliance.svc.cluster.local:8088/events"
    (container,) = one(prod, "Rollout").obj["spec"]["template"]["spec"]["containers"]
    container.setdefault("envFrom", []).append({"configMapRef": {"name": cm.name}})
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-007"]
    assert f"AUDIT_URL http://audit.compliance.svc.cluster.local:8088/events in ConfigMap {cm.name}" in found[0].message


def test_outside_address_in_an_excepted_range_is_reported(ctx, prod):
    cm = config(prod)
    cm.obj["data"]["config.yaml"] += "audit:\n  endpoint: https://10.9.8.7/events\n"
    found = run(ctx, prod)
    assert rules_of(found) == ["WH-NET-007"] and "address 10.9.8.7" in found[0].message
    cm.obj["data"]["config.yaml"] = cm.obj["data"]["config.yaml"].replace("10.9.8.7", "203.0.113.7")
    assert run(ctx, prod) == []  # the internet rule (443 to 0.0.0.0/0 except private ranges) admits it


# --------------------------------------------------------------------------- parameters


def _params_dir(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((REPO / "policies" / "data" / "params.yaml").read_text())
    edit(data["params"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "params.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_missing_required_objects_is_an_input_error_naming_the_file(tmp_path):
    folder = _params_dir(tmp_path, lambda p: p["environments"]["staging"].pop("requiredObjects"))
    with pytest.raises(InputError, match=r"params\.yaml: params\.environments\.staging\.requiredObjects is missing"):
        load_required_objects(folder)
    ctx = Context(dataclasses.replace(settings.load(), policies_dir=folder), tmp_path)
    with pytest.raises(InputError, match="params.yaml"):
        references.check([Source("clean.yaml", "file", loader.read_file(FIXTURES / "references" / "clean.yaml"))], ctx)


@pytest.mark.parametrize("name", ["HorizontalPodAutoscaler", "PodDisruptionBudgets"])
def test_unknown_required_object_is_an_input_error(tmp_path, name):
    folder = _params_dir(tmp_path, lambda p: p["environments"]["production"]["requiredObjects"].append(name))
    with pytest.raises(InputError, match=name):
        load_required_objects(folder)


def test_missing_network_peers_is_an_input_error(tmp_path):
    folder = _params_dir(tmp_path, lambda p: p["network"]["prometheus"].pop("podLabels"))
    with pytest.raises(InputError, match=r"params\.yaml: params\.network\.prometheus\.podLabels"):
        load_network_peers(folder)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda p: p["network"]["prometheus"].pop("sidecarMetricsPorts"), "sidecarMetricsPorts"),
        (lambda p: p["network"]["prometheus"].update(sidecarMetricsPorts=["15090"]), "sidecarMetricsPorts"),
        (lambda p: p["network"]["prometheus"].update(sidecarMetricPrefixes="istio_"), "sidecarMetricPrefixes"),
    ],
)
def test_missing_or_malformed_sidecar_parameters_are_an_input_error(tmp_path, edit, key):
    folder = _params_dir(tmp_path, edit)
    with pytest.raises(InputError, match=rf"params\.yaml: params\.network\.prometheus\.{key} is missing or not a list"):
        load_network_peers(folder)


def test_the_sidecar_parameters_are_read(tmp_path):
    peers = load_network_peers(REPO / "policies")
    assert peers.sidecar_metrics_ports == (15090,) and peers.sidecar_metric_prefixes == ("istio_", "envoy_")
    off = load_network_peers(_params_dir(tmp_path, lambda p: p["network"]["prometheus"].update(sidecarMetricsPorts=[])))
    assert off.sidecar_metrics_ports == ()


def test_malformed_fields_never_raise(ctx):
    """Wrong types are the schema stage's finding; these checks must not crash on them."""
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1, ports: [{name: http, containerPort: x}], envFrom: [{configMapRef: {name: c}}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: app}
data: {a: "db: {host: [1], port: {x: 1}}\\nurl: 'http://[::1'\\nb: 'x:99999'", 7: 8}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: {a: 1}}, 5]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: app}
spec:
  podSelector: {}
  policyTypes: Egress
  ingress: [{from: [{ipBlock: {cidr: nonsense}}], ports: {port: 1}}, 3]
  egress: [{to: [{ipBlock: 5}, {namespaceSelector: [1]}], ports: [{port: 1, endPort: x}]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: app}
spec: {ingressClassName: [nginx], rules: [{http: {paths: [{backend: {service: {name: web, port: {number: 80}}}}]}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: app}
spec: {gateways: gw, http: [{match: [{gateways: 5}], route: [{destination: {host: web, port: 80}}]}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web, namespace: app}
spec: {selector: {matchLabels: {app: web}}, podMetricsEndpoints: [{port: {a: 1}}, {portNumber: 9090}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: web, namespace: app}
spec: {groups: [{rules: 5}, 7]}
"""
    assert isinstance(run(ctx, loader.parse(text, "inline")), list)

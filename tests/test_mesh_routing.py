"""The mesh under an Istio-routed Rollout (WH-REF-052..054): the pods run the sidecar that reports the canary's
requests, ingress-nginx sends edge traffic through the VirtualService, and no route before a managed route takes its
requests. Each fail-open case a red team passed validate with fires; what Istio and ingress-nginx accept stays quiet,
and so do the repository's overlays."""

from __future__ import annotations

import copy

import pytest

from conftest import FIXTURES, check_references
from gitops_check.errors import InputError

HERE = FIXTURES / "references"
MESH_RULES = {"WH-REF-052", "WH-REF-053", "WH-REF-054"}


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


def found(ctx, text_or_docs) -> list[tuple[str, str]]:
    """(rule, message) of the mesh rules' violations for a YAML text or a list of Documents."""
    return [(v.rule, v.message) for v in check_references(ctx, text_or_docs) if v.rule in MESH_RULES]


def fixture(rule_id: str, old: str = "", new: str = "") -> str:
    text = (HERE / f"{rule_id}.yaml").read_text()
    if old:
        assert old in text, old
        text = text.replace(old, new)
    return text


def rules(ctx, text) -> list[str]:
    return [r for r, _ in found(ctx, text)]


# --------------------------------------------------------------------------- WH-REF-052: the sidecar


POD_LABELS = '      labels: {app: web, sidecar.istio.io/inject: "false"}\n'
INJECTED = fixture("WH-REF-052", POD_LABELS, "      labels: {app: web}\n")  # the fixture, fixed


def pod_metadata(labels: str = "", annotations: str = "") -> str:
    text = INJECTED.replace("      labels: {app: web}\n", f"      labels: {{app: web{labels}}}\n")
    return text.replace("  template:\n    metadata:\n", f"  template:\n    metadata:\n      annotations: {{{annotations}}}\n")


def test_sidecar_opt_out_by_pod_label_is_reported(ctx):
    [(rule, message)] = found(ctx, fixture("WH-REF-052"))
    assert rule == "WH-REF-052" and "label sidecar.istio.io/inject: 'false'" in message and "; " in message
    assert found(ctx, INJECTED) == []


@pytest.mark.parametrize(
    ("labels", "annotations", "fires"),
    [
        ("", 'sidecar.istio.io/inject: "false"', True),  # the annotation, without a label
        (', sidecar.istio.io/inject: "true"', 'sidecar.istio.io/inject: "false"', False),  # the label wins
        (', sidecar.istio.io/inject: "false"', 'sidecar.istio.io/inject: "true"', True),
        ("", 'sidecar.istio.io/inject: "true"', False),
        # Istio's injectRequired lower-cases the value: y/yes/true/on inject, empty defers to the namespace, any
        # other value (False, no, off) stops injection
        (', sidecar.istio.io/inject: "False"', "", True),
        ("", 'sidecar.istio.io/inject: "no"', True),
        ("", 'sidecar.istio.io/inject: "Yes"', False),
        ("", 'sidecar.istio.io/inject: ""', False),
    ],
)
def test_pod_opt_out_label_wins_over_annotation(ctx, labels, annotations, fires):
    assert rules(ctx, pod_metadata(labels, annotations)) == (["WH-REF-052"] if fires else [])


NAMESPACE = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n  labels: {istio-injection: %s}\n"


@pytest.mark.parametrize(("injection", "pod_label", "fires"), [
    ("disabled", "", True),
    ("disabled", ', sidecar.istio.io/inject: "true"', True),  # no injector webhook selects the namespace
    ("enabled", "", False),
])
def test_namespace_injection_label(ctx, injection, pod_label, fires):
    found_ = found(ctx, pod_metadata(pod_label) + NAMESPACE % injection)
    assert [r for r, _ in found_] == (["WH-REF-052"] if fires else [])
    assert not fires or "istio-injection: disabled" in found_[0][1]


@pytest.mark.parametrize(
    ("annotation", "fires"),
    [
        ('traffic.sidecar.istio.io/excludeInboundPorts: "8080"', "leaves the routed port 8080 out"),
        ('traffic.sidecar.istio.io/excludeInboundPorts: " 15090, 8080 "', "leaves the routed port 8080 out"),
        ('traffic.sidecar.istio.io/excludeInboundPorts: "*"', "rejects it"),  # not a port list for the injector
        ('traffic.sidecar.istio.io/excludeInboundPorts: "9090"', ""),  # a port no route sends to
        ('traffic.sidecar.istio.io/excludeInboundPorts: "80"', ""),  # the Service port: capture goes by the pod's port
        ('traffic.sidecar.istio.io/includeInboundPorts: "9090"', "leaves the routed port 8080 out"),
        ('traffic.sidecar.istio.io/includeInboundPorts: ""', "leaves the routed port 8080 out"),
        ('traffic.sidecar.istio.io/includeInboundPorts: "*"', ""),
        ('traffic.sidecar.istio.io/includeInboundPorts: "8080,9090"', ""),
    ],
)
def test_routed_port_must_be_captured(ctx, annotation, fires):
    found_ = found(ctx, pod_metadata(annotations=annotation))
    assert [r for r, _ in found_] == (["WH-REF-052"] if fires else [])
    assert not fires or fires in found_[0][1]


def test_host_network_pods_get_no_sidecar(ctx):
    text = INJECTED.replace("      serviceAccountName: web\n", "      serviceAccountName: web\n      hostNetwork: true\n")
    assert rules(ctx, text) == ["WH-REF-052"]


def test_a_rollout_without_istio_routing_may_opt_out(ctx):
    text = fixture("WH-REF-052", "      trafficRouting:\n        istio:\n          virtualService: {name: web, routes: [primary]}\n")
    assert found(ctx, text) == []


# --------------------------------------------------------------------------- WH-REF-053: the edge


UPSTREAM = '    nginx.ingress.kubernetes.io/service-upstream: "true"\n'
VHOST = "    nginx.ingress.kubernetes.io/upstream-vhost: web.app.svc.cluster.local\n"
EDGE = fixture("WH-REF-053", VHOST, UPSTREAM + VHOST)  # the fixture, fixed


def test_ingress_without_service_upstream_is_reported(ctx):
    [(rule, message)] = found(ctx, fixture("WH-REF-053"))
    assert rule == "WH-REF-053" and "pod IPs" in message and 'service-upstream: "true"' in message
    assert found(ctx, EDGE) == []


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "t", "T", "1"])
def test_service_upstream_true_as_parse_bool_reads_it(ctx, value):
    assert found(ctx, EDGE.replace('service-upstream: "true"', f'service-upstream: "{value}"')) == []


@pytest.mark.parametrize("value", ["false", "0", "yes", "on", ""])
def test_service_upstream_not_true(ctx, value):
    assert rules(ctx, EDGE.replace('service-upstream: "true"', f'service-upstream: "{value}"')) == ["WH-REF-053"]


@pytest.mark.parametrize(
    ("vhost", "fires"),
    [
        ("web.app.svc.cluster.local", False),
        ("web.app.svc", False),
        ("web.app", False),
        ("web.app.svc.cluster.local:80", False),
        ("$service_name.app.svc.cluster.local", True),  # an nginx variable cannot be judged: refused
        ("$host", True),  # the public Host, as a variable
        ("web", True),  # the short name: the controller's sidecar, in its own namespace, does not resolve it here
        ("web.other.svc.cluster.local", True),
        ("web-canary.app.svc.cluster.local", True),  # no VirtualService for that host: straight to the canary
        ("web.example.com", True),  # the public host
        (None, True),
    ],
)
def test_upstream_vhost_names_the_virtual_service_host(ctx, vhost, fires):
    text = EDGE.replace(VHOST, f"    nginx.ingress.kubernetes.io/upstream-vhost: {vhost}\n" if vhost else "")
    found_ = found(ctx, text)
    assert [r for r, _ in found_] == (["WH-REF-053"] if fires else [])
    assert not fires or "upstream-vhost: web.app.svc.cluster.local" in found_[0][1]


def test_vhost_of_a_wildcard_or_external_virtual_service_host(ctx):
    for hosts, vhost in (('["*.example.com", web]', "web.example.com"), ("[web, api.example.com]", "api.example.com")):
        text = EDGE.replace("  hosts: [web]\n", f"  hosts: {hosts}\n").replace(VHOST, f"    nginx.ingress.kubernetes.io/upstream-vhost: {vhost}\n")
        assert found(ctx, text) == [], hosts


def test_canary_service_backend_is_judged_too(ctx):
    text = fixture("WH-REF-053", "                name: web\n", "                name: web-canary\n")
    assert rules(ctx, text) == ["WH-REF-053"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  ingressClassName: nginx\n", "  ingressClassName: traefik\n"),  # not ingress-nginx
        ("                name: web\n", "                name: web-docs\n"),  # not a Service the Rollout routes
        ("      trafficRouting:\n        istio:\n          virtualService: {name: web, routes: [primary]}\n", ""),
    ],
    ids=["other-controller", "other-service", "no-istio-routing"],
)
def test_ingresses_outside_mesh_routing_are_not_judged(ctx, old, new):
    text = fixture("WH-REF-053", old, new)
    if "web-docs" in new:
        text += "---\napiVersion: v1\nkind: Service\nmetadata: {name: web-docs, namespace: app}\nspec:\n  selector: {app: docs}\n"
        text += "  ports:\n    - {name: http, port: 80, targetPort: 8080}\n"
    assert found(ctx, text) == []


# --------------------------------------------------------------------------- WH-REF-054: shadowed routes


PRIMARY = "    - name: primary\n"
ROUTE = "      route:\n        - destination: {host: web}\n"


def before_primary(route: str) -> str:
    """WH-REF-054's fixture with another route in place of the red team's catch-all."""
    text = fixture("WH-REF-054")
    start = text.index("    - name: everything\n")
    return text[:start] + route + text[text.index(PRIMARY):]


def test_catch_all_route_before_the_managed_route_is_reported(ctx):
    [(rule, message)] = found(ctx, fixture("WH-REF-054"))
    assert rule == "WH-REF-054" and "'everything'" in message and "'primary'" in message


@pytest.mark.parametrize(
    ("route", "fires"),
    [
        ("    - name: stable\n" + ROUTE, True),  # no match at all
        ("    - " + ROUTE[6:], True),  # unnamed, no match
        ("    - name: m\n      match:\n        - uri: {prefix: /}\n          ignoreUriCase: true\n" + ROUTE, True),
        ("    - name: m\n      match:\n        - headers: {x-debug: {exact: '1'}}\n        - uri: {prefix: /}\n" + ROUTE, True),
        ("    - name: m\n      match:\n        - headers: {x-debug: {exact: '1'}}\n" + ROUTE, False),
        ("    - name: m\n      match:\n        - uri: {prefix: /admin}\n" + ROUTE, False),
        ("    - name: m\n      match:\n        - uri: {prefix: /}\n          method: {exact: GET}\n" + ROUTE, False),
        ("    - name: m\n      match:\n        - uri: {exact: /}\n" + ROUTE, False),
        ("    - name: m\n      match:\n        - uri: {regex: '.*'}\n" + ROUTE, True),  # matches every path
        ("    - name: m\n      match:\n        - uri: {regex: '/api/.*'}\n" + ROUTE, False),  # not every path
    ],
    ids=["no-match", "unnamed", "prefix-ignore-case", "or-catch-all", "header", "narrower-uri", "method", "exact",
         "regex-every-path", "regex-some-paths"],
)
def test_what_an_earlier_route_matches(ctx, route, fires):
    assert rules(ctx, before_primary(route)) == (["WH-REF-054"] if fires else [])


def test_argo_rollouts_own_header_route_may_come_first(ctx):
    """setHeaderRoute/setMirrorRoute routes (trafficRouting.managedRoutes) are placed first on purpose."""
    text = before_primary("    - name: canary-header\n" + ROUTE).replace(
        "      trafficRouting:\n", "      trafficRouting:\n        managedRoutes:\n          - name: canary-header\n")
    assert found(ctx, text) == []


def test_a_catch_all_after_the_managed_route_is_fine(ctx):
    text = fixture("WH-REF-054")
    everything = text[text.index("    - name: everything\n"):text.index(PRIMARY)]
    assert found(ctx, text.replace(everything, "") + everything) == []


@pytest.mark.parametrize(("earlier", "managed", "fires"), [
    ("/api", "/api/v1", True),  # a wider prefix takes the managed route's requests
    ("/api/v1", "/api", False),  # a narrower one takes only some
])
def test_prefixes_are_compared(ctx, earlier, managed, fires):
    text = before_primary(f"    - name: m\n      match:\n        - uri: {{prefix: {earlier}}}\n" + ROUTE)
    text = text.replace(PRIMARY, PRIMARY + f"      match:\n        - uri: {{prefix: {managed}}}\n")
    assert rules(ctx, text) == (["WH-REF-054"] if fires else [])


def test_first_unnamed_route_is_the_managed_one_without_route_names(ctx):
    text = before_primary("    - name: stable\n" + ROUTE).replace("{name: web, routes: [primary]}", "{name: web}")
    text = text.replace(PRIMARY + "      route:\n", "    - route:\n")  # `primary` becomes the first unnamed route
    found_ = found(ctx, text)
    assert [r for r, _ in found_] == ["WH-REF-054"] and "first unnamed HTTP route" in found_[0][1]


# --------------------------------------------------------------------------- the repository's overlays


OVERLAYS = ["overlays/production", "overlays/staging", "tests/overlays/header-routing", "tests/overlays/region-eu"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_are_quiet(ctx, rendered, overlay):
    assert found(ctx, rendered(overlay)) == []


def _by_kind(docs, kind):
    return next(d for d in docs if d.kind == kind)


def test_overlays_would_be_caught(ctx, rendered):
    """The rules judge the real manifests: each red-team change to production fires its rule."""
    def changed(change, overlay="overlays/production"):
        docs = copy.deepcopy(rendered(overlay))
        change(docs)
        return rules(ctx, docs)

    def opt_out(docs):
        _by_kind(docs, "Rollout").obj["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"

    def namespace_off(docs):
        _by_kind(docs, "Namespace").obj["metadata"]["labels"]["istio-injection"] = "disabled"

    def no_upstream(docs):
        del _by_kind(docs, "Ingress").obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/service-upstream"]

    def unsuffixed_vhost(docs):  # region-eu without its patch of the host
        annotations = _by_kind(docs, "Ingress").obj["metadata"]["annotations"]
        annotations["nginx.ingress.kubernetes.io/upstream-vhost"] = "webhook-service.webhook-service.svc.cluster.local"

    def catch_all_first(docs):
        http = _by_kind(docs, "VirtualService").obj["spec"]["http"]
        http.insert(0, {"name": "all", "match": [{"uri": {"prefix": "/"}}], "route": copy.deepcopy(http[0]["route"][:1])})

    assert changed(opt_out) == ["WH-REF-052"]
    assert changed(namespace_off) == ["WH-REF-052"]
    assert changed(no_upstream) == ["WH-REF-053"]
    assert changed(unsuffixed_vhost, "tests/overlays/region-eu") == ["WH-REF-053"]
    assert changed(catch_all_first) == ["WH-REF-054"]


# --------------------------------------------------------------------------- input the rules must survive


@pytest.mark.parametrize("target", ['"²"', "'" + "9" * 4301 + "'"])
def test_a_target_port_that_is_no_port_number_is_not_a_routed_port(ctx, target):
    """"²".isdigit() is true and int() refuses it; 4,301 digits exceed int()'s limit: both were internal errors."""
    text = INJECTED.replace("    - {name: http, port: 80, targetPort: http}\n", f"    - {{name: http, port: 80, targetPort: {target}}}\n", 1)
    assert text != INJECTED
    assert found(ctx, text) == []


def test_a_port_list_annotation_of_too_many_digits_is_no_port_list(ctx):
    text = pod_metadata(annotations="traffic.sidecar.istio.io/excludeInboundPorts: '" + "9" * 4301 + "'")
    [(rule, message)] = found(ctx, text)
    assert rule == "WH-REF-052" and "not a list of port numbers" in message


def test_routes_with_too_many_match_conditions_to_compare_are_refused(ctx):
    """1,500 x 1,500 conditions took 16 s per pair of routes; beyond MAX_MATCH_PAIRS it is one line, exit 2."""
    many = "".join(f"        - uri: {{prefix: /x{n}}}\n" for n in range(400))
    text = before_primary("    - name: m\n      match:\n" + many + ROUTE)
    text = text.replace("    - name: primary\n", "    - name: primary\n      match:\n" + many.replace("/x", "/p"), 1)
    with pytest.raises(InputError, match=r"400 x 400 match conditions .* more than the 100,000"):
        found(ctx, text)


def test_a_podmonitor_may_scrape_the_injected_sidecars_metrics_port(references_ctx):
    """Istio's injector names Envoy's metrics port http-envoy-prom on the istio-proxy container it adds: a PodMonitor
    of it is fine on injected pods (WH-REF-029 asks for a container port name the pods have), and wrong where no
    sidecar is injected."""
    def monitored(inject: str) -> list[str]:
        text = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: app, labels: {{environment: staging}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web, sidecar.istio.io/inject: "{inject}"}}}}
    spec:
      containers:
        - {{name: web, image: web:1.0.0, ports: [{{name: http, containerPort: 8080}}]}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: envoy, namespace: app}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  podMetricsEndpoints:
    - {{port: http-envoy-prom, path: /stats/prometheus, interval: 15s}}
"""
        return [v.rule for v in check_references(references_ctx, text) if v.rule == "WH-REF-029"]

    assert monitored("true") == []
    assert monitored("false") == ["WH-REF-029"]

"""The traffic a workload needs against the NetworkPolicies that restrict it: out to every dependency its
configuration names (and DNS), in from the ingress controller, the Istio gateway and Prometheus (on the ports
its ServiceMonitors/PodMonitors scrape, and on the Istio sidecar's metrics port).

A NetworkPolicy and the configuration it was written for drift apart silently: the database moves to
another port, a new Redis address is added, the controller's namespace is renamed, a scrape port is
added. Every object is valid on its own and the API server accepts them; the pods only time out at
runtime. This module reads both sides from the rendered objects.

Endpoints are found generically in every ConfigMap key the pods read (mounted as a file, projected, or
through env/envFrom): a value that parses as YAML/JSON is walked, any string that is a URL
(scheme://host[:port]) or host:port, and any mapping with `host` and `port`, is an endpoint. Listen
addresses (0.0.0.0, ::, localhost, 127.0.0.0/8) are not dependencies. A host `<svc>.<ns>.svc[...]` is a
Service in namespace <ns>, a single label one in the pods' own namespace, `<a>.<b>` either a Service in
namespace <b> or an outside name; an IP address is judged against ipBlocks; any other name is outside the
cluster and only an ipBlock (or a rule without peers) reaches it. Where the policy names its egress port
(`port: postgresql`) the number comes from the well-known names, else it is not judged (see netpolicy.py).

The Istio sidecar's metrics port (Envoy's stats, `params.network.prometheus.sidecarMetricsPorts`: 15090) is
declared by no container of ours: the injector adds it. Prometheus must reach it on every pod that receives
traffic (a Service selects it) and runs the sidecar, as Istio's injector decides: the namespace label
istio-injection=enabled or istio.io/rev, or sidecar.istio.io/inject "true" on the pod template (label, or the
older annotation); "false" there, or istio-injection=disabled, keeps it out. When the source does not say (no
Namespace object), a pod counts as meshed when an AnalysisTemplate or PrometheusRule of its namespace queries
the sidecar's metrics (`sidecarMetricPrefixes`: istio_*, envoy_*): those series come from that port only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

from .. import analysis, loader
from ..errors import InputError
from ..model import Document, Violation
from ..rules import rule
from . import netpolicy as np
from .config import pod_refs
from .index import Index, PodTemplate, as_dict, as_list, dicts, service_host
from .inputs import Inputs
from .network import ingress_service_backends, monitored_services
from .scaling import _workload_ref_targets
from .workloads import pod_selector, selected_pods

CONFIG_EGRESS = rule(
    "WH-NET-007", "error", "references",
    "NetworkPolicies let the pods reach every endpoint their configuration names, and DNS",
    "Under a default-deny egress policy a database, cache, broker or tracing endpoint (or a port) the policy "
    "does not admit times out only at runtime, as does every hostname without DNS; config and policy drift apart "
    "silently.",
)
TRAFFIC_INGRESS = rule(
    "WH-NET-008", "error", "references",
    "NetworkPolicies let the ingress controller, the Istio gateway and Prometheus reach the ports they send to "
    "(the Istio sidecar's metrics port of meshed pods included)",
    "Under a default-deny ingress policy the controller of the Ingress's class (or the gateway of a VirtualService) "
    "gets timeouts on the backend port, and Prometheus on a port it scrapes: no traffic, or no metrics for alerts "
    "and canary analysis (the istio_* series come from the sidecar's port 15090; without them an analysis that "
    "passes an empty result promotes every canary).",
)

SCHEME_PORTS = {
    "http": 80, "https": 443, "ws": 80, "wss": 443, "grpc": 443, "postgres": 5432, "postgresql": 5432,
    "mysql": 3306, "redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671, "mongodb": 27017, "nats": 4222,
    "kafka": 9092, "ldap": 389, "ldaps": 636, "smtp": 25,
}
HOST_PORT = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r":(?P<port>\d{1,5})$"
)
LOCAL_HOSTS = {"", "0.0.0.0", "::", "localhost", "*"}
CLUSTER_SUFFIX = re.compile(r"^(?P<svc>[^.]+)\.(?P<ns>[^.]+)\.svc(\..*)?$")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int | None  # None: a hostname whose port the configuration does not say (DNS only)
    key: str  # the configuration key that says it, e.g. database.port
    value: str  # what the key says
    where: str  # ConfigMap x key y

    def __str__(self) -> str:
        return f"{self.key} {self.value} in {self.where}"

    @property
    def ip(self):
        try:
            return ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return None


def _local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _plausible_host(host: str) -> bool:
    """A DNS name with a letter in it, or an IP address (so "10:30" is no endpoint)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return any(c.isalpha() for c in host)


def _from_string(text: str) -> Iterator[tuple[str, int | None]]:
    for part in re.split(r"[,\s]+", text.strip()):
        if "://" in part:
            try:
                url = urlsplit(part)
                host, port = url.hostname or "", url.port
            except ValueError:
                continue
            if host and _plausible_host(host):
                yield host, port if port is not None else SCHEME_PORTS.get(url.scheme.lower())
        elif (m := HOST_PORT.match(part)) and _plausible_host(m["host"]) and 0 < int(m["port"]) < 65536:
            yield m["host"].strip("[]"), int(m["port"])


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5):
        number = int(value)
        return number if 0 < number < 65536 else None
    return None


# JSON Schema's identifiers (a flagd flag file's "$schema": "https://flagd.dev/schema/v0/flags.json"): names, never
# fetched by the service, so no connection it makes.
SCHEMA_KEYWORDS = ("$schema", "$id", "$ref")


def endpoints_in(value: Any, path: str, where: str) -> Iterator[Endpoint]:
    """Every (host, port) a parsed configuration value names, with the key that names it."""
    if isinstance(value, dict):
        host, port = value.get("host"), _port(value.get("port"))
        paired = isinstance(host, str) and port is not None and not HOST_PORT.match(host) and "://" not in host
        if paired and _plausible_host(host) and not _local(host):
            yield Endpoint(host, port, f"{path}.port" if path else "port", f"{port} (host {host})", where)
        for k, v in value.items():
            if (paired and k in ("host", "port")) or k in SCHEMA_KEYWORDS:
                continue
            yield from endpoints_in(v, f"{path}.{k}" if path else str(k), where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from endpoints_in(v, f"{path}[{i}]", where)
    elif isinstance(value, str):
        for host, port in _from_string(value):
            if not _local(host):
                yield Endpoint(host, port, path, value, where)


def config_endpoints(idx: Index, template: PodTemplate) -> list[Endpoint]:
    """Endpoints in the ConfigMap keys the template's pods read, first mention of each (host, port) kept."""
    found: dict[tuple[str, int | None], Endpoint] = {}
    seen: set[tuple[str, str]] = set()
    for ref in pod_refs(template):
        if ref.kind != "ConfigMap":
            continue
        cm = idx.get("ConfigMap", template.namespace, ref.name)
        if cm is None:
            continue  # a missing ConfigMap is WH-REF-023's finding
        data = as_dict(cm.obj.get("data"))
        for key in ref.keys or tuple(data):
            if (cm.name, key) in seen or not isinstance(data.get(key), str):
                continue
            seen.add((cm.name, key))
            text = data[key]
            try:  # the loader's limits: a value can hold an alias bomb or nesting 100,000 deep
                parsed = loader.safe_load(text, f"ConfigMap {cm.name} key {key}")
            except InputError:
                parsed = text
            structured = isinstance(parsed, (dict, list))
            where = f"ConfigMap {cm.name} key {key}" if structured else f"ConfigMap {cm.name}"
            for ep in endpoints_in(parsed if structured else text, "" if structured else key, where):
                found.setdefault((ep.host, ep.port), ep)
    return list(found.values())


def destination(host: str, namespace: str) -> np.Peer:
    """Where a configured host is, as far as the name tells."""
    try:
        return np.Peer(ip=ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    if m := CLUSTER_SUFFIX.match(host):
        return np.Peer(namespace=m["ns"])
    labels = host.split(".")
    if len(labels) == 1:
        return np.Peer(namespace=namespace)
    if len(labels) == 2:
        return np.Peer(namespace=labels[1], outside=True)  # <service>.<namespace>, or an outside name
    return np.Peer(outside=True)


def _resolver(idx: Index, peer: np.Peer):
    """Named egress ports: a well-known name, else a container port name of the destination's pods in this
    source; None (not judged) when neither says."""

    def resolve(name: str) -> int | None:
        if name in np.WELL_KNOWN_PORTS:
            return np.WELL_KNOWN_PORTS[name]
        if peer.namespace and not peer.outside:
            for t in idx.templates:
                if t.namespace == peer.namespace:
                    for p in t.ports():
                        if p.get("name") == name and isinstance(p.get("containerPort"), int):
                            return p["containerPort"]
        return None

    return resolve


def _to_hint(peer: np.Peer) -> str:
    if peer.ip is not None:
        return f"to: ipBlock with cidr {peer.ip}/{peer.ip.max_prefixlen}"
    if peer.namespace and not peer.outside:
        return f"to: namespaceSelector {np.NAME_LABEL}: {peer.namespace}"
    if peer.namespace:
        return f"to: namespaceSelector {np.NAME_LABEL}: {peer.namespace} (or an ipBlock if it is an outside name)"
    return "to: an ipBlock with the outside addresses"


def _who(template: PodTemplate) -> str:
    return f"{template.owner.kind} {template.owner.name}"


def _fix_target(idx: Index, template: PodTemplate, direction: str) -> str:
    policy = np.allow_policy(idx, template, direction)
    return f"NetworkPolicy {policy.name}" if policy is not None else "a NetworkPolicy selecting these pods"


def _templates(idx: Index) -> list[PodTemplate]:
    """Pod templates that run (a Deployment a Rollout takes over through workloadRef runs no pods)."""
    taken = _workload_ref_targets(idx)
    return [t for t in idx.templates if id(t.owner) not in taken]


def config_egress(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Under restricted egress, every configured endpoint's port must be admitted towards its host's
    namespace (or address), and DNS (UDP and TCP 53 to the DNS namespace) when any endpoint is a name."""
    for template in _templates(idx):
        restricting = np.isolating(idx, template, np.EGRESS)
        if not restricting:
            continue
        endpoints = config_endpoints(idx, template)
        if not endpoints:
            continue
        fix_in = _fix_target(idx, template, np.EGRESS)
        restricted = f"egress is restricted by NetworkPolicy {np.names(restricting)}"
        for ep in endpoints:
            if ep.port is None:
                continue
            peer = destination(ep.host, template.namespace)
            if np.admitted(idx, template, np.EGRESS, peer, "TCP", ep.port, None, _resolver(idx, peer)):
                continue
            allowed = np.ports_towards(idx, template, np.EGRESS, peer)
            hint = f" (towards it only {', '.join(allowed)} {'is' if len(allowed) == 1 else 'are'} allowed)" if allowed else ""
            yield CONFIG_EGRESS.violation(
                template.owner,
                f"{_who(template)}: {ep}: {restricted} and no egress rule admits TCP {ep.port} to {peer.describe()}{hint}; add an "
                f"egress rule to {fix_in} with {_to_hint(peer)} and port TCP {ep.port}, or correct the configuration",
            )
        names = [ep for ep in endpoints if ep.ip is None]
        if not names:
            continue
        dns = np.Peer(namespace=inputs.network_peers.dns_namespace)
        missing = [
            proto for proto in ("UDP", "TCP")
            if not np.admitted(idx, template, np.EGRESS, dns, proto, 53, None, _resolver(idx, dns))
        ]
        if missing:
            yield CONFIG_EGRESS.violation(
                template.owner,
                f"{_who(template)}: the configuration names hostnames ({names[0].host} in {names[0].where}"
                f"{f', and {len(names) - 1} more' if len(names) > 1 else ''}), but "
                f"{restricted} and no egress rule admits DNS ({' and '.join(p + ' 53' for p in missing)}) to namespace "
                f'"{dns.namespace}" (params.network.dnsNamespace); add an egress rule to {fix_in} with to: '
                f"namespaceSelector {np.NAME_LABEL}: {dns.namespace} and ports UDP 53 and TCP 53",
            )


@dataclass(frozen=True)
class Inbound:
    """Traffic some object sends to a container port of a pod template."""

    template: PodTemplate
    number: int | None
    name: str | None
    protocol: str
    sender: str  # what sends it and through what, for the message
    peer: np.Peer
    who: str  # who must be let in, for the message
    from_hint: str
    port_kind: str = ", container port"  # what joins the sender to the port
    consequence: str = ""  # what a closed port breaks, when the sender does not say it
    injected: bool = False  # a port the sidecar injector adds: a named policy port no container declares may be it


def _container_port(template: PodTemplate, target: Any) -> tuple[int | None, str | None] | None:
    """(number, name) of the container port a Service targetPort or a port name reaches; None when the pods
    do not declare it by name (WH-REF-003/029 report that)."""
    declared = template.ports()
    if np.named(target):
        for p in declared:
            if p.get("name") == target:
                number = p.get("containerPort")
                return (number if isinstance(number, int) else None), target
        return None
    try:
        number = int(target)
    except (TypeError, ValueError):
        return None
    name = next((p.get("name") for p in declared if str(p.get("containerPort")) == str(number)), None)
    return number, name if isinstance(name, str) else None  # a malformed name is the schema stage's finding


def _service_port(svc: Document, wanted: Any) -> dict | None:
    ports = dicts(as_dict(svc.obj.get("spec")).get("ports"))
    if wanted is None:
        return ports[0] if len(ports) == 1 else None
    for p in ports:
        if (np.named(wanted) and p.get("name") == wanted) or (not np.named(wanted) and str(p.get("port")) == str(wanted)):
            return p
    return None


def _through_service(idx: Index, svc: Document, wanted: Any) -> Iterator[tuple[PodTemplate, int | None, str | None, str]]:
    """(template, container port number, name, protocol) a Service port sends to."""
    port = _service_port(svc, wanted)
    selector = pod_selector(svc)
    if port is None or selector is None:
        return
    target = port.get("targetPort", port.get("port"))
    for template in idx.selected(idx.ns(svc), selector):
        resolved = _container_port(template, target)
        if resolved is not None:
            yield template, resolved[0], resolved[1], str(port.get("protocol") or "TCP").upper()


def _ns_from(namespace: str, labels: dict | None = None) -> str:
    text = f"from: namespaceSelector {np.NAME_LABEL}: {namespace}"
    if labels:
        text += " with podSelector " + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items()))
    return text


def _from_ingresses(idx: Index, inputs: Inputs) -> Iterator[Inbound | Violation]:
    for ingress in idx.of_kind("Ingress"):
        cls = as_dict(ingress.obj.get("spec")).get("ingressClassName")
        if not cls:
            continue  # no class: WH-NET-002
        for _, backend in ingress_service_backends(ingress):
            svc = idx.get("Service", idx.ns(ingress), backend.get("name"))
            if svc is None:
                continue  # WH-REF-030
            port = as_dict(backend.get("port"))
            wanted = port.get("name") or port.get("number")
            for template, number, name, protocol in _through_service(idx, svc, wanted):
                controllers = inputs.network_peers.ingress_controllers
                if str(cls) not in controllers:
                    if np.isolating(idx, template, np.INGRESS):
                        yield TRAFFIC_INGRESS.violation(
                            ingress,
                            f"ingressClassName {cls!r} has no controller namespace in params.network.ingressControllers "
                            f"and the pods of {template.owner.kind}/{template.owner.name} are under an ingress NetworkPolicy, "
                            f"so whether its controller may reach them cannot be checked; add {cls}: <namespace> there",
                        )
                    continue
                namespace = controllers[str(cls)]
                yield Inbound(
                    template, number, name, protocol,
                    f"Ingress {ingress.name} (ingressClassName {cls}) sends to Service {svc.name} port {wanted}",
                    np.Peer(namespace=namespace), f'the {cls} controller (namespace "{namespace}")', _ns_from(namespace),
                )


def _from_gateways(idx: Index, inputs: Inputs) -> Iterator[Inbound]:
    namespace = None
    for vs in idx.of_kind("VirtualService"):
        spec = as_dict(vs.obj.get("spec"))
        gateways = [str(g) for g in as_list(spec.get("gateways")) if str(g) != "mesh"]
        if not gateways:
            continue  # mesh-internal routes: the callers are the mesh's own pods
        namespace = namespace or inputs.network_peers.istio_gateway_namespace
        for kind in ("http", "tls", "tcp"):
            for route in dicts(spec.get(kind)):
                only = [str(g) for m in dicts(route.get("match")) for g in as_list(m.get("gateways"))]
                if only and all(g == "mesh" for g in only):
                    continue  # this route serves mesh callers only
                for dest in dicts(route.get("route")):
                    d = as_dict(dest.get("destination"))
                    svc = idx.get("Service", idx.ns(vs), service_host(d.get("host"), idx.ns(vs)))
                    if svc is None:
                        continue
                    wanted = as_dict(d.get("port")).get("number")
                    for template, number, name, protocol in _through_service(idx, svc, wanted):
                        yield Inbound(
                            template, number, name, protocol,
                            f"VirtualService {vs.name} (gateways {', '.join(gateways)}) routes to Service {svc.name}"
                            + (f" port {wanted}" if wanted else ""),
                            np.Peer(namespace=namespace), f'the Istio gateway (namespace "{namespace}")', _ns_from(namespace),
                        )


def _from_prometheus(idx: Index, inputs: Inputs) -> Iterator[Inbound]:
    peers = None
    for monitor in idx.of_kind("ServiceMonitor", "PodMonitor"):
        peers = peers or inputs.network_peers
        peer = np.Peer(namespace=peers.prometheus_namespace, pod_labels=peers.prometheus_labels)
        who = f'Prometheus (namespace "{peers.prometheus_namespace}", pods ' + ", ".join(
            f"{k}={v}" for k, v in sorted(peers.prometheus_labels.items())) + ")"
        hint = _ns_from(peers.prometheus_namespace, peers.prometheus_labels)
        spec = as_dict(monitor.obj.get("spec"))
        if monitor.kind == "ServiceMonitor":
            for endpoint in dicts(spec.get("endpoints")):
                for svc in monitored_services(idx, monitor):
                    selector = pod_selector(svc)
                    if endpoint.get("port"):
                        sends = _through_service(idx, svc, str(endpoint["port"]))
                    elif endpoint.get("targetPort") is not None and selector is not None:
                        sends = _direct(idx.selected(idx.ns(svc), selector), endpoint["targetPort"])
                    else:
                        continue
                    for template, number, name, protocol in sends:
                        port = endpoint.get("port") or endpoint.get("targetPort")
                        yield Inbound(template, number, name, protocol,
                                      f"ServiceMonitor {monitor.name} scrapes Service {svc.name} port {port}", peer, who, hint)
        else:
            selector = pod_selector(monitor)
            templates = selected_pods(idx, monitor, selector) if selector is not None else []
            for endpoint in dicts(spec.get("podMetricsEndpoints")):
                port = endpoint.get("port") or endpoint.get("portNumber") or endpoint.get("targetPort")
                if port is None:
                    continue
                for template, number, name, protocol in _direct(templates, port):
                    yield Inbound(template, number, name, protocol,
                                  f"PodMonitor {monitor.name} scrapes port {port}", peer, who, hint)


SIDECAR_INJECT = "sidecar.istio.io/inject"  # pod label (or the older annotation): "true" or "false"
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')  # PromQL string literals (label values)


def pod_annotations(idx: Index, template: PodTemplate) -> dict:
    """The annotations of the pods a template makes (PodTemplate keeps only their labels)."""
    owner = template.owner
    if owner.kind == "Pod":
        return as_dict(owner.metadata.get("annotations"))
    spec = as_dict(owner.obj.get("spec"))
    if owner.kind == "CronJob":
        spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    elif owner.kind == "Rollout" and "template" not in spec:
        target = idx.workload_ref(owner)
        spec = as_dict(target.obj.get("spec")) if target is not None else {}
    return as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("annotations"))


def sidecar_injection(idx: Index, template: PodTemplate) -> tuple[bool | None, str]:
    """(whether Istio's injector adds a sidecar to the pods, why); None when the source does not say. As inject.go
    and the injector's webhook selectors read it: a Namespace labelled istio-injection=disabled matches no injector
    webhook; hostNetwork pods are never injected; on the pod the label wins over the annotation, and its value,
    in any case, injects when it is y, yes, true or on and stops injection when it is anything else but empty
    (injectRequired); an empty or absent value leaves it to the namespace's istio-injection=enabled or
    istio.io/rev label."""
    namespace = idx.get("Namespace", "", template.namespace)
    ns_labels = {str(k): str(v) for k, v in (namespace.labels if namespace is not None else {}).items()}
    if ns_labels.get("istio-injection") == "disabled":
        return False, f"Namespace {template.namespace!r} has the label istio-injection: disabled"
    if template.spec.get("hostNetwork") is True:
        return False, "its pods use hostNetwork, which Istio never injects"
    where = "label" if SIDECAR_INJECT in template.labels else "annotation"
    value = template.labels.get(SIDECAR_INJECT, pod_annotations(idx, template).get(SIDECAR_INJECT))
    pod = "" if value is None else str(value)
    if pod.lower() in ("y", "yes", "true", "on"):
        return True, f"its pod template sets {SIDECAR_INJECT}: {pod}"
    if pod:
        return False, f"its pod template has the {where} {SIDECAR_INJECT}: {pod!r}, which Istio reads as no sidecar"
    if ns_labels.get("istio-injection") == "enabled":
        return True, f'namespace "{template.namespace}" has istio-injection=enabled'
    if "istio.io/rev" in ns_labels:
        return True, f'namespace "{template.namespace}" has istio.io/rev={ns_labels["istio.io/rev"]}'
    return None, ""


def _queries(doc: Document) -> list[str]:
    if doc.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        return [m.query for m in analysis.prometheus_metrics(doc) if m.query]
    if doc.kind == "PrometheusRule":
        spec = as_dict(doc.obj.get("spec"))
        return [str(r["expr"]) for g in dicts(spec.get("groups")) for r in dicts(g.get("rules")) if r.get("expr") is not None]
    return []


def sidecar_metric_readers(idx: Index, prefixes: tuple[str, ...]) -> dict[str, tuple[Document, str]]:
    """namespace ("" for a ClusterAnalysisTemplate: every namespace) -> the first AnalysisTemplate or PrometheusRule
    there that queries a metric the sidecar exposes, with that metric's name."""
    if not prefixes:
        return {}
    name = re.compile(r"(?<![\w:])((?:" + "|".join(map(re.escape, prefixes)) + r")[A-Za-z0-9_:]*)")
    found: dict[str, tuple[Document, str]] = {}
    for doc in idx.of_kind("AnalysisTemplate", "ClusterAnalysisTemplate", "PrometheusRule"):
        for query in _queries(doc):
            if (m := name.search(_STRINGS.sub('""', query))) and idx.ns(doc) not in found:
                found[idx.ns(doc)] = (doc, m[1])
    return found


def _served(idx: Index) -> list[PodTemplate]:
    """Running pod templates a Service of the source selects (the pods that receive traffic)."""
    selectors = [(idx.ns(s), sel) for s in idx.of_kind("Service") if (sel := pod_selector(s)) is not None]
    return [t for t in _templates(idx) if any(ns == t.namespace and sel.matches(t.labels) for ns, sel in selectors)]


def _from_sidecars(idx: Index, inputs: Inputs) -> Iterator[Inbound]:
    peers = inputs.network_peers
    if not peers.sidecar_metrics_ports:
        return
    readers = sidecar_metric_readers(idx, peers.sidecar_metric_prefixes)
    peer = np.Peer(namespace=peers.prometheus_namespace, pod_labels=peers.prometheus_labels)
    who = f'Prometheus (namespace "{peers.prometheus_namespace}", pods ' + ", ".join(
        f"{k}={v}" for k, v in sorted(peers.prometheus_labels.items())) + ")"
    metrics = " and ".join(f"{p}*" for p in peers.sidecar_metric_prefixes) or "its"
    for template in _served(idx):
        meshed, why = sidecar_injection(idx, template)
        reader = readers.get(template.namespace) or readers.get("")
        if meshed is False or (meshed is None and reader is None):
            continue
        reasons = [f"the pods run an Istio sidecar ({why})"] if meshed else []
        if reader is not None:
            reasons.append(f"{reader[0].kind} {reader[0].name} queries {reader[1]}")
        because = " and ".join(reasons)
        reads = f"the queries of {reader[0].kind} {reader[0].name}" if reader else "the alerts and canary analysis that read them"
        for port in peers.sidecar_metrics_ports:
            yield Inbound(
                template, port, None, "TCP",
                f"{because[:1].upper()}{because[1:]}: Prometheus scrapes the sidecar's metrics ({metrics}, "
                "params.network.prometheus.sidecarMetricsPorts)",
                peer, who, _ns_from(peers.prometheus_namespace, peers.prometheus_labels),
                port_kind=" on the injected sidecar's port",
                consequence=(f": the sidecar metrics vanish, {reads} get no data, and an analysis that takes an empty "
                             "result for a pass promotes every canary"),
                injected=True,
            )


def _direct(templates: list[PodTemplate], port: Any) -> Iterator[tuple[PodTemplate, int | None, str | None, str]]:
    for template in templates:
        resolved = _container_port(template, port)
        if resolved is not None:
            yield template, resolved[0], resolved[1], "TCP"


def traffic_ingress(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Under restricted ingress, the ingress controller of each Ingress's class, the Istio gateway of a
    VirtualService bound to gateways, and Prometheus must be admitted on the container port they reach (and
    Prometheus on the Istio sidecar's metrics port of meshed pods that receive traffic)."""
    taken = _workload_ref_targets(idx)
    if not any(np.isolating(idx, t, np.INGRESS) for t in idx.templates if id(t.owner) not in taken):
        return  # nothing is restricted: nothing to check (and no parameters to read)
    seen: set = set()
    items = [*_from_ingresses(idx, inputs), *_from_gateways(idx, inputs), *_from_prometheus(idx, inputs),
             *_from_sidecars(idx, inputs)]
    for item in items:
        if isinstance(item, Violation):
            if item not in seen:
                seen.add(item)
                yield item
            continue
        t = item.template
        if id(t.owner) in taken:
            continue
        key = (id(t.owner), item.who, item.number, item.name, item.protocol)
        if key in seen:
            continue
        seen.add(key)

        def resolve(name: str, t=t, injected=item.injected) -> int | None:
            # a named ingress port is one of the selected pods' own; one no container declares may be the sidecar's
            return next((p.get("containerPort") for p in t.ports() if p.get("name") == name), None if injected else -1)

        if np.admitted(idx, t, np.INGRESS, item.peer, item.protocol, item.number, item.name, resolve) is not False:
            continue
        shown = f"{item.number}" + (f" ({item.name})" if item.name else "") if item.number else str(item.name)
        restricting = np.isolating(idx, t, np.INGRESS)
        yield TRAFFIC_INGRESS.violation(
            t.owner,
            f"{item.sender}{item.port_kind} {item.protocol} {shown} of {_who(t)}, but ingress is restricted by "
            f"NetworkPolicy {np.names(restricting)} and no rule admits {item.who} on it{item.consequence}; add an ingress rule to "
            f"{_fix_target(idx, t, np.INGRESS)} with {item.from_hint} and port {item.name or item.number}",
        )


CHECKS = (config_egress, traffic_ingress)

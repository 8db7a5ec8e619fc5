"""Objects that point at Services: ServiceMonitors (and their ports, plus PodMonitor ports) and Ingress
backends and TLS secrets. All fail silently at runtime: no scrape target, or a 503/default certificate."""

from __future__ import annotations

from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from .config import secret_keys
from .index import Index, Selector, as_dict, dicts, has_port, service_host
from .inputs import Inputs
from .workloads import monitor_namespaces, pod_selector, selected_pods

MONITOR_SELECTS_NOTHING = rule(
    "WH-REF-028", "error", "references", "A ServiceMonitor selects at least one Service in the source",
    "A ServiceMonitor that matches no Service scrapes nothing: the SLO metrics and analysis queries go empty.",
)
MONITOR_PORT = rule(
    "WH-REF-029", "error", "references", "ServiceMonitor/PodMonitor endpoint ports exist on the selected Services/pods",
    "The Prometheus operator drops endpoints whose port name matches nothing: no target, no metrics, no alert.",
)
INGRESS_BACKEND = rule(
    "WH-REF-030", "error", "references", "Ingress backends name an existing Service and one of its ports",
    "A backend Service or port that does not exist answers every request with 503.",
)
INGRESS_TLS = rule(
    "WH-REF-031", "error", "references", "Ingress TLS secrets are issued by cert-manager or exist in the source",
    "Without the secret the controller serves its default certificate: clients fail TLS verification.",
)

VIRTUAL_SERVICE_PORT = rule(
    "WH-REF-037", "error", "references", "VirtualService destination ports are ports of the destination Service",
    "Istio sends traffic for a port the Service does not expose nowhere: the route answers 503 (or no healthy upstream).",
)
NETWORK_POLICY_PORT = rule(
    "WH-REF-038", "error", "references", "A NetworkPolicy ingress port given by name is a container port of the pods it selects",
    "A named port resolves against the selected pods' containerPort names; a name no pod declares opens nothing, "
    "so the traffic the rule was written for is dropped.",
)

CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


def monitored_services(idx: Index, monitor: Document) -> list[Document]:
    selector = Selector.of(as_dict(monitor.obj.get("spec")).get("selector"))
    namespaces = set(monitor_namespaces(idx, monitor))
    return [s for s in idx.of_kind("Service") if idx.ns(s) in namespaces and selector.matches(s.labels)]


def service_monitors_select(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """spec.selector (Service labels) within spec.namespaceSelector must match a Service of the source.
    Quiet when the source has no Service at all."""
    services = idx.of_kind("Service")
    if not services:
        return
    for monitor in idx.of_kind("ServiceMonitor"):
        if not monitored_services(idx, monitor):
            selector = Selector.of(as_dict(monitor.obj.get("spec")).get("selector"))
            labels = "; ".join(f"{s.name} ({', '.join(f'{k}={v}' for k, v in sorted(s.labels.items()))})" for s in services)
            yield MONITOR_SELECTS_NOTHING.violation(
                monitor,
                f"selector ({selector}) in namespaces {', '.join(monitor_namespaces(idx, monitor))} matches no Service "
                f"(Services: {labels}); match the Service's labels, not the pods'",
            )


def monitor_ports(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """ServiceMonitor endpoints[].port must name a port of the selected Services (of at least one: a
    Service without it just adds no target); PodMonitor podMetricsEndpoints[].port must name a container
    port of the selected pods."""
    for monitor in idx.of_kind("ServiceMonitor"):
        services = monitored_services(idx, monitor)
        names = {str(p.get("name")) for s in services for p in dicts(as_dict(s.obj.get("spec")).get("ports")) if p.get("name")}
        for endpoint in dicts(as_dict(monitor.obj.get("spec")).get("endpoints")):
            port = endpoint.get("port")
            if services and port and str(port) not in names:
                yield MONITOR_PORT.violation(
                    monitor,
                    f"endpoints port {port!r} is not a port name of the selected Service(s) "
                    f"{', '.join(s.name for s in services)} (names: {', '.join(sorted(names)) or 'none'}); "
                    "use the Service port's name",
                )
    for monitor in idx.of_kind("PodMonitor"):
        selector = pod_selector(monitor)
        templates = selected_pods(idx, monitor, selector) if selector is not None else []
        for template in templates:
            for endpoint in dicts(as_dict(monitor.obj.get("spec")).get("podMetricsEndpoints")):
                port = endpoint.get("port")
                if port and not has_port(template.ports(), str(port)) and not _sidecar_port(idx, template, str(port)):
                    yield MONITOR_PORT.violation(
                        monitor,
                        f"podMetricsEndpoints port {port!r} is not a container port name of "
                        f"{template.owner.kind}/{template.owner.name}; use the container port's name",
                    )


def _sidecar_port(idx: Index, template, name: str) -> bool:
    """The port Istio's injector names on the istio-proxy container it adds (Envoy's metrics), on pods it injects."""
    from ..scrape import SIDECAR_PORT_NAME
    from .traffic import sidecar_injection  # traffic imports this module

    return name == SIDECAR_PORT_NAME and sidecar_injection(idx, template)[0] is True


def ingress_service_backends(ingress: Document) -> Iterator[tuple[str, dict]]:
    """(where, service backend) of every Service an Ingress routes to: its defaultBackend, then each rule path."""
    spec = as_dict(ingress.obj.get("spec"))
    default = as_dict(as_dict(spec.get("defaultBackend")).get("service"))
    if default:
        yield "defaultBackend", default
    for rule_ in dicts(spec.get("rules")):
        for path in dicts(as_dict(rule_.get("http")).get("paths")):
            service = as_dict(as_dict(path.get("backend")).get("service"))
            if service:
                yield f"rule {rule_.get('host', '*')} path {path.get('path', '/')}", service


def ingress_backends(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each backend service must exist in the Ingress's namespace and expose the named or numbered port."""
    for ingress in idx.of_kind("Ingress"):
        for where, backend in ingress_service_backends(ingress):
            name, port = backend.get("name"), as_dict(backend.get("port"))
            svc = idx.get("Service", idx.ns(ingress), name)
            if svc is None:
                yield INGRESS_BACKEND.violation(ingress, f"{where}: {idx.absent('Service', idx.ns(ingress), name)}")
                continue
            ports = dicts(as_dict(svc.obj.get("spec")).get("ports"))
            wanted = port.get("name") if port.get("name") else port.get("number")
            if wanted is not None and not has_port(ports, wanted):
                yield INGRESS_BACKEND.violation(
                    ingress,
                    f"{where}: Service {name!r} has no port {wanted!r} (ports: {_port_list(ports)}); "
                    "use one of the Service's port names or numbers",
                )


def _port_list(ports: list[dict]) -> str:
    return ", ".join(f"{p.get('name', '-')}:{p.get('port')}" for p in ports) or "none"


def ingress_tls(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """spec.tls[].secretName must come from cert-manager (issuer annotation) or be provided in the source."""
    provided = secret_keys(idx)
    for ingress in idx.of_kind("Ingress"):
        annotations = as_dict(ingress.metadata.get("annotations"))
        if any(a in annotations for a in CERT_MANAGER_ANNOTATIONS):
            continue
        for tls in dicts(as_dict(ingress.obj.get("spec")).get("tls")):
            secret = tls.get("secretName")
            if secret and (idx.ns(ingress), str(secret)) not in provided:
                yield INGRESS_TLS.violation(
                    ingress,
                    f"tls secretName: {idx.absent('Secret', idx.ns(ingress), secret)} and no cert-manager issuer "
                    "annotation requests it; add cert-manager.io/cluster-issuer or provide the Secret (e.g. an ExternalSecret)",
                )


def _destinations(vs: Document) -> Iterator[tuple[str, dict]]:
    spec = as_dict(vs.obj.get("spec"))
    for kind in ("http", "tls", "tcp"):
        for i, route in enumerate(dicts(spec.get(kind))):
            where = f"{kind} route {route.get('name') or i}"
            for dest in dicts(route.get("route")):
                yield where, as_dict(dest.get("destination"))


def virtual_service_ports(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A destination's port.number must be a port of the Service its host names, when that Service is
    in the source (other hosts are outside what this source can tell)."""
    for vs in idx.of_kind("VirtualService"):
        for where, dest in _destinations(vs):
            number = as_dict(dest.get("port")).get("number")
            svc = idx.get("Service", idx.ns(vs), service_host(dest.get("host"), idx.ns(vs)))
            if number is None or svc is None:
                continue
            ports = dicts(as_dict(svc.obj.get("spec")).get("ports"))
            if not any(str(p.get("port")) == str(number) for p in ports):
                yield VIRTUAL_SERVICE_PORT.violation(
                    vs,
                    f"{where}: destination {dest.get('host')!r} port {number} is not a port of Service {svc.name!r} "
                    f"(ports: {_port_list(ports)}); use the Service's port number",
                )


def network_policy_ports(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Named ingress ports must be containerPort names of at least one selected pod (numeric ports and
    egress ports, which name the destination's ports, are not judged). Quiet when nothing is selected."""
    for policy in idx.of_kind("NetworkPolicy"):
        spec = as_dict(policy.obj.get("spec"))
        templates = idx.selected(idx.ns(policy), Selector.of(spec.get("podSelector")))
        if not templates:
            continue
        names = {str(p.get("name")) for t in templates for p in t.ports() if p.get("name")}
        for i, rule_ in enumerate(dicts(spec.get("ingress"))):
            for port in dicts(rule_.get("ports")):
                name = port.get("port")
                if isinstance(name, str) and not name.isdigit() and name not in names:
                    owners = ", ".join(sorted({f"{t.owner.kind}/{t.owner.name}" for t in templates}))
                    yield NETWORK_POLICY_PORT.violation(
                        policy,
                        f"ingress[{i}] port {name!r} is not a container port name of the selected pods of {owners} "
                        f"(names: {', '.join(sorted(names)) or 'none'}); use a declared port name or the number",
                    )


CHECKS = (
    service_monitors_select, monitor_ports, ingress_backends, ingress_tls, virtual_service_ports, network_policy_ports,
)

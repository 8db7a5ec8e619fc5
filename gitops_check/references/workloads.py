"""The objects that select a workload's pods, and the ports they name: Service selectors and target ports,
PDB/NetworkPolicy/PodMonitor selectors, probe ports.

A workload's own selector against its template labels is the API server's check (and Argo Rollouts' for a
Rollout, its workloadRef resolved as the controller resolves it), as is a workloadRef naming a workload
that is not there: neither is repeated here."""

from __future__ import annotations

from typing import Iterator

from ..model import Violation
from ..rules import rule
from .index import Index, PodTemplate, Selector, as_dict, dicts, has_port
from .inputs import Inputs

ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"

SELECTS_NO_PODS = rule(
    "WH-REF-002", "error", "references",
    "Services, PodDisruptionBudgets, NetworkPolicies and PodMonitors select pods of a workload in the source",
    "A selector that matches nothing routes no traffic, protects nothing, isolates nothing or scrapes nothing, silently. "
    "(The Services a Rollout routes are Argo Rollouts' own check: WH-RVAL-001.)",
)
SERVICE_PORT = rule(
    "WH-REF-003", "error", "references", "Service targetPorts exist on the selected containers",
    "A targetPort the pods do not expose leaves the Service without endpoints: every request fails.",
)
PROBE_PORT = rule(
    "WH-REF-004", "error", "references",
    "Probe ports exist on their container (a named port always; a number when the container declares ports)",
    "A probe on a port the container does not serve fails forever: pods never get ready or are restarted in a loop. "
    "A numeric port on a container that declares none is valid Kubernetes and is not judged.",
)


def _labels(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"


def pod_selector(doc) -> Selector | None:
    """What a pod-selecting object selects, or None when it selects nothing by design or everything."""
    spec = as_dict(doc.obj.get("spec"))
    if doc.kind == "Service":
        if spec.get("type") == "ExternalName" or not as_dict(spec.get("selector")):
            return None  # no selector: endpoints are managed by hand
        # Argo Rollouts sets rollouts-pod-template-hash on a Rollout's Services and pods itself: the value in
        # Git is overwritten, so only the other keys decide which pods are selected.
        return Selector.of_map({k: v for k, v in as_dict(spec.get("selector")).items() if k != ROLLOUT_HASH_LABEL})
    field = "podSelector" if doc.kind == "NetworkPolicy" else "selector"
    selector = Selector.of(spec.get(field))
    return None if selector.empty else selector  # an empty selector means "all pods", deliberately


def monitor_namespaces(idx: Index, doc) -> list[str]:
    """Namespaces a monitor (ServiceMonitor/PodMonitor) looks in: its own unless namespaceSelector widens it."""
    ns_selector = as_dict(as_dict(doc.obj.get("spec")).get("namespaceSelector"))
    if ns_selector.get("any") is True:
        return sorted({t.namespace for t in idx.templates} | {idx.ns(d) for d in idx.of_kind("Service")})
    names = ns_selector.get("matchNames")
    return [str(n) for n in names] if isinstance(names, list) and names else [idx.ns(doc)]


def selected_pods(idx: Index, doc, selector: Selector) -> list[PodTemplate]:
    namespaces = monitor_namespaces(idx, doc) if doc.kind == "PodMonitor" else [idx.ns(doc)]
    return [t for ns in namespaces for t in idx.selected(ns, selector)]


def selectors_select_pods(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Services, PDBs, NetworkPolicies and PodMonitors must select at least one pod template of the source.
    Quiet when the source has no pod templates at all (nothing to compare against)."""
    if not idx.templates:
        return
    judged_upstream = _validated_by_argo_rollouts(idx)
    for doc in idx.of_kind("Service", "PodDisruptionBudget", "NetworkPolicy", "PodMonitor"):
        if doc.kind == "Service" and (idx.ns(doc), doc.name) in judged_upstream:
            continue
        selector = pod_selector(doc)
        if selector is not None and not selected_pods(idx, doc, selector):
            owners = sorted({f"{t.owner.kind}/{t.owner.name} ({_labels(t.labels)})" for t in idx.templates})
            yield SELECTS_NO_PODS.violation(
                doc,
                f"selector ({selector}) selects no pods in namespace \"{idx.ns(doc)}\"; pod templates here: "
                f"{'; '.join(owners)}. Fix the selector or the template labels",
            )


def _validated_by_argo_rollouts(idx: Index) -> set[tuple[str, str]]:
    """(namespace, name) of the Services a Rollout with its own pod template routes: Argo Rollouts' validation
    (the rollouts stage, WH-RVAL-001) refuses such a Service unless each selector label is a label of that
    template, so a selector that selects none of its pods is its finding, not this stage's."""
    from .rollouts import routed_services

    return {(idx.ns(r), name) for r in idx.of_kind("Rollout")
            if as_dict(as_dict(r.obj.get("spec")).get("template")) and not as_dict(r.obj.get("spec")).get("workloadRef")
            for _, name in routed_services(r)}


def service_target_ports(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each Service port's targetPort (default: port) must be a port the selected containers declare:
    by name for a named targetPort, by number when the containers declare any ports."""
    for svc in idx.of_kind("Service"):
        selector = pod_selector(svc)
        if selector is None:
            continue
        templates = idx.selected(idx.ns(svc), selector)
        for port in dicts(as_dict(svc.obj.get("spec")).get("ports")):
            target = port.get("targetPort", port.get("port"))
            for template in templates:
                declared = template.ports()
                if _port_missing(declared, target):
                    yield SERVICE_PORT.violation(
                        svc,
                        f"port {port.get('name') or port.get('port')} targets {target!r}, which no container of "
                        f"{template.owner.kind}/{template.owner.name} exposes (declared: {_port_list(declared)}); "
                        "point targetPort at a declared container port name or number",
                    )


def _port_missing(declared: list[dict], port) -> bool:
    if port is None:
        return False
    named = isinstance(port, str) and not port.isdigit()
    if not named and not declared:
        return False  # numeric port on containers that declare nothing: cannot tell, stay quiet
    return not has_port(declared, port)


def _port_list(ports: list[dict]) -> str:
    return ", ".join(f"{p.get('name', '')}:{p.get('containerPort')}".lstrip(":") for p in ports) or "none"


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def probe_ports(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """httpGet/tcpSocket/grpc probe ports must be ports of the same container (a named probe port only
    resolves against the container's own ports)."""
    for template in idx.templates:
        for container in template.containers(init=True):
            declared = dicts(container.get("ports"))
            for probe_name in PROBES:
                probe = as_dict(container.get(probe_name))
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    port = as_dict(probe.get(handler)).get("port")
                    if _port_missing(declared, port):
                        yield PROBE_PORT.violation(
                            template.owner,
                            f"container {container.get('name')!r} {probe_name}.{handler}.port is {port!r}, which the "
                            f"container does not expose (declared: {_port_list(declared)}); use a declared port",
                        )


CHECKS = (selectors_select_pods, service_target_ports, probe_ports)

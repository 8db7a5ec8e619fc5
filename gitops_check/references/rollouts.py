"""Argo Rollouts traffic routing beyond what Argo Rollouts validates: the destinations of the Istio
VirtualService routes it manages, and the DestinationRule of subset-level routing.

Argo Rollouts' own validation (the rollouts stage, WH-RVAL-*) already rejects missing Services and
VirtualServices, unknown route names, canary/stable missing from a managed route, one Service for two
roles, Services that do not select the Rollout's pods and header/mirror routes that are not managed. What it
never looks at: a managed route's *other* destinations (it sets only the canary and stable weights), a
host in another namespace that it mistakes for the canary or stable Service (it cuts the host at the first
'.'), and DestinationRules (gathered only by the Istio reconciler, at runtime). Nor does it look at the mesh
around the routes: whether the pods get the Istio sidecar that reports their requests (WH-REF-052) and whether an
earlier route of the VirtualService takes a managed route's requests (WH-REF-054); either leaves the canary's
analysis reading empty results, which count as success.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator


from .. import argocdsync
from ..errors import InputError
from ..model import Document, Violation
from ..rules import rule
from .globs import compile_re2
from .index import Index, PodTemplate, as_dict, as_list, dicts, service_host
from .inputs import Inputs
from .traffic import pod_annotations, sidecar_injection

ROUTE_DESTINATIONS = rule(
    "WH-REF-016", "error", "references",
    "A managed VirtualService route has no destination besides the canary and stable Services (or subsets), "
    "namespace included",
    "Argo Rollouts only rewrites the weights of those two destinations; any other keeps or steals traffic. It takes "
    "stable.other-namespace.svc.cluster.local for the stable Service; Istio does not. (Canary or stable missing from "
    "the route is Argo Rollouts' own check.)",
)
DESTINATION_RULE = rule(
    "WH-REF-017", "error", "references", "The DestinationRule of subset-level routing exists with both subsets",
    "Argo Rollouts updates the subsets' pod-template-hash labels; a missing rule or subset breaks traffic shifting.",
)


SYNCED_AFTER = rule(
    "WH-REF-042", "warning", "references",
    "Every object a Rollout names (Services, VirtualServices, AnalysisTemplates, workloadRef) is synced before it",
    "Argo CD applies one wave's custom resources by name, in an unspecified order when names tie: a Rollout "
    "applied before its VirtualService is InvalidSpec (Degraded) until its next reconcile, as the end-to-end sync "
    "showed. An earlier sync wave for the dependency fixes the order.",
)


def _spec(doc: Document) -> dict:
    return as_dict(doc.obj.get("spec"))


def _strategy(rollout: Document, name: str) -> dict:
    return as_dict(as_dict(_spec(rollout).get("strategy")).get(name))


def _istio(rollout: Document) -> dict:
    return as_dict(as_dict(_strategy(rollout, "canary").get("trafficRouting")).get("istio"))


@dataclass
class VirtualServiceRef:
    """One VirtualService a Rollout routes through, with the routes it manages there."""

    field: str
    name: str
    spec: dict

    @property
    def routes(self) -> list[str]:
        return [str(r) for r in as_list(self.spec.get("routes")) if isinstance(r, (str, int))]


def virtual_service_refs(rollout: Document) -> list[VirtualServiceRef]:
    istio = _istio(rollout)
    refs = []
    if as_dict(istio.get("virtualService")).get("name"):
        refs.append(VirtualServiceRef("virtualService", str(istio["virtualService"]["name"]), istio["virtualService"]))
    for i, vs in enumerate(dicts(istio.get("virtualServices"))):
        if vs.get("name"):
            refs.append(VirtualServiceRef(f"virtualServices[{i}]", str(vs["name"]), vs))
    return refs


def find_virtual_service(idx: Index, rollout: Document, name: str) -> Document | None:
    """A VirtualService by name in the Rollout's namespace, or by Argo's `name.namespace` form."""
    found = idx.get("VirtualService", idx.ns(rollout), name)
    if found is None and "." in name:
        short, _, namespace = name.partition(".")
        found = idx.get("VirtualService", namespace, short)
    return found


def _http_routes(vs: Document) -> list[dict]:
    return dicts(_spec(vs).get("http"))


def _matches_port(route: dict, port, sni_hosts) -> bool:
    """A tls/tcp route matches a Rollout tlsRoutes/tcpRoutes entry by port (and SNI hosts for TLS)."""
    for match in dicts(route.get("match")):
        if port is not None and str(match.get("port")) != str(port):
            continue
        if sni_hosts and not set(map(str, as_list(sni_hosts))) <= set(map(str, as_list(match.get("sniHosts")))):
            continue
        return True
    return False


def managed_routes(ref: VirtualServiceRef, vs: Document) -> Iterator[tuple[str, dict]]:
    """(description, VirtualService route) for every route Argo Rollouts patches, found as istio.go
    (getHttpRouteIndexesToPatch, getTlsRouteIndexesToPatch, getTcpRouteIndexesToPatch) finds them. With no
    route names it patches the only HTTP route, else the first unnamed one (a managedRoutes entry is
    named); with no tlsRoutes/tcpRoutes the first TLS/TCP route. A name that matches nothing is Argo
    Rollouts' own finding, so it yields nothing here."""
    http = _http_routes(vs)
    names = ref.routes
    if names:
        for name in names:
            route = next((r for r in http if str(r.get("name")) == name), None)
            if route is not None:
                yield f"HTTP route {name!r}", route
    elif len(http) == 1:
        yield "its only HTTP route", http[0]
    else:
        route = next((r for r in http if not r.get("name")), None)
        if route is not None:
            yield "its first unnamed HTTP route", route
    for kind, entries, routes in (
        ("TLS", dicts(ref.spec.get("tlsRoutes")), dicts(_spec(vs).get("tls"))),
        ("TCP", dicts(ref.spec.get("tcpRoutes")), dicts(_spec(vs).get("tcp"))),
    ):
        if not entries and routes:
            yield f"its first {kind} route", routes[0]
        for entry in entries:
            for route in routes:
                if _matches_port(route, entry.get("port"), entry.get("sniHosts")):
                    yield f"{kind} route on port {entry.get('port')}", route


def _routes(idx: Index, rollout: Document) -> Iterator[tuple[VirtualServiceRef, Document, str, dict]]:
    for ref in virtual_service_refs(rollout):
        vs = find_virtual_service(idx, rollout, ref.name)
        if vs is not None:
            for what, route in managed_routes(ref, vs):
                yield ref, vs, what, route


def _expected_destinations(idx: Index, rollout: Document) -> tuple[set[tuple[str, str]], str] | None:
    """The (host, subset) pairs a managed route must route to, and how to say so; None when unknown."""
    istio, canary = _istio(rollout), _strategy(rollout, "canary")
    rule_ref = as_dict(istio.get("destinationRule"))
    if rule_ref.get("name"):
        dr = idx.get("DestinationRule", idx.ns(rollout), rule_ref["name"])
        if dr is None:
            return None
        host = service_host(_spec(dr).get("host"), idx.ns(rollout))
        subsets = (str(rule_ref.get("canarySubsetName")), str(rule_ref.get("stableSubsetName")))
        return {(host, s) for s in subsets}, f"host {host!r} subsets {subsets[0]!r} and {subsets[1]!r}"
    names = (canary.get("canaryService"), canary.get("stableService"))
    if not all(names) or names[0] == names[1]:
        return None  # one Service for both roles is Argo Rollouts' own finding
    return {(str(n), "") for n in names}, f"Services {names[0]!r} and {names[1]!r}"


def route_destinations(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A managed route must send traffic to no destination besides the canary and stable Services (or
    DestinationRule subsets): Argo Rollouts sets only those two weights. A host is the Service it names in
    the VirtualService's namespace (name, name.namespace or the cluster-local FQDN), not the text before
    the first '.' that Argo Rollouts compares."""
    for rollout in idx.of_kind("Rollout"):
        expected = _expected_destinations(idx, rollout)
        if expected is None:
            continue
        want, described = expected
        subsets = bool(as_dict(_istio(rollout).get("destinationRule")).get("name"))
        for ref, vs, what, route in _routes(idx, rollout):
            destinations = [as_dict(d.get("destination")) for d in dicts(route.get("route"))]
            got = [
                (service_host(d.get("host"), idx.ns(vs)), str(d.get("subset", "")) if subsets else "", str(d.get("host")))
                for d in destinations
            ]
            extra = [(h, s, raw) for h, s, raw in got if (h, s) not in want]
            if extra:
                shown = ", ".join(raw + (f" subset {s}" if s else "") for _, s, raw in extra)
                yield ROUTE_DESTINATIONS.violation(
                    rollout,
                    f"{what} of VirtualService {vs.name!r} also routes to {shown}, which Argo Rollouts does not manage "
                    f"(it sets only the weights of {described}); route only to those two",
                )


def destination_rules(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """trafficRouting.istio.destinationRule must exist and define the canary and stable subsets."""
    for rollout in idx.of_kind("Rollout"):
        ref = as_dict(_istio(rollout).get("destinationRule"))
        if not ref.get("name"):
            continue
        dr = idx.get("DestinationRule", idx.ns(rollout), ref["name"])
        if dr is None:
            yield DESTINATION_RULE.violation(
                rollout, f"trafficRouting.istio.destinationRule: {idx.absent('DestinationRule', idx.ns(rollout), ref['name'])}"
            )
            continue
        defined = {str(s.get("name")) for s in dicts(_spec(dr).get("subsets"))}
        for field in ("canarySubsetName", "stableSubsetName"):
            if ref.get(field) and str(ref[field]) not in defined:
                yield DESTINATION_RULE.violation(
                    rollout,
                    f"trafficRouting.istio.destinationRule.{field} {ref[field]!r} is not a subset of DestinationRule "
                    f"{dr.name!r} (subsets: {', '.join(sorted(defined)) or 'none'}); add the subset or fix the name",
                )


# The Services a Rollout routes (Argo Rollouts adds rollouts-pod-template-hash to their selectors).
ROUTED_SERVICES = (("canary", "canaryService"), ("canary", "stableService"), ("blueGreen", "activeService"),
                   ("blueGreen", "previewService"))


def routed_services(rollout: Document) -> Iterator[tuple[str, str]]:
    """(field, Service name) for every Service the Rollout routes."""
    for strategy, key in ROUTED_SERVICES:
        name = _strategy(rollout, strategy).get(key)
        if name:
            yield f"{strategy}.{key}", str(name)


def _dependencies(idx: Index, rollout: Document) -> Iterator[tuple[str, Document]]:
    """(field, object) for every object of this source the Rollout names."""
    from .templates import analysis_uses, resolve

    ns = idx.ns(rollout)
    for where, name in routed_services(rollout):
        if (svc := idx.get("Service", ns, name)) is not None:
            yield where, svc
    for ref in virtual_service_refs(rollout):
        if (vs := find_virtual_service(idx, rollout, ref.name)) is not None:
            yield f"trafficRouting.istio.{ref.field}", vs
    for use in analysis_uses(rollout):
        for template in resolve(idx, ns, use.templates).templates:
            yield use.where, template
    ref = as_dict(_spec(rollout).get("workloadRef"))
    if ref.get("kind") and (target := idx.get(str(ref["kind"]), ns, ref.get("name"))) is not None:
        yield "workloadRef", target


def dependencies_synced_first(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Argo CD's sync order (argocdsync.py) must put what a Rollout names before the Rollout."""
    for rollout in idx.of_kind("Rollout"):
        seen = set()
        for where, dep in _dependencies(idx, rollout):
            if id(dep) in seen or argocdsync.surely_before(dep, rollout):
                continue
            seen.add(id(dep))
            wave = argocdsync.wave(rollout)
            yield SYNCED_AFTER.violation(
                rollout,
                f"{dep.kind} {dep.name!r} ({where}) is synced in wave {argocdsync.wave(dep)}, not before the Rollout "
                f"(wave {wave}; among custom resources of one wave Argo CD goes by name): the Rollout can be applied "
                f"first and stay InvalidSpec until its next reconcile; give the {dep.kind} the annotation "
                f'{argocdsync.SYNC_WAVE}: "{wave - 1}"',
            )


# --------------------------------------------------------------------------- the mesh under an Istio-routed Rollout

SIDECAR = rule(
    "WH-REF-052", "error", "references",
    "The pods of a Rollout that routes with Istio get the Istio sidecar, and it captures the ports the managed routes "
    "send to",
    "Without the sidecar (injection disabled by the pod template or the Namespace, host networking) or with the routed "
    "port left out of its capture, the canary's requests are never reported (reporter=\"destination\"): the analysis "
    "reads empty results, which count as success, and a bad canary is promoted.",
)
SHADOWED_ROUTE = rule(
    "WH-REF-054", "error", "references",
    "No HTTP route before a route a Rollout manages matches every request the managed route matches",
    "Istio uses the first matching route, so the canary weights Argo Rollouts sets on a shadowed route never apply: "
    "the canary gets no traffic, its analysis reads empty results (success) and it is promoted untested.",
)

EXCLUDE_INBOUND = "traffic.sidecar.istio.io/excludeInboundPorts"
INCLUDE_INBOUND = "traffic.sidecar.istio.io/includeInboundPorts"


def _port_list(value) -> list[int] | None:
    """An Istio port-list annotation as the injector's parsePorts reads it (comma-separated, each trimmed, a uint16),
    or None when it rejects it."""
    text = str(value).strip()
    ports = [p.strip() for p in text.split(",")] if text else []
    valid = all(_PORT.fullmatch(p) and int(p) < 65536 for p in ports)
    return [int(p) for p in ports] if valid else None


_PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits only ("²".isdigit() is true), and few enough for int()


def _routed_ports(idx: Index, rollout: Document, template: PodTemplate) -> set[int]:
    """The container ports the managed routes send to: each destination Service's port (the destination's port
    number, or every port), through its targetPort."""
    ports = set()
    for _, vs, _, route in _routes(idx, rollout):
        for dest in (as_dict(d.get("destination")) for d in dicts(route.get("route"))):
            svc = idx.get("Service", idx.ns(vs), service_host(dest.get("host"), idx.ns(vs)))
            number = as_dict(dest.get("port")).get("number")
            for port in dicts(_spec(svc).get("ports")) if svc is not None else []:
                if number is not None and str(port.get("port")) != str(number):
                    continue
                target = port.get("targetPort", port.get("port"))
                if isinstance(target, str) and not _PORT.fullmatch(target):
                    target = next((p.get("containerPort") for p in template.ports() if p.get("name") == target), None)
                if _PORT.fullmatch(str(target)):
                    ports.add(int(target))
    return ports


def _uncaptured(annotations: dict, ports: set[int]) -> str | None:
    """Why the sidecar does not capture a routed port (the injector's traffic.sidecar.istio.io/* annotations)."""
    for key in (EXCLUDE_INBOUND, INCLUDE_INBOUND):
        value = annotations.get(key)
        if value is None or (key == INCLUDE_INBOUND and str(value).strip() == "*"):
            continue
        listed = _port_list(value)
        if listed is None:
            return (f"its {key} {value!r} is not a list of port numbers (only includeInboundPorts takes '*'): Istio's "
                    "injector rejects it and refuses the pods")
        lost = sorted(ports & set(listed) if key == EXCLUDE_INBOUND else ports - set(listed))
        if lost:
            return f"its {key} {value!r} leaves the routed port {lost[0]} out of the sidecar's capture"
    return None


def istio_sidecars(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A Rollout routed by Istio needs the sidecar on its pods, capturing the ports its managed routes send to.
    Whether a Namespace outside the source injects is not known here, so only what the source says is judged."""
    for rollout in idx.of_kind("Rollout"):
        if not virtual_service_refs(rollout):
            continue
        for template in idx.templates_of(rollout):
            injected, why = sidecar_injection(idx, template)
            if injected is not False:
                why = _uncaptured(pod_annotations(idx, template), _routed_ports(idx, rollout, template))
            if why:
                yield SIDECAR.violation(
                    rollout,
                    f"the Rollout routes traffic with Istio (trafficRouting.istio) but {why}, so the canary's requests "
                    'are never reported (reporter="destination") and its analysis reads empty results, which count as '
                    "success; remove that setting so that the pods run the sidecar and it captures the routed port",
                )


def _narrowing(match: dict) -> dict:
    """The conditions of an HTTPMatchRequest that narrow what it matches (name and statPrefix do not)."""
    return {k: v for k, v in match.items() if k not in ("name", "statPrefix", "ignoreUriCase")}


def _covers(wide: dict, narrow: dict) -> bool:
    """Whether every request `narrow` matches is matched by `wide` (two HTTPMatchRequests), judged only when it
    surely is: wide's conditions other than its URI are narrow's too, and wide's URI is "/" or a prefix of narrow's."""
    a, b = _narrowing(wide), _narrowing(narrow)
    if any(b.get(k) != v for k, v in a.items() if k != "uri"):
        return False
    uri, theirs = a.get("uri", {}), as_dict(b.get("uri"))
    if uri in ({}, {"prefix": "/"}) or _any_path(uri):
        return True
    if not isinstance(uri, dict):
        return False
    if narrow.get("ignoreUriCase") and not wide.get("ignoreUriCase"):
        return False
    prefix = uri.get("prefix")
    if isinstance(prefix, str) and theirs.keys() & {"prefix", "exact"}:
        return str(theirs.get("prefix", theirs.get("exact"))).startswith(prefix)
    return uri == theirs


# Paths a regex that takes every request must match in full (Istio matches uri.regex with RE2, whole path).
_PROBES = ("/", "/a", "/a/b.c?d=e&f", "/" + "x" * 64, "/%2F~")
MAX_MATCH_PAIRS = 100_000  # match pairs of two routes compared; more is refused rather than judged for minutes


def _any_path(uri) -> bool:
    """A uri.regex that matches every request path (".*", "^/.*$", ...): it takes every request, as prefix "/" does."""
    regex = uri.get("regex") if isinstance(uri, dict) and len(uri) == 1 else None
    compiled = compile_re2(regex) if isinstance(regex, str) else None  # refused by RE2: Istio refuses it too
    return compiled is not None and all(compiled.fullmatch(probe) for probe in _PROBES)


def _shadows(earlier: dict, route: dict, where: str) -> bool:
    """An earlier HTTP route takes every request of `route` (matches are ORed; no match matches everything)."""
    wide, narrow = dicts(earlier.get("match")), dicts(route.get("match"))
    if not wide:
        return True
    if len(wide) * max(1, len(narrow)) > MAX_MATCH_PAIRS:
        raise InputError(f"{where}: {len(wide)} x {len(narrow)} match conditions to compare between two HTTP routes, "
                         f"more than the {MAX_MATCH_PAIRS:,} gitops-check judges: merge them (a prefix or a regex)")
    return all(any(_covers(w, n) for w in wide) for n in (narrow or [{}]))


def shadowed_routes(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A route before a managed HTTP route must not take all of its requests. Argo Rollouts' own managedRoutes
    (setHeaderRoute, setMirrorRoute: placed first on purpose, matching headers only) and the routes it manages
    are not judged."""
    for rollout in idx.of_kind("Rollout"):
        routing = as_dict(_strategy(rollout, "canary").get("trafficRouting"))
        own = {str(r.get("name")) for r in dicts(routing.get("managedRoutes"))}
        for ref, vs, what, route in _routes(idx, rollout):
            http = _http_routes(vs)
            position = next((i for i, r in enumerate(http) if r is route), None)
            for i, earlier in enumerate(http[:position] if position is not None else []):
                name = str(earlier.get("name", ""))
                if name in own or name in ref.routes or not _shadows(earlier, route, f"{vs.source}: {vs.ref}"):
                    continue
                label = f"HTTP route {name!r}" if name else f"HTTP route {i}"
                yield SHADOWED_ROUTE.violation(
                    rollout,
                    f"{label} of VirtualService {vs.name!r} comes before {what}, which the Rollout manages, and matches "
                    "every request that route matches: Istio takes the first matching route, so the canary weights "
                    f"never apply; move {label} after it, or narrow its match",
                )


CHECKS = (route_destinations, destination_rules, dependencies_synced_first, istio_sidecars, shadowed_routes)

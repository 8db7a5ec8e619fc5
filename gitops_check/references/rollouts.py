"""Argo Rollouts traffic references: the Services a Rollout switches, the Istio VirtualService routes and
DestinationRule subsets it rewrites, and the managed routes its header/mirror steps need.

None of these are validated by the API server: a typo surfaces only mid-rollout, as a Degraded Rollout
or, worse, as a canary weight that moves no traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from .index import Index, Selector, as_dict, as_list, dicts, service_host
from .inputs import Inputs

ROLLOUT_SERVICE = rule(
    "WH-REF-011", "error", "references", "A Rollout's canary/stable, active/preview and ping/pong Services exist",
    "The Rollout controller fails the rollout when a Service it must switch is missing.",
)
SAME_SERVICE = rule(
    "WH-REF-012", "error", "references", "A Rollout's canary and stable (active and preview) Services differ",
    "With one Service for both roles the controller points it at the new pods: no canary, no preview, instant cut-over.",
)
SERVICE_SELECTS_ROLLOUT = rule(
    "WH-REF-013", "error", "references", "A Rollout's Services select the Rollout's pods",
    "The controller only adds the pod-template-hash to the selector; labels that miss the pods leave the Service empty.",
)
VIRTUAL_SERVICE = rule(
    "WH-REF-014", "error", "references", "The Istio VirtualService a Rollout routes through exists",
    "Without it setWeight steps fail and the Rollout degrades; no traffic is ever shifted.",
)
ROUTE_MISSING = rule(
    "WH-REF-015", "error", "references", "Every route a Rollout names exists in its VirtualService",
    "Argo Rollouts errors on a missing route name: the canary receives no traffic and the rollout stalls.",
)
ROUTE_DESTINATIONS = rule(
    "WH-REF-016", "error", "references",
    "A managed VirtualService route's destinations are exactly the canary and stable Services (or subsets)",
    "Argo Rollouts only rewrites weights of those two destinations; any other destination keeps or steals traffic.",
)
DESTINATION_RULE = rule(
    "WH-REF-017", "error", "references", "The DestinationRule of subset-level routing exists with both subsets",
    "Argo Rollouts updates the subsets' pod-template-hash labels; a missing rule or subset breaks traffic shifting.",
)
MANAGED_ROUTE = rule(
    "WH-REF-018", "error", "references", "setHeaderRoute/setMirrorRoute names are declared in trafficRouting.managedRoutes",
    "Argo Rollouts refuses steps that name a route it does not manage; the rollout stops at that step.",
)

# (strategy, field) pairs naming Services, paired where the two must differ.
SERVICE_PAIRS = (
    ("canary", "canaryService", "stableService"),
    ("blueGreen", "activeService", "previewService"),
)


def _spec(doc: Document) -> dict:
    return as_dict(doc.obj.get("spec"))


def _strategy(rollout: Document, name: str) -> dict:
    return as_dict(as_dict(_spec(rollout).get("strategy")).get(name))


def _istio(rollout: Document) -> dict:
    return as_dict(as_dict(_strategy(rollout, "canary").get("trafficRouting")).get("istio"))


def _named_services(rollout: Document) -> list[tuple[str, str]]:
    """(field path, Service name) for every Service the Rollout names."""
    found = []
    for strategy, *fields in SERVICE_PAIRS:
        for field in fields:
            name = _strategy(rollout, strategy).get(field)
            if name:
                found.append((f"{strategy}.{field}", str(name)))
    ping_pong = as_dict(as_dict(_strategy(rollout, "canary").get("trafficRouting")).get("pingPong"))
    for field in ("pingService", "pongService"):
        if ping_pong.get(field):
            found.append((f"canary.trafficRouting.pingPong.{field}", str(ping_pong[field])))
    return found


def rollout_services(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each Service a Rollout names must exist in its namespace."""
    for rollout in idx.of_kind("Rollout"):
        for field, name in _named_services(rollout):
            if idx.get("Service", idx.ns(rollout), name) is None:
                yield ROLLOUT_SERVICE.violation(
                    rollout, f"strategy.{field}: {idx.absent('Service', idx.ns(rollout), name)}; add it or fix the name"
                )


def distinct_services(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """canaryService != stableService and activeService != previewService."""
    for rollout in idx.of_kind("Rollout"):
        for strategy, first, second in SERVICE_PAIRS:
            spec = _strategy(rollout, strategy)
            if spec.get(first) and spec.get(first) == spec.get(second):
                yield SAME_SERVICE.violation(
                    rollout,
                    f"strategy.{strategy}.{first} and {second} are both {spec[first]!r}; use two Services",
                )


def services_select_rollout(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each existing Service a Rollout names must select the Rollout's pod template."""
    for rollout in idx.of_kind("Rollout"):
        templates = idx.templates_of(rollout)
        for field, name in _named_services(rollout):
            svc = idx.get("Service", idx.ns(rollout), name)
            if svc is None or not templates:
                continue
            selector = Selector.of_map(_spec(svc).get("selector"))
            if selector.empty or not any(selector.matches(t.labels) for t in templates):
                yield SERVICE_SELECTS_ROLLOUT.violation(
                    rollout,
                    f"strategy.{field} Service {name!r} selector ({selector}) does not select this Rollout's pods; "
                    "make the Service select the pod template labels",
                )


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


def virtual_services(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each trafficRouting.istio VirtualService must exist."""
    for rollout in idx.of_kind("Rollout"):
        for ref in virtual_service_refs(rollout):
            if find_virtual_service(idx, rollout, ref.name) is None:
                yield VIRTUAL_SERVICE.violation(
                    rollout,
                    f"trafficRouting.istio.{ref.field}: {idx.absent('VirtualService', idx.ns(rollout), ref.name)}; "
                    "add it or fix the name",
                )


def _http_routes(vs: Document) -> list[dict]:
    return dicts(_spec(vs).get("http"))


def _matches_port(route: dict, port, sni_hosts) -> bool:
    """A tls/tcp route matches a Rollout tlsRoutes/tcpRoutes entry by port (and SNI hosts for TLS)."""
    for match in dicts(route.get("match")):
        if port is not None and str(match.get("port")) != str(port):
            continue
        if sni_hosts and not set(map(str, sni_hosts)) <= set(map(str, match.get("sniHosts") or [])):
            continue
        return True
    return False


def managed_routes(ref: VirtualServiceRef, vs: Document) -> Iterator[tuple[str, dict | None]]:
    """(description, VirtualService route or None when missing) for every route the Rollout manages."""
    http = _http_routes(vs)
    names = ref.routes
    tls, tcp = dicts(ref.spec.get("tlsRoutes")), dicts(ref.spec.get("tcpRoutes"))
    if not names and not tls and not tcp:
        # routes may be omitted only when the VirtualService has exactly one HTTP route
        yield ("its only HTTP route", http[0] if len(http) == 1 else None)
    for name in names:
        yield (f"HTTP route {name!r}", next((r for r in http if str(r.get("name")) == name), None))
    for kind, entries, routes in (("TLS", tls, _spec(vs).get("tls")), ("TCP", tcp, _spec(vs).get("tcp"))):
        for entry in entries:
            found = next((r for r in dicts(routes) if _matches_port(r, entry.get("port"), entry.get("sniHosts"))), None)
            yield (f"{kind} route on port {entry.get('port')}", found)


def _routes(idx: Index, rollout: Document) -> Iterator[tuple[VirtualServiceRef, Document, str, dict | None]]:
    for ref in virtual_service_refs(rollout):
        vs = find_virtual_service(idx, rollout, ref.name)
        if vs is not None:
            for what, route in managed_routes(ref, vs):
                yield ref, vs, what, route


def routes_exist(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each route the Rollout names (or the implied single HTTP route) must exist in the VirtualService."""
    for rollout in idx.of_kind("Rollout"):
        for ref, vs, what, route in _routes(idx, rollout):
            if route is None:
                have = ", ".join(repr(r.get("name")) for r in _http_routes(vs)) or "none"
                hint = (
                    "list the route in virtualService.routes" if what == "its only HTTP route"
                    else "name the VirtualService route accordingly or fix the Rollout"
                )
                yield ROUTE_MISSING.violation(
                    rollout,
                    f"trafficRouting.istio.{ref.field} needs {what} in VirtualService {vs.name!r} "
                    f"(HTTP routes: {have}); {hint}",
                )


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
        return None  # one Service for both roles is WH-REF-012's finding
    return {(str(n), "") for n in names}, f"Services {names[0]!r} and {names[1]!r}"


def route_destinations(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A managed route must send traffic to exactly the canary and stable Services (or DestinationRule
    subsets): Argo Rollouts sets only those two weights."""
    for rollout in idx.of_kind("Rollout"):
        expected = _expected_destinations(idx, rollout)
        if expected is None:
            continue
        want, described = expected
        subsets = bool(as_dict(_istio(rollout).get("destinationRule")).get("name"))
        for ref, vs, what, route in _routes(idx, rollout):
            if route is None:
                continue
            destinations = [as_dict(d.get("destination")) for d in dicts(route.get("route"))]
            got = [
                (service_host(d.get("host"), idx.ns(vs)), str(d.get("subset", "")) if subsets else "")
                for d in destinations
            ]
            if sorted(got) != sorted(want):
                shown = ", ".join(f"{h}" + (f" subset {s}" if s else "") for h, s in got) or "none"
                yield ROUTE_DESTINATIONS.violation(
                    rollout,
                    f"{what} of VirtualService {vs.name!r} routes to {shown}; it must route to exactly {described}",
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


def header_and_mirror_routes(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """setHeaderRoute/setMirrorRoute steps may only name routes listed in trafficRouting.managedRoutes."""
    for rollout in idx.of_kind("Rollout"):
        canary = _strategy(rollout, "canary")
        managed = {str(r.get("name")) for r in dicts(as_dict(canary.get("trafficRouting")).get("managedRoutes"))}
        for i, step in enumerate(dicts(canary.get("steps"))):
            for kind in ("setHeaderRoute", "setMirrorRoute"):
                name = as_dict(step.get(kind)).get("name")
                if name and str(name) not in managed:
                    yield MANAGED_ROUTE.violation(
                        rollout,
                        f"steps[{i}].{kind} names route {name!r}, which trafficRouting.managedRoutes does not declare "
                        f"(declared: {', '.join(sorted(managed)) or 'none'}); add it to managedRoutes",
                    )


CHECKS = (
    rollout_services, distinct_services, services_select_rollout, virtual_services, routes_exist,
    route_destinations, destination_rules, header_and_mirror_routes,
)

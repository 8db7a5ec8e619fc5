"""What `gitops-check diff` finds between the two renderings of one target: a workload, or an object it depends on,
that disappears from what Argo CD syncs (WH-DIFF-001, WH-DIFF-002).

Each rendering is valid on its own, so `validate` passes a change that renames the Rollout (a `nameSuffix` added
to an overlay, a new name in base/) or removes it, its Services, its HorizontalPodAutoscaler, its
PodDisruptionBudget, or the Ingress or Istio VirtualService that routes to its Services (the public entry point).
Argo CD syncs such a change as a create and a delete:

- the new Rollout's first revision has no stable ReplicaSet, and Argo Rollouts promotes it straight to 100 %
  without canary steps or analysis (rollout/sync.go shouldFullPromote: `if c.stableRS == nil { return "Initial
  deploy" }`; docs/getting-started.md: "Initial creations of any Rollout will immediately scale up the replicas to
  100% (skipping any canary upgrade steps, analysis, etc...)");
- the Applications sync with automated prune (argocd/application/), so the old Rollout, with its pods, and its
  old Services, HPA and PDB are deleted (PruneLast: after the new objects are healthy, which a Rollout at 100 %
  soon is), while callers may still use the old Services; a pruned Ingress or VirtualService takes its routes along.

An object's identity is what Argo CD compares: API group (not version), kind, namespace, name; a new apiVersion of
the same object is no removal. An object whose base rendering carries `argocd.argoproj.io/sync-options` with
`Prune=false` is exempt: Argo CD leaves it running (the two-step rename). `Prune=confirm` is not: a confirmation
delays the delete, the new Rollout still starts at 100 %.

The environment is the removed object's `environment` label, as the references stage reads it
(references.index.environment: no label is judged as production). Production is an error (WH-DIFF-001), any other
environment a warning (WH-DIFF-002: staging should rehearse what production will get, but nothing is lost there).
A target that does not render on one side, or that only one side has, is not judged here: validate reports the
first, WH-REF-032 an Application whose overlay is gone. What one Argo CD Application syncs is judged the same way
(gitdiff.py): its objects at the base against its objects at the head, when the change points it elsewhere or
removes it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable

from .argocdsync import SYNC_OPTIONS
from .model import Document, Source, Violation
from .references.index import STRICTEST_ENVIRONMENT, Index, Selector, as_dict, dicts, environment
from .references.network import ingress_service_backends
from .references.rollouts import routed_services, virtual_service_refs
from .rules import rule

REPLACED = rule(
    "WH-DIFF-001", "error", "diff",
    "A change keeps the identity (API group, kind, namespace, name) of every production Rollout or Deployment and of "
    "the Services, HorizontalPodAutoscaler and PodDisruptionBudget it depends on, and of the Ingresses and Istio "
    "VirtualServices that route to those Services, in every overlay and in what each Argo CD Application syncs "
    "(gitops-check diff)",
    "Argo CD syncs a rename or removal as a create and a prune: Argo Rollouts promotes a new Rollout's first revision "
    "straight to 100 % with no canary steps and no analysis, and the old Rollout's pods, Services, HPA and PDB are "
    "deleted: a release without canary, possibly with downtime. A pruned Ingress or VirtualService takes the "
    "service's routes with it (the Ingress is the only public entry point).",
)
REPLACED_ELSEWHERE = rule(
    "WH-DIFF-002", "warning", "diff",
    "The same as WH-DIFF-001 for an environment other than production (staging)",
    "Staging takes the same create-and-prune without a canary; nothing is lost there, but it rehearses what "
    "production will get.",
)

WORKLOADS = {("argoproj.io", "Rollout"), ("apps", "Deployment")}
DEPENDENTS = {("", "Service"), ("autoscaling", "HorizontalPodAutoscaler"), ("policy", "PodDisruptionBudget")}
ROUTES = {("networking.k8s.io", "Ingress"), ("networking.istio.io", "VirtualService")}  # to a dependent Service
_SERVICE_SUFFIXES = (".svc.cluster.local", ".svc")


@dataclass(frozen=True)
class Identity:
    group: str
    kind: str
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return "/".join(p for p in (self.namespace, self.name) if p)

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


def _index(target: str, docs: Iterable[dict]) -> tuple[Index, dict[Identity, Document]]:
    source = Source(target, "overlay", [Document(d, target) for d in docs if isinstance(d, dict)])
    idx = Index(source)
    found: dict[Identity, Document] = {}
    for doc in source.documents:
        found.setdefault(Identity(doc.group, doc.kind, idx.ns(doc), doc.name), doc)
    return idx, found


def not_pruned(doc: Document) -> bool:
    """The object tells Argo CD not to prune it: the first `Prune=` item of its `argocd.argoproj.io/sync-options`
    (comma-separated, trimmed) is exactly `false`, as gitops-engine reads it (sync_context.go isPruningDisabled,
    resource.GetAnnotationOptionValue)."""
    notes = as_dict(doc.metadata.get("annotations"))
    for item in str(notes.get(SYNC_OPTIONS) or "").split(","):
        key, eq, value = item.strip().partition("=")
        if key == "Prune" and eq:
            return value == "false"
    return False


def _destination_hosts(vs: Document) -> list[str]:
    """The hosts of every route destination of a VirtualService (http, tls, tcp)."""
    spec = as_dict(vs.obj.get("spec"))
    return [str(as_dict(d.get("destination")).get("host") or "")
            for kind in ("http", "tls", "tcp") for route in dicts(spec.get(kind)) for d in dicts(route.get("route"))]


def _service(host: str, namespace: str) -> tuple[str, str]:
    """(namespace, name) of the Service an Istio host names (name, name.namespace, the .svc forms)."""
    for suffix in _SERVICE_SUFFIXES:
        if host.endswith(suffix):
            host = host[: -len(suffix)]
            break
    name, _, ns = host.partition(".")
    return ns or namespace, name


def _routes(idx: Index, who: Identity, doc: Document, workloads: list[Document],
            served: dict[tuple[str, str], Document]) -> tuple[Document, str] | None:
    """(workload, how) when DOC, an Ingress or a VirtualService, routes to one of the Services SERVED ((namespace,
    name) -> the workload it serves) or is the VirtualService a Rollout's traffic routing names; None otherwise."""
    if who.kind == "Ingress":
        hits = [(who.namespace, str(b.get("name") or "")) for _, b in ingress_service_backends(doc)]
    else:
        for w in workloads:
            for ref in virtual_service_refs(w) if w.kind == "Rollout" else []:
                name, _, ns = ref.name.partition(".")
                if (ns or idx.ns(w), name) == (who.namespace, who.name):
                    return w, f"carries the canary weights of {w.kind} {w.name}"
        hits = [_service(h, who.namespace) for h in _destination_hosts(doc)]
    for ns, name in hits:
        if (ns, name) in served:
            w = served[(ns, name)]
            return w, f"routes to Service {name if ns == who.namespace else ns + '/' + name} of {w.kind} {w.name}"
    return None


def _depends(idx: Index, who: Identity, doc: Document, workloads: list[Document]) -> Document | None:
    """The workload (of the base rendering) that DOC, a Service, HPA or PDB, serves; None when none does."""
    spec = as_dict(doc.obj.get("spec"))
    for w in workloads:
        if idx.ns(w) != who.namespace:
            continue
        if who.kind == "HorizontalPodAutoscaler":
            ref = as_dict(spec.get("scaleTargetRef"))
            if ref.get("kind") == w.kind and str(ref.get("name")) == w.name:
                return w
            continue
        if who.kind == "Service" and w.kind == "Rollout" and who.name in {n for _, n in routed_services(w)}:
            return w
        raw = spec.get("selector")
        if who.kind == "Service":
            selector = Selector.of_map(raw)
            if selector.empty:  # a Service without a selector has hand-made endpoints: no pods of ours
                continue
        else:
            selector = Selector.of(raw)  # policy/v1: an empty selector selects every pod of the namespace
        if any(selector.matches(t.labels) for t in idx.templates_of(w)):
            return w
    return None


def _successor(gone: Identity, added: list[Identity]) -> Identity | None:
    """The object of the same group and kind that appeared, the most similar name first (same namespace first)."""
    same = [a for a in added if (a.group, a.kind) == (gone.group, gone.kind)]
    if not same:
        return None
    return max(same, key=lambda a: (a.namespace == gone.namespace,
                                    difflib.SequenceMatcher(None, gone.name, a.name).ratio(), a.name))


def _name(obj: Identity, near: Identity) -> str:
    """OBJ's name, with its namespace when NEAR is in another one."""
    return obj.name if obj.namespace == near.namespace else obj.ref


def _consequence(gone: Identity, new: Identity | None, workload: Document | None, how: str = "") -> str:
    if gone.kind in ("Rollout", "Deployment"):
        first = ("a new Rollout whose first revision Argo Rollouts promotes straight to 100 % (no canary steps, no "
                 "analysis: there is no stable ReplicaSet)" if gone.kind == "Rollout"
                 else "a new Deployment, at full size and outside any canary")
        made = f"creates {_name(new, gone)}, {first}, and " if new else ""
        return f"Argo CD {made}prunes {gone.name} with its running pods"
    made = f"creates {_name(new, gone)} and " if new else ""
    served = f", which {how}" if how else f", which serves {workload.kind} {workload.name}" if workload is not None else ""
    what = {"Service": "what still routes to it or calls it loses its endpoints",
            "HorizontalPodAutoscaler": "nothing scales the workload until a new HPA takes over",
            "PodDisruptionBudget": "evictions (node drains) are unlimited until a new PDB exists",
            "Ingress": "requests to its hosts find no route until another Ingress serves them (the public entry point)",
            "VirtualService": "the mesh routes of its hosts, and the canary's traffic split, go with it until another "
                              "VirtualService carries them"}[gone.kind]
    return f"Argo CD {made}prunes {gone.name}{served}: {what}"


def _fix(gone: Identity, new: Identity | None) -> str:
    keep = f"`{SYNC_OPTIONS}: Prune=false`"
    if new:
        return (f"Keep the name, or rename in two steps: add the new {gone.kind} alongside the old one with {keep} on "
                f"the old one, shift the traffic, then remove the old one")
    return (f"Keep it, or remove it in two steps: first annotate it with {keep} and move its traffic, then remove it "
            f"(and delete it from the cluster once drained)")


def findings(target: str, base: Iterable[dict], head: Iterable[dict], context: str = "") -> list[Violation]:
    """WH-DIFF-001/002 for one target (an overlay, or what an Application syncs), from its rendered objects at BASE
    and at HEAD; CONTEXT starts each message (what changed, when it is not the target's own rendering)."""
    base_idx, before = _index(target, base)
    _, after = _index(target, head)
    added = sorted((i for i in after if i not in before), key=lambda i: (i.kind, i.namespace, i.name))
    workloads = [d for i, d in before.items() if (i.group, i.kind) in WORKLOADS]
    served = {(i.namespace, i.name): w for i, d in before.items()
              if (i.group, i.kind) == ("", "Service") and (w := _depends(base_idx, i, d, workloads)) is not None}
    out = []
    for gone, doc in sorted(before.items(), key=lambda item: (item[0].kind, item[0].namespace, item[0].name)):
        if gone in after or (gone.group, gone.kind) not in WORKLOADS | DEPENDENTS | ROUTES or not_pruned(doc):
            continue
        workload, how = None, ""
        if (gone.group, gone.kind) in DEPENDENTS:
            workload = _depends(base_idx, gone, doc, workloads)
            if workload is None:
                continue
        elif (gone.group, gone.kind) in ROUTES:
            routed = _routes(base_idx, gone, doc, workloads, served)
            if routed is None:
                continue
            workload, how = routed
        new = _successor(gone, added)
        env = environment(doc)
        r = REPLACED if env == STRICTEST_ENVIRONMENT else REPLACED_ELSEWHERE
        change = f"renamed to {_name(new, gone)}" if new else "removed"
        message = (f"{context}{env} {gone.kind} {gone.name} {change}: {_consequence(gone, new, workload, how)}. "
                   f"{_fix(gone, new)}")
        out.append(r.at(target, message, gone.kind, gone.namespace, gone.name))
    return out

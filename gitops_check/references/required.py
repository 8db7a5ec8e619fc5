"""What a workload that receives traffic needs next to it, per environment: a PodDisruptionBudget, a
default-deny NetworkPolicy plus an allow policy, a ServiceMonitor or PodMonitor, a PrometheusRule with an
alert, and analysis. Each object is optional to the API server and to every other check; its absence
only shows when it was needed: a drain takes every pod at once, a compromised pod reaches everything, a
failing release goes unnoticed and is promoted.

Which objects an environment requires is `params.environments.<env>.requiredObjects` in
policies/data/params.yaml (the environment is the workload's `environment` label; without one, or with
one the parameters do not list, it is judged as production). A workload receives traffic when a Service
of the source selects its pods (a Rollout, Deployment or StatefulSet; a Deployment a Rollout takes over
through workloadRef runs no pods and is not judged). Each source is judged alone, as Argo CD syncs it.

A default deny for a direction is a policy with an empty podSelector (every pod of the namespace, including
those added later) that has the direction in its policyTypes; one policy for both directions or one per
direction, and a namespace-wide deny with exceptions (say DNS for every pod) counts too. The allow policy
is one with ingress rules that selects the workload's pods (the traffic it receives must get in).

Not repeated here: the replica floor (an HPA, or spec.replicas at the environment minimum) is WH-REF-008
through minReplicas, so WH-REQ-003 is not used; a PDB's numbers are WH-REF-009/010 (that it sets one,
WH-AVAIL-003); a canary without analysis is WH-ROLL-004 and an auto-promoting blueGreen without
pre-promotion analysis WH-ROLL-010 (policies stage), so WH-REQ-006 reports what those cannot see: a
Deployment or StatefulSet (no analysis possible), a blueGreen with manual promotion and no analysis, a
Rollout without strategy. When the object is there but selects nothing (WH-REF-002, WH-REF-028 report
it), the requirement stays quiet: fixing that selector is the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from . import netpolicy as np
from .index import Index, PodTemplate, Selector, as_dict, dicts, environment
from .inputs import Inputs
from .network import monitored_services
from .scaling import _workload_ref_targets
from .workloads import pod_selector, selected_pods

_WHERE = " (where the environment's requiredObjects lists it)"

PDB = rule(
    "WH-REQ-001", "error", "references",
    "A workload that receives traffic has a PodDisruptionBudget" + _WHERE,
    "Without a PDB a node drain or cluster upgrade may evict every pod of the service at once.",
)
NETWORK_POLICY = rule(
    "WH-REQ-002", "error", "references",
    "A workload that receives traffic is under a default-deny NetworkPolicy (ingress and egress) and an allow "
    "policy selects its pods" + _WHERE,
    "Without a default deny every pod of the namespace accepts and opens any connection: one compromised pod "
    "reaches the database and the internal network.",
)
MONITOR = rule(
    "WH-REQ-004", "error", "references",
    "A workload that receives traffic is scraped by a ServiceMonitor or PodMonitor" + _WHERE,
    "Unscraped pods have no metrics: the alerts and the canary analysis read nothing.",
)
ALERTS = rule(
    "WH-REQ-005", "error", "references",
    "A workload that receives traffic comes with a PrometheusRule that has at least one alert" + _WHERE,
    "Without alerts an outage is noticed by the users first.",
)
ANALYSIS = rule(
    "WH-REQ-006", "error", "references",
    "A workload that receives traffic rolls out with analysis (a Rollout with canary or blueGreen analysis)" + _WHERE,
    "Without analysis a failing release is promoted to every user; a Deployment or StatefulSet cannot run "
    "Argo Rollouts' analysis at all.",
)

ANALYSIS_FIELDS = ("prePromotionAnalysis", "postPromotionAnalysis")


@dataclass
class Served:
    """A workload that receives traffic, with what selects it."""

    workload: Document
    templates: list[PodTemplate]
    services: list[Document]
    env: str
    required: tuple[str, ...]

    @property
    def namespace(self) -> str:
        return self.templates[0].namespace

    @property
    def labels(self) -> str:
        """The selector to write into the missing object: the workload's matchLabels, else its pod labels."""
        match = as_dict(as_dict(as_dict(self.workload.obj.get("spec")).get("selector")).get("matchLabels"))
        labels = match or self.templates[0].labels
        return ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) or "its pod labels"

    def lead(self) -> str:
        services = ", ".join(sorted(s.name for s in self.services))
        return f"{self.workload.kind} {self.workload.name} receives traffic through Service {services}"

    def requirement(self, what: str) -> str:
        label = environment(self.workload)
        judged = "" if label == self.env else f"environment {label!r} is not in the parameters, so it is judged as {self.env}: "
        return (f"{judged}{self.env} requires {what} "
                f"(params.environments.{self.env}.requiredObjects in policies/data/params.yaml)")


def served(idx: Index, inputs: Inputs) -> list[Served]:
    """Rollouts, Deployments and StatefulSets whose pods a Service of the source selects. The parameters
    are read only when there is one."""
    taken = _workload_ref_targets(idx)
    found = []
    for workload in idx.of_kind("Rollout", "Deployment", "StatefulSet"):
        templates = idx.templates_of(workload)
        if id(workload) in taken or not templates:
            continue
        services = []
        for svc in idx.of_kind("Service"):
            selector = pod_selector(svc)
            if selector is not None and any(idx.ns(svc) == t.namespace and selector.matches(t.labels) for t in templates):
                services.append(svc)
        if services:
            env, required = inputs.required_for(workload)
            found.append(Served(workload, templates, services, env, required))
    return found


def _selects_nothing(idx: Index, kind: str, namespace: str | None = None) -> bool:
    """Whether an object of that kind selects no pod at all (WH-REF-002's finding) or, for a
    ServiceMonitor, no Service (WH-REF-028's)."""
    for doc in idx.of_kind(kind):
        if namespace is not None and idx.ns(doc) != namespace:
            continue
        if kind == "ServiceMonitor":
            if idx.of_kind("Service") and not monitored_services(idx, doc):
                return True
            continue
        selector = pod_selector(doc)
        if selector is not None and not selected_pods(idx, doc, selector):
            return True
    return False


def _pdb_selects(idx: Index, pdb: Document, templates: list[PodTemplate]) -> bool:
    spec = as_dict(pdb.obj.get("spec"))
    if not isinstance(spec.get("selector"), dict):
        return False  # policy/v1: a null selector selects no pod (an empty one selects all)
    selector = Selector.of(spec["selector"])
    return any(idx.ns(pdb) == t.namespace and selector.matches(t.labels) for t in templates)


def _pdb(idx: Index, s: Served) -> Iterator[Violation]:
    if any(_pdb_selects(idx, pdb, s.templates) for pdb in idx.of_kind("PodDisruptionBudget")):
        return
    if _selects_nothing(idx, "PodDisruptionBudget", s.namespace):
        return
    yield PDB.violation(
        s.workload,
        f"{s.lead()} but no PodDisruptionBudget selects its pods; {s.requirement('one')}: add a PodDisruptionBudget "
        f'in namespace "{s.namespace}" with maxUnavailable: 1 (or a minAvailable below the replica floor) and '
        f"selector matchLabels {{{s.labels}}}",
    )


def _network_policy(idx: Index, s: Served) -> Iterator[Violation]:
    policies = [p for p in idx.of_kind("NetworkPolicy") if idx.ns(p) == s.namespace]
    denied = {t for p in policies if np.pod_selector(p).empty for t in np.policy_types(p)}
    missing_deny = [d for d in (np.INGRESS, np.EGRESS) if d not in denied]
    allows = [
        p for p in policies for t in s.templates
        if np.pod_selector(p).matches(t.labels) and np.rules(p, np.INGRESS)
    ]
    missing_allow = not allows and not _selects_nothing(idx, "NetworkPolicy", s.namespace)
    problems = []
    if missing_deny:
        problems.append(
            f"no default-deny NetworkPolicy (podSelector {{}}) covers {' and '.join(missing_deny)} in namespace "
            f'"{s.namespace}"'
        )
    if missing_allow:
        problems.append("no NetworkPolicy with ingress allow rules selects its pods")
    if not problems:
        return
    fixes = []
    if missing_deny:
        fixes.append(f"add a NetworkPolicy with podSelector: {{}} and policyTypes: [{', '.join(missing_deny)}] and no rules")
    if missing_allow:
        fixes.append(
            f"add a NetworkPolicy with podSelector matchLabels {{{s.labels}}} and ingress rules for the callers "
            "(ingress controller, Prometheus) and egress rules for its dependencies"
        )
    yield NETWORK_POLICY.violation(
        s.workload, f"{s.lead()} but {'; and '.join(problems)}; {s.requirement('both')}: {'; '.join(fixes)}"
    )


def _monitored(idx: Index, s: Served) -> bool:
    for monitor in idx.of_kind("ServiceMonitor"):
        for svc in monitored_services(idx, monitor):
            selector = pod_selector(svc)
            if selector is not None and any(idx.ns(svc) == t.namespace and selector.matches(t.labels) for t in s.templates):
                return True
    for monitor in idx.of_kind("PodMonitor"):
        selector = pod_selector(monitor)
        if selector is not None and any(t.owner is s.workload for t in selected_pods(idx, monitor, selector)):
            return True
    return False


def _monitor(idx: Index, s: Served) -> Iterator[Violation]:
    if _monitored(idx, s) or _selects_nothing(idx, "ServiceMonitor") or _selects_nothing(idx, "PodMonitor"):
        return
    yield MONITOR.violation(
        s.workload,
        f"{s.lead()} but no ServiceMonitor selects one of these Services and no PodMonitor selects its pods; "
        f"{s.requirement('one')}: add a ServiceMonitor whose selector matches the labels of Service "
        f"{s.services[0].name} with an endpoint on its metrics port (or a PodMonitor on the pods' metrics port)",
    )


def _has_alert(idx: Index) -> bool:
    return any(
        r.get("alert")
        for doc in idx.of_kind("PrometheusRule")
        for group in dicts(as_dict(doc.obj.get("spec")).get("groups"))
        for r in dicts(group.get("rules"))
    )


def _alerts(idx: Index, s: Served) -> Iterator[Violation]:
    if _has_alert(idx):
        return
    rules_ = idx.of_kind("PrometheusRule")
    found = (
        f"PrometheusRule {', '.join(sorted(r.name for r in rules_))} has only recording rules" if rules_
        else "the source has no PrometheusRule"
    )
    yield ALERTS.violation(
        s.workload,
        f"{s.lead()} but {found}; {s.requirement('at least one alert')}: add a PrometheusRule with alerts on the "
        "service's error ratio and latency (each with severity, summary, description and runbook_url)",
    )


def _analysis(idx: Index, s: Served) -> Iterator[Violation]:
    workload = s.workload
    if workload.kind != "Rollout":
        yield ANALYSIS.violation(
            workload,
            f"{s.lead()} but a {workload.kind} cannot run analysis (only an Argo Rollouts Rollout can); "
            f"{s.requirement('analysis')}: replace it with a Rollout with canary or blueGreen analysis "
            f"(or a Rollout with workloadRef to this {workload.kind})",
        )
        return
    strategy = as_dict(as_dict(workload.obj.get("spec")).get("strategy"))
    canary, blue_green = strategy.get("canary"), strategy.get("blueGreen")
    if isinstance(canary, dict):
        return  # a canary without analysis is WH-ROLL-004's finding, in every environment
    if isinstance(blue_green, dict):
        if any(as_dict(blue_green.get(f)) for f in ANALYSIS_FIELDS):
            return
        if blue_green.get("autoPromotionEnabled", True) is not False:
            return  # an auto-promoting blueGreen without prePromotionAnalysis is WH-ROLL-010's finding
        found = "its blueGreen strategy promotes by hand without prePromotionAnalysis or postPromotionAnalysis"
    else:
        found = "it has neither a canary nor a blueGreen strategy"
    yield ANALYSIS.violation(
        workload,
        f"{s.lead()} but {found}; {s.requirement('analysis')}: add prePromotionAnalysis with the SLO "
        "AnalysisTemplates (blueGreen) or canary analysis",
    )


JUDGES = {
    "PodDisruptionBudget": _pdb,
    "NetworkPolicy": _network_policy,
    "ServiceMonitor": _monitor,
    "PrometheusRule": _alerts,
    "Analysis": _analysis,
}


def required_objects(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each workload that receives traffic, against its environment's requiredObjects."""
    for s in served(idx, inputs):
        for name in s.required:
            yield from JUDGES[name](idx, s)


CHECKS = (required_objects,)

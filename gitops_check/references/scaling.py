"""Scaling and availability across objects: HPA targets, who owns spec.replicas, the per-environment
replica minimum and PodDisruptionBudgets judged at the replica count the workload can really drop to."""

from __future__ import annotations

import math
from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from .index import SCALABLE_KINDS, Index, Selector, as_dict
from .inputs import Inputs

HPA_TARGET = rule(
    "WH-REF-006", "error", "references", "An HPA's scaleTargetRef names a scalable workload in the source",
    "An HPA pointing at a missing (or wrongly typed) workload scales nothing; load spikes go unanswered.",
)
REPLICAS_WITH_HPA = rule(
    "WH-REF-007", "error", "references", "A workload owned by an HPA does not set spec.replicas",
    "Argo CD re-applies spec.replicas on every sync, fighting the HPA: pods flap and the app shows OutOfSync.",
)
MIN_REPLICAS = rule(
    "WH-REF-008", "error", "references",
    "HPA minReplicas (or the workload's replicas without an HPA) meets the environment's minimum",
    "Below the minimum a single node failure or rollout takes the service below its availability target.",
)
PDB_BLOCKS = rule(
    "WH-REF-009", "error", "references", "A PodDisruptionBudget allows at least one disruption at the minimum replicas",
    "A PDB that allows no disruption blocks node drains and cluster upgrades indefinitely.",
)
PDB_ALLOWS_ALL = rule(
    "WH-REF-010", "error", "references", "A PodDisruptionBudget does not allow every pod to be disrupted at once",
    "A PDB that allows all pods to go protects nothing: a drain can take the whole service down.",
)

def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def hpa_target(idx: Index, hpa: Document) -> Document | None:
    ref = as_dict(as_dict(hpa.obj.get("spec")).get("scaleTargetRef"))
    target = idx.get(str(ref.get("kind", "")), idx.ns(hpa), ref.get("name"))
    if target is None or target.kind not in SCALABLE_KINDS:
        return None
    group = str(ref.get("apiVersion", "")).rpartition("/")[0]
    return target if group == target.group else None


def hpa_owners(idx: Index) -> dict[int, tuple[Document, Document]]:
    """id(workload) -> (workload, the HPA that scales it); a workloadRef Deployment is never owned (WH-REF-006)."""
    taken_over = _workload_ref_targets(idx)
    return {
        id(t): (t, hpa)
        for hpa in idx.of_kind("HorizontalPodAutoscaler")
        if (t := hpa_target(idx, hpa)) is not None and id(t) not in taken_over
    }


def _workload_ref_targets(idx: Index) -> set[int]:
    return {id(t) for r in idx.of_kind("Rollout") if (t := idx.workload_ref(r)) is not None}


def hpa_targets(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """scaleTargetRef apiVersion/kind/name must name a scalable workload of the HPA's namespace; a Deployment
    taken over by a Rollout's workloadRef is the wrong target (Argo Rollouts scales it to zero)."""
    taken_over = _workload_ref_targets(idx)
    for hpa in idx.of_kind("HorizontalPodAutoscaler"):
        ref = as_dict(as_dict(hpa.obj.get("spec")).get("scaleTargetRef"))
        kind, name, api = str(ref.get("kind", "")), ref.get("name"), ref.get("apiVersion", "")
        target = hpa_target(idx, hpa)
        if target is None:
            found = idx.get(kind, idx.ns(hpa), name)
            problem = (
                f"scaleTargetRef apiVersion {api!r} does not match {found.kind}/{found.name}'s {found.api_version!r}"
                if found is not None and found.kind in SCALABLE_KINDS
                else f"scaleTargetRef: {idx.absent(kind, idx.ns(hpa), name)}"
            )
            yield HPA_TARGET.violation(hpa, f"{problem}; point it at the Rollout (argoproj.io/v1alpha1) it should scale")
        elif id(target) in taken_over:
            yield HPA_TARGET.violation(
                hpa,
                f"scaleTargetRef targets {target.kind}/{target.name}, which a Rollout takes over through workloadRef "
                "(Argo Rollouts scales it down); target the Rollout instead",
            )


def replicas_with_hpa(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A workload an HPA scales must leave spec.replicas unset (for a Rollout, also with workloadRef), or
    every Argo CD sync resets the HPA's decision."""
    for workload, hpa in hpa_owners(idx).values():
        if "replicas" in as_dict(workload.obj.get("spec")):
            yield REPLICAS_WITH_HPA.violation(
                workload,
                f"spec.replicas is set but HorizontalPodAutoscaler/{hpa.name} owns the replica count; remove "
                "spec.replicas and set the floor with the HPA's minReplicas",
            )


def floor(workload: Document, owners: dict[int, tuple[Document, Document]]) -> int:
    """The fewest replicas a workload can run: its HPA's minReplicas (default 1), else spec.replicas (default 1)."""
    if id(workload) in owners:
        hpa = owners[id(workload)][1]
        return _int(as_dict(hpa.obj.get("spec")).get("minReplicas"), 1)
    return _int(as_dict(workload.obj.get("spec")).get("replicas"), 1)


def minimum_replicas(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """HPA minReplicas, or spec.replicas of a workload without HPA, must reach the environment's minimum."""
    owners = hpa_owners(idx)
    taken_over = _workload_ref_targets(idx)
    for hpa in idx.of_kind("HorizontalPodAutoscaler"):
        if hpa_target(idx, hpa) is None:
            continue
        env, minimum = inputs.minimum_for(hpa)
        value = _int(as_dict(hpa.obj.get("spec")).get("minReplicas"), 1)
        if value < minimum:
            yield MIN_REPLICAS.violation(hpa, f"minReplicas is {value}, below the {env} minimum of {minimum}; raise it")
    for workload in idx.of_kind("Rollout", "Deployment", "StatefulSet"):
        if id(workload) in owners or id(workload) in taken_over:
            continue
        env, minimum = inputs.minimum_for(workload)
        value = floor(workload, owners)
        if value < minimum:
            runs = (
                f"runs {value} replica(s) (spec.replicas)" if "replicas" in as_dict(workload.obj.get("spec"))
                else "sets no spec.replicas and so defaults to 1 replica"
            )
            yield MIN_REPLICAS.violation(
                workload,
                f"{runs}, below the {env} minimum of {minimum}; raise spec.replicas "
                "or add an HPA with minReplicas >= the minimum",
            )


def _scaled(value, total: int) -> int | None:
    """An int-or-percent PDB field as a pod count (percentages round up, as the disruption controller does)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%") and _decimal(text[:-1]):
        return math.ceil(int(text[:-1].lstrip("0") or "0") * total / 100)
    return int(text.lstrip("0") or "0") if _decimal(text) else None


def _decimal(text: str) -> bool:
    """An int32's digits as Go's strconv.Atoi reads them: ASCII only ("²" is a digit to str.isdigit, not to
    int()), and no more than fit, leading zeros aside (400 digits overflowed the percentage's float)."""
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 10


def pdb_budgets(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Judge each PDB at the replica floor of the workloads it covers (HPA minReplicas or replicas): it must
    allow one disruption (minAvailable < floor, maxUnavailable >= 1) and must not allow all of them."""
    owners, taken_over = hpa_owners(idx), _workload_ref_targets(idx)
    for pdb in idx.of_kind("PodDisruptionBudget"):
        spec = as_dict(pdb.obj.get("spec"))
        selector = Selector.of(spec.get("selector"))
        selected = idx.selected(idx.ns(pdb), selector) if not selector.empty else []
        workloads = {id(t.owner): t.owner for t in selected if id(t.owner) not in taken_over}
        if not workloads or any(w.kind not in SCALABLE_KINDS for w in workloads.values()):
            continue  # nothing selected (WH-REF-002) or replicas not fixed by spec (DaemonSet, Job)
        total = sum(floor(w, owners) for w in workloads.values())
        covered = ", ".join(sorted(f"{w.kind}/{w.name}" for w in workloads.values()))
        yield from _judge_pdb(pdb, spec, total, covered)


def _judge_pdb(pdb: Document, spec: dict, total: int, covered: str) -> Iterator[Violation]:
    if "minAvailable" in spec:
        field, count = "minAvailable", _scaled(spec["minAvailable"], total)
        allowed = None if count is None else total - count
    elif "maxUnavailable" in spec:
        field, count = "maxUnavailable", _scaled(spec["maxUnavailable"], total)
        allowed = count
    else:
        return
    if allowed is None:
        return
    at = f"{field} {spec[field]!r} at the minimum of {total} replica(s) of {covered}"
    if allowed < 1:
        yield PDB_BLOCKS.violation(pdb, f"{at} allows no voluntary disruption, blocking node drains; "
                                   f"use maxUnavailable: 1 or a minAvailable below {total}")
    elif allowed >= total:
        fix = (
            "raise the replica floor to at least 2 so one pod can stay up" if total <= 1
            else "use maxUnavailable: 1 or a minAvailable of at least 1"
        )
        yield PDB_ALLOWS_ALL.violation(pdb, f"{at} allows every pod to be evicted at once; {fix}")


CHECKS = (hpa_targets, replicas_with_hpa, minimum_replicas, pdb_budgets)

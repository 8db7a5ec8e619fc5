"""The `rollouts` stage: Argo Rollouts' own validation, at the version of the locked Rollout CRDs.

`rollouts-validate` (tools/argo-rollouts, built inside Argo Rollouts' module by `make tools`) calls the
upstream functions the controllers call: the rollout controller's InvalidSpec checks (ValidateRollout and
ValidateRolloutReferencedResources over the Services, Ingresses, VirtualServices and AnalysisTemplates the
Rollout refers to) and the analysis controller's checks of every AnalysisRun a Rollout would create. Each
source's objects are judged on their own. Every upstream error becomes a finding with upstream's message
and field path: the harness does not imitate Argo Rollouts, it asks it.

The success and failure conditions of every Prometheus and Datadog metric are judged the same way: with the
args the analysis controller would substitute, upstream's evaluator (evaluate.EvaluateResult, which the
providers call on each query result) decides the phase of probe results a query can return (empty and NaN
vectors, -Inf..+Inf, the conditions' own thresholds ± epsilon). A metric no probe fails cannot stop a bad
canary (WH-ANA-008); one every probe errors can never succeed (WH-RVAL-004 at the template, WH-RVAL-003 at
the Rollout whose args make it so).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import runner
from .context import Context
from .errors import ToolError
from .model import Document, Source, Violation
from .rules import rule

if TYPE_CHECKING:
    from .settings import Settings

INVALID_SPEC = rule(
    "WH-RVAL-001", "error", "rollouts",
    "Argo Rollouts accepts every Rollout (its controller's own validation, with the objects it refers to)",
    "The controller marks an invalid Rollout InvalidSpec and does nothing: no canary, no rollback, no release.",
)
MISSING_REFERENCE = rule(
    "WH-RVAL-002", "error", "rollouts",
    "Every Service, AnalysisTemplate, VirtualService and Ingress a Rollout names is in its source",
    "The controller cannot find it and marks the Rollout InvalidSpec: the release never starts.",
)
ANALYSIS_ERROR = rule(
    "WH-RVAL-003", "error", "rollouts",
    "Every AnalysisRun a Rollout creates is valid (the analysis controller's checks)",
    "An invalid AnalysisRun ends in phase Error, which aborts the rollout: every release fails.",
)
INVALID_TEMPLATE = rule(
    "WH-RVAL-004", "error", "rollouts",
    "Every AnalysisTemplate is valid on its own (the analysis controller's checks)",
    "Any run made from it ends in phase Error: the Rollouts that use it abort every release.",
)
CANNOT_FAIL = rule(
    "WH-ANA-008", "error", "rollouts",
    "Every metric's conditions can fail the analysis (judged by Argo Rollouts' evaluator over probe results)",
    "A condition every result satisfies never stops a bad canary: the analysis passes whatever the new version does.",
)

# upstream check -> rule; see tools/argo-rollouts/cmd/rollouts-validate/main.go for the checks
RULES = {
    "decode": INVALID_SPEC,
    "validation.ValidateRollout": INVALID_SPEC,
    "validation.ValidateRolloutReferencedResources": INVALID_SPEC,
    "rollout.getRolloutReferencedResources": MISSING_REFERENCE,
    "rollout.templateref.Resolve": MISSING_REFERENCE,
    "analysis.reconcileAnalysisRun": ANALYSIS_ERROR,
    "analysis.ValidateMetrics": INVALID_TEMPLATE,
    "evaluate.EvaluateResult": CANNOT_FAIL,  # no probe result is Failed
    "evaluate.EvalCondition": INVALID_TEMPLATE,  # every probe result is an Error (at a Rollout: BY_KIND)
    "panic": INVALID_SPEC,  # upstream validation crashed on the object: certainly not accepted as it is
}
# (check, kind) -> rule, where the object reported decides: a condition the Rollout's args break is its run's error
BY_KIND = {("evaluate.EvalCondition", "Rollout"): ANALYSIS_ERROR}
JUDGED = ("Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate")
FIXES = {
    INVALID_SPEC.id: "change the spec so Argo Rollouts accepts it",
    MISSING_REFERENCE.id: "add that object to this source or fix the name",
    ANALYSIS_ERROR.id: "fix the analysis templates, args, dryRun or measurementRetention the Rollout passes",
    INVALID_TEMPLATE.id: "fix the template's metrics",
    CANNOT_FAIL.id: "fix: compare result[0] with the SLO arg (e.g. failureCondition: len(result) > 0 && "
                    "!isNaN(result[0]) && result[0] < {{args.success-rate-min}}); the failure condition must be "
                    "reachable by a real bad value",
}


def _objects(source: Source) -> list[dict]:
    """The source's objects as Argo CD applies them: a namespaced object without a namespace lands in the
    Application's destination namespace, taken to be the one most of the source's objects name."""
    from .references.index import Index

    idx = Index(source)
    return [{**d.obj, "metadata": {**d.metadata, "namespace": idx.ns(d)}} if idx.ns(d) != d.namespace else d.obj
            for d in source.documents]


def run(binary: str, sources: list[Source], settings: Settings | None = None) -> dict:
    payload = {"groups": [{"id": s.name, "objects": _objects(s)} for s in sources]}
    proc = runner.run([binary], tool="rollouts-validate", settings=settings, input=json.dumps(payload, ensure_ascii=False))
    if proc.returncode != 0:
        raise ToolError(f"rollouts-validate failed (exit {proc.returncode}): {runner.one_line(proc.stderr)}")
    try:
        out = json.loads(proc.stdout)
        findings, checked = out["findings"], out["checked"]
        if not isinstance(findings, list) or not isinstance(checked, dict) or not all(isinstance(f, dict) for f in findings):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ToolError("rollouts-validate exited 0 without a report: a harness or tool bug") from None
    expected = {k: sum(1 for s in sources for d in s.documents if d.kind == k and d.group == "argoproj.io") for k in JUDGED}
    judged = {k: checked.get(k, 0) + sum(1 for f in findings if f.get("kind") == k and f.get("check") == "decode") for k in JUDGED}
    if judged != expected:  # never fail open: every object sent must have been judged
        raise ToolError(f"rollouts-validate judged {judged}, but was sent {expected}: a harness or tool bug")
    return out


def _find(sources: list[Source], f: dict) -> Document | None:
    for source in sources:
        if source.name != f.get("group"):
            continue
        for doc in source.documents:
            if doc.kind == f.get("kind") and doc.name == f.get("name") and doc.namespace in ("", f.get("namespace") or ""):
                return doc
    return None


def _message(f: dict, rule_id: str) -> str:
    field, text = str(f.get("field") or ""), " ".join(str(f.get("message") or "").split())
    where = f"{field}: " if field and not text.startswith(field) else ""
    return f"{where}{text} (Argo Rollouts {f.get('check')}); {FIXES[rule_id]}"


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    if not any(d.group == "argoproj.io" and d.kind in JUDGED for s in sources for d in s.documents):
        return []
    out = run(ctx.tool("rollouts-validate"), sources, ctx.settings)
    found = []
    for f in out["findings"]:
        doc = _find(sources, f)
        rule_ = BY_KIND.get((f.get("check"), f.get("kind"))) or RULES.get(f.get("check"), INVALID_SPEC)
        message = _message(f, rule_.id)
        if doc is None:
            found.append(rule_.at(str(f.get("group")), message, str(f.get("kind")), str(f.get("namespace")), str(f.get("name"))))
        else:
            found.append(rule_.violation(doc, message))
    return list(dict.fromkeys(found))

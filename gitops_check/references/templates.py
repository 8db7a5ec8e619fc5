"""Argo Rollouts analysis references: which analyses a Rollout runs, their templates and args.

Argo Rollouts' own validation (the rollouts stage, WH-RVAL-*) resolves the AnalysisTemplates of a
Rollout's background, inline (step) and blueGreen pre/post-promotion analysis and rejects missing
templates and unresolved args. Neither it nor the controller's validation gathers the analyses of
experiment steps (`steps[].experiment.analyses[]`), so only those are checked for missing templates and
args here. What upstream never checks, for every analysis: args the templates do not declare (Argo
Rollouts ignores them) and thresholds looser than the template's SLO default.

When the analyses run and how long the rollout takes is the timeline model's (gitops_check/timeline.py);
its rules are in budget.py.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..model import Document, Violation
from ..rules import rule
from .index import Index, as_dict, dicts
from .inputs import Inputs

TEMPLATE_MISSING = rule(
    "WH-REF-019", "error", "references", "The AnalysisTemplates an experiment step's analyses reference exist in the source",
    "A missing template fails the experiment's AnalysisRun, which aborts the rollout. (For background, inline and "
    "pre/post-promotion analysis this is Argo Rollouts' own check; nothing upstream gathers experiment analyses.)",
)
ARG_MISSING = rule(
    "WH-REF-020", "error", "references", "An experiment step's analysis passes every arg its AnalysisTemplates require",
    "An arg without value or valueFrom that nobody passes fails the AnalysisRun with 'args.X was not resolved'. "
    "(For background, inline and pre/post-promotion analysis this is Argo Rollouts' own check.)",
)
ARG_UNDECLARED = rule(
    "WH-REF-021", "warning", "references", "A Rollout passes only args its AnalysisTemplates declare",
    "Argo Rollouts silently ignores an arg no template declares. It is usually a typo, and then the arg that was "
    "meant keeps the template's default: e.g. a stricter success-rate minimum for production never applies.",
)
LOOSER_THRESHOLD = rule(
    "WH-REF-036", "error", "references",
    "A Rollout passes an analysis threshold only as a plain number no looser than the AnalysisTemplate's (SLO-derived) "
    "default",
    "The template default is the SLO; a looser number in the Rollout, or a value nothing can read before the run (a "
    "valueFrom, an expression such as (1e9)), lets a canary that breaks the SLO be promoted.",
)


@dataclass
class AnalysisUse:
    """One place a Rollout runs analysis: which templates, which args, and whether it blocks progress."""

    where: str
    templates: list[dict]  # {templateName, clusterScope}
    args: list[dict]
    step: int | None = None  # index of the canary step it gates (inline analysis / experiment)
    blocking: bool = False  # inline or pre/post-promotion: the rollout waits for it to finish
    experiment: bool = False  # an experiment step's analysis: Argo Rollouts' validation never resolves it


def analysis_uses(rollout: Document) -> list[AnalysisUse]:
    strategy = as_dict(as_dict(rollout.obj.get("spec")).get("strategy"))
    canary, blue_green = as_dict(strategy.get("canary")), as_dict(strategy.get("blueGreen"))
    uses = []
    if canary.get("analysis"):
        a = as_dict(canary["analysis"])
        uses.append(AnalysisUse("canary.analysis", dicts(a.get("templates")), dicts(a.get("args"))))
    for i, step in enumerate(dicts(canary.get("steps"))):
        if step.get("analysis"):
            a = as_dict(step["analysis"])
            uses.append(AnalysisUse(f"canary.steps[{i}].analysis", dicts(a.get("templates")), dicts(a.get("args")), i, True))
        for j, analysis in enumerate(dicts(as_dict(step.get("experiment")).get("analyses"))):
            uses.append(AnalysisUse(
                f"canary.steps[{i}].experiment.analyses[{j}]", [analysis], dicts(analysis.get("args")), i, experiment=True
            ))
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        if blue_green.get(key):
            a = as_dict(blue_green[key])
            uses.append(AnalysisUse(f"blueGreen.{key}", dicts(a.get("templates")), dicts(a.get("args")), None, True))
    return uses


@dataclass
class Resolved:
    """The templates an AnalysisUse expands to (following nested spec.templates), and what is missing."""

    templates: list[Document] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _lookup(idx: Index, namespace: str, ref: dict) -> tuple[Document | None, str]:
    name = ref.get("templateName")
    if ref.get("clusterScope") is True:
        doc = idx.get("ClusterAnalysisTemplate", "", name)
        why = (
            f'ClusterAnalysisTemplate "{name}" is not in this source (clusterScope: true); add it to the source '
            "so what runs is reviewed here, or use a namespaced AnalysisTemplate"
        )
        return doc, why
    return idx.get("AnalysisTemplate", namespace, name), idx.absent("AnalysisTemplate", namespace, name) + "; add it or fix templateName"


def resolve(idx: Index, namespace: str, refs: list[dict]) -> Resolved:
    """Templates by reference, depth-first through AnalysisTemplate spec.templates (each template once)."""
    out, seen = Resolved(), set()

    def visit(ref: dict) -> None:
        doc, why = _lookup(idx, namespace, ref)
        if doc is None:
            out.missing.append(why)
        elif id(doc) not in seen:
            seen.add(id(doc))
            out.templates.append(doc)
            for nested in dicts(as_dict(doc.obj.get("spec")).get("templates")):
                visit(nested)

    for ref in refs:
        visit(ref)
    return out


def template_args(templates: list[Document]) -> list[dict]:
    return [a for doc in templates for a in dicts(as_dict(doc.obj.get("spec")).get("args"))]


def _declared(templates: list[Document]) -> dict[str, bool]:
    """arg name -> whether some template gives it a value (value or valueFrom)."""
    declared: dict[str, bool] = {}
    for arg in template_args(templates):
        name = str(arg.get("name"))
        has_value = "value" in arg or "valueFrom" in arg
        declared[name] = declared.get(name, False) or has_value
    return declared


def _uses(idx: Index) -> Iterator[tuple[Document, AnalysisUse, Resolved]]:
    for rollout in idx.of_kind("Rollout"):
        for use in analysis_uses(rollout):
            yield rollout, use, resolve(idx, idx.ns(rollout), use.templates)


def templates_exist(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Every templateName an experiment step's analysis (or a template it composes) references must be in
    the source; the other analyses are resolved by Argo Rollouts' own validation (WH-RVAL-002)."""
    for rollout, use, resolved in _uses(idx):
        if use.experiment:
            for why in resolved.missing:
                yield TEMPLATE_MISSING.violation(rollout, f"{use.where}: {why}")


def required_args(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Template args without value/valueFrom must be passed by the experiment analysis that runs them (the
    other analyses: Argo Rollouts' own check, WH-RVAL-001/003)."""
    for rollout, use, resolved in _uses(idx):
        if not use.experiment:
            continue
        passed = {str(a.get("name")) for a in use.args}
        for name, has_value in _declared(resolved.templates).items():
            if not has_value and name not in passed:
                owners = ", ".join(d.name for d in resolved.templates if _declares(d, name))
                yield ARG_MISSING.violation(
                    rollout, f"{use.where} does not pass arg {name!r}, required by AnalysisTemplate {owners}; "
                    f"add {{name: {name}, value: ...}} to its args",
                )


def _declares(doc: Document, name: str) -> bool:
    return any(str(a.get("name")) == name for a in dicts(as_dict(doc.obj.get("spec")).get("args")))


def undeclared_args(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Args passed that none of the block's templates declare (judged only when every template was found).
    Argo Rollouts' MergeArgs drops them without a word; the message names the closest declared arg that
    is not passed already, the likely intended one."""
    for rollout, use, resolved in _uses(idx):
        if resolved.missing or not resolved.templates:
            continue
        declared = _declared(resolved.templates)
        passed = {str(a.get("name")) for a in use.args}
        for arg in use.args:
            name = str(arg.get("name"))
            if name in declared:
                continue
            text = (
                f"{use.where} passes arg {name!r}, which AnalysisTemplate {', '.join(d.name for d in resolved.templates)} "
                f"does not declare (declared: {', '.join(sorted(declared)) or 'none'}), so Argo Rollouts ignores it"
            )
            intended = difflib.get_close_matches(name, sorted(set(declared) - passed), n=1, cutoff=0.6)
            if intended:
                default = _default(resolved.templates, intended[0])
                keeps = f", which keeps its default {default!r}" if default is not None else ""
                text += f"; it is probably a typo of {intended[0]!r}{keeps}: rename it"
            else:
                text += "; remove it or fix its name"
            yield ARG_UNDECLARED.violation(rollout, text)


def _default(templates: list[Document], name: str) -> Any:
    for arg in template_args(templates):
        if str(arg.get("name")) == name and "value" in arg:
            return arg["value"]
    return None


# `lhs OP {{args.x}}` or `{{args.x}} OP rhs` in a condition expression.
_COMPARISON = re.compile(
    r"(?P<op1><=|>=|<|>)\s*\{\{\s*args\.(?P<right>[A-Za-z0-9_.-]+)\s*\}\}"
    r"|\{\{\s*args\.(?P<left>[A-Za-z0-9_.-]+)\s*\}\}\s*(?P<op2><=|>=|<|>)"
)
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


def threshold_bounds(doc: Document) -> Iterator[tuple[str, str, bool]]:
    """(arg name, condition field, is a lower bound) for every arg a template metric compares against.
    Normalized to `result OP arg`: >=/> in successCondition and </<= in failureCondition make the arg a
    lower bound (the measurement must stay above it); the other comparisons make it an upper bound."""
    for metric in dicts(as_dict(doc.obj.get("spec")).get("metrics")):
        for field_name, passes_above in (("successCondition", True), ("failureCondition", False)):
            text = metric.get(field_name)
            if not isinstance(text, str):
                continue
            for m in _COMPARISON.finditer(text):
                op, name = (m.group("op1"), m.group("right")) if m.group("right") else (_FLIP[m.group("op2")], m.group("left"))
                above = op in (">", ">=")
                yield name, field_name, above == passes_above


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def looser_thresholds(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """An arg a Rollout passes for a threshold arg must be a plain number at least as strict as the template's own
    default: the default comes from the SLO, an override silently relaxes the gate. Anything else (a valueFrom, an
    expression such as "(1e9)" that Argo Rollouts pastes into the condition) cannot be judged, so it is refused."""
    slo = inputs.ctx.settings.display(inputs.ctx.settings.slo_file)
    for rollout, use, resolved in _uses(idx):
        given = {str(a.get("name")): a for a in use.args}
        passed = {name: a["value"] for name, a in given.items() if "value" in a}
        for doc in resolved.templates:
            defaults = {str(a.get("name")): a["value"] for a in dicts(as_dict(doc.obj.get("spec")).get("args")) if "value" in a}
            reported = set()
            for name, where, lower in threshold_bounds(doc):
                if name in reported or name not in given:
                    continue
                value, default = _number(passed.get(name)), _number(defaults.get(name))
                if value is None:
                    reported.add(name)
                    how = f"the value {passed[name]!r}" if name in passed else "a valueFrom"
                    yield LOOSER_THRESHOLD.violation(
                        rollout,
                        f"{use.where} passes {name} as {how}, not a plain number, to AnalysisTemplate {doc.name!r} (used "
                        f"in its {where}), so nothing can tell whether it is looser than the SLO; thresholds come from "
                        f"{slo}: drop the override or pass a number no looser than the template's default",
                    )
                    continue
                if default is None:
                    continue
                if (value < default) if lower else (value > default):
                    reported.add(name)
                    bound = "minimum" if lower else "maximum"
                    yield LOOSER_THRESHOLD.violation(
                        rollout,
                        f"{use.where} passes {name}={passed[name]!r}, looser than the {bound} {defaults[name]!r} "
                        f"AnalysisTemplate {doc.name!r} defaults to (used in its {where}); thresholds come from "
                        f"{slo}: drop the override or change the SLO there",
                    )


CHECKS = (templates_exist, required_args, undeclared_args, looser_thresholds)

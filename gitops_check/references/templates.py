"""Argo Rollouts analysis references: the AnalysisTemplates a Rollout runs exist, receive exactly the
args they declare, and the worst-case length of the rollout they gate fits the deployment budget.

The budget check is the cross-object counterpart of the single-object Rego check: only here are the
templates' metric intervals and counts known, so inline analysis steps can be priced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from .index import Index, as_dict, dicts, human, seconds
from .inputs import Inputs

TEMPLATE_MISSING = rule(
    "WH-REF-019", "error", "references", "Referenced AnalysisTemplates exist in the source",
    "A missing template fails the AnalysisRun at the first analysis: the rollout aborts (or never gets checked).",
)
ARG_MISSING = rule(
    "WH-REF-020", "error", "references", "Every required AnalysisTemplate arg is passed by the Rollout",
    "An arg without value or valueFrom that nobody passes fails the AnalysisRun with 'args.X was not resolved'.",
)
ARG_UNDECLARED = rule(
    "WH-REF-021", "error", "references", "A Rollout passes only args its AnalysisTemplates declare",
    "Argo Rollouts rejects args a template does not declare; the arg is usually a typo of a required one.",
)
DEPLOYMENT_BUDGET = rule(
    "WH-REF-022", "error", "references",
    "Worst-case deployment duration (pauses + inline analysis + experiments) fits the SLO deployment budget",
    "A rollout that can take longer than the budget holds a release train and delays rollbacks past the SLO.",
)
LOOSER_THRESHOLD = rule(
    "WH-REF-036", "error", "references",
    "A Rollout does not pass an analysis threshold looser than the AnalysisTemplate's (SLO-derived) default",
    "The template default is the SLO; a looser literal in the Rollout lets a canary that breaks the SLO be promoted.",
)


@dataclass
class AnalysisUse:
    """One place a Rollout runs analysis: which templates, which args, and whether it blocks progress."""

    where: str
    templates: list[dict]  # {templateName, clusterScope}
    args: list[dict]
    step: int | None = None  # index of the canary step it gates (inline analysis / experiment)
    blocking: bool = False  # inline or pre/post-promotion: the rollout waits for it to finish


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
            uses.append(AnalysisUse(f"canary.steps[{i}].experiment.analyses[{j}]", [analysis], dicts(analysis.get("args")), i))
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


def _declared(templates: list[Document]) -> dict[str, bool]:
    """arg name -> whether some template gives it a value (value or valueFrom)."""
    declared: dict[str, bool] = {}
    for doc in templates:
        for arg in dicts(as_dict(doc.obj.get("spec")).get("args")):
            name = str(arg.get("name"))
            has_value = "value" in arg or "valueFrom" in arg
            declared[name] = declared.get(name, False) or has_value
    return declared


def _uses(idx: Index) -> Iterator[tuple[Document, AnalysisUse, Resolved]]:
    for rollout in idx.of_kind("Rollout"):
        for use in analysis_uses(rollout):
            yield rollout, use, resolve(idx, idx.ns(rollout), use.templates)


def templates_exist(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Every templateName a Rollout (or a template it composes) references must be in the source."""
    for rollout, use, resolved in _uses(idx):
        for why in resolved.missing:
            yield TEMPLATE_MISSING.violation(rollout, f"{use.where}: {why}")


def required_args(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Template args without value/valueFrom must be passed in the same analysis block's args."""
    for rollout, use, resolved in _uses(idx):
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
    """Args passed that none of the block's templates declare (judged only when every template was found)."""
    for rollout, use, resolved in _uses(idx):
        if resolved.missing or not resolved.templates:
            continue
        declared = _declared(resolved.templates)
        for arg in use.args:
            name = str(arg.get("name"))
            if name not in declared:
                yield ARG_UNDECLARED.violation(
                    rollout, f"{use.where} passes arg {name!r}, which AnalysisTemplate "
                    f"{', '.join(d.name for d in resolved.templates)} does not declare "
                    f"(declared: {', '.join(sorted(declared)) or 'none'}); remove it or fix its name",
                )


_ARG_REF = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def _arg_value(text, use: AnalysisUse, templates: list[Document]):
    """Substitute a lone `{{args.x}}` with the passed or default value (count/interval may be templated)."""
    match = _ARG_REF.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if not match:
        return text
    name = match.group(1)
    for arg in use.args + [a for d in templates for a in dicts(as_dict(d.obj.get("spec")).get("args"))]:
        if str(arg.get("name")) == name and "value" in arg:
            return arg["value"]
    return None


def metric_seconds(metric: dict, use: AnalysisUse, templates: list[Document]) -> float | None:
    """Worst case of one metric: initialDelay + interval * (count - 1); inf when it never ends (interval
    without count); None when unreadable."""
    value = lambda key: _arg_value(metric.get(key), use, templates)  # noqa: E731
    delay = seconds(value("initialDelay")) if metric.get("initialDelay") is not None else 0.0
    interval = seconds(value("interval")) if metric.get("interval") is not None else 0.0
    raw_count = value("count")
    if metric.get("count") is None:
        count = float("inf") if interval else 1
    else:
        count = int(raw_count) if str(raw_count).isdigit() else None
    if delay is None or interval is None or count is None:
        return None
    return delay + (interval * (count - 1) if count > 1 else 0.0)


def analysis_seconds(use: AnalysisUse, resolved: Resolved) -> float | None:
    """How long a blocking analysis can run: its slowest metric (metrics run in parallel)."""
    if resolved.missing:
        return None
    times = [
        metric_seconds(m, use, resolved.templates)
        for d in resolved.templates for m in dicts(as_dict(d.obj.get("spec")).get("metrics"))
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


@dataclass
class Timeline:
    """The parts of a Rollout's worst-case duration, for a message that says where the time goes."""

    parts: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, value: float | None) -> None:
        if value:
            self.parts[what] = self.parts.get(what, 0.0) + value

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def timeline(idx: Index, rollout: Document) -> Timeline:
    """Pauses with a duration, blocking analysis (inline steps, blueGreen pre/post promotion), experiment
    durations and blueGreen autoPromotionSeconds. Indefinite pauses wait for a human and are not priced;
    background analysis runs alongside the steps and adds nothing."""
    strategy = as_dict(as_dict(rollout.obj.get("spec")).get("strategy"))
    canary, blue_green = as_dict(strategy.get("canary")), as_dict(strategy.get("blueGreen"))
    out = Timeline()
    for step in dicts(canary.get("steps")):
        pause = step.get("pause")
        if isinstance(pause, dict) and pause.get("duration") is not None:
            out.add("pauses", seconds(pause["duration"]))
        experiment = as_dict(step.get("experiment"))
        if experiment.get("duration") is not None:
            out.add("experiments", seconds(experiment["duration"]))
    if blue_green.get("autoPromotionEnabled") is not False:
        out.add("autoPromotionSeconds", seconds(blue_green.get("autoPromotionSeconds")))
    for use in analysis_uses(rollout):
        if use.blocking:
            out.add("analysis", analysis_seconds(use, resolve(idx, idx.ns(rollout), use.templates)))
    return out


def deployment_budget(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """The worst-case duration of each Rollout must fit deploymentBudgetSeconds of the SLO file."""
    rollouts = idx.of_kind("Rollout")
    if not rollouts:
        return
    budget = inputs.deployment_budget
    for rollout in rollouts:
        line = timeline(idx, rollout)
        if line.total > budget:
            worst = "forever" if line.total == float("inf") else human(line.total)
            parts = ", ".join(f"{k} {'unbounded' if v == float('inf') else human(v)}" for k, v in line.parts.items())
            yield DEPLOYMENT_BUDGET.violation(
                rollout,
                f"worst-case rollout takes {worst} ({parts}), over the deployment budget of {human(budget)} "
                f"(deploymentBudgetSeconds in {inputs.ctx.settings.slo_file.name}); shorten pauses or analysis "
                "(interval x count), or give every inline metric a count",
            )


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
    """A literal arg value a Rollout passes for a threshold arg must be at least as strict as the
    template's own default: the default comes from the SLO, an override silently relaxes the gate."""
    for rollout, use, resolved in _uses(idx):
        passed = {str(a.get("name")): a["value"] for a in use.args if "value" in a}
        for doc in resolved.templates:
            defaults = {str(a.get("name")): a["value"] for a in dicts(as_dict(doc.obj.get("spec")).get("args")) if "value" in a}
            reported = set()
            for name, where, lower in threshold_bounds(doc):
                value, default = _number(passed.get(name)), _number(defaults.get(name))
                if value is None or default is None or name in reported:
                    continue
                if (value < default) if lower else (value > default):
                    reported.add(name)
                    bound = "minimum" if lower else "maximum"
                    yield LOOSER_THRESHOLD.violation(
                        rollout,
                        f"{use.where} passes {name}={passed[name]!r}, looser than the {bound} {defaults[name]!r} "
                        f"AnalysisTemplate {doc.name!r} defaults to (used in its {where}); thresholds come from "
                        f"{inputs.ctx.settings.display(inputs.ctx.settings.slo_file)}: drop the override or change the SLO there",
                    )


CHECKS = (templates_exist, required_args, undeclared_args, deployment_budget, looser_thresholds)

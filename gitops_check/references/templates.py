"""Argo Rollouts analysis references and the deployment timeline.

Argo Rollouts' own validation (the rollouts stage, WH-RVAL-*) resolves the AnalysisTemplates of a
Rollout's background, inline (step) and blueGreen pre/post-promotion analysis and rejects missing
templates and unresolved args. Neither it nor the controller's validation gathers the analyses of
experiment steps (`steps[].experiment.analyses[]`), so only those are checked for missing templates and
args here. What upstream never checks, for every analysis: args the templates do not declare (Argo
Rollouts ignores them) and thresholds looser than the template's SLO default.

The budget check is the cross-object counterpart of the single-object policies: only here are the
templates' metric intervals and counts known, so blocking analysis can be priced. Every duration is read
as Argo Rollouts reads it (gitops_check/durations.py); one that does not parse is reported, never counted
as 0.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..durations import DurationError, duration_string_seconds, read_pause
from ..model import Document, Violation
from ..rules import rule
from .index import Index, as_dict, dicts, human
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
DEPLOYMENT_BUDGET = rule(
    "WH-REF-022", "error", "references",
    "Worst-case deployment duration (timed pauses + blocking analysis + experiment steps + blueGreen auto-promotion) "
    "fits the SLO deployment budget",
    "A rollout that can take longer than the budget holds a release train and delays rollbacks past the SLO. "
    "(Background analysis runs alongside the steps, however long, and adds nothing.)",
)
UNREADABLE_DURATION = rule(
    "WH-REF-041", "error", "references",
    "Every experiment step's duration parses as Argo Rollouts parses it (a Go duration)",
    "Argo Rollouts does not validate it: an experiment whose duration it cannot read never ends on its duration, "
    "and the deployment budget cannot count it. (Pauses and analysis intervals that do not parse are refused by "
    "Argo Rollouts' own validation: WH-RVAL-001, -003, -004.)",
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


def _template_args(templates: list[Document]) -> list[dict]:
    return [a for doc in templates for a in dicts(as_dict(doc.obj.get("spec")).get("args"))]


def _declared(templates: list[Document]) -> dict[str, bool]:
    """arg name -> whether some template gives it a value (value or valueFrom)."""
    declared: dict[str, bool] = {}
    for arg in _template_args(templates):
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
    for arg in _template_args(templates):
        if str(arg.get("name")) == name and "value" in arg:
            return arg["value"]
    return None


_ARG_REF = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def _arg_value(text, use: AnalysisUse, templates: list[Document]):
    """Substitute a lone `{{args.x}}` with the passed or default value (count/interval may be templated);
    None when the arg has no literal value here (valueFrom, set at run time)."""
    match = _ARG_REF.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if not match:
        return text
    name = match.group(1)
    for arg in use.args + _template_args(templates):
        if str(arg.get("name")) == name and "value" in arg:
            return arg["value"]
    return None


@dataclass
class Unread:
    """A part of the timeline that cannot be priced: where, the value, and why."""

    where: str
    value: Any
    why: str
    unparseable: bool = True  # a value Argo Rollouts cannot read (WH-REF-041), not merely one unknown here


def _go_int(value: Any) -> int:
    """intstr.IntOrString.IntValue(): an int as is, a string through strconv.Atoi (0 when it is not one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    body = text[1:] if text[:1] in "+-" else text
    return int(text) if body and all(c in "0123456789" for c in body) else 0


def metric_seconds(metric: dict, use: AnalysisUse, templates: list[Document], where: str) -> float | Unread:
    """Worst case of one metric: initialDelay + interval x (count - 1), with the count Argo Rollouts uses
    (Metric.EffectiveCount): count 0 or none means one measurement without interval and an indefinite run
    (inf) with one. Unread when a duration does not parse or an arg it depends on has no value here."""

    def value(key: str) -> Any:
        return _arg_value(metric.get(key), use, templates)

    def duration(key: str) -> float | None | Unread:
        raw = metric.get(key)
        if raw is None or raw == "":
            return None
        resolved = value(key)
        if resolved is None:
            return Unread(f"{where}.{key}", raw, "its arg has no literal value here", unparseable=False)
        if resolved == "":
            return None
        try:
            return max(0.0, duration_string_seconds(resolved))  # a negative interval or delay waits for nothing
        except DurationError as exc:
            return Unread(f"{where}.{key}", resolved, str(exc))

    delay, interval = duration("initialDelay"), duration("interval")
    for part in (delay, interval):
        if isinstance(part, Unread):
            return part
    raw_count = value("count") if metric.get("count") is not None else 0
    if raw_count is None:
        return Unread(f"{where}.count", metric.get("count"), "its arg has no literal value here", unparseable=False)
    count = _go_int(raw_count)
    if count == 0:
        if interval is None:
            count = 1
        else:
            return math.inf  # measured every interval until the rollout ends it
    return (delay or 0.0) + (interval or 0.0) * (max(count, 1) - 1)


def analysis_seconds(use: AnalysisUse, resolved: Resolved) -> tuple[float, list[Unread]]:
    """How long a blocking analysis can run: its slowest metric (metrics run in parallel), and the metrics
    that could not be priced."""
    if resolved.missing:
        return 0.0, [Unread(use.where, None, "an AnalysisTemplate it runs is missing", unparseable=False)]
    worst, unread = 0.0, []
    for doc in resolved.templates:
        for metric in dicts(as_dict(doc.obj.get("spec")).get("metrics")):
            where = f"{use.where} ({doc.kind} {doc.name!r} metric {metric.get('name')!r})"
            t = metric_seconds(metric, use, resolved.templates, where)
            if isinstance(t, Unread):
                unread.append(t)
            else:
                worst = max(worst, t)
    return worst, unread


@dataclass
class Timeline:
    """The parts of a Rollout's worst-case duration, for a message that says where the time goes, and
    what could not be counted (never counted as 0 in silence)."""

    parts: dict[str, float] = field(default_factory=dict)
    unread: list[Unread] = field(default_factory=list)

    def add(self, what: str, value: float) -> None:
        if value > 0:
            self.parts[what] = self.parts.get(what, 0.0) + value

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def timeline(idx: Index, rollout: Document) -> Timeline:
    """Timed pauses, blocking analysis (inline steps, blueGreen pre/post promotion), experiment step
    durations and blueGreen autoPromotionSeconds. Indefinite pauses wait for a human and are not priced;
    background analysis runs alongside the steps and adds nothing."""
    strategy = as_dict(as_dict(rollout.obj.get("spec")).get("strategy"))
    canary, blue_green = as_dict(strategy.get("canary")), as_dict(strategy.get("blueGreen"))
    out = Timeline()
    for i, step in enumerate(dicts(canary.get("steps"))):
        pause = step.get("pause")
        if isinstance(pause, dict) and pause.get("duration") is not None:
            try:
                out.add("pauses", max(0, read_pause(pause["duration"])))  # below 0: Argo Rollouts rejects it
            except DurationError as exc:
                out.unread.append(Unread(f"canary.steps[{i}].pause.duration", pause["duration"], str(exc)))
        experiment = as_dict(step.get("experiment"))
        if experiment.get("duration") not in (None, ""):
            try:
                out.add("experiments", max(0.0, duration_string_seconds(experiment["duration"])))
            except DurationError as exc:
                out.unread.append(Unread(f"canary.steps[{i}].experiment.duration", experiment["duration"], str(exc)))
    if blue_green.get("autoPromotionEnabled") is not False and blue_green.get("autoPromotionSeconds") is not None:
        value = blue_green["autoPromotionSeconds"]
        if isinstance(value, int) and not isinstance(value, bool):
            out.add("autoPromotionSeconds", value)
        else:
            out.unread.append(Unread("blueGreen.autoPromotionSeconds", value, "not a whole number of seconds"))
    for use in analysis_uses(rollout):
        if use.blocking:
            seconds, unread = analysis_seconds(use, resolve(idx, idx.ns(rollout), use.templates))
            out.add("analysis", seconds)
            out.unread += unread
    return out


def deployment_timeline(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """One timeline per Rollout, two rules on it. The worst-case duration must fit deploymentBudgetSeconds of
    the SLO file; parts that cannot be priced are named in the message (a lower bound then), never counted as
    0 in silence (WH-REF-022). An experiment step's duration must parse as Argo Rollouts parses it
    (WH-REF-041); the other durations the timeline reads are validated by Argo Rollouts itself (the rollouts
    stage reports them)."""
    rollouts = idx.of_kind("Rollout")
    if not rollouts:
        return
    budget = inputs.deployment_budget
    for rollout in rollouts:
        line = timeline(idx, rollout)
        if line.total > budget:
            forever = line.total == math.inf
            worst = "forever" if forever else ("at least " if line.unread else "") + human(line.total)
            parts = ", ".join(f"{k} {'unbounded' if v == math.inf else human(v)}" for k, v in line.parts.items())
            uncounted = f"; not counted: {', '.join(f'{u.where} ({u.why})' for u in line.unread)}" if line.unread else ""
            yield DEPLOYMENT_BUDGET.violation(
                rollout,
                f"worst-case rollout takes {worst} ({parts}), over the deployment budget of {human(budget)} "
                f"(deploymentBudgetSeconds in {inputs.ctx.settings.slo_file.name}){uncounted}; shorten pauses or "
                "analysis (interval x count), or give every inline metric a count",
            )
        for u in line.unread:
            if u.unparseable and u.where.endswith("experiment.duration"):
                yield UNREADABLE_DURATION.violation(
                    rollout,
                    f"{u.where} is {u.value!r}, which Argo Rollouts cannot read ({u.why}): the experiment never ends "
                    "on its duration and the deployment budget cannot count it; write a Go duration (30s, 5m, 1h)",
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


CHECKS = (templates_exist, required_args, undeclared_args, deployment_timeline, looser_thresholds)

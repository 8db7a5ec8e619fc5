"""Rules on the timeline model of each Rollout (gitops_check/timeline.py): the worst cases fit the
deployment, rollback and recovery budgets of the SLO file, a new pod can be available within the progress
deadline, every stretch of canary traffic is guarded by a measurement that can fail it in time,
and every experiment duration is one Argo Rollouts can read."""

from __future__ import annotations

import math
from typing import Iterator

from .. import timeline
from ..model import Violation
from ..rules import rule
from .index import Index, human
from .inputs import Inputs

DEPLOYMENT_BUDGET = rule(
    "WH-REF-022", "error", "references",
    "The worst case from sync to 100 % (each step's readiness wait up to progressDeadlineSeconds, pauses, blocking "
    "analysis, experiments, blueGreen promotion) fits the SLO deployment budget",
    "A rollout that can take longer than the budget holds a release train and delays fixes past the SLO; counting "
    "pauses alone misses the readiness waits and analysis the controller also waits for.",
)
UNGUARDED = rule(
    "WH-REF-044", "error", "references",
    "Every stretch of canary traffic between the first weight and 100 % is guarded by a measurement that can "
    "abort it before more traffic shifts",
    "Analysis that starts late, stops early or measures less often than the steps advance lets a bad canary reach "
    "the next weight (or 100 %) before any measurement can fail it.",
)
ROLLBACK_BUDGET = rule(
    "WH-REF-046", "error", "references",
    "The worst case of a rollback to a recent revision fits the SLO rollback budget (within rollbackWindow: one "
    "readiness wait up to progressDeadlineSeconds; without it a rollback is a full release)",
    "Without rollbackWindow a revert goes through every canary step and analysis again: the bad version keeps "
    "serving for as long as a release takes.",
)
RECOVERY_BUDGET = rule(
    "WH-REF-047", "error", "references",
    "A canary that goes bad is aborted within the SLO recovery budget: by its slowest background metric (a scrape "
    "plus (failureLimit + 1) x interval), or at progressDeadlineSeconds when its pods never become available",
    "Users get the bad version's errors until the abort returns all traffic to stable.",
)
NEVER_AVAILABLE = rule(
    "WH-REF-048", "error", "references",
    "A new pod can become available before progressDeadlineSeconds (its probes' delays and minReadySeconds)",
    "When the probes alone hold a pod back until the deadline, every step that starts pods misses it: each release "
    "and each rollback that needs new pods aborts (or stalls) however healthy the version is.",
)
UNREADABLE_DURATION = rule(
    "WH-REF-041", "error", "references",
    "Every experiment step's duration parses as Argo Rollouts parses it (a Go duration)",
    "Argo Rollouts does not validate it: an experiment whose duration it cannot read never ends on its duration, "
    "and the deployment budget cannot count it. (Pauses and analysis intervals that do not parse are refused by "
    "Argo Rollouts' own validation: WH-RVAL-001, -003, -004.)",
)


def _show(seconds: float) -> str:
    return "forever" if seconds == math.inf else human(seconds)


def deployment_timeline(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Three rules on one plan per Rollout. Parts that cannot be priced are named in the budget message (the
    worst case is then a lower bound), never counted as 0 in silence."""
    rollouts = idx.of_kind("Rollout")
    if not rollouts:
        return
    budgets = inputs.budgets
    budget = budgets["deploymentBudgetSeconds"]
    slo = inputs.ctx.settings.slo_file.name
    scrape = timeline.scrape_seconds(idx.source.documents, inputs.ctx.settings.policies_dir)
    for rollout in rollouts:
        plan = timeline.plan(idx, rollout, scrape)
        worst = plan.to_full_most
        if worst > budget:
            prefix = "at least " if plan.unread and worst != math.inf else ""
            parts = ", ".join(f"{k} {_show(v)}" for k, v in plan.parts().items())
            uncounted = f"; not counted: {', '.join(f'{u.where} ({u.why})' for u in plan.unread)}" if plan.unread else ""
            yield DEPLOYMENT_BUDGET.violation(
                rollout,
                f"the worst case from sync to 100 % is {prefix}{_show(worst)} ({parts}), over the deployment budget of "
                f"{human(budget)} (deploymentBudgetSeconds in {slo}){uncounted}; shorten pauses, analysis (interval x "
                "count) or progressDeadlineSeconds, or drop a step (`gitops-check plan` shows where the time goes)",
            )
        yield from _rollback_recovery_readiness(rollout, plan, budgets, slo)
        for gap in plan.gaps():
            yield UNGUARDED.violation(
                rollout,
                f"{gap.why}; a bad canary reaches the next weight unmeasured: run the analysis from the first setWeight "
                "until promotion (canary.analysis, startingStep at or before it, no count) and measure more often "
                "than the steps advance (interval x (failureLimit + 1) + one scrape within the shortest pause), or "
                "lengthen the pause",
            )
        for u in plan.unread:
            if u.unparseable and u.where.endswith("experiment.duration"):
                yield UNREADABLE_DURATION.violation(
                    rollout,
                    f"{u.where} is {u.value!r}, which Argo Rollouts cannot read ({u.why}): the experiment never ends "
                    "on its duration and the deployment budget cannot count it; write a Go duration (30s, 5m, 1h)",
                )


def _rollback_recovery_readiness(rollout, plan: timeline.Plan, budgets: dict[str, float], slo: str) -> Iterator[Violation]:
    deadline = f"progressDeadlineSeconds {plan.progress_deadline:g}"
    if plan.available_least >= plan.progress_deadline:
        yield NEVER_AVAILABLE.violation(
            rollout,
            f"a new pod is available {_show(plan.available_least)} after it starts at the earliest ({plan.available_why}), "
            f"not before {deadline}: every step that starts pods misses the deadline; lower the probes' delays "
            "(a startupProbe with failureThreshold x periodSeconds covers a slow start) or raise progressDeadlineSeconds",
        )
    rollback = budgets["rollbackBudgetSeconds"]
    if plan.rollback_most > rollback:
        how = (f"one readiness wait of up to {deadline}" if plan.rollback_window
               else f"no rollbackWindow, so a full release: {_show(plan.rollback_most)}")
        yield ROLLBACK_BUDGET.violation(
            rollout,
            f"a rollback to a recent revision takes up to {_show(plan.rollback_most)} ({how}), over the rollback "
            f"budget of {human(rollback)} (rollbackBudgetSeconds in {slo}); set rollbackWindow.revisions (e.g. 3) "
            "and a progressDeadlineSeconds within the budget",
        )
    recovery, worst = budgets["recoveryBudgetSeconds"], plan.recovery_most()
    if worst is not None and worst > recovery:
        detection = plan.detection()
        parts = [f"slowest background metric {_show(detection)}"] if detection is not None else []
        parts += [f"pods never available: {deadline}"] if plan.deadline_aborts else []
        yield RECOVERY_BUDGET.violation(
            rollout,
            f"a canary that goes bad is aborted up to {_show(worst)} later ({', '.join(parts)}), over the recovery "
            f"budget of {human(recovery)} (recoveryBudgetSeconds in {slo}); measure more often (interval x "
            "(failureLimit + 1)) or lower progressDeadlineSeconds",
        )


CHECKS = (deployment_timeline,)

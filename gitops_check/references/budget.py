"""Rules on the timeline model of each Rollout (gitops_check/timeline.py): the worst case fits the
deployment budget, every stretch of canary traffic is guarded by a measurement that can fail it in time,
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
    budget = inputs.deployment_budget
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


CHECKS = (deployment_timeline,)

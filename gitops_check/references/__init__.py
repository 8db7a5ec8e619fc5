"""The `references` stage: cross-resource references, in Python, per source.

A source (one overlay or one manifest file) is a set of objects Argo CD syncs together, so every
reference must resolve inside it: each object is rendered once, selectors select pods, Services and
ports exist, the VirtualService routes Argo Rollouts manages route nowhere else, experiment analyses
find their AnalysisTemplates with the right args, the rollout fits its time budget, ConfigMaps and
Secrets (or what produces them) exist with their keys, Argo CD Applications point at real overlays, feature-flag
definitions match flagd's schema and reach the container that reads them.
Schemas and single-object policies cannot see any of this; a broken reference only shows after merge,
as a stuck or Degraded rollout. What Argo Rollouts' own validation checks across a Rollout's objects
(the rollouts stage) is not repeated here.

Each concern lives in its own module and declares its rules (stage "references", ids WH-REF-NNN) and
a CHECKS tuple of functions `(Index, Inputs) -> Iterator[Violation]`. One Index is built per source,
then every check runs over it.
"""

from __future__ import annotations

from ..context import Context
from ..model import Source, Violation
from . import (argocd, budget, config, duplicates, flags, ingress, measured, network, required, rollouts, scaling,
               templates, traffic, workloads)
from .index import Index
from .inputs import Inputs

CHECKS = (
    duplicates.CHECKS + workloads.CHECKS + scaling.CHECKS + rollouts.CHECKS + templates.CHECKS + budget.CHECKS
    + measured.CHECKS + config.CHECKS + network.CHECKS + argocd.CHECKS + required.CHECKS + traffic.CHECKS
    + ingress.CHECKS + flags.CHECKS
)


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    inputs = Inputs(ctx, sources)
    indexes = [Index(source) for source in sources]
    measured.prefetch(indexes, inputs)
    found: list[Violation] = []
    for idx in indexes:
        for check_fn in CHECKS:
            found.extend(check_fn(idx, inputs))
    return found

"""Does the analysis measure the new version? The args a Rollout passes are resolved through its templates,
every Prometheus query is parsed by Prometheus' own parser (gitops_check/promql_ast.py), and at least one of
its selectors must pick the canary (or, for blueGreen pre-promotion, the preview): a matcher on a label of the
serving side equal to (or a regex matching only) the canaryService/previewService name or its cluster DNS name,
or the new pods' template hash (`valueFrom: podTemplateHashValue: Latest`). Istio's source_* labels name the
caller and namespace labels name no Service, so neither counts. A query that selects the stable Service, or
nothing of the new version at all, judges traffic the canary does not serve: a bad canary passes.

Background and inline canary analysis and blueGreen pre-promotion analysis are judged; post-promotion analysis
measures the active version on purpose, experiment analyses measure their own ReplicaSets.
"""

from __future__ import annotations

from typing import Iterator

from .. import analysis, promql_ast
from ..model import Document, Violation
from ..rules import rule
from .globs import compile_re2
from .index import Index, as_dict
from .inputs import Inputs
from .templates import AnalysisUse, analysis_uses, resolve

MEASURES_OTHER = rule(
    "WH-REF-045", "error", "references",
    "Canary and pre-promotion analysis queries select the new version (canaryService, previewService or its pod "
    "template hash)",
    "A query that selects the stable Service, or nothing of the canary, measures traffic the canary does not serve: "
    "a bad canary passes every measurement and is promoted.",
)

NEW_HASH, OLD_HASH = "gitops-check-latest-pod-template-hash", "gitops-check-stable-pod-template-hash"


def _targets(rollout: Document, use: AnalysisUse) -> tuple[str, str] | None:
    """(the Service of the new version, the Service of the old one) an analysis should measure, or None."""
    strategy = as_dict(as_dict(rollout.obj.get("spec")).get("strategy"))
    canary, blue_green = as_dict(strategy.get("canary")), as_dict(strategy.get("blueGreen"))
    if use.where.startswith("canary.") and not use.experiment and canary.get("canaryService"):
        return str(canary["canaryService"]), str(canary.get("stableService") or "")
    if use.where == "blueGreen.prePromotionAnalysis" and blue_green.get("previewService"):
        return str(blue_green["previewService"]), str(blue_green.get("activeService") or "")
    return None


def _passed(idx: Index, rollout: Document, use: AnalysisUse) -> dict[str, str]:
    """Arg values as the controller resolves them for this run; the pod hash values become markers."""
    values = {}
    for arg in use.args:
        name = str(arg.get("name"))
        if "value" in arg:
            values[name] = str(arg["value"])
            continue
        source = as_dict(arg.get("valueFrom"))
        hash_value = source.get("podTemplateHashValue")
        if hash_value in ("Latest", "Stable"):
            values[name] = NEW_HASH if hash_value == "Latest" else OLD_HASH
        elif as_dict(source.get("fieldRef")).get("fieldPath") == "metadata.namespace":
            values[name] = idx.ns(rollout)
    return values


def _names(service: str, namespace: str) -> tuple[str, ...]:
    """How metrics label a Service: its name, or its cluster DNS name (Istio's destination_service)."""
    if service in (NEW_HASH, OLD_HASH):
        return (service,)
    return (service, f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}.svc", f"{service}.{namespace}")


def _selects(matcher: promql_ast.Matcher, service: str, namespace: str) -> bool:
    names = _names(service, namespace)
    if matcher.type == "=":
        return matcher.value in names or (service in (NEW_HASH, OLD_HASH) and service in matcher.value)
    if matcher.type == "=~":
        if service in (NEW_HASH, OLD_HASH):
            return service in matcher.value
        pattern = compile_re2(matcher.value)  # RE2, as Prometheus matches (anchored); refused: no match
        return pattern is not None and any(pattern.fullmatch(n) is not None for n in names)
    return False


def _about_the_destination(matcher: promql_ast.Matcher) -> bool:
    """A label that says which workload served the request, not which one sent it (Istio's source_*) and not a
    namespace (a namespace may be named like the stable Service)."""
    return matcher.name != "__name__" and not matcher.name.startswith("source_") and "namespace" not in matcher.name


def _verdict(tree: promql_ast.Node, new: str, old: str, namespace: str) -> str | None:
    """None when some selector picks the new version (and not the old one as well); else what it selects."""
    matchers = [m for s in promql_ast.vector_selectors(tree) for m in s.matchers if _about_the_destination(m)]

    def old_too(m: promql_ast.Matcher) -> bool:
        return bool(old) and _selects(m, old, namespace)

    if any((_selects(m, new, namespace) and not old_too(m)) or _selects(m, NEW_HASH, namespace) for m in matchers):
        return None
    stable = [m for m in matchers if old_too(m) or _selects(m, OLD_HASH, namespace)]
    if stable:
        m = stable[0]
        return f"selects the stable version ({m.name}{m.type}{m.value!r}), not {new!r}"
    shown = ", ".join(f"{m.name}{m.type}{m.value!r}" for m in matchers[:4]) or "no destination label at all"
    return f"selects nothing of {new!r} (its matchers: {shown})"


def prefetch(indexes: list[Index], inputs: Inputs) -> None:
    """Parse the queries of every source in one promql-ast run (its answers are kept for the run): one process
    for a fleet, not one per overlay."""
    queries = {f"{i}.{n}": job[4] for i, idx in enumerate(indexes) for n, job in enumerate(_jobs(idx))}
    if queries:
        promql_ast.parse(queries, inputs.ctx.tool("promql-ast"), settings=inputs.ctx.settings)


def _jobs(idx: Index) -> list[tuple[Document, AnalysisUse, Document, str, str, str, str]]:
    """(rollout, use, template, metric, query, new, old) for every Prometheus query a Rollout's analysis runs."""
    jobs: list[tuple[Document, AnalysisUse, Document, str, str, str, str]] = []
    for rollout in idx.of_kind("Rollout"):
        for use in analysis_uses(rollout):
            targets = _targets(rollout, use)
            if targets is None:
                continue
            resolved = resolve(idx, idx.ns(rollout), use.templates)
            passed = _passed(idx, rollout, use)
            given = {str(arg.get("name")) for arg in use.args}
            for doc in resolved.templates:
                if any(name not in given for name in analysis.unresolved_args(doc, passed)):
                    continue  # an arg nobody gives a value: Argo Rollouts refuses the run (WH-RVAL-001, WH-RVAL-003)
                for metric in analysis.prometheus_metrics(doc, passed):
                    if metric.query is not None:
                        jobs.append((rollout, use, doc, metric.name, metric.query, *targets))
    return jobs


def canary_is_measured(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    jobs = _jobs(idx)
    if not jobs:
        return
    queries = {str(n): job[4] for n, job in enumerate(jobs)}
    parsed = promql_ast.parse(queries, inputs.ctx.tool("promql-ast"), settings=inputs.ctx.settings)
    for n, (rollout, use, doc, metric, _query, new, old) in enumerate(jobs):
        tree = parsed[str(n)].tree
        if parsed[str(n)].refused:
            raise promql_ast.refusal(parsed[str(n)], f"{doc.source}: {doc.ref} metric {metric!r}")
        if tree is None:
            continue  # does not parse: WH-PROM-002's finding
        wrong = _verdict(tree, new, old, idx.ns(rollout))
        if wrong:
            service = "previewService" if use.where.startswith("blueGreen") else "canaryService"
            yield MEASURES_OTHER.violation(
                rollout,
                f"{use.where} runs {doc.kind} {doc.name!r} metric {metric!r}, whose query (with the args this Rollout "
                f"passes) {wrong}, so it never sees the new version's requests; pass the {service} "
                f"({new!r}) as the arg the query selects by, or select the new pods by "
                "valueFrom.podTemplateHashValue: Latest",
            )


CHECKS = (canary_is_measured,)

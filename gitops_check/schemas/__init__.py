"""The `schemas` stage: validate every rendered object against a strict schema, offline, skipping none.

Kubernetes kinds are validated against the pinned Kubernetes version's schemas (kubernetes-validate),
custom resources against schemas we convert from the locked upstream CRDs; kubeconform runs once over
every document with local schema locations only. An object with no schema, or on a removed or
deprecated API version, is reported: GitOps validation most often lies by skipping what it cannot
check, and this stage never does. (An object rendered twice by one source is the references stage's
finding, WH-REF-040, which runs online and offline.)
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..context import Context
from ..model import Document, Source, Violation
from ..rules import rule
from ..settings import Settings
from . import apis, crds, kubeconform, kubernetes

INVALID = rule(
    "WH-SCHEMA-001", "error", "schemas",
    "Every object matches the strict schema of its apiVersion/kind (Kubernetes or locked CRD)",
    "An unknown or misspelled field is silently dropped by the API server: the setting you wrote never takes effect.",
)
NO_SCHEMA = rule(
    "WH-SCHEMA-002", "error", "schemas",
    "Every object has a schema: a Kubernetes kind of the target version or a kind of a locked CRD",
    "An object nothing can validate is an object nobody checked; Argo CD fails the sync when its CRD is not installed.",
)
REMOVED = rule(
    "WH-SCHEMA-003", "error", "schemas",
    "No object uses an API version removed at the target Kubernetes version (or no longer served by its CRD)",
    "The API server rejects removed versions, so the sync fails at the worst time: during an upgrade.",
)
DEPRECATED = rule(
    "WH-SCHEMA-004", "warning", "schemas",
    "Objects avoid deprecated API versions",
    "A deprecated version works today and breaks at its removal; migrating early is cheap.",
)


@dataclass(frozen=True)
class SchemaSet:
    """The prepared schema folders and what kubeconform needs to use them."""

    kubernetes_version: str
    kubernetes_dir: Path
    crds_dir: Path
    crd_schemas: tuple[str, ...]  # generated CRD schema files, relative to crds_dir
    crd_versions: tuple[crds.Version, ...]

    @property
    def locations(self) -> list[str]:
        """kubeconform -schema-location templates: local paths only, Kubernetes first."""
        return [f"{self.kubernetes_dir}/{kubernetes.TEMPLATE}", f"{self.crds_dir}/{crds.TEMPLATE}"]


def verify_crds(settings: Settings) -> list[Path]:
    """Check every locked CRD's sha256 (ToolError, exit 2, naming file, expected and actual sha)."""
    return crds.verify(settings.repo_root, settings.crds_dir)


def prepare(settings: Settings, repair: bool = False) -> SchemaSet:
    """Verify the CRDs and build (first use) or reuse the cached schema folders, each checked against its
    integrity manifest: a damaged folder is a ToolError naming it and `make tools` (exit 2, never a finding
    about the manifests), or with `repair` (`gitops-check prepare`, run by `make tools`) rebuilt."""
    crd_dir = crds.prepare(settings.repo_root, settings.crds_dir, settings.kubernetes_minor, settings.cache_dir, repair=repair)
    k8s_dir = kubernetes.prepare(settings.kubernetes_minor, settings.cache_dir, repair=repair)
    files, versions = crds.summary(crd_dir)
    return SchemaSet(settings.kubernetes_minor, k8s_dir, crd_dir, tuple(files), tuple(versions))


def ahead(ctx: Context) -> SchemaSet:
    """The verified schema folders, prepared while kustomize renders (the integrity checks take 50 to 150 ms of a
    one-overlay run); check() asks for the same answer."""
    return ctx.once("schemas", lambda: prepare(ctx.settings))


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    schemas = ahead(ctx)
    target = schemas.kubernetes_version
    crd_index = {(v.api_version, v.kind): v for v in schemas.crd_versions}
    found: list[Violation] = []
    to_validate: list[Document] = []
    for source in sources:
        for doc in source.documents:
            status = apis.status(doc.api_version, doc.kind, target, crd_index)
            if status:
                found.append((REMOVED if status.removed else DEPRECATED).violation(doc, status.message))
            if not (status and status.removed):
                to_validate.append(doc)
    files = _write(to_validate, ctx.workdir)
    outcomes = kubeconform.run(ctx.tool("kubeconform"), schemas.locations, target, files, settings=ctx.settings)
    for doc, file in zip(to_validate, files):
        found += _judge(doc, outcomes[str(file)], schemas, crd_index)
    return found


def _judge(doc: Document, outcome: kubeconform.Outcome, schemas: SchemaSet, crd_index: dict) -> list[Violation]:
    what = f"{doc.api_version} {doc.kind}"
    if outcome.status == kubeconform.VALID:
        return []
    if outcome.status == kubeconform.INVALID:
        return [INVALID.violation(doc, _explain(f, what)) for f in outcome.findings]
    if outcome.missing_schema:
        return [_missing(doc, schemas, crd_index)]
    if outcome.status == kubeconform.ERROR:
        return [INVALID.violation(doc, f"cannot be validated against {what}: {outcome.message}")]
    return [NO_SCHEMA.violation(doc, f"kubeconform did not validate it ({outcome.status} {outcome.message}); "
                                     "every object must be validated: report this as a harness bug")]


def _explain(finding: kubeconform.Finding, what: str) -> str:
    where = finding.path or "/"
    if finding.message.startswith("unknown field"):
        return f"{where}: {finding.message} (not in the schema of {what}): remove it or fix its spelling"
    return f"{where}: {finding.message} (schema of {what}): change the value to what the schema allows"


def _missing(doc: Document, schemas: SchemaSet, crd_index: dict) -> Violation:
    target = schemas.kubernetes_version
    served = sorted(
        {av for av, kind in crd_index if kind == doc.kind and crd_index[(av, kind)].served}
        | set(kubernetes.other_versions(doc.kind, target))
    )
    last = kubernetes.removed_after(doc.api_version, doc.kind, target)
    if last:
        fix = f"use {' or '.join(served)}" if served else "there is no replacement API"
        return REMOVED.violation(doc, f"{doc.api_version} {doc.kind} was removed after Kubernetes {last} (target {target}): {fix}")
    hint = (
        f"{doc.kind} is served as {', '.join(served)}: use one of them"
        if served
        else f"add the CRD that defines it to {crds.LOCK_FILE} (and crds-dir), or fix the apiVersion/kind"
    )
    return NO_SCHEMA.violation(
        doc, f"no schema for {doc.api_version} {doc.kind} (Kubernetes {target} nor the locked CRDs): {hint}"
    )


def _write(docs: list[Document], workdir: Path) -> list[Path]:
    """kubeconform reads files: one per document, in a folder of its own in the run's scratch folder (only this
    stage reads them, so a run with the server stage writes none)."""
    folder = Path(tempfile.mkdtemp(prefix="schemas-", dir=workdir))
    files = []
    for n, doc in enumerate(docs):
        files.append(folder / f"{n:05d}.json")
        # UTF-8, not \u escapes: kubeconform's YAML reader refuses the surrogate pairs json.dumps writes for
        # characters outside the Basic Multilingual Plane (an emoji in a dashboard or an alert).
        files[-1].write_text(json.dumps(doc.obj, ensure_ascii=False), encoding="utf-8")
    return files

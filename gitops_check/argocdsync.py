"""How Argo CD syncs: which Applications sync what, the order it applies a sync's objects in, and its
sync options.

Order (gitops-engine, sync_tasks.go): sync wave, then kind, then name. Known kinds go in kindOrder's order;
every other kind (all custom resources) ranks the same, after them, so among custom resources only the name
decides, and objects with the same wave, rank and name are applied in an unspecified order. The server
stage, the end-to-end sync and the references rules all use this one model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .loader import Expansion
from .model import Document

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
)
_RANK = {kind: i - len(KIND_ORDER) for i, kind in enumerate(KIND_ORDER)}  # unknown kinds: 0, the last


def wave(doc: Document) -> int:
    try:
        return int(str((doc.metadata.get("annotations") or {}).get(SYNC_WAVE, "0")).strip())
    except (ValueError, AttributeError):
        return 0


def key(doc: Document) -> tuple[int, int, str]:
    """What Argo CD compares: (wave, kind rank, name)."""
    return wave(doc), _RANK.get(doc.kind, 0), doc.name


def sync_order(docs: list[Document]) -> list[Document]:
    """Documents in the order Argo CD applies them (ties, which Argo CD leaves unspecified, by kind)."""
    return sorted(docs, key=lambda d: (*key(d), d.kind))


def surely_before(first: Document, then: Document) -> bool:
    """True when Argo CD applies `first` before `then` whatever its sort does with ties."""
    return key(first) < key(then)


def sync_options(options: object) -> dict[str, str]:
    """`Name=value` sync options, from an Application's syncPolicy.syncOptions list or an object's
    sync-options annotation (a comma-separated string)."""
    if isinstance(options, str):
        options = options.split(",")
    pairs = (str(o).split("=", 1) for o in (options if isinstance(options, list) else []))
    return {p[0].strip(): p[1].strip() for p in pairs if len(p) == 2}


# --------------------------------------------------------------------------- Applications

PLACEHOLDER = re.compile(r"\{\{\s*\.?([A-Za-z0-9_.\-]+)\s*\}\}")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class App:
    """An Application spec: a real Application, or one rendered from an ApplicationSet list element."""

    doc: Document  # the Application or ApplicationSet, where findings are reported
    label: str  # "" for an Application, "list element N: " for ApplicationSet elements
    spec: dict
    meta: dict  # the Application's metadata (for an ApplicationSet: the substituted template's)

    def sources(self) -> list[dict]:
        return [_dict(self.spec["source"])] if self.spec.get("source") else _dicts(self.spec.get("sources"))

    @property
    def destination(self) -> dict:
        return _dict(self.spec.get("destination"))

    @property
    def options(self) -> dict[str, str]:
        return sync_options(_dict(self.spec.get("syncPolicy")).get("syncOptions"))


def lookup(element: dict, key: str) -> Any:
    if key in element:
        return element[key]
    value: Any = element
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def substitute(value: Any, element: dict, budget: Expansion) -> Any:
    """Fill `{{key}}` / `{{.key}}` placeholders of an ApplicationSet template from one list element;
    unknown placeholders are left as they are (and such paths are then not judged). What it makes counts
    against BUDGET (the ApplicationSet's, every element together)."""
    if isinstance(value, str):
        def repl(m: re.Match) -> str:
            found = lookup(element, m.group(1))
            return m.group(0) if found is None or isinstance(found, (dict, list)) else str(found)
        return budget.sub(PLACEHOLDER, value, repl) if "{{" in value else value
    if isinstance(value, dict):
        return {k: substitute(v, element, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, element, budget) for v in value]
    return value


def applications(docs: Iterable[Document]) -> Iterator[App]:
    """Every Application, and every Application an ApplicationSet list generator produces."""
    docs = list(docs)
    for doc in docs:
        if doc.kind == "Application":
            yield App(doc, "", _dict(doc.obj.get("spec")), doc.metadata)
    for doc in docs:
        if doc.kind != "ApplicationSet":
            continue
        spec = _dict(doc.obj.get("spec"))
        template = _dict(spec.get("template"))
        elements = [e for g in _dicts(spec.get("generators")) for e in _dicts(_dict(g.get("list")).get("elements"))]
        budget = Expansion(f"{doc.source}: {doc.ref}")
        for i, element in enumerate(elements):
            yield App(
                doc, f"list element {i}: ", substitute(_dict(template.get("spec")), element, budget),
                _dict(substitute(_dict(template.get("metadata")), element, budget)),
            )


def local_sources(app: App) -> Iterator[tuple[str, dict]]:
    """(path, source) for the sources of this repository: a resolved `path` and no Helm `chart`."""
    for source in app.sources():
        path = source.get("path")
        if isinstance(path, str) and not source.get("chart") and "{{" not in path:
            yield path, source


def overlay_dir(repo_root: Path, path: str) -> Path | None:
    """The folder an Application's source path names in the repository (None when it points outside)."""
    root = repo_root.resolve()
    target = (root / path.strip().lstrip("/")).resolve()
    return target if target.is_relative_to(root) else None

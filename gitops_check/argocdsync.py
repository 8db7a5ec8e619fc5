"""How Argo CD syncs: the order it applies a sync's objects in, and its sync options.

Order (gitops-engine, sync_tasks.go): sync wave, then kind, then name. Known kinds go in kindOrder's order;
every other kind (all custom resources) ranks the same, after them, so among custom resources only the name
decides, and objects with the same wave, rank and name are applied in an unspecified order. The server
stage, the end-to-end sync and the references rules all use this one model."""

from __future__ import annotations

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

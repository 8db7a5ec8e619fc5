"""API versions that are removed or deprecated at the target Kubernetes version.

Three sources, most specific first:
- the locked CRDs themselves: a version with `served: false` is removed, one with `deprecated: true`
  is deprecated (the storage version is the replacement);
- a table of the Kubernetes and add-on deprecations users actually hit, with removal versions and
  replacements (kubernetes.io/docs/reference/using-api/deprecation-guide);
- derived: a GVK with no schema at the target that an older bundled Kubernetes version still had
  (done by the stage when kubeconform finds no schema; see kubernetes.removed_after).
"""

from __future__ import annotations

from dataclasses import dataclass

from .crds import Version


@dataclass(frozen=True)
class Status:
    removed: bool  # removed at the target (error) or only deprecated (warning)
    message: str


@dataclass(frozen=True)
class Deprecation:
    api_version: str
    kinds: tuple[str, ...]  # () = every kind of the group/version
    replacement: str  # "" when there is none to migrate to
    deprecated_in: str
    removed_in: str  # "" when no removal is scheduled
    project: str = "Kubernetes"  # whose releases deprecated_in/removed_in count
    note: str = ""

    def status(self, kind: str, target: str) -> Status | None:
        """Kubernetes entries are judged against the target minor; an add-on's removal has already
        happened in the release we pin (its CRDs are locked), so it is always removed."""
        if self.project == "Kubernetes":
            if _minor_key(target) < _minor_key(self.deprecated_in):
                return None
            removed = bool(self.removed_in) and _minor_key(target) >= _minor_key(self.removed_in)
        else:
            removed = bool(self.removed_in)
        fix = f"use {self.replacement}" if self.replacement else "there is no replacement API"
        note = f" ({self.note})" if self.note else ""
        if removed:
            return Status(True, f"{self.api_version} {kind} was removed in {self.project} {self.removed_in}: {fix}{note}")
        later = f", removal planned in {self.project} {self.removed_in}" if self.removed_in else ""
        return Status(False, f"{self.api_version} {kind} is deprecated since {self.project} {self.deprecated_in}{later}: {fix}{note}")


def _d(api_version: str, kinds: str, replacement: str, deprecated_in: str, removed_in: str, **extra: str) -> Deprecation:
    return Deprecation(api_version, tuple(kinds.split()), replacement, deprecated_in, removed_in, **extra)


TABLE = (
    _d("extensions/v1beta1", "Deployment DaemonSet ReplicaSet", "apps/v1", "1.9", "1.16"),
    _d("extensions/v1beta1", "NetworkPolicy", "networking.k8s.io/v1", "1.9", "1.16"),
    _d("extensions/v1beta1", "Ingress", "networking.k8s.io/v1", "1.14", "1.22"),
    _d("apps/v1beta1", "", "apps/v1", "1.9", "1.16"),
    _d("apps/v1beta2", "", "apps/v1", "1.9", "1.16"),
    _d("networking.k8s.io/v1beta1", "Ingress IngressClass", "networking.k8s.io/v1", "1.19", "1.22"),
    _d("rbac.authorization.k8s.io/v1beta1", "", "rbac.authorization.k8s.io/v1", "1.17", "1.22"),
    _d("admissionregistration.k8s.io/v1beta1", "", "admissionregistration.k8s.io/v1", "1.16", "1.22"),
    _d("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "apiextensions.k8s.io/v1", "1.16", "1.22"),
    _d("scheduling.k8s.io/v1beta1", "PriorityClass", "scheduling.k8s.io/v1", "1.14", "1.22"),
    _d("coordination.k8s.io/v1beta1", "Lease", "coordination.k8s.io/v1", "1.14", "1.22"),
    _d("batch/v1beta1", "CronJob", "batch/v1", "1.21", "1.25"),
    _d("policy/v1beta1", "PodDisruptionBudget", "policy/v1", "1.21", "1.25"),
    _d("policy/v1beta1", "PodSecurityPolicy", "", "1.21", "1.25",
       note="enforce pod security with Pod Security Admission labels on the namespace"),
    _d("discovery.k8s.io/v1beta1", "EndpointSlice", "discovery.k8s.io/v1", "1.21", "1.25"),
    _d("events.k8s.io/v1beta1", "Event", "events.k8s.io/v1", "1.19", "1.25"),
    _d("node.k8s.io/v1beta1", "RuntimeClass", "node.k8s.io/v1", "1.20", "1.25"),
    _d("autoscaling/v2beta1", "HorizontalPodAutoscaler", "autoscaling/v2", "1.22", "1.25"),
    _d("autoscaling/v2beta2", "HorizontalPodAutoscaler", "autoscaling/v2", "1.23", "1.26"),
    _d("storage.k8s.io/v1beta1", "CSIStorageCapacity", "storage.k8s.io/v1", "1.24", "1.27"),
    _d("flowcontrol.apiserver.k8s.io/v1beta2", "", "flowcontrol.apiserver.k8s.io/v1", "1.26", "1.29"),
    _d("flowcontrol.apiserver.k8s.io/v1beta3", "", "flowcontrol.apiserver.k8s.io/v1", "1.29", "1.32"),
    _d("v1", "Endpoints", "discovery.k8s.io/v1 EndpointSlice", "1.33", "",
       note="Endpoints stay served, but new Service features only reach EndpointSlices"),
    _d("external-secrets.io/v1beta1", "", "external-secrets.io/v1", "v0.16", "v0.17", project="external-secrets"),
    _d("networking.istio.io/v1alpha3", "", "networking.istio.io/v1", "1.22", "", project="Istio"),
    _d("networking.istio.io/v1beta1", "", "networking.istio.io/v1", "1.22", "", project="Istio"),
    _d("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig", "monitoring.coreos.com/v1beta1", "v0.57", "",
       project="prometheus-operator"),
)


def _minor_key(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def status(api_version: str, kind: str, target: str, crd_versions: dict[tuple[str, str], Version]) -> Status | None:
    """Removed/deprecated status of one apiVersion+kind at Kubernetes minor `target`, or None."""
    version = crd_versions.get((api_version, kind))
    if version and not version.served:
        return Status(True, f"{api_version} {kind} is no longer served by its CRD: use {version.group}/{version.storage_version}")
    if version and version.deprecated:
        warning = f" ({version.warning})" if version.warning else ""
        return Status(False, f"{api_version} {kind} is deprecated by its CRD{warning}: use {version.group}/{version.storage_version}")
    for entry in TABLE:
        if entry.api_version == api_version and (not entry.kinds or kind in entry.kinds):
            return entry.status(kind, target)
    return None

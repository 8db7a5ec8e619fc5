"""The per-source index every reference check reads: objects by kind/namespace/name, pod templates with
their labels, label selectors, and the lenient field access that keeps bad input from raising.

References in Kubernetes are namespace-local (a Service selects pods of its own namespace, a Rollout's
canaryService is looked up in the Rollout's namespace), so lookups are always by (kind, namespace,
name). An object without metadata.namespace is placed in the source's main namespace, which is where
kustomize's `namespace:` or Argo CD's destination namespace would put it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from ..model import Document, Source

# Kinds that have no namespace; everything else (including unknown custom kinds) is namespaced. The kube-apiserver
# of kubernetes-version with the locked CRDs installed decides: tests/test_server.py compares this set with the kinds
# it serves without a namespace (ClusterExternalSecret, ClusterIssuer and VolumeSnapshotClass are kinds of CRDs not
# locked here).
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "StorageClass", "PriorityClass", "RuntimeClass",
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService", "IngressClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass",
    "VolumeSnapshotClass", "CertificateSigningRequest", "ComponentStatus", "FlowSchema", "PriorityLevelConfiguration",
    "IPAddress", "ServiceCIDR", "DeviceClass", "ResourceSlice", "TokenReview", "SubjectAccessReview",
    "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview",
    "ClusterAnalysisTemplate", "ClusterSecretStore", "ClusterExternalSecret", "ClusterIssuer",
})

# Workloads whose replica count is set by spec.replicas (and so can be owned by an HPA).
SCALABLE_KINDS = frozenset({"Rollout", "Deployment", "StatefulSet", "ReplicaSet"})

ENVIRONMENT_LABEL = "environment"
STRICTEST_ENVIRONMENT = "production"


def as_dict(value: Any) -> dict:
    """The value when it is a mapping, else {}: malformed fields are the schema stage's finding, not a crash here."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict]:
    """The mapping items of a list field (other items are schema errors reported elsewhere)."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def environment(doc: Document) -> str:
    """The environment an object is judged for: its own label, or the strictest when it has none."""
    return str(doc.labels.get(ENVIRONMENT_LABEL) or STRICTEST_ENVIRONMENT)


class Selector:
    """A Kubernetes label selector: matchLabels plus matchExpressions (In, NotIn, Exists, DoesNotExist)."""

    def __init__(self, match_labels: dict | None = None, expressions: list | None = None):
        self.match_labels = {str(k): str(v) for k, v in as_dict(match_labels).items()}
        self.expressions = dicts(expressions)

    @classmethod
    def of(cls, selector: Any) -> "Selector":
        """From a LabelSelector object (Deployment, PDB, NetworkPolicy, ServiceMonitor)."""
        s = as_dict(selector)
        return cls(s.get("matchLabels"), s.get("matchExpressions"))

    @classmethod
    def of_map(cls, selector: Any) -> "Selector":
        """From a plain label map (Service spec.selector)."""
        return cls(as_dict(selector))

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.expressions

    def matches(self, labels: dict) -> bool:
        labels = {str(k): str(v) for k, v in as_dict(labels).items()}
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        return all(self._expression(e, labels) for e in self.expressions)

    @staticmethod
    def _expression(expr: dict, labels: dict[str, str]) -> bool:
        key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
        values = {str(v) for v in as_list(expr.get("values"))}
        if op == "In":
            return key in labels and labels[key] in values
        if op == "NotIn":
            return key not in labels or labels[key] not in values
        if op == "Exists":
            return key in labels
        if op == "DoesNotExist":
            return key not in labels
        return False  # an unknown operator matches nothing, as the API server would reject it

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for e in self.expressions:
            values = ",".join(str(v) for v in as_list(e.get("values")))
            parts.append(f"{e.get('key')} {e.get('operator')}" + (f" ({values})" if values else ""))
        return ", ".join(parts) or "(everything)"


@dataclass
class PodTemplate:
    """The pods a workload creates: its template's labels and pod spec, attributed to the workload."""

    owner: Document
    namespace: str
    labels: dict
    spec: dict

    def containers(self, *, init: bool = False) -> list[dict]:
        found = dicts(self.spec.get("containers"))
        if init:
            found += dicts(self.spec.get("initContainers")) + dicts(self.spec.get("ephemeralContainers"))
        return found

    def ports(self) -> list[dict]:
        """Every declared container port (containers only: init containers serve no traffic)."""
        return [p for c in self.containers() for p in dicts(c.get("ports"))]


def has_port(ports: list[dict], port: Any) -> bool:
    """A named port matches a port's name; a number matches containerPort (or port for Services)."""
    if isinstance(port, str) and not port.isdigit():
        return any(p.get("name") == port for p in ports)
    return any(str(p.get("containerPort", p.get("port"))) == str(port) for p in ports)


_SUFFIXES = (".svc.cluster.local", ".svc")


def service_host(host: Any, namespace: str) -> str:
    """The Service name an Istio host names when it is a Service of `namespace` (name, name.ns, FQDN)."""
    host = str(host or "")
    for suffix in _SUFFIXES:
        if host.endswith(suffix):
            host = host[: -len(suffix)]
            break
    name, _, ns = host.partition(".")
    return name if not ns or ns == namespace else host


class Index:
    """One source's objects, looked up namespace-locally."""

    def __init__(self, source: Source):
        self.source = source
        namespaces = Counter(d.namespace for d in source.documents if d.namespace and d.kind not in CLUSTER_SCOPED)
        self.namespace = namespaces.most_common(1)[0][0] if namespaces else ""
        self.objects: dict[tuple[str, str, str], Document] = {}
        for doc in source.documents:
            self.objects.setdefault((doc.kind, self.ns(doc), doc.name), doc)
        self.templates = [t for doc in source.documents for t in self._templates(doc)]

    def ns(self, doc: Document) -> str:
        """The namespace an object lands in ("" for cluster-scoped kinds)."""
        if doc.kind in CLUSTER_SCOPED:
            return ""
        return doc.namespace or self.namespace

    def of_kind(self, *kinds: str) -> list[Document]:
        return [d for d in self.source.documents if d.kind in kinds]

    def get(self, kind: str, namespace: str, name: Any) -> Document | None:
        ns = "" if kind in CLUSTER_SCOPED else namespace
        return self.objects.get((kind, ns, str(name)))

    def absent(self, kind: str, namespace: str, name: Any) -> str:
        """'Service "x" is not in namespace "y" of this source' plus a hint when it lives in another namespace."""
        where = "in this source" if kind in CLUSTER_SCOPED else f'in namespace "{namespace}" of this source'
        text = f'{kind} "{name}" does not exist {where}'
        elsewhere = sorted(ns for (k, ns, n) in self.objects if k == kind and n == str(name) and ns != namespace)
        if elsewhere and kind not in CLUSTER_SCOPED:
            text += f' (it exists in namespace "{elsewhere[0]}", but references are namespace-local)'
        return text

    def selected(self, namespace: str, selector: Selector) -> list[PodTemplate]:
        """Pod templates of this source that a selector in `namespace` selects."""
        return [t for t in self.templates if t.namespace == namespace and selector.matches(t.labels)]

    def templates_of(self, doc: Document) -> list[PodTemplate]:
        return [t for t in self.templates if t.owner is doc]

    def workload_ref(self, rollout: Document) -> Document | None:
        """The Deployment (or other workload) a Rollout's spec.workloadRef points at, when in the source."""
        ref = as_dict(as_dict(rollout.obj.get("spec")).get("workloadRef"))
        if not ref:
            return None
        return self.get(str(ref.get("kind") or "Deployment"), self.ns(rollout), ref.get("name"))

    def _templates(self, doc: Document) -> Iterator[PodTemplate]:
        spec = as_dict(doc.obj.get("spec"))
        if doc.kind == "Pod":
            yield PodTemplate(doc, self.ns(doc), doc.labels, spec)
            return
        if doc.kind == "CronJob":
            spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
        elif doc.kind == "Rollout" and "template" not in spec and spec.get("workloadRef"):
            target = self.workload_ref(doc)  # objects are indexed before templates
            spec = as_dict(target.obj.get("spec")) if target else {}
        elif doc.kind not in SCALABLE_KINDS | {"DaemonSet", "Job"}:
            return
        template = spec.get("template")
        if isinstance(template, dict):
            meta = as_dict(template.get("metadata"))
            yield PodTemplate(doc, self.ns(doc), as_dict(meta.get("labels")), as_dict(template.get("spec")))


def human(total: float) -> str:
    """Seconds as 1h2m3s, the way the manifests write durations."""
    total = int(round(total))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"

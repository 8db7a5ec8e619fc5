"""The two values every stage shares: a rendered Document and a Violation found in it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warning")
# A URL's user:password@ (or a token as the user): what a finding quotes of a repoURL or a Prometheus address
# must not carry it (WH-SEC-004 finds such URLs; every finding that shows one prints it without).
URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@'\"]*(?::[^/\s@'\"]*)?@")


def without_url_credentials(text: str) -> str:
    return URL_CREDENTIALS.sub(r"\1***@", text) if "@" in text else text


@dataclass(eq=False)
class Document:
    """One Kubernetes object as rendered from a source (an overlay or a manifest file)."""

    obj: dict[str, Any]
    source: str  # overlay directory or file, as the user should read it (relative to the repo when inside it)
    line: int = 1  # 1-based line where the document starts in the source file / rendered stream

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "") or "")

    @property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def ref(self) -> str:
        """kind/namespace/name (kind/name for cluster-scoped objects), as messages show it."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: str
    kind: str
    namespace: str
    name: str
    source: str
    message: str
    waived: str = field(default="", compare=False)  # the waiver's reason when a waiver covers it

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", without_url_credentials(self.message))

    @classmethod
    def of(cls, rule: str, severity: str, doc: Document, message: str) -> "Violation":
        return cls(rule, severity, doc.kind, doc.namespace, doc.name, doc.source, message)

    @property
    def ref(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)

    def as_dict(self) -> dict[str, str]:
        d = {
            "rule": self.rule,
            "severity": self.severity,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "source": self.source,
            "message": self.message,
        }
        if self.waived:
            d["waived"] = self.waived
        return d


@dataclass
class Source:
    """What one PATH argument rendered to: an overlay (kustomize build) or a manifest file."""

    name: str
    kind: str  # "overlay" or "file"
    documents: list[Document] = field(default_factory=list)
    seconds: float = 0.0
    path: Path | None = None  # the overlay directory or file on disk
    cached: bool = False  # documents and findings came from the result cache (nothing changed since they were made)

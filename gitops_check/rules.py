"""The registry of rules implemented in Python (Rego rules describe themselves in METADATA blocks).

Each Python check declares its rules at import time with `rule(...)`; `docs/policies.md` is generated
from this registry plus the Rego METADATA, and a test fails when the two drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import SEVERITIES, Document, Violation


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    stage: str  # the pipeline stage that reports it: lint, render, schemas, policies, references
    title: str  # what it checks, one line
    why: str  # why it matters, one line

    def violation(self, doc: Document, message: str) -> Violation:
        return Violation.of(self.id, self.severity, doc, message)

    def at(self, source: str, message: str, kind: str = "", namespace: str = "", name: str = "") -> Violation:
        """A violation that is not about one document (a file, an overlay, a waiver)."""
        return Violation(self.id, self.severity, kind, namespace, name, source, message)


REGISTRY: dict[str, Rule] = {}


def rule(id: str, severity: str, stage: str, title: str, why: str) -> Rule:
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: severity must be one of {SEVERITIES}")
    if id in REGISTRY:
        raise ValueError(f"rule {id} is declared twice")
    REGISTRY[id] = r = Rule(id, severity, stage, title, why)
    return r

"""Objects a source renders more than once. Each copy passes every other check on its own (and the API
server's dry run judges each apart), so only here, looking at the whole source, is the duplicate seen."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from ..model import Document, Violation
from ..rules import rule
from .index import Index
from .inputs import Inputs

DUPLICATE = rule(
    "WH-REF-040", "error", "references",
    "One source renders each apiVersion group/kind/namespace/name at most once",
    "Argo CD applies only one of the copies (which one is unspecified): the other's settings are lost.",
)


def duplicates(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """The second copy of every group/kind/namespace/name the source renders twice or more (namespace as
    written: the objects Argo CD would apply)."""
    seen: dict[tuple[str, str, str, str], list[Document]] = defaultdict(list)
    for doc in idx.source.documents:
        seen[(doc.group, doc.kind, doc.namespace, doc.name)].append(doc)
    for copies in seen.values():
        if len(copies) > 1:
            yield DUPLICATE.violation(
                copies[1],
                f"rendered {len(copies)} times by this source (documents starting at lines "
                f"{', '.join(str(d.line) for d in copies)}); keep one, or give each its own name",
            )


CHECKS = (duplicates,)

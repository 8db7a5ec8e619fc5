"""Waivers: an explicit, reviewed exception for one rule on one object in one source, with a reason.

`waivers.yaml` (pyproject: waivers-file) holds a list under `waivers:`; each entry names the rule,
the object (kind, name, optional namespace), the source it applies to (the overlay folder or manifest
file, exactly as reports print a finding's source), a reason, who approved it and an optional expiry
date. The source is required: every overlay renders objects of the same names, so a waiver without one
would hide that rule's findings on that object in every overlay, production included, now and later.
A waived violation is still reported (marked waived) but does not fail the run; a waiver that matches
nothing (counted only when its source was validated in the run), or has expired, is reported too.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from . import loader
from .errors import InputError
from .model import Violation
from .rules import rule

UNUSED = rule(
    "WH-WAIVER-001", "warning", "waivers", "Every waiver matches a violation",
    "A waiver that no longer matches anything hides the next real problem on that object; delete it.",
)
EXPIRED = rule(
    "WH-WAIVER-002", "error", "waivers", "Waivers are not past their expiry date",
    "An expired waiver was meant to be temporary: fix the object or renew the waiver with a new review.",
)

REQUIRED = ("rule", "kind", "name", "source", "reason", "approved-by")
ALLOWED = set(REQUIRED) | {"namespace", "expires"}


@dataclass(frozen=True)
class Waiver:
    rule: str
    kind: str
    name: str
    source: str
    reason: str
    approved_by: str
    namespace: str = ""
    expires: dt.date | None = None
    line: int = 0

    def covers(self, v: Violation) -> bool:
        return (
            v.rule == self.rule
            and v.kind == self.kind
            and v.name == self.name
            and (not self.namespace or v.namespace == self.namespace)
            and v.source == self.source
        )

    @property
    def ref(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


def load(path: Path, shown: str) -> list[Waiver]:
    """Read the waivers file; a missing file means no waivers, a malformed one is an InputError."""
    if not os.path.lexists(path):
        return []
    text = loader.read_text(path, shown)  # a pull request's file: regular files only, never blocking, size-capped
    if not text.strip():
        return []
    try:  # compose for the entries' line numbers, load (strict: duplicate keys refused) for the values
        node = yaml.compose(text, Loader=loader._StrictLoader)
        data = yaml.load(text, Loader=loader._StrictLoader)
    except yaml.YAMLError as exc:
        raise InputError(loader._where(shown, exc)) from None
    entries = (data or {}).get("waivers") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError(f"{shown}: `waivers` must be a list")
    lines = _entry_lines(node)
    return [_waiver(e, shown, lines[i] if i < len(lines) else 0) for i, e in enumerate(entries)]


def _entry_lines(node) -> list[int]:
    for key, value in getattr(node, "value", []):
        if getattr(key, "value", None) == "waivers" and hasattr(value, "value"):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _waiver(entry: object, shown: str, line: int) -> Waiver:
    where = f"{shown}:{line}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: a waiver must be a mapping with {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED if not str(entry.get(k) or "").strip()]
    if missing:
        raise InputError(f"{where}: waiver is missing {', '.join(missing)} (every waiver needs the source it applies to, a reason and an approver)")
    unknown = sorted(set(entry) - ALLOWED)
    if unknown:
        raise InputError(f"{where}: unknown waiver field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED))}")
    expires = entry.get("expires")
    if expires is not None and not isinstance(expires, dt.date):
        try:
            expires = dt.date.fromisoformat(str(expires))
        except ValueError:
            raise InputError(f"{where}: expires must be a date (YYYY-MM-DD), got {expires!r}") from None
    return Waiver(
        rule=str(entry["rule"]), kind=str(entry["kind"]), name=str(entry["name"]), source=str(entry["source"]),
        reason=str(entry["reason"]).strip(), approved_by=str(entry["approved-by"]),
        namespace=str(entry.get("namespace") or ""), expires=expires, line=line,
    )


def apply(
    violations: list[Violation], waivers: list[Waiver], shown: str, validated_sources: set[str], today: dt.date | None = None
) -> list[Violation]:
    """Mark covered violations as waived and add findings about unused or expired waivers.

    A waiver counts as unused only when its source was validated in this run, so validating a single
    file does not flag every other overlay's waivers.
    """
    today = today or dt.date.today()
    used: set[Waiver] = set()
    out: list[Violation] = []
    for v in violations:
        w = next((w for w in waivers if w.covers(v) and not (w.expires and w.expires < today)), None)
        if w:
            used.add(w)
            v = replace(v, waived=f"{w.reason} (approved by {w.approved_by})")
        out.append(v)
    for w in waivers:
        where = f"{shown}:{w.line}"
        if w.expires and w.expires < today:
            out.append(EXPIRED.at(where, f"waiver of {w.rule} for {w.ref} expired on {w.expires}: fix the object or renew the waiver", w.kind, w.namespace, w.name))
        elif w not in used and w.source in validated_sources:
            out.append(UNUSED.at(where, f"waiver of {w.rule} for {w.ref} matches no violation: delete it", w.kind, w.namespace, w.name))
    return out

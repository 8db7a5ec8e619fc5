"""Run kubeconform over every document (one process, or one per batch when the fleet does not fit one
command line; gitops_check.runner bounds each) and turn its JSON output into findings.

kubeconform gets local schema locations only (no URL, no `-ignore-missing-schemas`, no download
cache), `-strict` (unknown fields and duplicate keys are errors) and `-verbose`, so that every
document comes back with a status: a document with no result is a ToolError, never a silent pass.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import runner
from ..errors import ToolError

if TYPE_CHECKING:
    from ..settings import Settings

VALID, INVALID, ERROR, SKIPPED, EMPTY = "statusValid", "statusInvalid", "statusError", "statusSkipped", "statusEmpty"
_MISSING = re.compile(r"^could not find schema for ")
_UNKNOWN = re.compile(r"^additional propert(?:y|ies) (.+) not allowed$")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_AT = re.compile(r" - at '([^']*)': (.*?)(?= - at '|$)")


@dataclass(frozen=True)
class Finding:
    path: str  # JSON pointer into the document ("" for the whole document)
    message: str


@dataclass
class Outcome:
    """kubeconform's verdict on one document file."""

    status: str
    message: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def missing_schema(self) -> bool:
        return self.status == ERROR and bool(_MISSING.match(self.message))


def command(binary: str, locations: list[str], kubernetes_version: str, files: list[Path],
            documents: int | None = None) -> list[str]:
    """The command line for FILES (DOCUMENTS, when given, sizes the worker pool: the files of the whole run)."""
    args = [binary, "-strict", "-verbose", "-output", "json", "-n", str(_workers(len(files) if documents is None else documents)),
            "-kubernetes-version", _full(kubernetes_version)]
    for location in locations:
        args += ["-schema-location", location]
    return args + [str(f) for f in files]


DOCUMENTS_PER_WORKER = 100


def _workers(documents: int) -> int:
    """One kubeconform worker per DOCUMENTS_PER_WORKER documents, at most one per core this process may use: each
    worker compiles every schema it meets again. Medians of 5 on 2 cores, CPU seconds with 1 and 2 workers: one
    overlay (23 documents) 0.19 and 0.23, ten (230) 0.31 and 0.35, forty (920) 0.77 and 0.69."""
    return max(1, min(16, runner.usable_cores(), documents // DOCUMENTS_PER_WORKER))


def _full(version: str) -> str:
    """kubeconform wants x.y.z; the setting names a minor ("1.34")."""
    parts = version.lstrip("v").split(".")
    return ".".join((parts + ["0", "0"])[:3])


def run(binary: str, locations: list[str], kubernetes_version: str, files: list[Path],
        settings: Settings | None = None) -> dict[str, Outcome]:
    """Outcome per file name; ToolError when kubeconform fails to run or leaves a file unreported."""
    if not files:
        return {}
    fixed = command(binary, locations, kubernetes_version, [], documents=len(files))
    outcomes: dict[str, Outcome] = {}
    for batch in runner.batches(fixed, [str(f) for f in files]):  # a fleet too big for one command line
        proc = runner.run(fixed + batch, tool="kubeconform", settings=settings)
        try:
            report = json.loads(proc.stdout)
            resources = report["resources"]
            outcomes.update({r["filename"]: _outcome(r) for r in resources})
        except (ValueError, KeyError, TypeError, AttributeError):
            detail = runner.one_line(proc.stderr or proc.stdout, default=f"exit code {proc.returncode}")
            raise ToolError(f"kubeconform produced no JSON report (exit {proc.returncode}): {detail}") from None
    unreported = [str(f) for f in files if str(f) not in outcomes]
    if unreported:
        raise ToolError(f"kubeconform reported nothing for {len(unreported)} document(s), e.g. {unreported[0]}")
    return outcomes


def _outcome(resource: dict) -> Outcome:
    """The leaf errors are in `msg` (` - at '/path': problem` each); `validationErrors` holds only
    the first level of causes ("/spec: validation failed" for an error deep inside a $ref)."""
    status, message = resource.get("status", ""), resource.get("msg", "")
    errors = _AT.findall(message) or [(e.get("path", ""), e.get("msg", "")) for e in resource.get("validationErrors") or []]
    findings = [f for path, problem in errors for f in split(path, problem)]
    if status == INVALID and not findings:
        findings = [Finding("", message)]
    return Outcome(status, message, findings)


def split(path: str, message: str) -> list[Finding]:
    """One finding per unknown field, so each reads `path: unknown field 'x'` on its own."""
    unknown = _UNKNOWN.match(message)
    if unknown:
        return [Finding(path, f"unknown field '{name}'") for name in _QUOTED.findall(unknown.group(1))]
    return [Finding(path, message)]

"""`gitops-check merge`: combine the JSON reports of several runs (the shards of `validate --shard K/N`) into
one Result, which the report module writes as text, JSON, JUnit or SARIF like any other run.

Each shard validates its own targets, so a violation located at a target belongs to one report. What is
located elsewhere (a line of a shared base file that lint reads for every overlay, a line of the waivers
file) can be reported by every shard: identical findings of that kind are kept once. A waiver names its source,
and only the run that validated that source can call it unused (WH-WAIVER-001): that is the one shard whose
findings it could waive, so its verdict stands as one run over every target would give it.

The JSON report names each source's objects only through its violations, so the merged sources carry the
objects with violations by name and the rest as unnamed objects (counted; a JUnit testcase named after the
source). Stage and total seconds are summed: the time spent across all runners.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError
from .model import SEVERITIES, Document, Source, Violation
from .pipeline import Result

_VIOLATION_FIELDS = ("rule", "severity", "kind", "namespace", "name", "source", "message")


class _Unnamed(Document):
    """An object the report counted but did not name (it has no violation): no ref of its own."""

    @property
    def ref(self) -> str | None:  # type: ignore[override]
        return None


# Bounds on what a report may claim, so that a crafted one cannot make the merge build millions of objects or
# write seconds JSON cannot hold (the sum of two 1e308 is Infinity): far above any real run.
MAX_SECONDS = 10 ** 7  # seconds, a report's or a stage's (115 days)
MAX_RESOURCES = 200_000  # objects across every merged report (a fleet of 200 overlays has about 4,600)


def _number(value: object) -> bool:
    """Seconds as a report writes them: a finite number from 0 to MAX_SECONDS (compared without converting a huge
    integer to a float, which overflows)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_SECONDS


def _read(path: Path) -> dict:
    """The parsed report, or InputError naming the file and what is wrong with it."""
    shown = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{shown}: not a gitops-check JSON report (not JSON)") from None
    if isinstance(data, dict) and set(data) == {"error"} and isinstance(data["error"], str):
        raise InputError(f"{shown}: the run did not validate: {data['error']}")

    def bad(what: str) -> InputError:
        return InputError(f"{shown}: not a gitops-check JSON report ({what})")

    if not isinstance(data, dict) or not isinstance(data.get("violations"), list) or not isinstance(data.get("summary"), dict):
        raise bad("expected an object with violations and summary")
    for v in data["violations"]:
        if not (isinstance(v, dict) and all(isinstance(v.get(k), str) for k in _VIOLATION_FIELDS)
                and isinstance(v.get("waived", ""), str)):
            raise bad("a violation without rule, severity, kind, namespace, name, source and message")
        if v["severity"] not in SEVERITIES:  # an unknown one would print as it is, and count as neither
            raise bad(f"a violation whose severity is not one of {', '.join(SEVERITIES)}")
    summary = data["summary"]
    sources = summary.get("sources")
    stages = summary.get("stages")
    if not isinstance(sources, list) or not isinstance(stages, dict) or not _number(summary.get("seconds")):
        raise bad(f"summary without sources, stages and seconds (0 to {MAX_SECONDS:,})")
    for s in sources:
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("kind"), str)
                and type(s.get("resources")) is int and 0 <= s["resources"] <= MAX_RESOURCES
                and _number(s.get("render_seconds"))):
            raise bad(f"a source without name, kind, resources (0 to {MAX_RESOURCES:,}) and render_seconds "
                      f"(0 to {MAX_SECONDS:,})")
    if not all(isinstance(k, str) and _number(sec) for k, sec in stages.items()):
        raise bad("a stage without seconds")
    return data


def _source(entry: dict, violations: list[Violation]) -> Source:
    name, count = entry["name"], entry["resources"]
    docs: list[Document] = []
    for v in dict.fromkeys((v.kind, v.namespace, v.name) for v in violations if v.source == name and v.ref):
        if len(docs) < count:
            kind, namespace, obj_name = v
            docs.append(Document({"kind": kind, "metadata": {"name": obj_name, "namespace": namespace}}, name))
    docs += [_Unnamed({}, name) for _ in range(count - len(docs))]
    return Source(name, entry["kind"], docs, float(entry["render_seconds"]), cached=entry.get("cached") is True)


def merge(paths: list[Path]) -> Result:
    """One Result of every report; InputError (exit 2) for a file that is not a report, or reports that
    validated the same source twice."""
    reports = [(path, _read(path)) for path in paths]
    owner: dict[str, Path] = {}
    for path, data in reports:
        for s in data["summary"]["sources"]:
            if s["name"] in owner:
                raise InputError(f"{path}: source {s['name']} is also in {owner[s['name']]}: the reports overlap")
            owner[s["name"]] = path
    if sum(s["resources"] for _, data in reports for s in data["summary"]["sources"]) > MAX_RESOURCES:
        raise InputError(f"{paths[-1]}: the reports claim more than {MAX_RESOURCES:,} objects in all: refused")

    violations: list[Violation] = []
    seen: set[tuple[Violation, str]] = set()
    for _, data in reports:
        for d in data["violations"]:
            v = Violation(*(d[k] for k in _VIOLATION_FIELDS), waived=d.get("waived", ""))
            if v.source not in owner:  # located elsewhere: every shard may report it
                key = (v, v.waived)
                if key in seen:
                    continue
                seen.add(key)
            violations.append(v)

    sources = sorted((_source(s, violations) for _, data in reports for s in data["summary"]["sources"]), key=lambda s: s.name)
    stage_seconds: dict[str, float] = {}
    for _, data in reports:
        for name, sec in data["summary"]["stages"].items():
            stage_seconds[name] = stage_seconds.get(name, 0.0) + sec
    return Result(
        sources=sources,
        violations=violations,
        stage_seconds=stage_seconds,
        render_seconds=sum(s.seconds for s in sources),
        total_seconds=sum(data["summary"]["seconds"] for _, data in reports),
    )

"""Reports of a pipeline Result: text for people, JSON for scripts, JUnit for CI, SARIF for code scanning."""

from __future__ import annotations

import json
from collections import Counter
from xml.etree import ElementTree as ET

from . import __version__
from .model import Violation
from .pipeline import Result

FORMATS = ("text", "json", "junit", "sarif")


def summary(result: Result) -> dict:
    per_source = Counter(v.source for v in result.errors + result.warnings)
    return {
        "result": "fail" if result.exit_code else "pass",
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "waived": len(result.waived),
        "resources": sum(len(s.documents) for s in result.sources),
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "resources": len(s.documents),
                "violations": per_source.get(s.name, 0),
                "render_seconds": round(s.seconds, 3),
            }
            for s in result.sources
        ],
        "stages": {name: round(sec, 3) for name, sec in result.stage_seconds.items()},
        "seconds": round(result.total_seconds, 3),
    }


def line(v: Violation) -> str:
    obj = f" {v.ref}" if v.ref else ""
    waived = f" [waived: {v.waived}]" if v.waived else ""
    return f"{v.severity.upper():7} {v.rule} {v.source}{obj}: {v.message}{waived}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def text(result: Result) -> str:
    s = summary(result)
    ordered = sorted(result.violations, key=lambda v: (bool(v.waived), v.severity != "error", v.source, v.rule, v.ref))
    out = [line(v) for v in ordered]
    if out:
        out.append("")
    stages = ", ".join(result.stage_seconds)
    rows = [["source", "resources", "stages", "errors", "warnings", "render s"]]
    for src in result.sources:
        errs = sum(1 for v in result.errors if v.source == src.name)
        warns = sum(1 for v in result.warnings if v.source == src.name)
        rows.append([src.name, str(len(src.documents)), str(len(result.stage_seconds)), str(errs), str(warns), f"{src.seconds:.2f}"])
    out += _table(rows)
    out.append("")
    out.append(f"stages: {stages} ({', '.join(f'{k} {v:.2f}s' for k, v in result.stage_seconds.items())})")
    verdict = "FAIL" if result.exit_code else "PASS"
    out.append(
        f"{verdict}: {s['errors']} error(s), {s['warnings']} warning(s), {s['waived']} waived, "
        f"{s['resources']} resources in {len(result.sources)} source(s), {result.total_seconds:.2f}s"
    )
    return "\n".join(out) + "\n"


def as_json(result: Result) -> str:
    payload = {"violations": [v.as_dict() for v in result.violations], "summary": summary(result)}
    return json.dumps(payload, indent=2) + "\n"


def junit(result: Result) -> str:
    """One testsuite per source, one testcase per rendered object; a violation is a failure of it."""
    suites = ET.Element("testsuites", name="gitops-check", tests="0", failures="0", time=f"{result.total_seconds:.3f}")
    total = failures = 0
    for src in result.sources:
        found: dict[str, list[Violation]] = {}
        for v in result.errors + result.warnings:
            if v.source == src.name:
                found.setdefault(v.ref, []).append(v)
        names = [d.ref for d in src.documents] + [ref for ref in found if ref not in {d.ref for d in src.documents}]
        suite = ET.SubElement(suites, "testsuite", name=src.name, tests=str(len(names)), time=f"{src.seconds:.3f}")
        bad = 0
        for ref in names:
            case = ET.SubElement(suite, "testcase", classname=src.name, name=ref or src.name)
            for v in found.get(ref, []):
                bad += v.severity == "error"
                tag = "failure" if v.severity == "error" else "system-out"
                el = ET.SubElement(case, tag, message=f"{v.rule}: {v.message}") if tag == "failure" else ET.SubElement(case, tag)
                el.text = line(v)
        suite.set("failures", str(bad))
        total += len(names)
        failures += bad
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def sarif(result: Result, rule_rows: list[dict]) -> str:
    """SARIF 2.1.0: every known rule in the driver, one result per violation located at its source."""
    levels = {"error": "error", "warning": "warning"}
    rules = [
        {
            "id": r["id"],
            "name": r["id"],
            "shortDescription": {"text": r["title"]},
            "fullDescription": {"text": r["why"]},
            "defaultConfiguration": {"level": levels[r["severity"]]},
            "helpUri": f"docs/policies.md#{r['id'].lower()}",
        }
        for r in rule_rows
    ]
    results = []
    for v in result.violations:
        uri, _, line_no = v.source.partition(":")
        location = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
        if line_no.isdigit():
            location["physicalLocation"]["region"] = {"startLine": int(line_no)}
        entry = {
            "ruleId": v.rule,
            "level": levels[v.severity],
            "message": {"text": f"{v.ref + ': ' if v.ref else ''}{v.message}"},
            "locations": [location],
        }
        if v.ref:
            entry["properties"] = {"kind": v.kind, "namespace": v.namespace, "name": v.name}
        if v.waived:
            entry["suppressions"] = [{"kind": "external", "justification": v.waived}]
        results.append(entry)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "gitops-check", "version": __version__, "rules": rules}}, "results": results}],
    }
    return json.dumps(doc, indent=2) + "\n"

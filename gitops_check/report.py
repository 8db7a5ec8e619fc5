"""Reports of a pipeline Result: text for people, JSON for scripts, JUnit for CI, SARIF for code scanning.

Whoever opens a pull request controls file names, object names, annotation values and waiver reasons, so
every value that came from input is encoded for the format it is written in, and no report can be forged:

- text: control characters (C0, DEL, C1, line and paragraph separators, bidirectional and zero-width
  formatting characters, lone surrogates) are shown escaped (`\\x1b`, `\\n`, `\\u202e`), so a value is
  always one visible run of characters on its line. Every line starts with text of ours (a severity, a
  number of the table, `stages:`, the verdict), never with a value from input: no input can erase a
  line, start a line that looks like the verdict, or start a GitHub Actions workflow command (`::error`,
  `::add-mask`, `::stop-commands`...; the runner trims leading spaces first). The legacy form `##[command]`,
  which the runner honours anywhere in a line, is broken up as `##\\x5b`;
- JUnit: the same escaping (XML 1.0 cannot carry most C0 characters, not even as references), then
  ElementTree's XML escaping of text and attributes;
- SARIF: messages escaped as in text; artifact locations are percent-encoded URI references relative to
  `%SRCROOT%` (the repository root) or percent-encoded `file://` URIs outside it; every rule's helpUri is
  absolute (the `docs-url` setting, else the `file://` URI of this repository's docs/policies.md);
- JSON (and SARIF, which is JSON): `json.dumps` escapes every control character and non-ASCII character,
  so a value never leaves its string, and `##[` is written `##\\u005b` (the same string once parsed).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote_from_bytes
from xml.etree import ElementTree as ET

from . import __version__
from .model import Violation

if TYPE_CHECKING:
    from .pipeline import Result

FORMATS = ("text", "json", "junit", "sarif")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"

# Characters that move the cursor, end a line, change how a terminal or viewer draws what follows, or
# cannot be encoded at all: C0 (tab and newline included), DEL, C1 (ESC's 8-bit twin CSI is \x9b), the
# Arabic letter mark, zero-width and bidirectional formatting marks, line/paragraph separators, bidi
# embeddings and isolates, the BOM, interlinear annotations, noncharacters, lone surrogates (a file name
# that is not UTF-8).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LEGACY_COMMAND = "##["  # GitHub Actions' legacy workflow command prefix, recognised anywhere in a line


def _visible(match: re.Match) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape(value: object) -> str:
    """`value` as one line of visible characters, safe to print anywhere (see the module docstring)."""
    text = _UNSAFE.sub(_visible, str(value))
    return text.replace(_LEGACY_COMMAND, "##\\x5b") if _LEGACY_COMMAND in text else text


def _dumps(payload: object) -> str:
    """JSON, ASCII only; `##[` can only occur inside a string, where `##\\u005b` is the same text."""
    return json.dumps(payload, indent=2, allow_nan=False).replace(_LEGACY_COMMAND, "##\\u005b") + "\n"


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
                "cached": s.cached,
            }
            for s in result.sources
        ],
        "stages": {name: round(sec, 3) for name, sec in result.stage_seconds.items()},
        "seconds": round(result.total_seconds, 3),
    }


def line(v: Violation) -> str:
    """One violation on one line, starting with its severity: every field is escaped."""
    obj = f" {escape(v.ref)}" if v.ref else ""
    waived = f" [waived: {escape(v.waived)}]" if v.waived else ""
    severity = v.severity.upper() if v.severity in ("error", "warning") else escape(v.severity).upper()
    return f"{severity:7} {escape(v.rule)} {escape(v.source)}{obj}: {escape(v.message)}{waived}"


def _table(rows: list[list[str]]) -> list[str]:
    """Numbers right-aligned first, the (escaped) source name last: a row starts with a number."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        last = len(row) - 1
        out.append("  ".join(cell.ljust(w) if i == last else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def text(result: Result) -> str:
    s = summary(result)
    ordered = sorted(result.violations, key=lambda v: (bool(v.waived), v.severity != "error", v.source, v.rule, v.ref))
    out = [line(v) for v in ordered]
    if out:
        out.append("")
    judged = len(result.stages or result.stage_seconds)
    rows = [["resources", "stages", "errors", "warnings", "render s", "source"]]
    for src in result.sources:
        errs = sum(1 for v in result.errors if v.source == src.name)
        warns = sum(1 for v in result.warnings if v.source == src.name)
        render_s = "cached" if src.cached else f"{src.seconds:.2f}"
        rows.append([str(len(src.documents)), str(judged), str(errs), str(warns), render_s, escape(src.name)])
    out += _table(rows)
    out.append("")
    cached = sum(1 for src in result.sources if src.cached)
    if result.stage_seconds:
        ran = ", ".join(f"{k} {v:.2f}s" for k, v in result.stage_seconds.items())
        out.append(f"stages: {', '.join(result.stage_seconds)} ({ran})"
                   + (f"; {cached} unchanged target(s) from the cache" if cached else ""))
    else:
        out.append(f"stages: none ran: every target is unchanged since the cached run ({cached} from the cache; --no-cache checks afresh)")
    verdict = "FAIL" if result.exit_code else "PASS"
    out.append(
        f"{verdict}: {s['errors']} error(s), {s['warnings']} warning(s), {s['waived']} waived, "
        f"{s['resources']} resources in {len(result.sources)} source(s), {result.total_seconds:.2f}s"
    )
    return "\n".join(out) + "\n"


def as_json(result: Result) -> str:
    payload = {"violations": [v.as_dict() for v in result.violations], "summary": summary(result)}
    return _dumps(payload)


def junit(result: Result) -> str:
    """One testsuite per source, one testcase per rendered object; a violation is a failure of it.
    Violations located elsewhere (a line of a source file, the waivers file) get a testsuite of their own."""
    suites = ET.Element("testsuites", name="gitops-check", tests="0", failures="0", time=f"{result.total_seconds:.3f}")
    total = failures = 0
    known = {src.name for src in result.sources}
    elsewhere = dict.fromkeys(v.source for v in result.errors + result.warnings if v.source not in known)
    for name, documents, seconds in [(s.name, s.documents, s.seconds) for s in result.sources] + [(n, [], 0.0) for n in elsewhere]:
        found: dict[str, list[Violation]] = {}
        for v in result.errors + result.warnings:
            if v.source == name:
                found.setdefault(v.ref, []).append(v)
        names = [d.ref for d in documents] + [ref for ref in found if ref not in {d.ref for d in documents}]
        suite = ET.SubElement(suites, "testsuite", name=escape(name), tests=str(len(names)), time=f"{seconds:.3f}")
        bad = 0
        for ref in names:
            case = ET.SubElement(suite, "testcase", classname=escape(name), name=escape(ref or name))
            for v in found.get(ref, []):
                bad += v.severity == "error"
                if v.severity == "error":
                    el = ET.SubElement(case, "failure", message=f"{escape(v.rule)}: {escape(v.message)}")
                else:
                    el = ET.SubElement(case, "system-out")
                el.text = line(v)
        suite.set("failures", str(bad))
        total += len(names)
        failures += bad
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def help_uri(rule_id: str, docs_url: str | None, repo_root: Path | None) -> str | None:
    """Where a rule is documented, as an absolute URI: `docs-url` (docs/policies.md of the repository as
    published) plus the rule's anchor, else the file URI of this checkout's docs/policies.md."""
    anchor = quote_from_bytes(rule_id.lower().encode(), safe="-_.")
    if docs_url:
        return f"{docs_url.split('#', 1)[0]}#{anchor}"
    if repo_root is not None:
        return f"{(Path(repo_root).absolute() / 'docs' / 'policies.md').as_uri()}#{anchor}"
    return None


def _bytes(text: str) -> bytes:
    """A path's bytes: the original bytes of an undecodable file name, else UTF-8."""
    try:
        return os.fsencode(text)
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace")


def artifact_location(source: str, repo_root: Path | None) -> tuple[dict, int | None]:
    """(SARIF artifactLocation, line or None) of a violation's source (`path` or `path:line`)."""
    path, sep, number = source.rpartition(":")
    if not (sep and path and number.isdigit() and int(number) > 0):
        path, number = source, ""
    p = Path(path)
    if not p.is_absolute() and repo_root is not None and ".." not in p.parts:
        uri = {"uri": quote_from_bytes(_bytes(p.as_posix()), safe="/"), "uriBaseId": SRCROOT}
    else:
        uri = {"uri": "file://" + quote_from_bytes(_bytes(os.path.abspath(p)), safe="/")}
    return uri, (int(number) if number else None)


def sarif(result: Result, rule_rows: list[dict], docs_url: str | None = None, repo_root: Path | None = None) -> str:
    """SARIF 2.1.0: every known rule in the driver, one result per violation located at its source."""
    levels = {"error": "error", "warning": "warning"}
    rules = []
    for r in rule_rows:
        rule = {
            "id": r["id"],
            "name": r["id"],
            "shortDescription": {"text": escape(r["title"])},
            "fullDescription": {"text": escape(r["why"])},
            "defaultConfiguration": {"level": levels[r["severity"]]},
        }
        uri = help_uri(r["id"], docs_url, repo_root)
        if uri:
            rule["helpUri"] = uri
        rules.append(rule)
    results = []
    for v in result.violations:
        where, line_no = artifact_location(v.source, repo_root)
        location = {"physicalLocation": {"artifactLocation": where}}
        if line_no:
            location["physicalLocation"]["region"] = {"startLine": line_no}
        entry = {
            "ruleId": v.rule,
            "level": levels.get(v.severity, "error"),
            "message": {"text": escape(f"{v.ref + ': ' if v.ref else ''}{v.message}")},
            "locations": [location],
        }
        if v.ref:
            entry["properties"] = {"kind": v.kind, "namespace": v.namespace, "name": v.name}
        if v.waived:
            entry["suppressions"] = [{"kind": "external", "justification": escape(v.waived)}]
        results.append(entry)
    run: dict = {"tool": {"driver": {"name": "gitops-check", "version": __version__, "rules": rules}}, "results": results}
    if repo_root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path(repo_root).absolute().as_uri() + "/"}}
    return _dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})

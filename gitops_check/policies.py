"""The policies stage: the Rego library in policies/ evaluated by conftest over every rendered document.

One conftest process checks the documents (each in its own file, Document.file) against every
`webhook.*` package; results map back to documents by filename. A fleet too big for one command line, or
for one process's memory (conftest holds about 75 KiB per document), is checked in batches. conftest
reports every file once per package: a document missing from the report of any `webhook.*` package is a
ToolError, never a pass (conftest printing `[]` and exiting 0 would otherwise pass everything). The SLO numbers reach the policies as
`data.slo`, converted from base/slo.yaml on every run, so the policies never hard-code a threshold.
Rule ids, titles and severities live next to each rule in an OPA METADATA block; rule_table() reads
them for docs/policies.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from . import runner, slo
from .context import Context
from .errors import InputError, ToolError
from .model import SEVERITIES, Document, Source, Violation
from .rules import rule as register

RULE_ID = re.compile(r"WH-[A-Z]+-\d{3}")
# Reported for a policy result that names no rule id: the finding is kept, and the broken policy shown.
UNNAMED_RULE = register(
    "WH-POLICY-001", "error", "policies", "Every policy result names its rule id",
    "A finding without a rule id cannot be documented, waived or traced to its policy; it is kept and shown, never dropped.",
).id
SEVERITY = {"failures": "error", "warnings": "warning"}  # conftest JSON key -> our severity
BATCH_DOCUMENTS = 5000  # documents per conftest process: about 500 MiB, far below tool-memory-mib
_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def write_slo(ctx: Context) -> Path:
    """ctx.workdir/slo.json: data.slo with the SLO file's numbers (whole numbers as integers)."""
    values = {k: int(v) if v.is_integer() else v for k, v in slo.load(ctx.settings.slo_file).items()}
    path = ctx.workdir / "slo.json"
    path.write_text(json.dumps({"slo": values}))
    return path


def _data_args(ctx: Context) -> list[str]:
    policies = ctx.settings.policies_dir
    return ["-p", str(policies), "--data", str(policies / "data"), "--data", str(write_slo(ctx))]


def _run(command: list[str], ctx: Context) -> runner.Completed:
    return runner.run(command, tool="conftest", settings=ctx.settings)


def _one_line(text: str) -> str:
    """A multi-line parser message (PyYAML's) joined into one line."""
    return " ".join(text.split()) or "no output"


def judged_packages(policies_dir: Path) -> set[str]:
    """The packages whose results are findings: every `webhook.*` package of the policies, tests aside.
    conftest must report each of them for every document it was given."""
    found = set()
    for path in Path(policies_dir).rglob("*.rego"):
        try:
            found.update(_PACKAGE.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the policy ({exc.strerror})") from None
    return {p for p in found if p.startswith("webhook.") and not p.endswith("_test")}


def _files(docs: list[Document], ctx: Context) -> dict[str, Document]:
    """Filename -> Document; documents the pipeline did not write yet get their own file here."""
    by_file: dict[str, Document] = {}
    for n, doc in enumerate(docs):
        if doc.file is None:
            folder = ctx.workdir / "policies-docs"
            folder.mkdir(exist_ok=True)
            doc.file = folder / f"{n:05d}.json"
            doc.file.write_text(json.dumps(doc.obj))
        by_file[str(doc.file)] = doc
    return by_file


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    """Every deny (error) and warn (warning) result of every webhook.* package, for every document."""
    docs = [d for s in sources for d in s.documents]
    if not docs:
        return []
    by_file = _files(docs, ctx)
    command = [ctx.tool("conftest"), "test", "--no-color", "--all-namespaces", "-o", "json", *_data_args(ctx)]
    packages = judged_packages(ctx.settings.policies_dir)
    violations = []
    for batch in runner.batches(command, list(by_file), BATCH_DOCUMENTS):
        violations += _test(command + batch, {f: by_file[f] for f in batch}, packages, ctx)
    return violations


def _test(command: list[str], by_file: dict[str, Document], packages: set[str], ctx: Context) -> list[Violation]:
    """One conftest run over the documents of BY_FILE; every one must come back from every judged package."""
    proc = _run(command, ctx)
    try:
        results = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
    except json.JSONDecodeError:
        results = None
    if not isinstance(results, list) or not all(isinstance(e, dict) for e in results):
        if proc.returncode in (0, 1):
            detail = f"no JSON report: {runner.one_line(proc.stderr or proc.stdout)}"
        else:
            detail = runner.one_line(proc.stderr or proc.stdout)
        raise ToolError(f"conftest test failed (exit {proc.returncode}): {detail}")
    violations = []
    reported: dict[str, set[str]] = {}  # package -> the files it reported
    for entry in results:
        filename = entry.get("filename")
        doc = by_file.get(filename) if isinstance(filename, str) else None
        if doc is None:
            raise ToolError(f"conftest reported an unknown file {runner.one_line(str(filename))!r}")
        namespace = str(entry.get("namespace", "?"))
        reported.setdefault(namespace, set()).add(filename)
        for key, severity in SEVERITY.items():
            for result in entry.get(key) or []:
                violations.append(_violation(result, severity, namespace, doc))
    for package in sorted(packages) or [None]:  # never fail open: every document judged by every package
        seen = reported.get(package, set()) if package else {f for files in reported.values() for f in files}
        missing = [f for f in by_file if f not in seen]
        if missing:
            where = f"package {package}" if package else "any package"
            raise ToolError(f"conftest exited {proc.returncode} without reporting {len(missing)} of {len(by_file)} "
                            f"document(s) for {where}, e.g. {by_file[missing[0]].ref} of {by_file[missing[0]].source}: "
                            "a harness or tool bug, nothing was judged")
    return violations


def _violation(result: dict, severity: str, namespace: str, doc: Document) -> Violation:
    rule = (result.get("metadata") or {}).get("rule")
    message = str(result.get("msg", "")).strip() or "(empty message)"
    if not isinstance(rule, str) or not RULE_ID.fullmatch(rule):
        query = (result.get("metadata") or {}).get("query", f"data.{namespace}")
        message = (
            f"policy {query} returned a result without a rule id ({message}); "
            'return {"rule": "WH-...", "msg": ...} and document the id in a METADATA block'
        )
        rule = UNNAMED_RULE
    return Violation.of(rule, severity, doc, message)


def verify(ctx: Context) -> None:
    """Run the Rego unit tests (`conftest verify`); ToolError with conftest's report when one fails."""
    proc = _run([ctx.tool("conftest"), "verify", "--no-color", *_data_args(ctx)], ctx)
    if proc.returncode != 0:
        report = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if line.strip())
        raise ToolError(f"conftest verify failed (exit {proc.returncode}):\n{report}")
    summary = re.search(r"^(\d+) tests?, (\d+) passed", proc.stdout, re.MULTILINE)
    if not summary or summary[1] != summary[2] or summary[1] == "0":  # exit 0 must come with its count
        raise ToolError(f"conftest verify exited 0 without a summary of passed tests: {runner.one_line(proc.stdout + proc.stderr)}")


# ---------------------------------------------------------------------------------------------------
# The rule table, from the METADATA blocks of the policies.

_RULE_HEAD = re.compile(r"^(deny|warn)\b")


def rule_table(policies_dir: Path) -> list[dict]:
    """One row per rule id: id, severity, title, description, package, file and rule (deny or warn).

    Reads every policies/**/*.rego except the *_test.rego files. InputError on a block that is not
    YAML, lacks an id or a valid severity, or repeats an id already documented.
    """
    rows: list[dict] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(policies_dir).rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        for row in _blocks(path, Path(policies_dir)):
            where = f"{row['file']}:{row.pop('line')}"
            if row["id"] in seen:
                raise InputError(f"{where}: rule id {row['id']} is already documented at {seen[row['id']]}")
            seen[row["id"]] = where
            rows.append(row)
    return rows


def _shown(path: Path, policies_dir: Path) -> str:
    """policies/pod.rego: the file as the repository shows it."""
    path, root = path.resolve(), policies_dir.resolve().parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _blocks(path: Path, policies_dir: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    package = next((ln.split()[1] for ln in lines if ln.startswith("package ")), "")
    rows = []
    for start, line in enumerate(lines):
        if line.strip() != "# METADATA":
            continue
        end = start + 1
        while end < len(lines) and lines[end].startswith("#"):
            end += 1
        follows = lines[end] if end < len(lines) else ""
        rows.append(_row(path, policies_dir, start + 1, lines[start + 1 : end], package, follows))
    return rows


def _row(path: Path, policies_dir: Path, line: int, comment: list[str], package: str, follows: str) -> dict:
    where = f"{_shown(path, policies_dir)}:{line}"
    try:
        meta = yaml.safe_load("\n".join(c[2:] if c.startswith("# ") else c[1:] for c in comment))
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: METADATA is not valid YAML: {_one_line(str(exc))}") from None
    meta = meta if isinstance(meta, dict) else {}
    custom = meta.get("custom") if isinstance(meta.get("custom"), dict) else {}
    rule_id, severity = custom.get("id"), custom.get("severity")
    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        raise InputError(f"{where}: METADATA has no custom.id of the form WH-AREA-NNN (got {rule_id!r})")
    if severity not in SEVERITIES:
        raise InputError(f"{where}: METADATA of {rule_id} has severity {severity!r}, expected one of {SEVERITIES}")
    head = _RULE_HEAD.match(follows)
    return {
        "id": rule_id,
        "severity": severity,
        "title": str(meta.get("title") or "").strip(),
        "description": str(meta.get("description") or "").strip(),
        "package": package,
        "file": _shown(path, policies_dir),
        "rule": head.group(1) if head else "",
        "line": line,
    }

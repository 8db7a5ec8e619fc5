"""The policies stage: the Rego library in policies/ evaluated over every rendered document.

One rego-eval process (tools/conftest/cmd/rego-eval: conftest's own policy loader and the rules and exceptions
`conftest test --all-namespaces` queries, each query prepared once) judges every document, sent as one JSON
line on stdin, by every package, and answers one JSON line per document. A fleet too big for one process is
judged in batches. Every document must come back, judged by every `webhook.*` package: one missing is a
ToolError, never a pass (a tool printing nothing and exiting 0 would otherwise pass everything). The SLO numbers
reach the policies as `data.slo`, converted from base/slo.yaml on every run, so the policies never hard-code a
threshold. `conftest verify` runs the policies' unit tests. Rule ids, titles and severities live next to each
rule in an OPA METADATA block; rule_table() reads them for docs/policies.md.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import yaml

from . import loader, runner, slo
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
SEVERITY = {"failures": "error", "warnings": "warning"}  # rego-eval's kind (conftest's JSON key) -> our severity
BATCH_DOCUMENTS = 5000  # documents per rego-eval process: a few MiB of input and output, a few seconds
_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def write_slo(ctx: Context, run: bool = False) -> Path:
    """ctx.workdir/slo.json: data.slo with the SLO file's numbers (whole numbers as integers). For a RUN (not the
    unit tests, which set it themselves) also data.harness.apiServer, whether a real kube-apiserver judges the
    objects (the server stage): a policy that stands in for the API server offline stays quiet when it does, so a
    fact is reported once."""
    values = {k: int(v) if v.is_integer() else v for k, v in slo.load(ctx.settings.slo_file).items()}
    data = {"slo": values, "harness": {"apiServer": not ctx.settings.offline}} if run else {"slo": values}
    path = ctx.workdir / "slo.json"
    path.write_text(json.dumps(data))
    return path


def _data_args(ctx: Context, run: bool = False) -> list[str]:
    policies = ctx.settings.policies_dir
    return ["-p", str(policies), "--data", str(policies / "data"), "--data", str(write_slo(ctx, run))]


def _run(command: list[str], ctx: Context) -> runner.Completed:
    return runner.run(command, tool="conftest", settings=ctx.settings)


def _one_line(text: str) -> str:
    """A multi-line parser message (PyYAML's) joined into one line."""
    return " ".join(text.split()) or "no output"


def policy_files(policies_dir: Path) -> list[Path]:
    """Every file under the policies folder (the Rego and the data rego-eval and conftest load), in order; each must
    be a regular file. A FIFO or a device there would keep rego-eval (conftest's loader) waiting until its timeout,
    and a read of it here forever; pathlib's walk recurses once per level. InputError naming the file otherwise."""
    root = Path(policies_dir)
    try:
        entries = sorted(root.rglob("*"))
        linked = next((p for p in entries if p.is_symlink() and p.is_dir()), None)
        if linked is not None:  # conftest's loader follows it; the walk here (and the result cache's key) would not
            raise InputError(f"{linked}: a symbolic link to a folder: the policies folder holds its policies itself")
        paths = [p for p in entries if not p.is_dir()]
    except RecursionError:
        raise InputError(f"{root}: folders nested more than {sys.getrecursionlimit()} levels deep: refused") from None
    except OSError as exc:
        raise InputError(f"{exc.filename or root}: cannot read: {exc.strerror or exc}") from None
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            what = "a broken symbolic link" if path.is_symlink() else (exc.strerror or str(exc))
            raise InputError(f"{path}: cannot read: {what}") from None
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file: the policies folder holds only policy and data files")
        if path.is_symlink() and not os.path.realpath(path).startswith(os.path.realpath(root) + os.sep):
            # /proc/<the harness's pid>/environ is a regular file too: rego-eval would show what it holds
            raise InputError(f"{path}: a symbolic link out of the policies folder: refused")
    return paths


def _policy_text(path: Path) -> str:
    return loader.read_bytes(path, str(path)).decode("utf-8", errors="replace")


def judged_packages(policies_dir: Path) -> set[str]:
    """The packages whose results are findings: every `webhook.*` package of the policies, tests aside.
    conftest must report each of them for every document it was given."""
    found = set()
    for path in policy_files(policies_dir):
        if path.suffix == ".rego":
            found.update(_PACKAGE.findall(_policy_text(path)))
    return {p for p in found if p.startswith("webhook.") and not p.endswith("_test")}


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    """Every deny (error) and warn (warning) result of every package, for every document."""
    docs = [d for s in sources for d in s.documents]
    if not docs:
        return []
    command = [ctx.tool("rego-eval"), *_data_args(ctx, run=True)]
    packages = judged_packages(ctx.settings.policies_dir)
    violations = []
    for start in range(0, len(docs), BATCH_DOCUMENTS):
        violations += _evaluate(command, docs[start:start + BATCH_DOCUMENTS], packages, ctx)
    return violations


def _evaluate(command: list[str], docs: list[Document], packages: set[str], ctx: Context) -> list[Violation]:
    """One rego-eval run over DOCS; every one must come back, judged by every judged package."""
    lines = "".join(json.dumps(doc.obj) + "\n" for doc in docs)
    proc = runner.run(command, tool="rego-eval", settings=ctx.settings, input=lines)
    if proc.returncode != 0:
        detail = runner.one_line(proc.stderr or proc.stdout).removeprefix("rego-eval: ")
        failed = re.match(r"document (\d+) ", detail)
        if failed and int(failed[1]) < len(docs):
            doc = docs[int(failed[1])]
            detail += f" ({doc.ref} of {doc.source})"
        raise ToolError(f"rego-eval failed (exit {proc.returncode}): {detail}")
    answers: dict[int, dict] = {}
    for line in filter(None, proc.stdout.split("\n")):  # not splitlines(): U+0085 (NEL) in a message ends no line
        try:
            answer = json.loads(line)
            index, results, namespaces = answer["index"], answer["results"], answer["namespaces"]
        except (ValueError, KeyError, TypeError):
            raise ToolError(f"rego-eval printed something that is not an answer: {runner.one_line(line)}") from None
        if (type(index) is not int or not 0 <= index < len(docs) or index in answers or not isinstance(results, list)
                or not isinstance(namespaces, list)):
            raise ToolError(f"rego-eval answered for document {runner.one_line(repr(index))} unexpectedly "
                            f"(unknown, twice, or without results and namespaces; {len(docs)} were sent)")
        answers[index] = answer
    for package in sorted(packages) or [None]:  # never fail open: every document judged by every package
        missing = [i for i in range(len(docs)) if i not in answers or (package and package not in answers[i]["namespaces"])]
        if missing:
            where = f"package {package}" if package else "any package"
            doc = docs[missing[0]]
            raise ToolError(f"rego-eval exited 0 without judging {len(missing)} of {len(docs)} document(s) by {where}, "
                            f"e.g. {doc.ref} of {doc.source}: a harness or tool bug, nothing was judged")
    violations = []
    for index, doc in enumerate(docs):
        for result in answers[index]["results"]:
            if not isinstance(result, dict) or result.get("kind") not in SEVERITY:
                raise ToolError(f"rego-eval returned a result that is not a failure or a warning: {runner.one_line(str(result))}")
            violations.append(_violation(result, SEVERITY[result["kind"]], str(result.get("namespace", "?")), doc))
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
    policy_files(ctx.settings.policies_dir)
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
    for path in policy_files(policies_dir):
        if path.suffix != ".rego" or path.name.endswith("_test.rego"):
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
    lines = _policy_text(path).splitlines()
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

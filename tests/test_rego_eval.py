"""rego-eval (tools/conftest/cmd/rego-eval), the engine of the policies stage: built from conftest at its pinned
version, it finds exactly what `conftest test --all-namespaces` finds, and the stage never passes a document
rego-eval did not give back judged by every package."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES
from gitops_check import loader, pipeline, policies, runner, settings, toolchain
from gitops_check.context import Context
from gitops_check.errors import ToolError
from gitops_check.model import Source

SERVICES = FIXTURES / "policies" / "clean" / "services.yaml"  # two documents

# A library using every form of result conftest knows: strings, objects with metadata (and _loc, which is not
# metadata), empty messages (a success), values that are neither (ignored), deny_/violation_/warn_ prefixes,
# exceptions, and a document that is a list (its items judged together).
EDGE_POLICIES = {
    "a.rego": """package edge.a

deny contains "plain" if input.kind == "A"

deny contains {"msg": "object", "rule": "WH-X-001", "n": 1.5, "_loc": {"file": "f", "line": 3}} if input.kind == "A"

deny contains "" if input.kind == "A"

deny contains 5 if input.kind == "A"

deny_named contains {"msg": "named", "rule": "WH-X-002", "tags": ["a", "b"]} if input.kind == "B"

violation_x contains "violation" if input.kind == "A"

warn contains "a warning" if input.kind

warn_excepted contains "excepted" if input.kind

exception contains rules if {
	input.kind == "B"
	rules := ["excepted"]
}
""",
    "b.rego": """package edge.b

deny contains sprintf("named %v", [input.metadata.name]) if input.metadata.name
""",
    "b_test.rego": """package edge.b_test

import data.edge.b

test_named if b.deny["named x"] with input as {"metadata": {"name": "x"}}
""",
}
EDGE_DOCUMENTS = [{"kind": "A", "metadata": {"name": "x"}}, {"kind": "B"}, [{"kind": "A"}, {"kind": "B", "metadata": {"name": "y"}}]]


def _policy_args(ctx: Context) -> list[str]:
    folder = ctx.settings.policies_dir
    return ["-p", str(folder), "--data", str(folder / "data"), "--data", str(policies.write_slo(ctx))]


def _key(namespace: str, kind: str, result: dict) -> tuple:
    return namespace, kind, result["msg"], json.dumps(result.get("metadata"), sort_keys=True)


def conftest_test(objs: list, policy_args: list[str], workdir: Path, s: settings.Settings) -> list[tuple]:
    """Per document: its namespaces and sorted findings, from `conftest test --all-namespaces` (a file each)."""
    folder = workdir / "conftest-docs"
    folder.mkdir()
    files = []
    for n, obj in enumerate(objs):
        files.append(folder / f"{n:05d}.json")
        files[-1].write_text(json.dumps(obj))
    proc = runner.run([toolchain.locate("conftest", s), "test", "--no-color", "--all-namespaces", "-o", "json",
                       *policy_args, *map(str, files)], tool="conftest", settings=s)
    assert proc.returncode in (0, 1), proc.stderr
    by_file = {str(f): (set(), []) for f in files}
    for entry in json.loads(proc.stdout):
        namespaces, found = by_file[entry["filename"]]
        namespaces.add(entry["namespace"])
        found += [_key(entry["namespace"], kind, r) for kind in ("failures", "warnings") for r in entry.get(kind) or []]
    return [(namespaces, sorted(found)) for namespaces, found in by_file.values()]


def rego_eval(objs: list, policy_args: list[str], s: settings.Settings) -> list[tuple]:
    """The same, from one rego-eval process given the documents on stdin."""
    proc = runner.run([toolchain.locate("rego-eval", s), *policy_args], tool="rego-eval", settings=s,
                      input="".join(json.dumps(obj) + "\n" for obj in objs))
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a["index"] for a in answers] == list(range(len(objs)))
    return [(set(a["namespaces"]), sorted(_key(r["namespace"], r["kind"], r) for r in a["results"])) for a in answers]


def test_rego_eval_is_built_from_conftest_at_its_pinned_version():
    s = settings.load()
    tool, conftest = s.tools["rego-eval"], s.tools["conftest"]
    assert (tool.module, tool.version) == (conftest.module, conftest.version)
    assert (tool.build, tool.binaries, tool.wrapper) == ("module", ("rego-eval",), s.repo_root / "tools" / "conftest")

    def opa(binary: str) -> list[str]:  # the policy engine each binary was linked with
        info = subprocess.run(["go", "version", "-m", toolchain.locate(binary, s)], capture_output=True, text=True, timeout=60)
        return [line.split()[:3] for line in info.stdout.splitlines() if "github.com/open-policy-agent/opa\t" in line]

    assert opa("rego-eval") == opa("conftest") != []


def _targets() -> dict[str, list]:
    s = settings.load()
    overlays = pipeline.render_targets(pipeline.resolve_targets([], s), s)
    fixtures = sorted((FIXTURES / "policies").rglob("*.yaml"))
    return {
        "overlays": [d.obj for source in overlays for d in source.documents],
        "fixtures": [d.obj for path in fixtures for d in loader.read_file(path)],
    }


@pytest.mark.parametrize("which", ["overlays", "fixtures"])
def test_rego_eval_finds_what_conftest_test_finds(which, tmp_path):
    """Every rendered overlay of the repository and every policy fixture: the same namespaces and the same
    findings (package, failure or warning, message, metadata with the rule id) for every document."""
    ctx = Context(settings.load(), tmp_path)
    objs = _targets()[which]
    args = _policy_args(ctx)
    expected = conftest_test(objs, args, tmp_path, ctx.settings)
    assert rego_eval(objs, args, ctx.settings) == expected
    if which == "fixtures":  # not vacuous: the fixtures make every rule fire
        assert sum(len(found) for _, found in expected) >= len(policies.rule_table(ctx.settings.policies_dir))


def test_rego_eval_reads_every_form_of_result_as_conftest_does(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    for name, text in EDGE_POLICIES.items():
        (folder / name).write_text(text)
    s = settings.load()
    expected = conftest_test(EDGE_DOCUMENTS, ["-p", str(folder)], tmp_path, s)
    assert rego_eval(EDGE_DOCUMENTS, ["-p", str(folder)], s) == expected
    assert [len(found) for _, found in expected] == [6, 2, 8]


# --------------------------------------------------------------------------- never fail open


def fake(tmp_path: Path, script: str) -> Context:
    """A Context whose rego-eval is a shell script ($REAL is the real one)."""
    ctx = Context(settings.load(), tmp_path)
    path = tmp_path / f"rego-eval-{len(list(tmp_path.glob('rego-eval-*')))}"
    path.write_text(f"#!/bin/sh\nREAL={toolchain.locate('rego-eval', ctx.settings)}\n{script}\n")
    path.chmod(0o755)
    ctx.tool = lambda name: str(path) if name == "rego-eval" else toolchain.locate(name, ctx.settings)
    return ctx


def check(ctx: Context) -> list:
    return policies.check([Source(SERVICES.name, "file", loader.read_file(SERVICES, SERVICES.name))], ctx)


@pytest.mark.parametrize("script, error", [
    ('"$REAL" "$@" | head -n 1', r"^rego-eval exited 0 without judging 1 of 2 document\(s\) by package webhook\.analysis, "
                                 r"e\.g\. Service/.* of services\.yaml: a harness or tool bug, nothing was judged$"),
    ("cat >/dev/null", r"^rego-eval exited 0 without judging 2 of 2 document\(s\) by package webhook\.analysis, "),
    ("""\"$REAL" "$@" | sed 's/"webhook.pod",//'""", r"^rego-eval exited 0 without judging 2 of 2 document\(s\) by package webhook\.pod, "),
    ("""\"$REAL" "$@" | sed 's/"index":1/"index":0/'""", r"^rego-eval answered for document 0 unexpectedly \(unknown, twice"),
    ("""\"$REAL" "$@" | sed 's/"index":1/"index":2/'""", r"^rego-eval answered for document 2 unexpectedly \(unknown, twice"),
    ("cat >/dev/null; echo '[]'", r"^rego-eval printed something that is not an answer: \[\]$"),
    ("cat >/dev/null; printf 'panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n' >&2; exit 2",
     r"^rego-eval failed \(exit 2\): panic: boom$"),
])
def test_a_document_not_given_back_judged_is_a_tool_error(tmp_path, script, error):
    assert check(fake(tmp_path, '"$REAL" "$@"')) == []  # the real one, through the same kind of wrapper, passes them
    ctx = fake(tmp_path, script)
    with pytest.raises(ToolError, match=error) as err:
        check(ctx)
    assert "\n" not in str(err.value)


def test_a_document_the_policies_fail_on_is_named(tmp_path):
    folder = tmp_path / "policies"
    (folder / "data").mkdir(parents=True)
    (folder / "a.rego").write_text('package webhook.a\n\ndeny contains {"no": "msg"} if input.metadata.name == "webhook-service-canary"\n')
    ctx = Context(dataclasses.replace(settings.load(), policies_dir=folder), tmp_path)
    with pytest.raises(ToolError) as err:
        check(ctx)
    assert str(err.value) == ('rego-eval failed (exit 2): document 1 (line 2): data.webhook.a.deny: new result: "msg" field '
                              'must be present and a string (Service/webhook-service/webhook-service-canary of services.yaml)')

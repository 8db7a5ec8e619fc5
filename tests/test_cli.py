"""The CLI contract: bad input is one line naming the file and exit 2; reports have the documented shape."""

from __future__ import annotations

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from conftest import FIXTURES, REPO
from gitops_check import cli

INPUT = FIXTURES / "input"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed console script, as users run it (no in-process shortcuts for the contract)."""
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize(
    "path, expected",
    [
        (INPUT / "syntax-error.yaml", "syntax-error.yaml:7: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started at line 6)"),
        (INPUT / "duplicate-key.yaml", "duplicate-key.yaml:5: invalid YAML: duplicate key 'name'"),
        (INPUT / "empty.yaml", "empty.yaml: no Kubernetes objects found"),
        (INPUT / "no-kind.yaml", "no-kind.yaml:1: document (nokind) has no apiVersion and no kind"),
        (INPUT / "no-name.yaml", "no-name.yaml:1: ConfigMap has no metadata.name"),
        (INPUT / "does-not-exist.yaml", "does-not-exist.yaml: no such file or directory"),
        (INPUT / "broken-overlay", "broken-overlay: kustomize build failed:"),
    ],
    ids=["syntax-error", "duplicate-key", "empty-file", "no-apiversion-kind", "no-name", "missing-path", "overlay-does-not-build"],
)
def test_bad_input_is_one_line_and_exit_2(path, expected):
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gitops-check: error: ")
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_input_with_json_format_also_prints_a_json_error():
    proc = run_cli("validate", str(INPUT / "duplicate-key.yaml"), "--format", "json")
    assert proc.returncode == 2
    assert "duplicate key 'name'" in json.loads(proc.stdout)["error"]


def test_overlay_failure_carries_kustomize_message():
    proc = run_cli("validate", str(INPUT / "broken-overlay"))
    assert "does-not-exist.yaml" in proc.stderr


def test_render_prints_the_overlay(tmp_path):
    proc = run_cli("render", "overlays/production")
    assert proc.returncode == 0, proc.stderr
    assert "kind: Rollout" in proc.stdout


def test_render_of_a_missing_overlay_is_exit_2():
    proc = run_cli("render", "overlays/nope")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gitops-check: error: overlays/nope: no such file or directory"


def test_usage_error_is_exit_2():
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "--format", "xml"])
    assert exc.value.code == 2


def test_clean_file_exits_0_and_json_has_the_documented_shape(tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("validate", str(INPUT / "valid-configmap.yaml"), "--format", "json", "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"violations", "summary"}
    assert report["violations"] == []
    summary = report["summary"]
    assert {"result", "errors", "warnings", "waived", "resources", "sources", "stages", "seconds"} <= set(summary)
    assert summary["result"] == "pass" and summary["resources"] == 1
    assert set(summary["stages"]) == {"lint", "server", "policies", "references", "promql", "rollouts"}


def test_violations_exit_1_and_each_has_the_documented_fields():
    proc = run_cli("validate", str(FIXTURES / "policies" / "rollout-without-probes-limits-securitycontext.yaml"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["violations"]
    for v in report["violations"]:
        assert set(v) >= {"rule", "severity", "kind", "namespace", "name", "source", "message"}
        assert v["severity"] in ("error", "warning")
    assert report["summary"]["result"] == "fail"


def test_text_report_ends_with_a_table_per_source():
    proc = run_cli("validate", str(INPUT / "valid-configmap.yaml"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, l in enumerate(lines) if l.startswith("resources"))
    assert ["resources", "stages", "errors", "warnings", "render", "s", "source"] == lines[header].split()
    # numbers first, the source name last: no line of the report starts with a value from input
    assert lines[header + 2].split()[:4] == ["1", "6", "0", "0"]
    assert lines[header + 2].endswith("  tests/fixtures/input/valid-configmap.yaml")
    assert lines[-1].startswith("PASS: 0 error(s)")


def test_junit_and_sarif_are_well_formed(tmp_path):
    bad = str(FIXTURES / "policies" / "rollout-without-probes-limits-securitycontext.yaml")
    junit = run_cli("validate", bad, "--format", "junit")
    assert junit.returncode == 1
    root = ET.fromstring(junit.stdout)
    assert root.tag == "testsuites" and int(root.get("failures")) > 0
    sarif = json.loads(run_cli("validate", bad, "--format", "sarif").stdout)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0"
    known = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert run["results"] and all(r["ruleId"] in known for r in run["results"])

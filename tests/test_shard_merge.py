"""Beyond one machine: `validate --shard K/N` partitions the targets stably, and `merge` turns the shards'
JSON reports into the report one run over every target gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from xml.etree import ElementTree as ET

import pytest

from conftest import FIXTURES, REPO
from gitops_check import pipeline, settings

# Manifests with known violations (a privileged Pod among them) and a clean one: validated as files, offline.
MANIFESTS = ("WH-POD-005.yaml", "WH-POD-001.yaml", "WH-IMG-001.yaml", "WH-NET-001.yaml", "WH-SEC-001.yaml",
             "WH-RBAC-001.yaml", "WH-AVAIL-003.yaml", "WH-PROBE-001.yaml")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifests")
    for name in MANIFESTS:
        shutil.copy(FIXTURES / "policies" / name, folder / name)
    return folder


def _key(v: dict) -> tuple:
    return tuple(sorted(v.items()))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_default_target_is_in_exactly_one_shard(n):
    targets = pipeline.resolve_targets([], settings.load(REPO))
    shards = [pipeline.select_shard(targets, k, n) for k in range(1, n + 1)]
    names = [t[1] for shard in shards for t in shard]
    assert sorted(names) == sorted(t[1] for t in targets)
    assert len(names) == len(set(names))


def test_shards_are_stable_across_runs_and_processes():
    # sha256 of the path relative to the repository: the same on every runner, whatever PYTHONHASHSEED.
    assert [pipeline.shard_of("overlays/production", n) for n in (1, 2, 3, 4)] == [1, 1, 2, 3]
    code = "from gitops_check import pipeline; print([pipeline.shard_of('overlays/staging', n) for n in (2, 3, 4, 7)])"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([pipeline.shard_of("overlays/staging", n) for n in (2, 3, 4, 7)])


@pytest.mark.parametrize("bad", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3", "/"])
def test_a_bad_shard_is_one_line_and_exit_2(bad):
    proc = run_cli("validate", "--offline", f"--shard={bad}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"gitops-check: error: --shard {bad}: expected K/N with 1 <= K <= N (for example 2/4)"]


def test_an_empty_shard_says_so_and_passes(manifests):
    one = manifests / MANIFESTS[0]
    k = next(k for k in (1, 2) if pipeline.shard_of(str(one), 2) != k)
    proc = run_cli("validate", "--offline", "--shard", f"{k}/2", str(one))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"gitops-check: nothing in shard {k}/2"


def test_merged_shards_equal_one_full_run(manifests, tmp_path):
    full = run_cli("validate", "--offline", "--format", "json", str(manifests))
    assert full.returncode == 1, full.stderr
    expected = json.loads(full.stdout)
    assert any(v["rule"] == "WH-POD-005" for v in expected["violations"])  # the privileged Pod

    n = 3
    reports = []
    for k in range(1, n + 1):
        out = tmp_path / f"shard-{k}.json"
        proc = run_cli("validate", "--offline", "--shard", f"{k}/{n}", "--format", "json", "--output", str(out), str(manifests))
        assert proc.returncode in (0, 1), proc.stderr
        if out.exists():
            reports.append(str(out))
    assert len(reports) >= 2  # the files really spread over several shards

    merged = run_cli("merge", *reports, "--format", "json")
    assert merged.returncode == full.returncode, merged.stderr
    got = json.loads(merged.stdout)
    assert Counter(map(_key, got["violations"])) == Counter(map(_key, expected["violations"]))
    for field in ("result", "errors", "warnings", "waived", "resources"):
        assert got["summary"][field] == expected["summary"][field], field
    strip = lambda sources: sorted((s["name"], s["kind"], s["resources"], s["violations"]) for s in sources)  # noqa: E731
    assert strip(got["summary"]["sources"]) == strip(expected["summary"]["sources"])

    text = run_cli("merge", *reports)
    assert text.returncode == 1
    assert text.stdout.splitlines()[-1].startswith(f"FAIL: {expected['summary']['errors']} error(s)")

    junit = run_cli("merge", *reports, "--format", "junit")
    assert junit.returncode == 1
    root = ET.fromstring(junit.stdout)
    assert root.tag == "testsuites"
    assert int(root.get("tests")) == expected["summary"]["resources"]
    assert int(root.get("failures")) == expected["summary"]["errors"]

    sarif_out = tmp_path / "merged.sarif"
    sarif = run_cli("merge", *reports, "--format", "sarif", "--output", str(sarif_out))
    assert sarif.returncode == 1
    assert len(json.loads(sarif_out.read_text())["runs"][0]["results"]) == len(expected["violations"])


def test_a_clean_merge_exits_0(tmp_path):
    report = {"violations": [], "summary": {"result": "pass", "errors": 0, "warnings": 0, "waived": 0, "resources": 1,
              "sources": [{"name": "a.yaml", "kind": "file", "resources": 1, "violations": 0, "render_seconds": 0.0}],
              "stages": {"lint": 0.1}, "seconds": 0.2}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    proc = run_cli("merge", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("PASS: 0 error(s)")


def test_an_unused_waiver_stays_reported_when_another_shard_waived_the_same_object(tmp_path):
    """Shard 1 validated overlays/staging, where its waiver matched nothing; shard 2 waived the same rule on an
    object of the same name in overlays/production, with another waiver. Waivers name their source, so shard 1's
    verdict stands, as one run would give it."""
    def report(violations, source):
        return {"violations": violations, "summary": {
            "result": "pass", "errors": 0, "warnings": sum(1 for v in violations if not v.get("waived")), "waived": 0,
            "resources": 1, "sources": [{"name": source, "kind": "overlay", "resources": 1, "violations": len(violations),
                                         "render_seconds": 0.0}], "stages": {"lint": 0.1}, "seconds": 0.2}}
    obj = {"kind": "NetworkPolicy", "namespace": "webhook-service", "name": "webhook-service"}
    unused = {"rule": "WH-WAIVER-001", "severity": "warning", **obj, "source": "waivers.yaml:2",
              "message": "waiver of WH-NET-004 for NetworkPolicy/webhook-service/webhook-service matches no violation: delete it"}
    waived = {"rule": "WH-NET-004", "severity": "error", **obj, "source": "overlays/production", "message": "egress to 0.0.0.0/0",
              "waived": "arbitrary HTTPS endpoints (approved by platform-team)"}
    paths = []
    for n, (violations, source) in enumerate([([unused], "overlays/staging"), ([waived], "overlays/production")]):
        paths.append(tmp_path / f"shard-{n}.json")
        paths[-1].write_text(json.dumps(report(violations, source)))
    merged = json.loads(run_cli("merge", *map(str, paths), "--format", "json").stdout)
    assert sorted(v["rule"] for v in merged["violations"]) == ["WH-NET-004", "WH-WAIVER-001"]


@pytest.mark.parametrize("content", ["not json at all", "[]", '{"violations": []}', '{"violations": [{"rule": 1}], "summary": {}}',
                                     '{"error": "x.yaml: invalid YAML"}'])
def test_merging_a_file_that_is_no_report_is_one_line_and_exit_2(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = run_cli("merge", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitops-check: error: ") and str(bad) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def _report(violations=(), resources=1, seconds=0.2, stage=0.1) -> dict:
    return {"violations": list(violations), "summary": {
        "result": "pass", "errors": 0, "warnings": 0, "waived": 0, "resources": resources,
        "sources": [{"name": "a.yaml", "kind": "file", "resources": resources, "violations": 0, "render_seconds": 0.0}],
        "stages": {"lint": stage}, "seconds": seconds}}


@pytest.mark.parametrize("report, expected", [
    # An unknown severity printed as it was written, at the start of a line (`::add-mask::`, which GitHub Actions
    # honours in any case), and counted as neither error nor warning: `Error` passed.
    (_report([{"rule": "WH-SEC-001", "severity": sev, "kind": "Secret", "namespace": "ns", "name": "db",
               "source": "a.yaml", "message": "m"}]), "a violation whose severity is not one of error, warning")
    for sev in ("::add-mask::", "Error", "::error file=README.md,line=1::forged")
] + [
    # 1e308 + 1e308 was written as Infinity (JSON has none); a 401-digit number was an OverflowError.
    (_report(seconds=1e308), "summary without sources, stages and seconds"),
    (_report(stage=10 ** 400), "a stage without seconds"),
    (_report(seconds=-1), "summary without sources, stages and seconds"),
    # one object was built per claimed resource: 1e9 took 17 s and 2.9 GB before a MemoryError
    (_report(resources=1_000_000_000), "a source without name, kind, resources (0 to 200,000)"),
])
def test_a_forged_report_is_refused_in_one_line(tmp_path, report, expected):
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(report))
    proc = run_cli("merge", str(path), "--format", "json")
    assert proc.returncode == 2, proc.stdout[-500:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gitops-check: error: {path}: not a gitops-check JSON report (") \
        and expected in lines[0], proc.stderr
    assert "::" not in proc.stdout + proc.stderr


def test_reports_claiming_too_many_objects_together_are_refused(tmp_path):
    paths = []
    for n in range(3):
        report = _report(resources=90_000)
        report["summary"]["sources"][0]["name"] = f"s{n}.yaml"
        paths.append(tmp_path / f"r{n}.json")
        paths[-1].write_text(json.dumps(report))
    proc = run_cli("merge", *map(str, paths))
    assert proc.returncode == 2 and proc.stderr.strip() == \
        f"gitops-check: error: {paths[-1]}: the reports claim more than 200,000 objects in all: refused"

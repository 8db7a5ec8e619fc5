"""Operational scripts: promotion edits the overlay in place and refuses what production must not run."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


def load_promote():
    loader = importlib.machinery.SourceFileLoader("promote", str(REPO / "scripts" / "promote"))
    spec = importlib.util.spec_from_loader("promote", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


DIGEST = "sha256:" + "b" * 64
KUSTOMIZATION = """resources:
  - ../../base
images:
  # the service image, pinned by scripts/promote
  - name: ghcr.io/company/webhook-service
    newName: ghcr.io/company/webhook-service
    digest: sha256:{old}
  - name: busybox
    newTag: "1.36"
labels: []
"""


def test_promote_rewrites_only_the_service_image_and_keeps_comments():
    promote = load_promote()
    out = promote.rewrite(KUSTOMIZATION.format(old="a" * 64), DIGEST)
    assert f"    digest: {DIGEST}\n" in out
    assert "a" * 64 not in out
    assert "# the service image, pinned by scripts/promote" in out
    assert '    newTag: "1.36"' in out and "labels: []" in out


def test_promote_to_a_tag_replaces_the_digest():
    out = load_promote().rewrite(KUSTOMIZATION.format(old="a" * 64), "1.9.0")
    assert "    newTag: 1.9.0\n" in out and "digest:" not in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["production", "1.9.0"], "production is pinned by digest"),
        (["staging", "latest"], "is neither a digest"),
        (["qa", DIGEST], "overlays/qa/kustomization.yaml: no such overlay"),
    ],
)
def test_promote_refuses_bad_input_with_exit_2(args, message):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "promote"), *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_production_overlay_pins_the_image_by_digest_where_promote_expects_it():
    text = (REPO / "overlays" / "production" / "kustomization.yaml").read_text()
    assert load_promote().rewrite(text, DIGEST).count(DIGEST) == 1


def test_rollout_script_rejects_unknown_actions_before_touching_a_cluster():
    proc = subprocess.run(["bash", str(REPO / "scripts" / "rollout"), "explode"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rollout: unknown action: explode (status, watch, promote, abort, retry, verify)"


# scripts/promote takes only the plain name of an overlay of its own repository: it is run from a scratch
# repository (a copy of the script, two overlays) beside a "victim" kustomization it must never write.
def scratch_repository(tmp_path):
    work = tmp_path / "work"
    (work / "repo" / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "promote", work / "repo" / "scripts" / "promote")
    for folder in (work / "repo" / "overlays" / "staging", work / "repo" / "overlays" / "production", work / "victim"):
        folder.mkdir(parents=True)
        (folder / "kustomization.yaml").write_text(KUSTOMIZATION.format(old="a" * 64))
    return work


def fingerprint(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def promote_in(work, *args):
    return subprocess.run([sys.executable, str(work / "repo" / "scripts" / "promote"), *args], capture_output=True,
                          text=True, timeout=60, cwd=work / "repo")


@pytest.mark.parametrize(
    "env, ref",
    [
        ("../../victim", DIGEST),
        ("./production", "1.9.0"),  # a path to production must not dodge its digest rule
        ("./production", DIGEST),
        ("VICTIM_ABSOLUTE", DIGEST),
        ("", DIGEST),
        ("staging/", "1.9.0"),
        ("staging/../../../victim", "1.9.0"),
        ("..", "1.9.0"),
        ("staging\n", "1.9.0"),
    ],
    ids=["parent-path", "dot-production-tag", "dot-production-digest", "absolute", "empty", "trailing-slash",
         "traversal", "dotdot", "newline"],
)
def test_promote_takes_only_the_plain_name_of_an_overlay(tmp_path, env, ref):
    work = scratch_repository(tmp_path)
    env = str(work / "victim") if env == "VICTIM_ABSOLUTE" else env
    before = fingerprint(work)
    proc = promote_in(work, env, ref)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is not an environment name: give the plain name of an overlay (production or staging)" in lines[0]
    assert fingerprint(work) == before, "promote wrote a file"


def test_promote_refuses_an_overlay_a_symlink_leads_out_of_the_repository(tmp_path):
    work = scratch_repository(tmp_path)
    (work / "repo" / "overlays" / "escape").symlink_to(work / "victim")
    before = fingerprint(work)
    proc = promote_in(work, "escape", "1.9.0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("promote: overlays/escape/kustomization.yaml: "
                                   "a symlink leads out of the repository: refused")
    assert fingerprint(work) == before


def test_promote_keeps_the_digest_rule_for_production_under_another_name(tmp_path):
    work = scratch_repository(tmp_path)
    (work / "repo" / "overlays" / "prod").symlink_to("production")
    before = fingerprint(work)
    proc = promote_in(work, "prod", "1.9.0")
    assert proc.returncode == 2 and "production is pinned by digest" in proc.stderr
    assert fingerprint(work) == before


def test_promote_writes_only_the_named_overlay(tmp_path):
    work = scratch_repository(tmp_path)
    before = fingerprint(work)
    proc = promote_in(work, "staging", "1.9.0")
    # The scratch repository has no .venv: the pin is written, then validation cannot run (exit 2, one line).
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("run `make tools` first, then validate with `.venv/bin/gitops-check validate`")
    after = fingerprint(work)
    changed = [p for p in after if after[p] != before.get(p)]
    assert changed == [work / "repo" / "overlays" / "staging" / "kustomization.yaml"]
    assert "    newTag: 1.9.0\n" in changed[0].read_text()


# Production gets only what staging runs: the digest overlays/staging pins (and, with --context, the digest the
# stable pods of staging's Rollout run), unless --force-not-from-staging.
STAGED = "sha256:" + "a" * 64  # what scratch_repository pins in both overlays


def with_validator(work):
    """A stand-in gitops-check in the scratch repository: validation passes."""
    check = work / "repo" / ".venv" / "bin" / "gitops-check"
    check.parent.mkdir(parents=True)
    check.write_text("#!/bin/sh\nexit 0\n")
    check.chmod(0o755)


def test_promote_refuses_a_digest_staging_does_not_run(tmp_path):
    work = scratch_repository(tmp_path)
    with_validator(work)
    before = fingerprint(work)
    proc = promote_in(work, "production", DIGEST)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and DIGEST in lines[0] and STAGED in lines[0], lines
    assert "--force-not-from-staging" in lines[0]
    assert fingerprint(work) == before, "promote wrote a file"


def test_promote_refuses_production_when_staging_pins_a_tag(tmp_path):
    work = scratch_repository(tmp_path)
    (work / "repo" / "overlays" / "staging" / "kustomization.yaml").write_text(
        load_promote().rewrite(KUSTOMIZATION.format(old="a" * 64), "1.8.0"))
    before = fingerprint(work)
    proc = promote_in(work, "production", STAGED)
    assert proc.returncode == 2
    assert "pins tag 1.8.0" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert fingerprint(work) == before


def test_promote_pins_the_digest_staging_runs(tmp_path):
    work = scratch_repository(tmp_path)
    production = work / "repo" / "overlays" / "production" / "kustomization.yaml"
    production.write_text(KUSTOMIZATION.format(old="c" * 64))
    with_validator(work)
    proc = promote_in(work, "production", STAGED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"    digest: {STAGED}\n" in production.read_text()
    assert proc.stderr == ""


def test_promote_force_not_from_staging_warns_and_pins(tmp_path):
    work = scratch_repository(tmp_path)
    with_validator(work)
    proc = promote_in(work, "production", DIGEST, "--force-not-from-staging")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING: --force-not-from-staging" in proc.stderr and STAGED in proc.stderr
    assert f"    digest: {DIGEST}\n" in (work / "repo" / "overlays" / "production" / "kustomization.yaml").read_text()


FAKE_KUBECTL = """#!/bin/sh
case "$*" in
  *rollouts.argoproj.io*) echo '{"status": {"stableRS": "abc123"}}' ;;
  *rollouts-pod-template-hash=abc123*) echo '{"items": [{"status": {"containerStatuses": [
      {"name": "webhook-service", "imageID": "ghcr.io/company/webhook-service@RUNNING"}]}}]}' ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""


@pytest.mark.parametrize("running, code", [(STAGED, 0), (DIGEST, 2)], ids=["runs-it", "runs-another"])
def test_promote_asks_the_staging_cluster_with_context(tmp_path, running, code):
    work = scratch_repository(tmp_path)
    with_validator(work)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL.replace("RUNNING", running))
    (bin_dir / "kubectl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, str(work / "repo" / "scripts" / "promote"), "production", STAGED,
                           "--context", "staging"], capture_output=True, text=True, timeout=60, cwd=work / "repo", env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code:
        assert f"its stable pods (context staging) run {DIGEST}" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1

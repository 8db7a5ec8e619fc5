"""The repository under check is the working directory's (the nearest folder at or above it whose pyproject.toml
has [tool.gitops-check]) or `--repo PATH`, never the place gitops-check is installed from: a copy validated with
this checkout's virtualenv checks the copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO
from gitops_check import settings
from gitops_check.errors import InputError

GITOPS_CHECK = REPO / ".venv" / "bin" / "gitops-check"  # installed from this checkout (editable)
PLANTED = """apiVersion: v1
kind: Pod
metadata:
  name: planted-privileged
  namespace: webhook-service
spec:
  containers:
    - name: c
      image: busybox:1.36
      securityContext:
        privileged: true
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """A copy of the repository (not of the harness: the code stays this checkout's) whose staging overlay
    alone holds a privileged Pod."""
    root = tmp_path_factory.mktemp("copy") / "webhook-gitops"
    shutil.copytree(REPO, root, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "reports", "rendered", "__pycache__", ".pytest_cache", "*.egg-info", "gitops_check"))
    staging = root / "overlays" / "staging"
    (staging / "planted.yaml").write_text(PLANTED)
    text = (staging / "kustomization.yaml").read_text()
    assert "\n  - ../../base\n" in text
    text = text.replace("\n  - ../../base\n", "\n  - ../../base\n  - planted.yaml\n", 1)
    (staging / "kustomization.yaml").write_text(text)
    return root


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    # the CRDs live beside the original checkout (crds-dir = ../shared/crds); the copy reads the same ones
    env = dict(os.environ, GITOPS_CHECK_CRDS_DIR=str(settings.load().crds_dir))
    return subprocess.run([str(GITOPS_CHECK), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def planted(report: str) -> list[dict]:
    return [v for v in json.loads(report)["violations"] if v["name"] == "planted-privileged" and v["rule"] == "WH-POD-005"]


def test_validate_checks_the_repository_of_the_working_directory(copy):
    proc = run("validate", "--format", "json", cwd=copy / "overlays")  # from a subfolder, default targets
    assert proc.returncode == 1, proc.stderr
    found = planted(proc.stdout)
    assert [v["source"] for v in found] == ["overlays/staging"]
    sources = {s["name"] for s in json.loads(proc.stdout)["summary"]["sources"]}
    assert {"overlays/staging", "overlays/production", "argocd"} <= sources


def test_repo_option_selects_the_repository(copy, tmp_path):
    proc = run("--repo", str(copy), "validate", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert [v["source"] for v in planted(proc.stdout)] == ["overlays/staging"]
    # and the other way round: from inside the copy, --repo names this checkout, which has no planted Pod
    proc = run("--repo", str(REPO), "validate", "--format", "json", cwd=copy)
    assert proc.returncode in (0, 1), proc.stderr
    assert planted(proc.stdout) == []
    proc = run("--repo", str(copy), "render", str(copy / "overlays" / "staging"), cwd=tmp_path)
    assert proc.returncode == 0 and "name: planted-privileged" in proc.stdout


def test_an_explicit_target_outside_the_repository_still_works(tmp_path):
    (tmp_path / "pod.yaml").write_text(PLANTED)
    proc = run("validate", "--format", "json", str(tmp_path / "pod.yaml"), cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    assert [v["source"] for v in planted(proc.stdout)] == [str(tmp_path / "pod.yaml")]


def test_outside_any_repository_is_one_line_and_exit_2(tmp_path):
    proc = run("validate", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"gitops-check: error: {tmp_path.resolve()}: not inside a gitops-check repository (no "
                                   "pyproject.toml with [tool.gitops-check] here or above): run it from the repository "
                                   "or pass --repo PATH")
    proc = run("--repo", str(tmp_path), "validate", cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(f"{tmp_path.resolve()}: not a gitops-check repository (no pyproject.toml with "
                                        "[tool.gitops-check])")


def test_find_root_walks_up_to_the_pyproject_and_stops_at_a_git_work_tree(tmp_path):
    outer = tmp_path / "outer"
    (outer / "a" / "b").mkdir(parents=True)
    (outer / "pyproject.toml").write_text('[tool.gitops-check]\ntargets = ["overlays/*"]\n')
    assert settings.find_root(outer / "a" / "b") == outer.resolve()
    # a pyproject.toml without the table is another project's: the search goes on past it
    (outer / "a" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert settings.find_root(outer / "a" / "b") == outer.resolve()
    # a Git work tree of its own (a nested clone) does not borrow the settings of the folder around it
    (outer / "a" / ".git").mkdir()
    with pytest.raises(InputError, match="not inside a gitops-check repository"):
        settings.find_root(outer / "a" / "b")
    assert settings.find_root(REPO / "overlays" / "staging") == REPO.resolve()

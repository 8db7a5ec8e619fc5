"""The result cache (gitops_check/resultcache.py): an unchanged target is taken from the cache, and every kind of
input change re-runs exactly the targets that read it — no more (speed), no fewer (a stale verdict)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_check import pipeline, resultcache, settings

REPO = Path(__file__).resolve().parent.parent
EVERY = {"overlays/production", "overlays/staging", "argocd", "tests/overlays/blue-green", "tests/overlays/e2e",
         "tests/overlays/e2e-blue-green", "tests/overlays/e2e-header-routing", "tests/overlays/header-routing",
         "tests/overlays/region-eu"}
# What reads overlays/staging: itself, and argocd (its Application must build, its namespace agree).
STAGING = {"overlays/staging", "argocd"}


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A copy of the committed repository, the locked CRDs where its settings find them, a cache folder of its own."""
    root = tmp_path / "repo"
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, timeout=120, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, timeout=120, check=True)
    monkeypatch.setenv("GITOPS_CHECK_CRDS_DIR", str(settings.load(REPO).crds_dir))
    return root


def _settings(root: Path):
    settings._load.cache_clear()  # the test edits pyproject.toml between runs
    return dataclasses.replace(settings.load(root), offline=True)


def _run(root: Path, cache_root: Path, **kw):
    return pipeline.run([], _settings(root), cache=True, cache_root=cache_root, **kw)


def _fresh(result) -> set[str]:
    return {s.name for s in result.sources if not s.cached}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} has no {old!r}"
    path.write_text(text.replace(old, new, 1))


def _verdict(result):
    return [v.as_dict() for v in result.violations], [(s.name, len(s.documents)) for s in result.sources]


def test_unchanged_targets_come_from_the_cache_with_the_same_verdict(repo, tmp_path):
    cache = tmp_path / "cache"
    cold = _run(repo, cache)
    assert _fresh(cold) == EVERY
    warm = _run(repo, cache)
    assert _fresh(warm) == set() and warm.stage_seconds == {}
    assert _verdict(warm) == _verdict(cold)
    # documents come back as rendered: what a report or a later stage reads
    assert [d.obj for s in warm.sources for d in s.documents] == [d.obj for s in cold.sources for d in s.documents]


@pytest.mark.parametrize("change, expected", [
    # a patch in one overlay
    (lambda r: _edit(r / "overlays/staging/kustomization.yaml", "value: 5", "value: 6"), STAGING),
    # a base file every overlay reads
    (lambda r: _edit(r / "base/hpa.yaml", "minReplicas: 3", "minReplicas: 4"), EVERY),
    # a policy judges every target
    (lambda r: (r / "policies/analysis.rego").write_text((r / "policies/analysis.rego").read_text() + "\n# edited\n"),
     EVERY),
    # the SLO numbers feed the policies and the budget
    (lambda r: (r / "base/slo.yaml").write_text((r / "base/slo.yaml").read_text() + "\n# edited\n"), EVERY),
])
def test_a_change_re_runs_exactly_the_targets_that_read_it(repo, tmp_path, change, expected):
    cache = tmp_path / "cache"
    _run(repo, cache)
    change(repo)
    assert _fresh(_run(repo, cache)) == expected
    assert _fresh(_run(repo, cache)) == set()  # and is cached again


def test_a_generator_file_re_runs_its_overlay(repo, tmp_path):
    flags = repo / "overlays/staging/extra.properties"
    flags.write_text("retries=3\n")
    _edit(repo / "overlays/staging/kustomization.yaml", "configMapGenerator:\n",
          "configMapGenerator:\n  - name: extra\n    files:\n      - extra.properties\n")
    cache = tmp_path / "cache"
    cold = _run(repo, cache)
    assert any(d.name.startswith("extra-") for s in cold.sources if s.name == "overlays/staging" for d in s.documents)
    flags.write_text("retries=4\n")
    warm = _run(repo, cache)
    assert _fresh(warm) == STAGING
    names = {d.name for s in warm.sources if s.name == "overlays/staging" for d in s.documents}
    assert not names & {d.name for s in cold.sources if s.name == "overlays/staging" for d in s.documents if d.name.startswith("extra-")}


def test_a_waiver_re_runs_nothing_and_still_applies(repo, tmp_path):
    # a finding: the staging Rollout without its resource limits
    cache = tmp_path / "cache"
    _edit(repo / "overlays/staging/kustomization.yaml", "resources:\n", "resources:\n  - extra-cm.yaml\n")
    (repo / "overlays/staging/extra-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  password: hunter2hunter2\n")
    before = _run(repo, cache)
    found = [v for v in before.errors + before.warnings if v.source == "overlays/staging"]
    assert found, "the planted ConfigMap must give a finding"
    v = found[0]
    waivers_file = repo / "waivers.yaml"
    waivers_file.write_text(json.dumps({"waivers": [{
        "rule": v.rule, "kind": v.kind, "name": v.name, "namespace": v.namespace, "source": v.source,
        "reason": "test: accepted for this test", "approved-by": "platform-team", "expires": "2099-01-01"}]}))
    after = _run(repo, cache)
    assert _fresh(after) == set()
    assert any(w.rule == v.rule and w.name == v.name and w.source == v.source and w.waived for w in after.waived)


def test_tool_pins_and_the_harness_key_the_cache(repo, tmp_path):
    stages = pipeline.default_stages(_settings(repo))
    key = resultcache.Store(_settings(repo), stages, tmp_path).harness_key
    _edit(repo / "pyproject.toml", 'version = "v0.71.1"', 'version = "v0.71.0"')  # conftest
    assert resultcache.Store(_settings(repo), stages, tmp_path).harness_key != key
    _edit(repo / "pyproject.toml", 'version = "v0.71.0"', 'version = "v0.71.1"')
    assert resultcache.Store(_settings(repo), stages, tmp_path).harness_key == key
    online = resultcache.Store(dataclasses.replace(_settings(repo), offline=False), pipeline.STAGES, tmp_path)
    assert online.harness_key != key  # the server stage judges differently from kubeconform


def test_a_damaged_entry_is_a_miss_never_a_verdict(repo, tmp_path):
    cache = tmp_path / "cache"
    cold = _run(repo, cache)
    entries = sorted(cache.rglob("*.json"))
    assert len(entries) == len(EVERY)
    for n, entry in enumerate(entries):
        head, body = entry.read_text().split("\n", 1)
        if n % 2:
            data = json.loads(body)
            data["violations"] = {}  # forged: no findings; the digest no longer matches
            entry.write_text(head + "\n" + json.dumps(data))
        else:
            entry.write_text(entry.read_text()[:100])  # truncated
    again = _run(repo, cache)
    assert _fresh(again) == EVERY
    assert _verdict(again) == _verdict(cold)


def test_cli_no_cache_and_the_environment_switch(repo, tmp_path):
    env = {**os.environ, "GITOPS_CHECK_RESULT_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-P", "-m", "gitops_check", "--repo", str(repo), "validate", "--offline", "--format", "json"]

    def cached(*extra, environ=env):
        proc = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=300, env=environ, cwd=repo)
        assert proc.returncode in (0, 1), proc.stderr
        return {s["name"] for s in json.loads(proc.stdout)["summary"]["sources"] if s["cached"]}

    assert cached() == set()
    assert cached() == EVERY
    assert cached("--no-cache") == set()
    assert cached(environ={**env, "GITOPS_CHECK_RESULT_CACHE": "off"}) == set()
    shutil.rmtree(tmp_path / "cache")
    assert cached("overlays/staging") == set()
    assert cached("overlays/staging") == {"overlays/staging"}


def test_a_secrets_values_are_not_kept(repo, tmp_path):
    planted = "s3cr3t-planted-value-9f2c"
    (repo / "overlays/staging/extra-secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\nstringData:\n  token: {planted}\n")
    _edit(repo / "overlays/staging/kustomization.yaml", "resources:\n", "resources:\n  - extra-secret.yaml\n")
    cache = tmp_path / "cache"
    _run(repo, cache)
    entries = list(cache.rglob("*.json"))
    assert entries and not any(planted in e.read_text() for e in entries)
    warm = _run(repo, cache)
    secret = next(d for s in warm.sources if s.name == "overlays/staging" for d in s.documents if d.kind == "Secret")
    assert secret.obj["stringData"] == {"token": resultcache.REDACTED}


def test_a_file_edited_during_the_run_stores_nothing(repo, tmp_path, monkeypatch):
    """The findings of a file that changed between the key and the end of the run are of either content: never
    stored under the key of the old one."""
    cache = tmp_path / "cache"
    real = pipeline._check

    def edit_while_checking(targets, s, stages):
        found = real(targets, s, stages)
        _edit(repo / "overlays/staging/kustomization.yaml", "value: 5", "value: 6")
        return found

    monkeypatch.setattr(pipeline, "_check", edit_while_checking)
    _run(repo, cache)
    monkeypatch.setattr(pipeline, "_check", real)
    assert _fresh(_run(repo, cache)) == STAGING  # staging and argocd (which reads it) were not stored


def test_a_policy_edited_during_the_run_stores_nothing(repo, tmp_path, monkeypatch):
    """A policy weakened while the run checked (and restored after) left the weakened policy's PASS under the
    original policy's key: a stale verdict for every later run."""
    cache = tmp_path / "cache"
    real = pipeline._check
    policy = repo / "policies/secrets.rego"

    def edit_while_checking(targets, s, stages):
        found = real(targets, s, stages)
        policy.write_text(policy.read_text() + "\n# edited while the run checked\n")
        return found

    monkeypatch.setattr(pipeline, "_check", edit_while_checking)
    _run(repo, cache)
    monkeypatch.setattr(pipeline, "_check", real)
    policy.write_text(policy.read_text().removesuffix("\n# edited while the run checked\n"))
    assert _fresh(_run(repo, cache)) == EVERY  # nothing was stored


def test_a_folder_reached_through_a_symlink_is_keyed_where_kustomize_reads_it(repo, tmp_path):
    """`link/../y` is the real folder's sibling for kustomize (it resolves the link first); the walk joined it as
    text, so the folder kustomize read was never keyed: editing it left a stale PASS."""
    (repo / "components/x").mkdir()
    (repo / "components/y").mkdir()
    (repo / "components/x/kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../y\n")
    (repo / "components/y/kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n")
    (repo / "components/y/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  LOG_LEVEL: info\n")
    (repo / "overlays/staging/link").symlink_to("../../components/x")
    _edit(repo / "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - link\n")
    cache = tmp_path / "cache"
    assert _run(repo, cache).exit_code == 0
    (repo / "components/y/cm.yaml").write_text((repo / "components/y/cm.yaml").read_text() + "  DB_PASSWORD: hunter2secretvalue\n")
    again = _run(repo, cache)
    assert _fresh(again) == STAGING and "WH-SEC-003" in {v.rule for v in again.errors}


@pytest.mark.parametrize("kustomization, expected", [
    # kustomize's decoder follows every merge key; the walk stopped at 32 and hid what the rest named
    ("".join("  " * i + "<<:\n" for i in range(40)) + "  " * 40 + "components:\n" + "  " * 40 + "  - comp\n",
     "merge keys (<<) nested more than 32 levels deep: refused"),
    # kustomize reads "cm.yaml " as written; the walk keyed and linted "cm.yaml"
    ('resources:\n  - "cm.yaml "\n', "resources entry 'cm.yaml' has spaces around it: refused"),
])
def test_what_the_walk_cannot_follow_as_kustomize_does_is_refused(repo, kustomization, expected):
    from gitops_check import kustomgraph
    from gitops_check.errors import InputError

    overlay = repo / "overlays/odd"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(kustomization)
    with pytest.raises(InputError, match=re.escape(expected)):
        kustomgraph.files(overlay, _settings(repo))


def test_a_policies_folder_linked_in_is_refused(repo):
    """conftest's loader follows a symbolic link to a folder under policies/; the harness's walk and the cache key did
    not, so its policies judged without keying the verdicts."""
    from gitops_check import policies
    from gitops_check.errors import InputError

    (repo / "extra-policies").mkdir()
    (repo / "policies/extra").symlink_to("../extra-policies")
    with pytest.raises(InputError, match="a symbolic link to a folder: the policies folder holds its policies itself"):
        policies.policy_files(repo / "policies")


@pytest.mark.parametrize("setting, expected", [
    ("extends: ./lint/base.yaml\n", "`extends` names something other than yamllint's presets"),
    ("extends: default\nignore-from-file: .gitignore\n", "ignore-from-file names a file yamllint reads from the working directory"),
    ("extends: default\nrules:\n  line-length:\n    ignore-from-file: .gitignore\n", "rules.line-length.ignore-from-file names a file"),
])
def test_a_yamllint_configuration_naming_other_files_is_refused(repo, setting, expected):
    """yamllint reads what `extends` or `ignore-from-file` names (from the working directory); only .yamllint is keyed,
    so a stricter shared file left cached runs passing."""
    from gitops_check import lint
    from gitops_check.errors import InputError

    (repo / ".yamllint").write_text(setting)
    with pytest.raises(InputError, match=re.escape(expected)):
        lint.config(repo)


def test_an_overlay_an_application_names_edited_during_the_run_stores_nothing_for_it(repo, tmp_path, monkeypatch):
    """argocd/ reads the overlays its Applications name besides its own build; they were fingerprinted when the entry
    was saved, so an edit while the run read them was stored as if judged. Modified during the run: argocd stores
    nothing (staging, whose content is back as it was, is stored)."""
    cache = tmp_path / "cache"
    real = pipeline._check
    staging = repo / "overlays/staging/kustomization.yaml"

    def touch_while_checking(targets, s, stages):
        found = real(targets, s, stages)
        staging.write_text(staging.read_text())  # saved again, the same content: what an editor does
        return found

    monkeypatch.setattr(pipeline, "_check", touch_while_checking)
    _run(repo, cache)
    monkeypatch.setattr(pipeline, "_check", real)
    assert _fresh(_run(repo, cache)) == {"argocd"}

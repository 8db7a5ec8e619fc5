"""WH-DIFF-001/002 (gitops_check/renames.py): `gitops-check diff` reports a production Rollout, or a Service, HPA
or PDB it depends on, that a change renames or removes, which Argo CD would sync as a new Rollout promoted straight
to 100 % without canary and a prune of the running one; `diff` then exits 1. On a real temporary git repository
made from this one's committed files, as tests/test_gitdiff.py does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import gitdiff, renames
from test_gitdiff import _cli, _commit, _edit, _run

PRODUCTION = "overlays/production/kustomization.yaml"
STAGING = "overlays/staging/kustomization.yaml"
RESOURCES = "resources:\n  - ../../base\n"
SUFFIX = "nameSuffix: -v2\n" + RESOURCES
ANNOTATED = "commonAnnotations:\n  argocd.argoproj.io/sync-options: Prune=false\n" + RESOURCES
DEPENDENTS = {"Rollout", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """commits: base, (keep) production's image pinned to another digest, (suffix) nameSuffix added to production,
    (annotated) nameSuffix gone and every production object annotated Prune=false, (annotated-suffix) nameSuffix
    again, (staging-suffix) nameSuffix added to staging."""
    root = tmp_path_factory.mktemp("renames") / "repo"
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, timeout=120, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, timeout=120, check=True)
    shutil.copy(REPO / "Makefile", root / "Makefile")
    assert _run(["git", "init", "-q", "-b", "main"], root).returncode == 0
    c = {"base": _commit(root, "base")}
    text = (root / PRODUCTION).read_text()
    digest = text.split("digest: sha256:", 1)[1][:64]
    _edit(root / PRODUCTION, digest, "0" * 64)
    c["keep"] = _commit(root, "production: another image (names kept)")
    _edit(root / PRODUCTION, RESOURCES, SUFFIX)
    c["suffix"] = _commit(root, "production: nameSuffix")
    _edit(root / PRODUCTION, SUFFIX, ANNOTATED)
    c["annotated"] = _commit(root, "production: no suffix, every object Prune=false")
    _edit(root / PRODUCTION, ANNOTATED, "nameSuffix: -v2\n" + ANNOTATED)
    c["annotated-suffix"] = _commit(root, "production: nameSuffix over Prune=false")
    _edit(root / STAGING, RESOURCES, SUFFIX)
    c["staging-suffix"] = _commit(root, "staging: nameSuffix")
    return root, c


def _lines(out: str, rule: str) -> list[str]:
    return [line for line in out.splitlines() if f" {rule} " in line]


def test_name_suffix_in_production_is_wh_diff_001_and_exit_1(repo):
    root, c = repo
    proc = _cli(root, "diff", "--base", c["keep"], "--head", c["suffix"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    production = [line for line in _lines(proc.stdout, "WH-DIFF-001") if " overlays/production " in line]
    assert {line.split()[3].split("/")[0] for line in production} == DEPENDENTS  # kind/namespace/name
    assert len(production) == 5  # the Rollout, both Services, the HPA, the PDB; not the ConfigMaps, Ingress, ...
    assert all(line.startswith("ERROR   WH-DIFF-001 overlays/production ") for line in production)
    rollout = next(line for line in production if " Rollout/webhook-service/webhook-service:" in line)
    assert "production Rollout webhook-service renamed to webhook-service-v2" in rollout
    assert "straight to 100 % (no canary steps, no analysis" in rollout and "prunes webhook-service" in rollout
    assert "Keep the name, or rename in two steps" in rollout and "argocd.argoproj.io/sync-options: Prune=false" in rollout
    canary = next(line for line in production if " Service/webhook-service/webhook-service-canary:" in line)
    assert "renamed to webhook-service-canary-v2" in canary  # the most similar of the new Services
    assert not _lines(proc.stdout, "WH-DIFF-002")
    assert proc.stdout.rstrip().endswith("error(s), 0 warning(s)")

    md = _cli(root, "diff", "--base", c["keep"], "--head", c["suffix"], "--format", "markdown")
    assert md.returncode == 1, md.stderr
    assert md.stdout.startswith(gitdiff.MARKER) and "**Findings**" in md.stdout
    head = md.stdout.split("<details>", 1)[0]  # before the per-target blocks, which the size cap may leave off
    assert "- ERROR   WH-DIFF-001 overlays/production Rollout/webhook-service/webhook-service: " in head


def test_a_change_that_keeps_the_names_is_clean(repo):
    root, c = repo
    proc = _cli(root, "diff", "--base", c["base"], "--head", c["keep"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "WH-DIFF" not in proc.stdout and "=== overlays/production: 0 added, 0 removed, 1 changed" in proc.stdout


def test_prune_false_on_the_old_objects_exempts_them(repo):
    root, c = repo
    annotating = _cli(root, "diff", "--base", c["keep"], "--head", c["annotated"])
    assert annotating.returncode == 0 and "WH-DIFF" not in annotating.stdout, annotating.stdout[-3000:]
    proc = _cli(root, "diff", "--base", c["annotated"], "--head", c["annotated-suffix"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "=== overlays/production: 22 added, 22 removed, 0 changed" in proc.stdout
    assert "WH-DIFF" not in proc.stdout


def test_a_rename_in_staging_is_a_warning(repo):
    root, c = repo
    proc = _cli(root, "diff", "--base", c["annotated-suffix"], "--head", c["staging-suffix"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    warnings = _lines(proc.stdout, "WH-DIFF-002")
    assert len(warnings) == 5 and all(line.startswith("WARNING WH-DIFF-002 overlays/staging ") for line in warnings)
    assert "staging Rollout webhook-service renamed to webhook-service-v2" in proc.stdout
    assert not _lines(proc.stdout, "WH-DIFF-001") and proc.stdout.rstrip().endswith("0 error(s), 5 warning(s)")


# -- the rule on rendered objects -----------------------------------------------------------------------------------
def _obj(api: str, kind: str, name: str, spec: dict | None = None, env: str | None = "production",
         notes: dict | None = None) -> dict:
    meta: dict = {"name": name, "namespace": "ns"}
    if env:
        meta["labels"] = {"environment": env}
    if notes:
        meta["annotations"] = notes
    return {"apiVersion": api, "kind": kind, "metadata": meta, **({"spec": spec} if spec is not None else {})}


POD = {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}


def _rollout(name: str = "web", **kw) -> dict:
    return _obj("argoproj.io/v1alpha1", "Rollout", name, {
        **POD, "strategy": {"canary": {"stableService": "web", "canaryService": "web-canary"}}}, **kw)


def _world(**kw) -> list[dict]:
    return [
        _rollout(**kw),
        _obj("v1", "Service", "web", {"selector": {"app": "web"}}, **kw),
        _obj("v1", "Service", "web-canary", {"selector": {"other": "x"}}, **kw),  # routed by name only
        _obj("v1", "Service", "unrelated", {"selector": {"app": "db"}}, **kw),
        _obj("autoscaling/v2", "HorizontalPodAutoscaler", "web", {"scaleTargetRef": {"kind": "Rollout", "name": "web"}}, **kw),
        _obj("policy/v1", "PodDisruptionBudget", "web", {"selector": {"matchLabels": {"app": "web"}}}, **kw),
        _obj("v1", "ConfigMap", "web-config", **kw),
    ]


def _found(base: list[dict], head: list[dict]) -> dict[str, tuple[str, str]]:
    return {f"{v.kind}/{v.name}": (v.rule, v.message) for v in renames.findings("overlays/x", base, head)}


def test_every_dependent_removed_is_found_and_nothing_else():
    found = _found(_world(), [])
    assert set(found) == {"Rollout/web", "Service/web", "Service/web-canary", "HorizontalPodAutoscaler/web",
                          "PodDisruptionBudget/web"}
    assert {rule for rule, _ in found.values()} == {"WH-DIFF-001"}
    assert found["Rollout/web"][1].startswith("production Rollout web removed: Argo CD prunes web with its running pods. "
                                              "Keep it, or remove it in two steps")
    assert "which serves Rollout web" in found["HorizontalPodAutoscaler/web"][1]


def test_identity_is_group_kind_namespace_name_not_version():
    base = _world()
    head = [dict(o, apiVersion="autoscaling/v2beta2") if o["kind"] == "HorizontalPodAutoscaler" else o for o in base]
    assert _found(base, head) == {}
    moved = [dict(o, metadata={**o["metadata"], "namespace": "ns2"}) if o["kind"] == "Rollout" else o for o in base]
    assert "renamed to ns2/web" in _found(base, moved)["Rollout/web"][1]


def test_prune_false_exempts_exactly_as_argo_cd_reads_it():
    def with_notes(value: str) -> list[dict]:
        return [_rollout(notes={"argocd.argoproj.io/sync-options": value})]

    assert _found(with_notes("Prune=false"), []) == {}
    assert _found(with_notes("ServerSideApply=true, Prune=false"), []) == {}
    for value in ("Prune=confirm", "Prune=False", "Prune = false", "PruneLast=true", "Prune=true,Prune=false"):
        assert "Rollout/web" in _found(with_notes(value), []), value
    # the annotation on the new object does not keep the old one
    assert "Rollout/web" in _found([_rollout()], [_rollout("web2", notes={"argocd.argoproj.io/sync-options": "Prune=false"})])


def test_environment_as_the_references_stage_reads_it():
    assert _found([_rollout(env=None)], [])["Rollout/web"][0] == "WH-DIFF-001"  # no label: the strictest
    rule, message = _found([_rollout(env="staging")], [_rollout("web-v2", env="staging")])["Rollout/web"]
    assert rule == "WH-DIFF-002" and message.startswith("staging Rollout web renamed to web-v2: ")


def test_a_target_only_one_side_has_or_that_does_not_render_is_not_judged():
    base = gitdiff.Side({}, docs=_world())
    assert not gitdiff.compare("overlays/x", base, gitdiff.Side(present=False)).findings
    assert not gitdiff.compare("overlays/x", base, gitdiff.Side(error="overlays/x: bad")).findings
    d = gitdiff.compare("overlays/x", base, gitdiff.Side({}))
    assert len(d.findings) == 5 and gitdiff.exit_code([d]) == 1
    staging = gitdiff.compare("overlays/s", gitdiff.Side({}, docs=_world(env="staging")), gitdiff.Side({}))
    assert gitdiff.exit_code([staging]) == 0 and {v.severity for v in staging.findings} == {"warning"}


def test_names_from_the_pull_request_stay_on_their_line():
    base = [_rollout("web\n::error::forged\x1b[2K")]
    d = gitdiff.compare("overlays/x", gitdiff.Side({}, docs=base), gitdiff.Side({}))
    for out in (gitdiff.text([d], "base", None), gitdiff.markdown([d], "base", None)):
        assert not any(line.lstrip("- ").startswith("::") for line in out.splitlines()), out
        assert "\x1b" not in out and "web\\n::error::forged" in out

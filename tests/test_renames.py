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
from gitops_check import gitdiff, renames, settings
from test_gitdiff import _cli, _commit, _edit, _run

PRODUCTION = "overlays/production/kustomization.yaml"
STAGING = "overlays/staging/kustomization.yaml"
RESOURCES = "resources:\n  - ../../base\n"
SUFFIX = "nameSuffix: -v2\n" + RESOURCES
ANNOTATED = "commonAnnotations:\n  argocd.argoproj.io/sync-options: Prune=false\n" + RESOURCES
DEPENDENTS = {"Rollout", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "VirtualService"}
APP = "argocd/production/kustomization.yaml"
APP_PATH = "value: overlays/production\n"
GIT = ("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false")
DELETE_INGRESS = """patches:
  - patch: |-
      $patch: delete
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata:
        name: webhook-service
"""
# A patch whose target the checkout matches ([$Format:%e$x] holds an "e") and `git archive` does not: export-subst
# makes it [x] (%e, the commit's encoding, is empty).
HIDDEN_RENAME = """patches:
  - target:
      kind: Rollout
      name: webhook-servic[$Format:%e$x]
    patch: |-
      - op: replace
        path: /metadata/name
        value: webhook-service-v2
"""


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

    def branch(name: str, message: str, change) -> None:  # a commit on top of "keep"
        assert _run([*GIT, "checkout", "-q", "--detach", c["keep"]], root).returncode == 0
        change()
        c[name] = _commit(root, message)

    def copy(to: str, suffix: bool) -> None:
        shutil.copytree(root / "overlays/production", root / to, symlinks=True)
        if suffix:
            _edit(root / to / "kustomization.yaml", RESOURCES, SUFFIX)

    def point(to: str, rename: bool = False) -> None:
        _edit(root / APP, APP_PATH, f"value: {to}\n")
        if rename:
            _edit(root / APP, "nameSuffix: -production\n", "nameSuffix: -prod\n")

    branch("app-v2", "production Application: overlays/production-v2, a copy with nameSuffix",
           lambda: (copy("overlays/production-v2", True), point("overlays/production-v2")))
    branch("app-copy", "production Application: overlays/production-copy, the same objects",
           lambda: (copy("overlays/production-copy", False), point("overlays/production-copy")))
    branch("app-renamed-v2", "production Application renamed and pointed at a copy with nameSuffix",
           lambda: (copy("overlays/production-v2", True), point("overlays/production-v2", rename=True)))
    branch("app-renamed", "production Application renamed, same overlay",
           lambda: _edit(root / APP, "nameSuffix: -production\n", "nameSuffix: -prod\n"))
    branch("no-ingress", "production: the Ingress deleted",
           lambda: (root / PRODUCTION).write_text((root / PRODUCTION).read_text() + DELETE_INGRESS))

    def next_base() -> None:
        shutil.copytree(root / "base", root / "base-next")
        _edit(root / "base-next/kustomization.yaml", "namespace: webhook-service\n",
              "namespace: webhook-service\nnameSuffix: -v2\n")
    branch("base-next", "base-next: a renamed copy of base, used by nothing", next_base)

    upstream = root / "overlays/production/upstream"
    upstream.symlink_to("../../base")
    _edit(root / PRODUCTION, RESOURCES, "resources:\n  - upstream\n")
    c["link"] = _commit(root, "production: resources through the symbolic link upstream -> ../../base")
    upstream.unlink()
    upstream.symlink_to("../../base-next")
    c["link-flip"] = _commit(root, "production: upstream -> ../../base-next (only the link changes)")

    def hidden() -> None:
        (root / ".gitattributes").write_text("overlays/production/kustomization.yaml export-subst\n")
        (root / PRODUCTION).write_text((root / PRODUCTION).read_text() + HIDDEN_RENAME)
    branch("export-subst", "production: a rename git archive does not show", hidden)
    return root, c


def _lines(out: str, rule: str) -> list[str]:
    return [line for line in out.splitlines() if f" {rule} " in line]


def test_name_suffix_in_production_is_wh_diff_001_and_exit_1(repo):
    root, c = repo
    proc = _cli(root, "diff", "--base", c["keep"], "--head", c["suffix"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    production = [line for line in _lines(proc.stdout, "WH-DIFF-001") if " overlays/production " in line]
    assert {line.split()[3].split("/")[0] for line in production} == DEPENDENTS  # kind/namespace/name
    assert len(production) == 7  # the Rollout, both Services, the HPA, the PDB, the Ingress, the VirtualService
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
    assert len(warnings) == 7 and all(line.startswith("WARNING WH-DIFF-002 overlays/staging ") for line in warnings)
    assert "staging Rollout webhook-service renamed to webhook-service-v2" in proc.stdout
    assert not _lines(proc.stdout, "WH-DIFF-001") and proc.stdout.rstrip().endswith("0 error(s), 7 warning(s)")


APPLICATION = "ERROR   WH-DIFF-001 Application argocd/webhook-service-production "


def test_an_application_pointed_at_a_renamed_copy_is_wh_diff_001(repo):
    """Red team: copy overlays/production to overlays/production-v2 with nameSuffix -v2 and point the production
    Application there. Each folder's rendering is unchanged or new, so per folder nothing was renamed; what the
    Application syncs is."""
    root, c = repo
    proc = _cli(root, "diff", "--base", c["keep"], "--head", c["app-v2"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    assert "=== overlays/production: no rendered change" in proc.stdout
    assert "=== overlays/production-v2: new target; " in proc.stdout
    found = _lines(proc.stdout, "WH-DIFF-001")
    assert len(found) == 7 and all(line.startswith(APPLICATION) for line in found), found
    assert {line[len(APPLICATION):].split("/")[0] for line in found} == DEPENDENTS
    rollout = next(line for line in found if " Rollout/webhook-service/webhook-service: " in line)
    assert ("Application argocd/webhook-service-production syncs overlays/production-v2 instead of overlays/production: "
            "production Rollout webhook-service renamed to webhook-service-v2: Argo CD creates webhook-service-v2, "
            "a new Rollout whose first revision Argo Rollouts promotes straight to 100 %") in rollout

    # renaming the Application as well: the old one is gone, the new one syncs the renamed copy
    renamed = _cli(root, "diff", "--base", c["keep"], "--head", c["app-renamed-v2"])
    assert renamed.returncode == 1, renamed.stdout[-3000:] + renamed.stderr
    found = _lines(renamed.stdout, "WH-DIFF-001")
    assert len(found) == 7 and all(line.startswith(APPLICATION) for line in found), found
    assert "Application argocd/webhook-service-production is gone at the head, and the Application(s) new at the head " \
           "sync what it synced otherwise: production Rollout webhook-service renamed to webhook-service-v2" in renamed.stdout


def test_an_application_moved_to_the_same_objects_is_clean(repo):
    """Pointing the Application at a copy that renders the same objects, or renaming the Application, keeps every
    object's identity."""
    root, c = repo
    for head in ("app-copy", "app-renamed"):
        proc = _cli(root, "diff", "--base", c["keep"], "--head", c[head])
        assert proc.returncode == 0, head + proc.stdout[-3000:] + proc.stderr
        assert "WH-DIFF" not in proc.stdout, head


def test_deleting_the_production_ingress_is_wh_diff_001(repo):
    """Red team: a `$patch: delete` of Ingress webhook-service passed validate and diff; Argo CD prunes the only
    public entry point."""
    root, c = repo
    proc = _cli(root, "diff", "--base", c["keep"], "--head", c["no-ingress"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    found = [line for line in _lines(proc.stdout, "WH-DIFF-001") if " overlays/production " in line]
    assert len(found) == 1 and found[0].startswith(
        "ERROR   WH-DIFF-001 overlays/production Ingress/webhook-service/webhook-service: production Ingress "
        "webhook-service removed: Argo CD prunes webhook-service, which routes to Service webhook-service of Rollout "
        "webhook-service: requests to its hosts find no route"), found


def test_a_symbolic_link_repointed_at_a_renamed_copy_is_wh_diff_001(repo):
    """Red team: production reads its resources through `upstream -> ../../base`; repointing only the link at a
    renamed copy (../../base-next) changed no file any target was known to read: "no target is affected"."""
    root, c = repo
    adding = _cli(root, "diff", "--base", c["base-next"], "--head", c["link"])
    assert adding.returncode == 0 and "WH-DIFF" not in adding.stdout, adding.stdout[-3000:] + adding.stderr
    assert "=== overlays/production: no rendered change" in adding.stdout
    proc = _cli(root, "diff", "--base", c["link"], "--head", c["link-flip"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    assert "=== overlays/production: 22 added, 22 removed, 0 changed" in proc.stdout
    found = [line for line in _lines(proc.stdout, "WH-DIFF-001") if " overlays/production " in line]
    assert len(found) == 7 and all(line.startswith("ERROR   WH-DIFF-001 overlays/production ") for line in found)
    assert "production Rollout webhook-service renamed to webhook-service-v2" in proc.stdout
    # validate --changed reads the same inputs
    affected = gitdiff.affected(root, c["link"], c["link-flip"], settings.load(root))
    assert "overlays/production" in {Path(t).resolve().relative_to(root.resolve()).as_posix() for t in affected}


def test_export_subst_does_not_hide_a_rename(repo):
    """Red team: `git archive` applies the tree's export-subst, so the patch target diff rendered ([x]) was not the
    one Argo CD's checkout renders ([$Format:%e$x], which matches webhook-service)."""
    root, c = repo
    proc = _cli(root, "diff", "--base", c["keep"], "--head", c["export-subst"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    found = _lines(proc.stdout, "WH-DIFF-001")
    assert any(line.startswith("ERROR   WH-DIFF-001 overlays/production Rollout/webhook-service/webhook-service: "
                               "production Rollout webhook-service renamed to webhook-service-v2") for line in found)


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


def test_ingresses_and_virtual_services_that_route_to_the_workload_are_dependents():
    """The production Ingress (the only public entry point) and the VirtualServices routing to the Rollout's Services,
    or named by its traffic routing, are what a deletion prunes with the traffic; routes to other Services are not."""
    rollout = _rollout()
    rollout["spec"]["strategy"]["canary"]["trafficRouting"] = {"istio": {"virtualService": {"name": "named.ns"}}}
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    routes = [
        _obj("networking.k8s.io/v1", "Ingress", "web", {"rules": [{"host": "h", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}),
        _obj("networking.k8s.io/v1", "Ingress", "other", {"defaultBackend": {"service": {"name": "unrelated"}}}),
        _obj("networking.istio.io/v1", "VirtualService", "mesh", {"hosts": ["h"], "http": [
            {"route": [{"destination": {"host": "web-canary.ns.svc.cluster.local"}}]}]}),
        _obj("networking.istio.io/v1", "VirtualService", "named", {"hosts": ["x"], "http": [
            {"route": [{"destination": {"host": "elsewhere"}}]}]}),
        _obj("networking.istio.io/v1", "VirtualService", "db", {"hosts": ["db"], "tcp": [
            {"route": [{"destination": {"host": "unrelated"}}]}]}),
        _obj("networking.istio.io/v1", "VirtualService", "web-other-ns", {"hosts": ["y"], "http": [
            {"route": [{"destination": {"host": "web.ns2.svc.cluster.local"}}]}]}),
    ]
    kept = [rollout] + _world()[1:]
    found = _found(kept + routes, kept)
    assert set(found) == {"Ingress/web", "VirtualService/mesh", "VirtualService/named"}
    assert found["Ingress/web"][1].startswith(
        "production Ingress web removed: Argo CD prunes web, which routes to Service web of Rollout web: requests to "
        "its hosts find no route until another Ingress serves them (the public entry point). Keep it")
    assert "which routes to Service web-canary of Rollout web" in found["VirtualService/mesh"][1]
    assert "which carries the canary weights of Rollout web" in found["VirtualService/named"][1]
    renamed = _found(kept + routes[:1], kept + [dict(routes[0], metadata={**routes[0]["metadata"], "name": "web-v2"})])
    assert renamed["Ingress/web"][1].startswith("production Ingress web renamed to web-v2: Argo CD creates web-v2 and "
                                                "prunes web")


def _synced(ns_override: str = "", namespace: str = "ns", path: str = "o") -> gitdiff.Synced:
    return gitdiff.Synced(((path, ns_override),), (), namespace)


def test_an_application_judged_as_a_target():
    """What an Application syncs at the base against what it syncs at the head: a namespace it now applies its
    overlay into is a rename of every object; renaming the Application alone is none; an Application gone with nothing
    new to sync its objects removes them; a side that does not render is not judged."""
    world = _world()
    diffs = {"o": gitdiff.compare("o", gitdiff.Side({}, docs=world), gitdiff.Side({}, docs=world)),
             "p": gitdiff.compare("p", gitdiff.Side({}, docs=world), gitdiff.Side(error="p: bad"))}
    assert not diffs["o"].findings  # the folder itself is unchanged
    app = {"argocd/web": _synced()}
    assert gitdiff.moved(app, {"argocd/web": _synced()}) == []
    assert gitdiff.moved(None, app) == [] and gitdiff.moved(app, None) == []

    [m] = gitdiff.moved(app, {"argocd/web": _synced("ns2", "ns2")})
    found = {f"{v.kind}/{v.name}": v for v in gitdiff.judge_application(m, diffs)}
    assert set(found) == {"Rollout/web", "Service/web", "Service/web-canary", "HorizontalPodAutoscaler/web",
                          "PodDisruptionBudget/web"}
    assert found["Rollout/web"].source == "Application argocd/web" and found["Rollout/web"].rule == "WH-DIFF-001"
    assert found["Rollout/web"].message.startswith(
        "Application argocd/web syncs o (namespace ns2) into namespace ns2 instead of o into namespace ns: "
        "production Rollout web renamed to ns2/web: ")

    [m] = gitdiff.moved(app, {"argocd/web-renamed": _synced()})
    assert m.gone and gitdiff.judge_application(m, diffs) == []
    [m] = gitdiff.moved(app, {})
    gone = gitdiff.judge_application(m, diffs)
    assert len(gone) == 5 and gone[0].message.startswith(
        "Application argocd/web is gone at the head and no Application new at the head syncs what it synced: ")
    [m] = gitdiff.moved(app, {"argocd/web": _synced(path="p")})
    assert gitdiff.judge_application(m, diffs) is None  # validate reports the overlay that does not build

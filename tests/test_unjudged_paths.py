"""WH-REF-057: every folder an Application (or an ApplicationSet list element) syncs from this repository is a target of
`gitops-check validate`. A red team pointed production's Application at a new deploy/prod whose kustomization patched
production's Rollout to no canary steps and an unpinned image: validate exited 0, since it never renders a folder
that is not a target (the references stage only checked that the path builds); `validate deploy/prod` alone failed
with 4 errors.

Also what Argo CD syncs in place of the path the harness read: `sources` when both `source` and `sources` are set
(ApplicationSpec.GetSources), a sourceHydrator's output, the repository's root for a source without a path, and an
Application's path taken literally (Argo CD templates no Application)."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import FIXTURES, check_references
from gitops_check import loader, references
from gitops_check.context import Context
from gitops_check.model import Source

HERE = FIXTURES / "references"
OVERLAY = "tests/fixtures/references/overlay"


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


run = check_references

PROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: web, namespace: argocd}
spec:
  sourceRepos: [https://github.com/company/webhook-gitops.git]
  destinations:
    - {server: https://kubernetes.default.svc, namespace: app}
"""


def application(source: str, name: str = "web-production", extra: str = "") -> str:
    """An Application of PROJECT with SOURCE (the lines under spec, `source:` or `sources:` included)."""
    return f"""---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {name}, namespace: argocd}}
spec:
  project: web
{source}  destination: {{server: https://kubernetes.default.svc, namespace: app}}
{extra}"""


def source(path: str) -> str:
    return f"  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    targetRevision: main\n    path: {path}\n"


def in_argocd(ctx, text: str) -> list:
    """The findings for TEXT rendered as the repository's `argocd` target: a source validate judges by default."""
    docs = loader.parse(text, "argocd")
    return references.check([Source("argocd", "overlay", docs, path=ctx.settings.repo_root / "argocd")], ctx)


def rules(found: list) -> list[str]:
    return [v.rule for v in found]


# --------------------------------------------------------------------------- a repository of its own


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {replicas: '3'}\n"


@pytest.fixture
def repo(ctx, tmp_path):
    """A repository with the harness's target globs: overlays/production (a target), deploy/prod (a folder that is
    none, building production with a patch, as the red team's did), argocd/ (a target)."""
    (tmp_path / "overlays" / "production").mkdir(parents=True)
    (tmp_path / "overlays" / "production" / "configmap.yaml").write_text(CONFIGMAP)
    (tmp_path / "overlays" / "production" / "kustomization.yaml").write_text("namespace: app\nresources: [configmap.yaml]\n")
    (tmp_path / "deploy" / "prod").mkdir(parents=True)
    (tmp_path / "deploy" / "prod" / "kustomization.yaml").write_text(
        "resources: [../../overlays/production]\n"
        "patches:\n  - patch: |-\n      - {op: replace, path: /data/replicas, value: '1'}\n"
        "    target: {kind: ConfigMap, name: web}\n")
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd" / "kustomization.yaml").write_text("resources: []\n")
    local = Context(dataclasses.replace(ctx.settings, repo_root=tmp_path), tmp_path / ".work")
    assert local.settings.targets == ("overlays/*", "tests/overlays/*", "argocd")
    return local


def judged_in(local: Context, text: str) -> list:
    docs = loader.parse(text, "argocd")
    return references.check([Source("argocd", "overlay", docs, path=local.settings.repo_root / "argocd")], local)


def test_red_team_application_pointed_at_a_folder_validate_never_judges(repo):
    found = judged_in(repo, PROJECT + application(source("deploy/prod")))
    assert rules(found) == ["WH-REF-057"], [v.message for v in found]
    message = found[0].message
    assert message.startswith("Application 'web-production' syncs source path 'deploy/prod', which is not a target of "
                              "gitops-check validate (pyproject.toml [tool.gitops-check] targets: overlays/*, "
                              "tests/overlays/*, argocd)")
    assert message.endswith("; point the Application at a target, or add the folder to targets")
    assert (found[0].kind, found[0].name) == ("Application", "web-production")


def test_an_application_on_a_target_is_clean(repo):
    assert judged_in(repo, PROJECT + application(source("overlays/production"))) == []
    assert judged_in(repo, PROJECT + application(source("./overlays/production/"))) == []  # the same folder


def test_a_symbolic_link_names_the_folder_it_leads_to(repo):
    """validate judges overlays/prod2 when it is a link to deploy/prod: an Application on deploy/prod is judged; and an
    Application on a link to a target is judged too."""
    root = repo.settings.repo_root
    (root / "link").symlink_to("overlays/production")
    assert judged_in(repo, PROJECT + application(source("link"))) == []
    assert rules(judged_in(repo, PROJECT + application(source("deploy/prod")))) == ["WH-REF-057"]
    (root / "overlays" / "prod2").symlink_to("../deploy/prod")
    assert judged_in(repo, PROJECT + application(source("deploy/prod"))) == []


def test_every_element_of_an_application_set_is_judged(repo):
    appset = PROJECT + """---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - {env: production, path: overlays/production}
          - {env: prod, path: deploy/prod}
  template:
    metadata: {name: 'web-{{.env}}'}
    spec:
      project: web
      source: {repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, path: '{{.path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: app}
"""
    found = judged_in(repo, appset)
    assert rules(found) == ["WH-REF-057"]
    assert found[0].message.startswith("list element 1: Application 'web-prod' syncs source path 'deploy/prod'")
    assert (found[0].kind, found[0].name) == ("ApplicationSet", "web")


def test_sources_are_what_argo_cd_syncs_when_both_are_set(repo):
    """ApplicationSpec.GetSources: a non-empty `sources` is synced and `source` ignored. The harness read `source`."""
    both = source("overlays/production") + (
        "  sources:\n    - {repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, path: deploy/prod}\n")
    found = judged_in(repo, PROJECT + application(both))
    assert rules(found) == ["WH-REF-057"] and "'deploy/prod'" in found[0].message
    many = ("  sources:\n    - {repoURL: https://github.com/company/webhook-gitops.git, path: overlays/production}\n"
            "    - {repoURL: https://github.com/company/webhook-gitops.git, path: deploy/prod}\n")
    assert rules(judged_in(repo, PROJECT + application(many))) == ["WH-REF-057"]


def test_a_source_hydrator_is_reported(repo):
    """Argo CD syncs what its hydrator commits from drySource (GetSources returns the sync source), never source."""
    hydrator = source("overlays/production") + (
        "  sourceHydrator:\n    drySource: {repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, "
        "path: deploy/prod}\n    syncSource: {targetBranch: environments/prod, path: prod}\n")
    found = judged_in(repo, PROJECT + application(hydrator))
    assert rules(found) == ["WH-REF-057"]
    assert "sets spec.sourceHydrator" in found[0].message and "(path 'deploy/prod')" in found[0].message
    assert "; remove sourceHydrator" in found[0].message


def test_an_application_path_is_literal(repo):
    """Argo CD templates no Application: `{{x}}` is a folder of that name. It was skipped as unresolved, unjudged."""
    folder = repo.settings.repo_root / "{{x}}"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources: [../overlays/production]\n")
    found = judged_in(repo, PROJECT + application(source("'{{x}}'")))
    assert rules(found) == ["WH-REF-057"] and "'{{x}}'" in found[0].message


def test_a_source_without_a_path_is_the_repository_root(repo):
    """A git source without `path` renders the repository's root: no overlay here (WH-REF-032). A `ref` source of a
    multi-source Application without a path only lends its files to the others."""
    found = judged_in(repo, PROJECT + application("  source: {repoURL: https://github.com/company/webhook-gitops.git}\n"))
    assert rules(found) == ["WH-REF-032"] and "source path ''" in found[0].message
    ref = ("  sources:\n    - {repoURL: https://github.com/company/webhook-gitops.git, path: overlays/production}\n"
           "    - {repoURL: https://github.com/company/webhook-gitops.git, ref: values}\n")
    assert judged_in(repo, PROJECT + application(ref)) == []


def test_a_repository_whose_targets_match_nothing_has_no_default_run(ctx, tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "configmap.yaml").write_text(CONFIGMAP)
    (tmp_path / "deploy" / "kustomization.yaml").write_text("namespace: app\nresources: [configmap.yaml]\n")
    local = Context(dataclasses.replace(ctx.settings, repo_root=tmp_path), tmp_path / ".work")
    found = references.check([Source("inline", "file", loader.parse(PROJECT + application(source("deploy")), "inline"))],
                             local)
    assert found == []


# --------------------------------------------------------------------------- this repository


def test_fixture_names_what_to_do(ctx):
    found = run(ctx, (HERE / "WH-REF-057.yaml").read_text())
    assert rules(found) == ["WH-REF-057"]
    assert "syncs source path 'base', which is not a target" in found[0].message


def test_in_a_default_target_even_the_test_fixtures_are_refused(ctx):
    """The argocd/ target is judged on every validate: its Applications may name targets only (tests/fixtures is
    none). A test's own Application (never synced) may name the fixtures' overlays."""
    text = PROJECT + application(source(OVERLAY), name="web")
    assert "WH-REF-057" in rules(in_argocd(ctx, text))
    assert "WH-REF-057" not in rules(run(ctx, text))
    assert "WH-REF-057" not in rules(in_argocd(ctx, PROJECT + application(source("overlays/staging"))))
    assert "WH-REF-057" in rules(run(ctx, PROJECT + application(source("base"))))


def test_the_repositorys_applications_stay_clean(ctx):
    """argocd/ as validate renders it: its Applications sync overlays/staging and overlays/production."""
    from gitops_check import render

    settings = ctx.settings
    docs = render.documents(settings.applications, settings.display(settings.applications), settings)
    assert {d.kind for d in docs} >= {"Application", "AppProject"}
    found = references.check([Source("argocd", "overlay", docs, path=settings.applications)], ctx)
    assert "WH-REF-057" not in rules(found), [v.message for v in found]

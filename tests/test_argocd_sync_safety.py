"""Argo CD settings that make a validated overlay unsafe to sync: render options Argo CD applies on top of the
overlay (WH-REF-049), objects the AppProject does not permit (WH-REF-050), and ignored differences that keep a
new pod template, or any field in it but its annotations, out of the cluster while Argo CD shows Synced
(WH-REF-051). ApplicationSets whose Applications cannot be enumerated: tests/test_applicationset_generators.py."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from conftest import FIXTURES, check_references
from gitops_check import loader, references
from gitops_check.context import Context
from gitops_check.model import Source
from gitops_check.references import globs

HERE = FIXTURES / "references"
OVERLAY = "tests/fixtures/references/overlay"
ROLLOUT_OVERLAY = "tests/fixtures/references/overlay-rollout"


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


run = check_references


def rules(ctx, text: str) -> list[str]:
    return [v.rule for v in run(ctx, text)]


PROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: web, namespace: argocd}
spec:
  sourceRepos: [https://github.com/company/webhook-gitops.git]
  destinations:
    - {server: https://kubernetes.default.svc, namespace: app}
"""


def application(path: str = OVERLAY, extra: str = "", source_extra: str = "") -> str:
    """An Application of the fixtures' project on PATH, with SOURCE_EXTRA under its source and EXTRA under spec."""
    return f"""---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: web, namespace: argocd}}
spec:
  project: web
  source:
    repoURL: https://github.com/company/webhook-gitops.git
    targetRevision: main
    path: {path}
{source_extra}  destination: {{server: https://kubernetes.default.svc, namespace: app}}
{extra}"""


# --------------------------------------------------------------------------- WH-REF-049 render options


def test_red_team_kustomize_images_and_patches_are_refused(ctx):
    found = run(ctx, (HERE / "WH-REF-049.yaml").read_text())
    assert [v.rule for v in found] == ["WH-REF-049"]
    assert "images, patches" in found[0].message and "namespace" not in found[0].message.split(";")[0]
    assert "move the change into the overlay" in found[0].message


@pytest.mark.parametrize(
    "option",
    [
        "images: [web=web:2]", "namePrefix: x-", "nameSuffix: -x", "commonLabels: {team: x}",
        "commonAnnotations: {a: b}", "forceCommonLabels: true", "forceCommonAnnotations: true",
        "labelWithoutSelector: true", "labelIncludeTemplates: true", "commonAnnotationsEnvsubst: true",
        "replicas: [{name: web, count: 1}]", "components: [../../components/x]", "version: v5.0.0",
        "kubeVersion: '1.30'", "apiVersions: [v1/Pod]", "someFutureOption: x",
    ],
)
def test_every_kustomize_option_that_changes_the_render_is_refused(ctx, option):
    text = PROJECT + application(source_extra=f"    kustomize:\n      {option}\n")
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-049"]
    assert option.split(":")[0] in found[0].message


@pytest.mark.parametrize(
    "kustomize",
    ["{namespace: app}", "{}", "null", "{images: [], patches: [], namePrefix: '', forceCommonLabels: false}",
     "{ignoreMissingComponents: true}"],
    ids=["modelled-namespace", "empty", "null", "empty-values", "ignore-missing-components"],
)
def test_modelled_or_empty_kustomize_options_stay_clean(ctx, kustomize):
    assert rules(ctx, PROJECT + application(source_extra=f"    kustomize: {kustomize}\n")) == []


def test_kustomize_namespace_override_is_still_judged_by_wh_ref_033(ctx):
    assert rules(ctx, PROJECT + application(source_extra="    kustomize: {namespace: other}\n")) == ["WH-REF-033"]


@pytest.mark.parametrize("tool", ["helm: {}", "helm: {valueFiles: [values.yaml]}", "plugin: {name: envsubst}",
                                  "directory: {recurse: true}"])
def test_other_tools_on_an_overlay_are_refused(ctx, tool):
    found = run(ctx, PROJECT + application(source_extra=f"    {tool}\n"))
    assert [v.rule for v in found] == ["WH-REF-049"]
    assert tool.split(":")[0] + " options" in found[0].message and "not as kustomize builds it" in found[0].message


def test_helm_chart_source_is_not_an_overlay_here(ctx):
    """A chart from a Helm repository is no overlay of this repository: its helm options are its own business."""
    text = PROJECT.replace("sourceRepos: [", "sourceRepos: [https://charts.example.com, ") + application().replace(
        f"    repoURL: https://github.com/company/webhook-gitops.git\n    targetRevision: main\n    path: {OVERLAY}\n",
        "    repoURL: https://charts.example.com\n    chart: web\n    targetRevision: 1.0.0\n    helm: {releaseName: web}\n",
    )
    assert "WH-REF-049" not in rules(ctx, text)


def test_multiple_sources_are_each_judged(ctx):
    text = PROJECT + application().replace(
        f"  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    targetRevision: main\n    path: {OVERLAY}\n",
        "  sources:\n"
        f"    - {{repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, path: {OVERLAY}}}\n"
        f"    - repoURL: https://github.com/company/webhook-gitops.git\n      targetRevision: main\n      path: {OVERLAY}\n"
        "      kustomize: {nameSuffix: -v2}\n",
    )
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-049"] and "nameSuffix" in found[0].message


def test_applicationset_template_render_options_are_refused(ctx):
    text = (HERE / "clean-argocd.yaml").read_text().replace(
        "        path: '{{.path}}'\n", "        path: '{{.path}}'\n        kustomize:\n          images: [web=web:latest]\n"
    )
    found = run(ctx, text)
    assert [(v.rule, v.kind) for v in found] == [("WH-REF-049", "ApplicationSet")]
    assert found[0].message.startswith("list element 0: ")


@pytest.mark.parametrize("file", [".argocd-source.yaml", ".argocd-source-web.yaml"])
def test_argocd_source_override_file_in_the_overlay_is_refused(ctx, tmp_path, file):
    """Argo CD merges .argocd-source.yaml and .argocd-source-<app>.yaml of the source path into the source (the
    files Argo CD Image Updater writes back)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    for name in ("kustomization.yaml", "configmap.yaml"):
        (overlay / name).write_text((HERE / "overlay" / name).read_text())
    (overlay / file).write_text("kustomize:\n  images: [web=web:latest]\n")
    local = Context(dataclasses.replace(ctx.settings, repo_root=tmp_path), tmp_path / "work")
    text = PROJECT + application(path="overlay")
    found = references.check([Source("inline", "file", loader.parse(text, "inline"))], local)
    assert [v.rule for v in found] == ["WH-REF-049"]
    assert f"overlay/{file}" in found[0].message and "images" in found[0].message
    (overlay / file).write_text("kustomize:\n  images: []\n")  # nothing set: Argo CD renders the overlay as it is
    assert references.check([Source("inline", "file", loader.parse(text, "inline"))], local) == []
    (overlay / ".argocd-source-other.yaml").write_text("kustomize:\n  images: [web=web:latest]\n")
    assert references.check([Source("inline", "file", loader.parse(text, "inline"))], local) == []


# --------------------------------------------------------------------------- WH-REF-050 project resource lists

WHITELIST = "  namespaceResourceWhitelist:\n    - {group: '', kind: Service}\n    - {group: '', kind: ConfigMap}\n"


def rollout_project(lists: str) -> str:
    return PROJECT + lists + application(path=ROLLOUT_OVERLAY)


def test_red_team_kind_missing_from_the_namespace_whitelist_is_reported(ctx):
    found = run(ctx, (HERE / "WH-REF-050.yaml").read_text())
    assert [v.rule for v in found] == ["WH-REF-050"]
    assert "Rollout web" in found[0].message and "namespaceResourceWhitelist" in found[0].message
    assert "{group: 'argoproj.io', kind: Rollout}" in found[0].message


@pytest.mark.parametrize(
    ("lists", "fires"),
    [
        ("", False),  # no namespaceResourceWhitelist: every namespaced kind is permitted
        ("  namespaceResourceWhitelist: null\n", False),
        ("  namespaceResourceWhitelist: []\n", True),  # an empty (not absent) whitelist permits none
        (WHITELIST + "    - {group: argoproj.io, kind: Rollout}\n", False),
        (WHITELIST + "    - {group: 'argoproj.*', kind: '*'}\n", False),  # globs
        (WHITELIST + "    - {group: 'argoproj.io', kind: 'Roll[a-z]ut'}\n", False),
        (WHITELIST + "    - {group: 'argoproj.io', kind: 'Roll[^o]ut'}\n", True),  # Go's negated class
        (WHITELIST + "    - {group: 'argoproj.io', kind: 'Rollout[', name: x}\n", True),  # malformed: matches nothing
        ("  namespaceResourceWhitelist:\n    - {group: '*', kind: '*'}\n", False),
        (WHITELIST + "    - {kind: Rollout}\n", True),  # no group means the core group
        ("  namespaceResourceBlacklist:\n    - {group: argoproj.io, kind: Rollout}\n", True),
        ("  namespaceResourceBlacklist:\n    - {group: '*', kind: Rollou?}\n", True),
        ("  namespaceResourceBlacklist:\n    - {group: apps, kind: Deployment}\n", False),
        # cluster lists do not judge namespaced kinds
        ("  clusterResourceWhitelist: []\n  clusterResourceBlacklist:\n    - {group: '*', kind: '*'}\n", False),
    ],
)
def test_namespaced_kinds_follow_argo_cds_lists(ctx, lists, fires):
    found = run(ctx, rollout_project(lists))
    assert {v.rule for v in found} == ({"WH-REF-050"} if fires else set())
    assert all("Rollout web" in v.message or "[]" in lists for v in found)


NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n"


def _with_namespace(ctx, tmp_path, lists: str) -> list:
    """An overlay rendering the fixtures' ConfigMap and its Namespace (cluster-scoped)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir(exist_ok=True)
    (overlay / "configmap.yaml").write_text((HERE / "overlay" / "configmap.yaml").read_text())
    (overlay / "namespace.yaml").write_text(NAMESPACE)
    (overlay / "kustomization.yaml").write_text("namespace: app\nresources: [namespace.yaml, configmap.yaml]\n")
    local = Context(dataclasses.replace(ctx.settings, repo_root=tmp_path), tmp_path / "work")
    text = PROJECT + lists + application(path="overlay")
    return [v for v in references.check([Source("inline", "file", loader.parse(text, "inline"))], local)]


@pytest.mark.parametrize(
    ("lists", "fires"),
    [
        ("", True),  # no clusterResourceWhitelist: no cluster-scoped kind is permitted
        ("  clusterResourceWhitelist: []\n", True),
        ("  clusterResourceWhitelist:\n    - {group: '', kind: Namespace}\n", False),
        ("  clusterResourceWhitelist:\n    - {group: '*', kind: '*'}\n", False),
        ("  clusterResourceWhitelist:\n    - {group: '', kind: Namespace, name: app}\n", False),
        ("  clusterResourceWhitelist:\n    - {group: '', kind: Namespace, name: 'other-*'}\n", True),
        ("  clusterResourceWhitelist:\n    - {group: '*', kind: '*'}\n  clusterResourceBlacklist:\n"
         "    - {group: '', kind: Namespace}\n", True),
        # a namespaced whitelist does not permit a cluster-scoped kind
        ("  namespaceResourceWhitelist:\n    - {group: '*', kind: '*'}\n", True),
    ],
)
def test_cluster_scoped_kinds_follow_argo_cds_lists(ctx, tmp_path, lists, fires):
    found = _with_namespace(ctx, tmp_path, lists)
    assert [v.rule for v in found] == (["WH-REF-050"] if fires else [])
    if fires:
        assert "Namespace app" in found[0].message and "clusterResource" in found[0].message


def test_project_outside_the_source_is_not_judged(ctx):
    text = (HERE / "WH-REF-050.yaml").read_text().split("---\n", 1)[1]
    assert rules(ctx, text) == ["WH-REF-035"]


def test_go_glob_reads_patterns_as_filepath_match():
    assert globs.go_match("*", "") and globs.go_match("", "") and not globs.go_match("", "apps")
    assert globs.go_match("[^a]pps", "xpps") and not globs.go_match("[!a]pps", "xpps")  # '!' is no negation
    assert globs.go_match("\\*", "*") and not globs.go_match("\\*", "x")
    assert not globs.go_match("[]a]", "a") and not globs.go_match("[", "[") and not globs.go_match("[b-a]", "a")


# --------------------------------------------------------------------------- WH-REF-051 ignored pod templates


def ignoring(entries: str, options: str = "[RespectIgnoreDifferences=true]", policy: str = "") -> str:
    return PROJECT + application(
        path=ROLLOUT_OVERLAY,
        extra=f"  syncPolicy:\n{policy}    syncOptions: {options}\n  ignoreDifferences:\n{entries}",
    )


ROLLOUT = "    - group: argoproj.io\n      kind: Rollout\n"


def test_red_team_ignored_template_with_respect_ignore_differences_is_reported(ctx):
    found = run(ctx, ignoring(ROLLOUT + "      jqPathExpressions: ['.spec.template']\n"))
    assert [v.rule for v in found] == ["WH-REF-051"]
    assert "Rollout web" in found[0].message and "RespectIgnoreDifferences=true" in found[0].message


@pytest.mark.parametrize(
    "expression",
    ["jsonPointers: [/spec/template/spec/containers/0/env]", "jsonPointers: [/spec/template/spec/containers/0/command]",
     "jqPathExpressions: ['.spec.template.spec.containers[].env']"],
)
def test_red_team_ignored_field_inside_the_template_is_reported(ctx, expression):
    """A path inside the pod template passed (only the template, its ancestors and the images were judged): with
    RespectIgnoreDifferences=true (or automated sync) a new env value or command in git never reached the cluster."""
    found = run(ctx, ignoring(ROLLOUT + f"      {expression}\n"))
    assert [v.rule for v in found] == ["WH-REF-051"]
    assert "Rollout web" in found[0].message and "fields in it" in found[0].message
    assert expression.split("[", 1)[1].strip("]'") in found[0].message
    automated = run(ctx, ignoring(ROLLOUT + f"      {expression}\n", "[]", "    automated: {prune: true}\n"))
    assert [v.rule for v in automated] == ["WH-REF-051"] and "OutOfSync" in automated[0].message


def test_fixture_reports_only_the_template_entry(ctx):
    found = run(ctx, (HERE / "WH-REF-051.yaml").read_text())
    assert [v.rule for v in found] == ["WH-REF-051"] and "ignoreDifferences[1]" in found[0].message


@pytest.mark.parametrize(
    "expression",
    [
        "jsonPointers: [/spec/template]", "jsonPointers: [/spec]", "jsonPointers: ['']",
        "jsonPointers: [/spec/template/spec]", "jsonPointers: [/spec/template/spec/containers]",
        "jsonPointers: [/spec/template/spec/containers/0/image]", "jsonPointers: [/spec/template/spec/initContainers/1]",
        "jqPathExpressions: [.spec.template]", "jqPathExpressions: [.spec]", "jqPathExpressions: ['.']",
        "jqPathExpressions: ['.spec.template.spec.containers[].image']",
        "jqPathExpressions: ['.spec.template.spec.containers[0].image']",
        "jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == \"web\")']",
        "jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == \"web\") | .image']",
        "jqPathExpressions: ['.spec[\"template\"]']", "jqPathExpressions: ['.[\"spec\"].template?']",
        "jqPathExpressions: ['.spec | .template']", "jqPathExpressions: ['.spec.replicas, .spec.template']",
        "jqPathExpressions: ['(.spec.template)']", "jqPathExpressions: ['.spec[]']",
        "jqPathExpressions: ['.. | .image?']", "jqPathExpressions: ['.spec.template.spec.containers[] | ..']",
        "managedFieldsManagers: [kubectl-edit]",
        # fields inside the pod template: a change there in git never reaches the cluster either
        "jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == \"web\") | .resources']",
        "jsonPointers: [/spec/template/spec/containers/0/args]", "jsonPointers: [/spec/template/spec/containers/0/resources/limits]",
        "jsonPointers: [/spec/template/spec/initContainers/0/command]", "jsonPointers: [/spec/template/spec/volumes]",
        "jsonPointers: [/spec/template/spec/serviceAccountName]", "jsonPointers: [/spec/template/metadata/labels]",
        "jsonPointers: [/spec/template/metadata]",  # its labels included
        "jqPathExpressions: ['.spec.template.metadata[]']",  # any key: the labels too
        "jqPathExpressions: ['.spec.template.metadata | ..']",
        "jqPathExpressions: ['.spec.template.spec.containers[].readinessProbe']",
        "jqPathExpressions: ['.spec.template.spec.containers[].envFrom, .spec.replicas']",
    ],
)
def test_ignored_template_or_image_is_reported(ctx, expression):
    found = run(ctx, ignoring(ROLLOUT + f"      {expression}\n"))
    assert [v.rule for v in found] == ["WH-REF-051"], expression


@pytest.mark.parametrize(
    "expression",
    [
        "jsonPointers: [/spec/replicas]",  # the HPA case
        "jqPathExpressions: [.spec.replicas]",
        "jsonPointers: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt']",
        "jqPathExpressions: ['.spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]']",
        # the template's annotations and everything in them: kubectl rollout restart's, a restart is no release
        "jsonPointers: [/spec/template/metadata/annotations]", "jqPathExpressions: ['.spec.template.metadata.annotations']",
        "jqPathExpressions: ['.spec.template.metadata.annotations | ..']",
        "jqPathExpressions: ['.metadata.labels']", "jsonPointers: [/spec/revisionHistoryLimit]",
        "jsonPointers: [/spec/strategy/canary/steps]",  # outside the template (the canary's own rules judge steps)
        "managedFieldsManagers: [kube-controller-manager]",
    ],
)
def test_ignored_fields_outside_template_and_images_stay_clean(ctx, expression):
    assert rules(ctx, ignoring(ROLLOUT + f"      {expression}\n")) == [], expression


@pytest.mark.parametrize(
    ("entry", "fires"),
    [
        ("    - {kind: Rollout, jsonPointers: [/spec/template]}\n", False),  # no group: the core group only
        ("    - {group: apps, kind: Deployment, jsonPointers: [/spec/template]}\n", False),  # no Deployment here
        ("    - {group: '*', kind: '*', jsonPointers: [/spec/template]}\n", True),
        ("    - {group: argoproj.io, kind: Rollout, name: other, jsonPointers: [/spec/template]}\n", False),
        ("    - {group: argoproj.io, kind: Rollout, name: web, jsonPointers: [/spec/template]}\n", True),
        ("    - {group: argoproj.io, kind: Rollout, namespace: app, jsonPointers: [/spec/template]}\n", True),
        ("    - {group: argoproj.io, kind: Rollout, namespace: other, jsonPointers: [/spec/template]}\n", False),
        ("    - {group: '', kind: Service, jsonPointers: [/spec]}\n", False),  # not a workload
        # Argo CD matches group and kind with util/glob (gobwas): alternatives and classes too
        ("    - {group: argoproj.io, kind: '{Rollout,Deployment}', jsonPointers: [/spec/template]}\n", True),
        ("    - {group: 'argoproj.{io,dev}', kind: 'Roll[!x]ut', jsonPointers: [/spec/template]}\n", True),
        ("    - {group: argoproj.io, kind: '{Deployment,StatefulSet}', jsonPointers: [/spec/template]}\n", False),
    ],
)
def test_entries_apply_to_the_rendered_workloads_as_argo_cd_matches_them(ctx, entry, fires):
    assert rules(ctx, ignoring(entry)) == (["WH-REF-051"] if fires else [])


def test_deployment_entry_is_judged_by_kind_when_the_source_is_not_an_overlay_here(ctx):
    text = ignoring("    - {group: apps, kind: Deployment, jsonPointers: [/spec/template/spec/containers/0/image]}\n")
    text = text.replace(f"path: {ROLLOUT_OVERLAY}", "path: '{{unresolved}}'")
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-051"] and "every Deployment" in found[0].message


@pytest.mark.parametrize(
    ("options", "policy", "fires"),
    [
        ("[RespectIgnoreDifferences=false]", "", False),  # a manual sync applies the template
        ("[]", "", False),
        ("[]", "    automated: {prune: true}\n", True),  # the change never makes the app OutOfSync
        ("[]", "    automated: {enabled: false}\n", False),
        ("[RespectIgnoreDifferences=true]", "    automated: {enabled: false}\n", True),
    ],
)
def test_only_syncs_that_keep_the_ignored_template_are_reported(ctx, options, policy, fires):
    found = run(ctx, ignoring(ROLLOUT + "      jsonPointers: [/spec/template]\n", options, policy))
    assert [v.rule for v in found] == (["WH-REF-051"] if fires else [])
    if fires and "RespectIgnoreDifferences=true" not in options:
        assert "OutOfSync" in found[0].message


def test_the_repositorys_application_shape_stays_clean(ctx):
    """Ignoring Rollout replicas, the Services' selector hash and VirtualService weights (argocd/application)."""
    entries = (
        ROLLOUT + "      jsonPointers: [/spec/replicas]\n"
        "    - group: ''\n      kind: Service\n      jsonPointers: [/spec/selector/rollouts-pod-template-hash]\n"
        "    - group: networking.istio.io\n      kind: VirtualService\n"
        "      jqPathExpressions: ['.spec.http[].route[].weight', '.spec.http[] | select(.name == \"header-canary\")']\n"
    )
    assert rules(ctx, ignoring(entries, "[ServerSideApply=true, RespectIgnoreDifferences=true]",
                               "    automated: {prune: true, selfHeal: true}\n")) == []



@pytest.mark.parametrize(
    "expression",
    ["(" * 500 + ".a" + ")" * 500,  # deeper than the reader follows: an internal error (recursion) before
     "|".join([".a,.a"] * 40)],  # 2^40 paths: minutes before
)
def test_a_jq_expression_too_large_to_read_counts_as_ignoring_everything(ctx, expression):
    """Beyond MAX_JQ_DEPTH parentheses or MAX_JQ_PATHS paths the expression is not read: it may reach anything,
    the pod template included, so the rule reports it (quickly) rather than passing it."""
    started = time.monotonic()
    assert rules(ctx, ignoring(ROLLOUT + f"      jqPathExpressions: [{json.dumps(expression)}]\n")) == ["WH-REF-051"]
    assert time.monotonic() - started < 5


def test_a_glob_with_many_stars_is_matched_in_linear_time(ctx):
    """Thirteen stars took 16 s against each rendered object with a backtracking regex; RE2 does not backtrack."""
    lists = "  namespaceResourceWhitelist:\n    - {group: '*', kind: '*************x'}\n    - {group: '*', kind: '*'}\n"
    started = time.monotonic()
    assert rules(ctx, rollout_project(lists)) == []
    assert time.monotonic() - started < 5
    assert globs.go_match("*" * 40 + "x", "HorizontalPodAutoscaler") is False


def test_an_applicationset_template_patch_is_refused(ctx):
    """Argo CD applies templatePatch to each generated Application; gitops-check reads the template only, so a
    kustomize image set there went unchecked (a red team passed validate with it)."""
    appset = """apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: s, namespace: argocd}
spec:
  goTemplate: true
  generators: [{list: {elements: [{env: app}]}}]
  template:
    metadata: {name: 'web-{{.env}}'}
    spec:
      project: web
      source: {repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, path: PATH}
      destination: {server: https://kubernetes.default.svc, namespace: app}
  templatePatch: |
    spec:
      source:
        kustomize:
          images: [ghcr.io/company/web:latest]
""".replace("PATH", OVERLAY)
    found = [v for v in run(ctx, PROJECT + "---\n" + appset) if v.rule == "WH-REF-049"]
    assert len(found) == 1 and "templatePatch" in found[0].message and found[0].kind == "ApplicationSet"

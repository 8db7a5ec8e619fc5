"""What a sync keeps: the keys of a Secret an ExternalSecret writes through a template (WH-REF-024), and the
Namespace an Application's objects live in (WH-REF-055).

external-secrets (ApplyTemplate): with target.template.data or templateFrom and a mergePolicy other than Merge
(Replace, the default), the Secret holds only the templated keys, not those of spec.data/dataFrom. Argo CD: an
Application without CreateNamespace=true whose overlay stops rendering its Namespace prunes it, and every object in
it goes with it."""

from __future__ import annotations

import copy
import dataclasses
import shutil

import pytest

from conftest import FIXTURES, REPO, check_references
from gitops_check import loader, references, settings
from gitops_check.context import Context
from gitops_check.model import Document, Source
from gitops_check.references.config import ANY_KEY, external_secret_keys

HERE = FIXTURES / "references"
OVERLAY = "tests/fixtures/references/overlay"


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


run = check_references


# --------------------------------------------------------------------------- WH-REF-024: templated ExternalSecrets

WORKLOAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, labels: {environment: staging}}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: web:1.0.0
          ports:
            - {name: http, containerPort: 8080}
            - {name: metrics, containerPort: 9090}
          env:
            - name: DATABASE_PASSWORD
              valueFrom:
                secretKeyRef: {name: web-secrets, key: database-password}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: app}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: web-secrets, namespace: app}
spec:
  secretStoreRef: {kind: ClusterSecretStore, name: vault}
  target:
    name: web-secrets
{target}  data:
    - secretKey: jwt-secret
      remoteRef: {key: web, property: jwt-secret}
    - secretKey: database-password
      remoteRef: {key: web, property: database-password}
"""

JWT_ONLY = "      data:\n        jwt-secret: '{{ index . \"jwt-secret\" }}'\n"


def secret_rules(ctx, target: str) -> list:
    return [v for v in run(ctx, WORKLOAD.replace("{target}", target))]


def test_untemplated_external_secret_is_clean(ctx):
    assert secret_rules(ctx, "") == []


def test_red_team_template_data_replaces_the_spec_data_keys(ctx):
    found = secret_rules(ctx, "    template:\n      engineVersion: v2\n" + JWT_ONLY)
    assert [v.rule for v in found] == ["WH-REF-024"]
    message = found[0].message
    assert "no key 'database-password'" in message and "(keys: jwt-secret)" in message
    assert "mergePolicy: Merge" in message and "only the templated keys" in message and "; " in message


@pytest.mark.parametrize(
    ("target", "fires"),
    [
        ("    template:\n      mergePolicy: Replace\n" + JWT_ONLY, True),  # the default, written out
        ("    template:\n      engineVersion: v2\n      mergePolicy: Merge\n" + JWT_ONLY, False),
        ("    template:\n      type: kubernetes.io/dockerconfigjson\n", False),  # type only: spec.data keys stay
        ("    template:\n      engineVersion: v2\n      metadata: {labels: {team: web}}\n", False),
        ("    template:\n      data: {}\n      templateFrom: []\n", False),  # empty: no data template
        ("    template:\n      data:\n        database-password: '{{ .database-password }}'\n", False),
        ("    creationPolicy: Merge\n    template:\n" + JWT_ONLY, False),  # keys already in the Secret: unknown
    ],
    ids=["replace", "merge", "type-only", "metadata-only", "empty-data", "templated-key", "creation-merge"],
)
def test_template_keys_follow_merge_policy(ctx, target, fires):
    assert [v.rule for v in secret_rules(ctx, target)] == (["WH-REF-024"] if fires else [])


@pytest.mark.parametrize(
    ("template_from", "fires"),
    [
        # configMap/secret items read as Values write their own key into the Secret's data
        ("        - configMap: {name: tpl, items: [{key: config.yaml}]}\n", True),
        ("        - secret: {name: tpl, items: [{key: database-password}]}\n", False),
        ("        - configMap: {name: tpl, items: [{key: database-password, templateAs: Values}]}\n", False),
        # keys decided by the templates themselves: unknown offline, so quiet
        ("        - configMap: {name: tpl, items: [{key: tpl, templateAs: KeysAndValues}]}\n", False),
        ("        - literal: '{{ range $k, $v := . }}{{ $k }}: {{ $v }}\\n{{ end }}'\n", False),
        # a templateFrom for labels or annotations writes no data key
        ("        - target: Annotations\n          literal: 'team: web'\n", True),
    ],
    ids=["cm-values", "secret-values", "explicit-values", "keys-and-values", "literal", "annotations-only"],
)
def test_template_from_keys(ctx, template_from, fires):
    target = "    template:\n      templateFrom:\n" + template_from + JWT_ONLY
    assert [v.rule for v in secret_rules(ctx, target)] == (["WH-REF-024"] if fires else [])


def test_template_data_replaces_data_from_too(ctx):
    """dataFrom keys are unknown offline, but a Replace template decides the keys alone."""
    text = WORKLOAD.replace("{target}", "    template:\n" + JWT_ONLY).replace(
        "  data:\n    - secretKey: jwt-secret", "  dataFrom:\n    - extract: {key: web}\n  data:\n    - secretKey: jwt-secret"
    )
    assert [v.rule for v in run(ctx, text)] == ["WH-REF-024"]
    merged = text.replace("    template:\n", "    template:\n      mergePolicy: Merge\n")
    assert run(ctx, merged) == []


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        ({"data": [{"secretKey": "a"}]}, {"a"}),
        ({"data": [{"secretKey": "a"}], "dataFrom": [{"extract": {"key": "x"}}]}, ANY_KEY),
        ({"data": [{"secretKey": "a"}], "target": {"template": {"data": {"b": "{{ .a }}"}}}}, {"b"}),
        ({"data": [{"secretKey": "a"}], "target": {"template": {"mergePolicy": "Merge", "data": {"b": "x"}}}}, {"a", "b"}),
        ({"data": [{"secretKey": "a"}], "target": {"template": {"type": "kubernetes.io/tls"}}}, {"a"}),
        ({"target": {"template": {"templateFrom": [{"literal": "x"}]}}}, ANY_KEY),
        ({"target": {"template": {"templateFrom": [{"configMap": {"name": "t", "items": [{"key": "c"}]}}],
                                  "data": {"b": "x"}}}}, {"b", "c"}),
    ],
)
def test_external_secret_keys(spec, keys):
    assert external_secret_keys(spec) == keys


def test_the_repositorys_external_secrets_stay_clean_and_the_red_team_change_is_caught(rendered, tmp_path):
    """overlays/production as rendered; then the red team's template on webhook-service-secrets."""
    ctx = Context(settings.load(), tmp_path)
    docs = rendered("overlays/production")
    externals = [d for d in docs if d.kind == "ExternalSecret"]
    assert externals and all(d.obj["spec"]["target"].get("template") is None for d in externals)
    assert [v for v in references.check([Source("overlays/production", "overlay", docs)], ctx) if v.rule == "WH-REF-024"] == []
    # a registry-credentials-like ExternalSecret: template.type only keeps the spec.data keys
    typed = [_with_template(d, {"type": "kubernetes.io/dockerconfigjson"}) for d in docs]
    assert [v for v in references.check([Source("p", "overlay", typed)], ctx) if v.rule == "WH-REF-024"] == []
    red = [_with_template(d, {"engineVersion": "v2", "data": {"jwt-secret": '{{ index . "jwt-secret" }}'}}) for d in docs]
    found = [v for v in references.check([Source("p", "overlay", red)], ctx) if v.rule == "WH-REF-024"]
    assert found and all(v.kind == "Rollout" for v in found)
    assert any("'database-password'" in v.message for v in found)


def _with_template(doc: Document, template: dict) -> Document:
    if doc.kind != "ExternalSecret" or doc.name != "webhook-service-secrets":
        return doc
    obj = copy.deepcopy(doc.obj)
    obj["spec"]["target"]["template"] = template
    return dataclasses.replace(doc, obj=obj)


# --------------------------------------------------------------------------- WH-REF-055: the Namespace is kept

PROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: web, namespace: argocd}
spec:
  sourceRepos: [https://github.com/company/webhook-gitops.git]
  destinations:
    - {server: https://kubernetes.default.svc, namespace: '*'}
  clusterResourceWhitelist:
    - {group: "", kind: Namespace}
"""


def application(source: str = f"  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    path: {OVERLAY}\n",
                namespace: str = "app", options: str = "[CreateNamespace=false]") -> str:
    return f"""---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: web, namespace: argocd}}
spec:
  project: web
{source}  destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
  syncPolicy:
    automated: {{prune: true}}
    syncOptions: {options}
"""


def test_fixture_message_says_what_why_and_how(ctx):
    found = run(ctx, (HERE / "WH-REF-055.yaml").read_text())
    assert [v.rule for v in found] == ["WH-REF-055"]
    message = found[0].message
    assert f"'{OVERLAY}' renders objects into namespace app but no Namespace app" in message
    assert "deletes every object in it" in message and "new cluster" in message
    assert "; keep the Namespace in the overlay, or set CreateNamespace=true" in message


@pytest.mark.parametrize(
    ("options", "fires"),
    [("[CreateNamespace=false]", True), ("[]", True), ("[ServerSideApply=true, CreateNamespace=true]", False)],
)
def test_create_namespace_lets_argo_cd_make_it(ctx, options, fires):
    assert [v.rule for v in run(ctx, PROJECT + application(options=options))] == (["WH-REF-055"] if fires else [])


def test_a_project_that_may_not_sync_namespaces_leaves_them_to_the_platform(ctx):
    assert run(ctx, PROJECT.replace('    - {group: "", kind: Namespace}\n', "    - {group: '', kind: Node}\n") + application()) == []
    named = PROJECT.replace("kind: Namespace}", "kind: Namespace, name: 'team-*'}")
    assert run(ctx, named + application()) == []
    assert [v.rule for v in run(ctx, application())] == ["WH-REF-035"]  # no project in the source: not judged


def _overlay(tmp_path, namespace: bool, name: str = "overlay") -> None:
    overlay = tmp_path / name
    overlay.mkdir()
    (overlay / "configmap.yaml").write_text((HERE / "overlay" / "configmap.yaml").read_text())
    resources = ["configmap.yaml"]
    if namespace:
        (overlay / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n")
        resources.append("namespace.yaml")
    (overlay / "kustomization.yaml").write_text(f"namespace: app\nresources: [{', '.join(resources)}]\n")


def _local(ctx, tmp_path, text: str) -> list:
    local = Context(dataclasses.replace(ctx.settings, repo_root=tmp_path), tmp_path / "work")
    return references.check([Source("inline", "file", loader.parse(text, "inline"))], local)


def test_an_overlay_that_renders_its_namespace_is_clean(ctx, tmp_path):
    _overlay(tmp_path, namespace=True)
    source = "  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    path: overlay\n"
    assert _local(ctx, tmp_path, PROJECT + application(source)) == []


def test_the_namespace_may_come_from_another_source_of_the_application(ctx, tmp_path):
    _overlay(tmp_path, namespace=False, name="objects")
    _overlay(tmp_path, namespace=True, name="namespace")
    objects = "  sources:\n    - {repoURL: https://github.com/company/webhook-gitops.git, path: objects}\n"
    both = objects + "    - {repoURL: https://github.com/company/webhook-gitops.git, path: namespace}\n"
    assert _local(ctx, tmp_path, PROJECT + application(both)) == []
    assert [v.rule for v in _local(ctx, tmp_path, PROJECT + application(objects))] == ["WH-REF-055"]


@pytest.mark.parametrize(
    "source",
    [
        "  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    path: '{{unresolved}}'\n",
        f"  sources:\n    - {{repoURL: https://github.com/company/webhook-gitops.git, path: {OVERLAY}}}\n"
        "    - {repoURL: https://charts.example.com, chart: extra, targetRevision: 1.0.0}\n",
    ],
    ids=["unresolved-path", "with-a-helm-chart"],
)
def test_what_is_not_an_overlay_here_is_not_judged(ctx, source):
    assert "WH-REF-055" not in {v.rule for v in run(ctx, PROJECT + application(source))}


def test_namespaces_every_cluster_has_are_not_required(ctx, tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n")
    (overlay / "kustomization.yaml").write_text("resources: [configmap.yaml]\n")
    source = "  source:\n    repoURL: https://github.com/company/webhook-gitops.git\n    path: overlay\n"
    assert _local(ctx, tmp_path, PROJECT + application(source, namespace="default")) == []
    found = _local(ctx, tmp_path, PROJECT + application(source, namespace="web"))  # objects without one land here
    assert [v.rule for v in found] == ["WH-REF-055"] and "namespace web" in found[0].message


def test_applicationset_elements_are_judged(ctx):
    appset = PROJECT + f"""---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: web-envs, namespace: argocd}}
spec:
  generators:
    - list:
        elements:
          - {{env: test, path: {OVERLAY}}}
  template:
    metadata: {{name: 'web-{{{{env}}}}'}}
    spec:
      project: web
      source: {{repoURL: https://github.com/company/webhook-gitops.git, path: '{{{{path}}}}'}}
      destination: {{server: https://kubernetes.default.svc, namespace: app}}
"""
    found = run(ctx, appset)
    assert [v.rule for v in found] == ["WH-REF-055"] and found[0].message.startswith("list element 0: ")


def _repository_copy(tmp_path, delete_namespace: bool):
    """base/, components/ and overlays/ of this repository in TMP_PATH; production's overlay optionally deletes the
    Namespace with a `$patch: delete` patch (the red team's change)."""
    for folder in ("base", "components", "overlays"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    if delete_namespace:
        kustomization = tmp_path / "overlays" / "production" / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text() + (
            "patches:\n  - patch: |-\n      $patch: delete\n      apiVersion: v1\n      kind: Namespace\n"
            "      metadata:\n        name: webhook-service\n"
        ))
    return Context(dataclasses.replace(settings.load(), repo_root=tmp_path), tmp_path / "work")


@pytest.mark.parametrize("delete_namespace", [False, True], ids=["as-is", "red-team-patch-delete"])
def test_red_team_namespace_deleted_from_the_production_overlay(rendered, tmp_path, delete_namespace):
    local = _repository_copy(tmp_path, delete_namespace)
    argocd = rendered("argocd")
    found = [v for v in references.check([Source("argocd", "overlay", argocd)], local) if v.rule == "WH-REF-055"]
    if not delete_namespace:
        assert found == []
        return
    assert [v.name for v in found] == ["webhook-service-production"]
    assert "'overlays/production' renders objects into namespace webhook-service" in found[0].message

"""The server stage against a real kube-apiserver (the session's control plane, tests/conftest.py).

Every fixture in tests/fixtures/server/ is something the schemas accept and the API server refuses (or
warns about, or accepts where a schema would not): each test asserts the exact rule id and the server's
own message and field path.
"""

from __future__ import annotations

import pytest

from conftest import FIXTURES, REPO
from gitops_check import argocdsync, loader, pipeline, render, server, settings
from gitops_check.context import Context
from gitops_check.controlplane import Session
from gitops_check.model import Document, Source

SERVER = FIXTURES / "server"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    s = settings.load()
    session = Session(s)  # the session's running control plane: nothing started or stopped here
    yield Context(s, tmp_path_factory.mktemp("server"), session.ready)
    session.close()


def judge(ctx, *sources: Source):
    return server.check(list(sources), ctx)


def file_source(name: str) -> Source:
    path = SERVER / name
    return Source(f"server/{name}", "file", loader.read_file(path, f"server/{name}"), path=path)


@pytest.mark.parametrize(
    "fixture, kind, field, text",
    [
        ("label-value-with-space.yaml", "ConfigMap", "metadata.labels", 'Invalid value: "web hooks": a valid label must be'),
        ("annotation-key-not-qualified.yaml", "ConfigMap", "metadata.annotations", 'Invalid value: "owner team": name part must consist'),
        ("configmap-key-with-bang.yaml", "ConfigMap", "data[mode!]", 'Invalid value: "mode!": a valid config key must consist'),
        ("ipblock-cidr-33.yaml", "NetworkPolicy", "spec.egress[0].to[0].ipBlock.cidr", 'Invalid value: "10.0.0.0/33": must be a valid CIDR'),
        ("ingress-prefix-path-not-absolute.yaml", "Ingress", "spec.rules[0].http.paths[0].path", 'Invalid value: "api": must be an absolute path'),
        ("pdb-min-and-max.yaml", "PodDisruptionBudget", "spec", "minAvailable and maxUnavailable cannot be both set"),
        ("hpa-utilization-zero.yaml", "HorizontalPodAutoscaler", "spec.metrics[0].resource.target.averageUtilization", "Invalid value: 0: must be greater than 0"),
        ("hpa-stabilization-window-over-an-hour.yaml", "HorizontalPodAutoscaler", "spec.behavior.scaleDown.stabilizationWindowSeconds", "Invalid value: 3601: must be less than or equal to 3600"),
        ("service-duplicate-port.yaml", "Service", "spec.ports[1]", "Duplicate value"),
    ],
)
def test_what_the_api_server_refuses_is_wh_api_001_with_its_message(ctx, fixture, kind, field, text):
    found = judge(ctx, file_source(fixture))
    assert [v.rule for v in found] == ["WH-API-001"], [(v.rule, v.message) for v in found]
    v = found[0]
    assert v.kind == kind and v.severity == "error" and v.source == f"server/{fixture}"
    assert v.message.startswith(f"{field}: ") and text in v.message, v.message
    assert "refused by kube-apiserver v1.34.4, dry run, client-side apply" in v.message


def test_a_server_warning_is_wh_api_002(ctx):
    found = judge(ctx, file_source("finalizer-not-domain-qualified.yaml"))
    assert [v.rule for v in found] == ["WH-API-002"]
    assert found[0].severity == "warning" and "prefer a domain-qualified finalizer name" in found[0].message


def test_a_kind_the_server_does_not_serve_is_wh_api_003_naming_the_served_version(ctx):
    found = judge(ctx, file_source("removed-api-version.yaml"))
    assert [v.rule for v in found] == ["WH-API-003"]
    assert "policy/v1beta1 PodDisruptionBudget is not served by kube-apiserver v1.34.4" in found[0].message
    assert "served as policy/v1: use that apiVersion" in found[0].message


def test_characters_outside_the_bmp_are_clean_online_and_offline(tmp_path):
    path = str(SERVER / "emoji.yaml")
    s = settings.load()
    for stages in (pipeline.STAGES, pipeline.OFFLINE_STAGES):
        result = pipeline.run([path], s, stages=stages)
        assert result.violations == [], (stages, [(v.rule, v.message) for v in result.violations])


def _application(path: str, server_side: bool) -> Source:
    options = ["ServerSideApply=true"] if server_side else ["CreateNamespace=false"]
    app = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "demo", "namespace": "argocd"},
        "spec": {"project": "default", "source": {"repoURL": "https://example.com/repo.git", "path": path},
                 "destination": {"name": "in-cluster", "namespace": "demo"}, "syncPolicy": {"syncOptions": options}},
    }
    return Source("apps", "file", [Document(app, "apps")])


def test_null_in_an_optional_crd_field_is_refused_by_server_side_apply_only(ctx):
    overlay = SERVER / "null-in-optional-crd-field"
    shown = "tests/fixtures/server/null-in-optional-crd-field"
    source = Source(shown, "overlay", render.documents(overlay, shown), path=overlay)
    refused = [v for v in judge(ctx, source, _application(shown, server_side=True)) if v.source == shown]
    assert [v.rule for v in refused] == ["WH-API-001"]
    assert refused[0].message.startswith('spec.jobLabel: Invalid value: "null": spec.jobLabel in body must be of type string')
    assert "server-side apply" in refused[0].message
    assert [v for v in judge(ctx, source, _application(shown, server_side=False)) if v.source == shown] == []
    assert judge(ctx, source) == []  # no Application syncs it: Argo CD's default, client-side apply


def test_the_apply_mode_follows_the_repositorys_applications(ctx, rendered):
    prod = Source("overlays/production", "overlay", rendered("overlays/production"), path=REPO / "overlays/production")
    apps = server._applications([prod], ctx)  # argocd/ is rendered for the run when it is not a target
    assert {a.doc.name for a in apps} == {"webhook-service-production", "webhook-service-staging"}
    assert server.apply_modes(prod, apps, ctx) == {server.SSA}
    component = Source("tests/overlays/blue-green", "overlay", [], path=REPO / "tests/overlays/blue-green")
    assert server.apply_modes(component, apps, ctx) == {server.CSA}


def test_an_objects_own_sync_option_overrides_its_application(ctx):
    doc = Document({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "x", "annotations": {argocdsync.SYNC_OPTIONS: "Prune=false,ServerSideApply=true"}}}, "s")
    assert server._mode_for(doc, server.CSA) == server.SSA


def test_objects_are_applied_in_argo_cds_sync_order():
    def doc(kind, name, wave=None):
        meta = {"name": name, **({"annotations": {argocdsync.SYNC_WAVE: str(wave)}} if wave is not None else {})}
        return Document({"apiVersion": "v1", "kind": kind, "metadata": meta}, "s")

    docs = [doc("Rollout", "r"), doc("Service", "b"), doc("Service", "a"), doc("Namespace", "n"),
            doc("ConfigMap", "late", wave=1), doc("ConfigMap", "early", wave=-1), doc("AnalysisTemplate", "t")]
    # wave, then gitops-engine's kind order, then name: kinds it does not know rank alike, after the others
    assert [d.name for d in argocdsync.sync_order(docs)] == ["early", "n", "a", "b", "r", "t", "late"]
    vs, ro = doc("VirtualService", "web"), doc("Rollout", "web")
    assert not argocdsync.surely_before(vs, ro) and not argocdsync.surely_before(ro, vs)  # a tie: unspecified
    assert argocdsync.surely_before(doc("VirtualService", "web", wave=-1), ro)


def test_one_sources_objects_never_satisfy_anothers(ctx):
    # Dry runs persist nothing: a Service in one source is not there for the next source's dry run.
    found = judge(ctx, file_source("service-duplicate-port.yaml"), file_source("service-duplicate-port.yaml"))
    assert len(found) == 1  # the same fact from the same object once, not an 'already exists'


def test_the_real_overlays_and_argocd_are_clean(ctx, rendered):
    targets = pipeline.resolve_targets([], ctx.settings)
    sources = pipeline.render_targets(targets, ctx.settings)
    assert judge(ctx, *sources) == []


def test_cluster_scoped_kinds_are_what_the_api_server_and_the_locked_crds_say(ctx):
    """references.index.CLUSTER_SCOPED decides which objects have no namespace (namespace checks, the Argo CD
    destination's namespaces, duplicate detection): it must hold every kind the real kube-apiserver, with the locked
    CRDs installed, serves without a namespace, and no kind it serves in one. Three kinds of CRDs that are not locked
    here (cert-manager's ClusterIssuer, External Secrets' ClusterExternalSecret, the CSI snapshotter's
    VolumeSnapshotClass) are cluster-scoped upstream."""
    from gitops_check.kubeapi import Client
    from gitops_check.references.index import CLUSTER_SCOPED

    cp = ctx.control_plane()
    served = Client(cp.url, cp.token, cp.ca_file).resources().values()
    cluster = {r.kind for r in served if not r.namespaced}
    namespaced = {r.kind for r in served if r.namespaced}
    assert "ClusterAnalysisTemplate" in cluster and "ClusterSecretStore" in cluster and "Rollout" in namespaced
    assert sorted(cluster - CLUSTER_SCOPED) == [], " ".join(sorted(cluster - CLUSTER_SCOPED))
    assert sorted(CLUSTER_SCOPED & namespaced) == []
    assert sorted(CLUSTER_SCOPED - cluster) == ["ClusterExternalSecret", "ClusterIssuer", "VolumeSnapshotClass"]

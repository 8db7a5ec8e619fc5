"""The schemas stage against the real kubeconform, the real Kubernetes schemas and the locked CRDs.

Every fixture in tests/fixtures/schemas/ breaks exactly one thing; each test asserts the exact rule id
and the offending path or field in the message. The prepared schema cache is the shared user cache
(built once, reused), except where a test needs its own.
"""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest

from conftest import FIXTURES
from gitops_check import loader, settings
from gitops_check.context import Context
from gitops_check.errors import ToolError
from gitops_check.model import Source
from gitops_check.schemas import crds, kubeconform, kubernetes, prepare, verify_crds
from gitops_check import schemas

SCHEMAS = FIXTURES / "schemas"


@pytest.fixture(scope="session")
def schema_set():
    return prepare(settings.load())


def check(tmp_path, name: str, ctx_settings=None):
    docs = loader.read_file(SCHEMAS / name, f"schemas/{name}")
    return schemas.check([Source(f"schemas/{name}", "file", docs)], Context(ctx_settings or settings.load(), tmp_path))


def only(found, rule: str):
    assert [v.rule for v in found] == [rule], [(v.rule, v.message) for v in found]
    return found[0]


# --------------------------------------------------------------------------- findings


@pytest.mark.parametrize(
    "fixture, kind, path, field",
    [
        ("rollout-misspelled-step.yaml", "Rollout", "/spec/strategy/canary/steps/0", "'setWieght'"),
        ("rollout-analysis-unknown-field.yaml", "Rollout", "/spec/strategy/canary/analysis", "'bogus'"),
        ("rollout-strategy-type.yaml", "Rollout", "/spec/strategy", "'type'"),
        ("application-unknown-field.yaml", "Application", "/spec/syncPolicy/automated", "'selfheal'"),
    ],
)
def test_unknown_field_is_wh_schema_001(tmp_path, fixture, kind, path, field):
    v = only(check(tmp_path, fixture), "WH-SCHEMA-001")
    assert v.kind == kind and v.severity == "error"
    assert v.message.startswith(f"{path}: unknown field {field} (not in the schema of argoproj.io/v1alpha1 {kind})")


def test_wrong_type_in_hpa_is_wh_schema_001(tmp_path):
    v = only(check(tmp_path, "hpa-wrong-type.yaml"), "WH-SCHEMA-001")
    assert v.message.startswith("/spec/minReplicas: got string, want null or integer (schema of autoscaling/v2 HorizontalPodAutoscaler)")


def test_annotations_nested_under_alert_labels_is_wh_schema_001(tmp_path):
    v = only(check(tmp_path, "prometheusrule-annotations-under-labels.yaml"), "WH-SCHEMA-001")
    assert v.message.startswith("/spec/groups/0/rules/0/labels/annotations: got object, want string")


def test_custom_resource_without_schema_is_wh_schema_002(tmp_path):
    v = only(check(tmp_path, "no-schema.yaml"), "WH-SCHEMA-002")
    assert "no schema for widgets.example.com/v1 Widget" in v.message and "crds.lock" in v.message


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("removed-pdb-v1beta1.yaml", "policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25: use policy/v1"),
        ("removed-hpa-v2beta2.yaml", "autoscaling/v2beta2 HorizontalPodAutoscaler was removed in Kubernetes 1.26: use autoscaling/v2"),
        ("externalsecret-v1beta1.yaml", "external-secrets.io/v1beta1 ExternalSecret is no longer served by its CRD: use external-secrets.io/v1"),
    ],
)
def test_removed_api_version_is_wh_schema_003(tmp_path, fixture, expected):
    assert only(check(tmp_path, fixture), "WH-SCHEMA-003").message == expected


def test_removal_is_derived_from_older_kubernetes_schemas(tmp_path):
    """No table entry needed: the GVK had a schema in an older bundled version, not in the target."""
    assert kubernetes.removed_after("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.34") == "1.25"
    assert kubernetes.removed_after("autoscaling/v2", "HorizontalPodAutoscaler", "1.34") is None  # still served
    doc = loader.parse("apiVersion: resource.k8s.io/v1alpha2\nkind: ResourceClaim\nmetadata: {name: x}\n", "x")
    found = schemas.check([Source("x", "file", doc)], Context(settings.load(), tmp_path))
    v = only(found, "WH-SCHEMA-003")
    assert v.message.startswith("resource.k8s.io/v1alpha2 ResourceClaim was removed after Kubernetes 1.30 (target 1.34): use ")
    assert "resource.k8s.io/v1 " in v.message + " "


def test_deprecated_istio_version_is_a_wh_schema_004_warning(tmp_path):
    v = only(check(tmp_path, "deprecated-istio-v1beta1.yaml"), "WH-SCHEMA-004")
    assert v.severity == "warning" and "use networking.istio.io/v1" in v.message


def test_valid_fixture_set_is_clean(tmp_path):
    docs = loader.read_file(SCHEMAS / "valid.yaml")
    assert len({d.kind for d in docs}) == 13
    assert schemas.check([Source("valid", "file", docs)], Context(settings.load(), tmp_path)) == []


@pytest.mark.parametrize("overlay", ["overlays/staging", "overlays/production", "argocd"])
def test_real_overlays_are_clean(tmp_path, rendered, overlay):
    assert schemas.check([Source(overlay, "overlay", rendered(overlay))], Context(settings.load(), tmp_path)) == []


# --------------------------------------------------------------------------- no skips, offline


def test_every_document_of_several_sources_is_validated_in_one_run(tmp_path):
    sources = [
        Source(name, "file", loader.read_file(SCHEMAS / name, name))
        for name in ("rollout-misspelled-step.yaml", "hpa-wrong-type.yaml", "valid.yaml")
    ]
    found = schemas.check(sources, Context(settings.load(), tmp_path))
    assert sorted(v.source for v in found) == ["hpa-wrong-type.yaml", "rollout-misspelled-step.yaml"]


def test_schema_locations_are_local_paths(schema_set):
    assert len(schema_set.locations) == 2
    for location in schema_set.locations:
        assert not re.match(r"^[a-z][a-z0-9+.-]*://", location), location
        assert location.startswith(str(settings.load().cache_dir))
    args = kubeconform.command("kubeconform", schema_set.locations, "1.34", [])
    assert "-ignore-missing-schemas" not in args and "-strict" in args and "-cache" not in args
    assert not any("://" in a for a in args)


def test_kubeconform_verdicts_without_results_are_tool_errors(tmp_path):
    missing = tmp_path / "absent.json"
    with pytest.raises(ToolError, match="kubeconform"):
        kubeconform.run("/bin/false", [], "1.34", [missing])


def test_every_served_crd_version_has_a_schema(schema_set):
    lock = crds.read_lock(settings.load().repo_root)
    assert len(lock) == 17
    served = [v for v in schema_set.crd_versions if v.served]
    assert len(served) == len(schema_set.crd_schemas) == 23
    for v in served:
        assert (schema_set.crds_dir / v.group / f"{v.kind.lower()}_{v.name}.json").is_file()
    assert not [v for v in schema_set.crd_versions if not v.served and v.group != "external-secrets.io"]
    kinds = {v.kind for v in served}
    assert kinds == {
        "Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment", "Application",
        "AppProject", "ApplicationSet", "ServiceMonitor", "PodMonitor", "PrometheusRule", "VirtualService",
        "DestinationRule", "Gateway", "ExternalSecret", "SecretStore", "ClusterSecretStore",
    }


def test_kubernetes_schemas_are_prepared_once_per_version(tmp_path):
    first = kubernetes.prepare("1.34", tmp_path)
    marker = (first / ".complete").read_text()
    assert (first / "apps" / "deployment-apps-v1.json").is_file() and (first / "v1" / "service-v1.json").is_file()
    assert kubernetes.prepare("1.34", tmp_path) == first and (first / ".complete").read_text() == marker
    assert not list(tmp_path.glob("schemas/*.tmp-*"))


def test_unknown_kubernetes_version_is_an_error_naming_the_available_ones(tmp_path):
    s = dataclasses.replace(settings.load(), kubernetes_version="1.12", cache_dir=tmp_path)
    with pytest.raises(ToolError, match=r"no Kubernetes schemas for version 1\.12 .*available 1\.25, .*1\.34"):
        prepare(s)


# --------------------------------------------------------------------------- the CRD lock


def test_locked_crds_verify(schema_set):
    assert len(verify_crds(settings.load())) == 17


def test_crd_sha_mismatch_stops_validation(tmp_path):
    copy = tmp_path / "crds"
    shutil.copytree(settings.load().crds_dir, copy)
    target = copy / "argoproj.io" / "rollouts.yaml"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-2] ^= 0x01
    target.write_bytes(bytes(data))
    s = dataclasses.replace(settings.load(), crds_dir=copy, cache_dir=tmp_path / "cache")
    with pytest.raises(ToolError) as caught:
        check(tmp_path, "valid.yaml", s)
    message = str(caught.value)
    assert "\n" not in message and str(target) in message and "sha256 mismatch" in message
    assert "expected d79c0dab9bb386b1c9329fb69cf0d843fff2152b3f7916839755c1aabc7387f5, actual " in message
    assert not (tmp_path / "cache" / "schemas").exists()  # nothing was built from the altered CRD


def test_missing_crd_file_stops_validation(tmp_path):
    copy = tmp_path / "crds"
    shutil.copytree(settings.load().crds_dir, copy)
    (copy / "monitoring.coreos.com" / "podmonitors.yaml").unlink()
    with pytest.raises(ToolError, match=r"podmonitors\.yaml: locked CRD file is missing"):
        verify_crds(dataclasses.replace(settings.load(), crds_dir=copy))


# --------------------------------------------------------------------------- the converter


def test_converter_is_strict_except_where_the_crd_preserves_unknown_fields():
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "note": {"type": "string", "nullable": True},
                    "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
                    "map": {"type": "object", "additionalProperties": {"type": "string"}},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {"type": "object"}}},
                },
            }
        },
    }
    out = crds.convert("example.com", "Widget", "v1", schema, {})
    spec = out["properties"]["spec"]
    assert out["additionalProperties"] is False and spec["additionalProperties"] is False
    assert spec["properties"]["port"]["type"] == ["integer", "string"]
    assert spec["properties"]["note"]["type"] == ["string", "null"]
    assert "additionalProperties" not in spec["properties"]["open"]
    assert spec["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert {"apiVersion", "kind", "metadata"} <= set(spec["properties"]["embedded"]["properties"])
    assert out["properties"]["apiVersion"]["enum"] == ["example.com/v1"]
    assert out["properties"]["metadata"] == {"$ref": "#/$defs/" + kubernetes.OBJECT_META}


def test_kubeconform_workers_grow_with_the_documents(monkeypatch):
    """A second worker compiles every schema again: one overlay gets one worker, a fleet one per core."""
    monkeypatch.setattr(kubeconform.runner, "usable_cores", lambda: 2)
    workers = lambda n: kubeconform.command("kubeconform", [], "1.34", [], documents=n)[6]  # noqa: E731
    assert [workers(n) for n in (0, 23, 199, 230, 5000)] == ["1", "1", "1", "2", "2"]
    assert kubeconform.command("kubeconform", [], "1.34", [])[5:7] == ["-n", "1"]


def test_schemas_are_prepared_once_per_run_ahead_of_the_documents(tmp_path, monkeypatch):
    """The pipeline calls schemas.ahead() while kustomize renders; check() gets the same schema set, not a second
    round of integrity checks; a failure of the preparation is raised by check() too."""
    calls = []
    real = schemas.prepare
    monkeypatch.setattr(schemas, "prepare", lambda s: calls.append(s) or real(s))
    ctx = Context(settings.load(), tmp_path)
    prepared = schemas.ahead(ctx)
    assert schemas.check([], ctx) == [] and schemas.ahead(ctx) is prepared and len(calls) == 1

    def broken(s):
        raise ToolError("schema folder damaged")

    monkeypatch.setattr(schemas, "prepare", broken)
    other = Context(settings.load(), tmp_path)
    for ask in (schemas.ahead, lambda c: schemas.check([], c)):
        with pytest.raises(ToolError, match="damaged"):
            ask(other)

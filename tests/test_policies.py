"""The Rego policy library and its stage: unit tests pass, every rule fires on its fixture, clean
objects stay clean, and the rule table read from METADATA is complete and consistent."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO
from gitops_check import loader, policies, settings, slo
from gitops_check.context import Context
from gitops_check.errors import InputError, ToolError
from gitops_check.model import Source

POLICY_FIXTURES = FIXTURES / "policies"
TABLE = policies.rule_table(settings.load().policies_dir)


def sources_of(paths: list[Path]) -> list[Source]:
    """Each file as a Source (no document written to a file: the stage sends them on stdin)."""
    return [Source(path.name, "file", loader.read_file(path, path.name)) for path in paths]


def run(paths: list[Path], workdir: Path, **overrides) -> list:
    ctx = Context(dataclasses.replace(settings.load(), **overrides), workdir)
    return policies.check(sources_of(paths), ctx)


@pytest.fixture(scope="module")
def by_fixture(tmp_path_factory) -> dict[str, list]:
    """Violations per fixture file, from ONE stage run over every rule fixture (as the pipeline does)."""
    paths = sorted(POLICY_FIXTURES.glob("WH-*.yaml"))
    found = defaultdict(list)
    for v in run(paths, tmp_path_factory.mktemp("policies")):
        found[v.source].append(v)
    return found


def test_rego_unit_tests_pass(tmp_path):
    policies.verify(Context(settings.load(), tmp_path))


@pytest.mark.parametrize("row", TABLE, ids=[r["id"] for r in TABLE])
def test_every_rule_fires_on_its_fixture(row, by_fixture):
    fixture = POLICY_FIXTURES / f"{row['id']}.yaml"
    assert fixture.is_file(), f"rule {row['id']} has no fixture {fixture.relative_to(REPO)}"
    found = by_fixture[fixture.name]
    hits = [v for v in found if v.rule == row["id"]]
    assert hits, f"{row['id']} did not fire on its fixture; got {[(v.rule, v.message) for v in found]}"
    assert all(v.severity == row["severity"] for v in hits)
    assert all(v.message.strip() and ":" in v.message for v in hits), "messages say what is wrong and the fix"
    others = sorted({v.rule for v in found} - {row["id"]})
    assert not others, f"fixture of {row['id']} should violate only that rule, also got {others}"


def test_the_hook_fixture_is_reported_for_argo_cds_and_helms_hook_annotations(by_fixture):
    """WH-ARGO-009 judges both annotations Argo CD reads as hooks: its own, and helm.sh/hook, which it maps
    onto its own (pre-install/pre-upgrade to PreSync); its fixture holds one object with each."""
    found = {(v.kind, v.rule): v.message for v in by_fixture["WH-ARGO-009.yaml"]}
    assert set(found) == {("Namespace", "WH-ARGO-009"), ("Service", "WH-ARGO-009"), ("ConfigMap", "WH-ARGO-009")}
    assert "argocd.argoproj.io/hook" in found[("Namespace", "WH-ARGO-009")]
    assert 'helm.sh/hook: "pre-install,pre-upgrade"' in found[("Service", "WH-ARGO-009")]
    assert "as a PreSync hook" in found[("Service", "WH-ARGO-009")]
    # gitops-engine's NewHookType knows no PreDelete: "PreDelete,Skip" is Skip alone, never synced
    assert 'argocd.argoproj.io/hook: "PreDelete,Skip", whose only hook type Argo CD knows is Skip' in found[("ConfigMap", "WH-ARGO-009")]


def test_the_scale_down_fixture_is_reported_for_every_early_scale_down(by_fixture):
    """WH-ROLL-014 judges every field that scales pods down before traffic has moved off them: the delay after a
    release, the revision limit that keeps none for the delay, and the delay after an abort."""
    messages = sorted(v.message for v in by_fixture["WH-ROLL-014.yaml"] if v.rule == "WH-ROLL-014")
    assert [m.split(" ", 1)[0] for m in messages] == [
        "spec.strategy.canary.abortScaleDownDelaySeconds",
        "spec.strategy.canary.scaleDownDelayRevisionLimit",
        "spec.strategy.canary.scaleDownDelaySeconds",
    ]


def test_the_hpa_fixture_is_reported_for_scale_up_disabled_and_no_room_to_scale_out(by_fixture):
    found = {v.name: v.message for v in by_fixture["WH-AVAIL-005.yaml"] if v.rule == "WH-AVAIL-005"}
    assert set(found) == {"webhook-service", "webhook-service-pinned"}
    assert "selectPolicy is Disabled" in found["webhook-service"]
    assert "spec.maxReplicas is 3, no more than minReplicas 3" in found["webhook-service-pinned"]


def test_rollout_without_probes_limits_and_security_context_is_reported(tmp_path):
    path = POLICY_FIXTURES / "rollout-without-probes-limits-securitycontext.yaml"
    rules = {v.rule for v in run([path], tmp_path)}
    expected = {"WH-PROBE-001", "WH-RES-001", "WH-POD-001", "WH-POD-002", "WH-POD-003", "WH-POD-004", "WH-POD-009"}
    assert expected <= rules, f"missing {sorted(expected - rules)}"


def test_clean_objects_produce_no_violations(tmp_path):
    paths = sorted((POLICY_FIXTURES / "clean").glob("*.yaml"))
    kinds = {d.kind for p in paths for d in loader.read_file(p)}
    assert {"Rollout", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "AnalysisTemplate"} <= kinds
    found = run(paths, tmp_path)
    assert found == [], "\n".join(f"{v.rule} {v.ref}: {v.message}" for v in found)


def test_rule_table_is_complete_and_consistent():
    ids = [r["id"] for r in TABLE]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60
    for row in TABLE:
        assert row["title"] and row["description"], row["id"]
        assert row["package"].startswith("webhook."), row
        assert row["rule"] == {"error": "deny", "warning": "warn"}[row["severity"]], row


def test_rule_table_rejects_duplicate_and_incomplete_blocks(tmp_path):
    block = "# METADATA\n# title: t\n# description: d\n# custom:\n#   id: {id}\n#   severity: {sev}\n"
    rule = 'deny contains {{"rule": "{id}", "msg": "m"}} if input.kind == "X"\n'
    (tmp_path / "a.rego").write_text("package webhook.a\n\n" + block.format(id="WH-A-001", sev="error") + rule.format(id="WH-A-001"))
    assert [r["id"] for r in policies.rule_table(tmp_path)] == ["WH-A-001"]
    (tmp_path / "b.rego").write_text("package webhook.b\n\n" + block.format(id="WH-A-001", sev="error") + rule.format(id="WH-A-001"))
    with pytest.raises(InputError, match="WH-A-001 is already documented"):
        policies.rule_table(tmp_path)
    (tmp_path / "b.rego").write_text("package webhook.b\n\n" + block.format(id="WH-B-001", sev="fatal") + rule.format(id="WH-B-001"))
    with pytest.raises(InputError, match="severity 'fatal'"):
        policies.rule_table(tmp_path)
    (tmp_path / "b.rego").write_text("package webhook.b\n\n# METADATA\n# title: t\n" + rule.format(id="WH-B-001"))
    with pytest.raises(InputError, match="no custom.id"):
        policies.rule_table(tmp_path)


def test_result_without_rule_id_is_reported_not_dropped(tmp_path):
    folder = tmp_path / "policies"
    (folder / "data").mkdir(parents=True)
    (folder / "a.rego").write_text('package webhook.a\n\ndeny contains "plain string" if input.kind == "Service"\n')
    found = run([POLICY_FIXTURES / "clean" / "services.yaml"], tmp_path, policies_dir=folder)
    assert [v.rule for v in found] == [policies.UNNAMED_RULE] * 2
    assert "without a rule id" in found[0].message and "plain string" in found[0].message
    (folder / "a.rego").write_text('package webhook.a\n\nwarn_x contains {"msg": "no id", "rule": "X-1"} if input.kind == "Service"\n')
    found = run([POLICY_FIXTURES / "clean" / "services.yaml"], tmp_path, policies_dir=folder)
    assert [(v.rule, v.severity) for v in found] == [(policies.UNNAMED_RULE, "warning")] * 2
    assert found[0].message.startswith("policy data.webhook.a.warn_x returned a result without a rule id (no id)")


def test_broken_policy_is_a_tool_error(tmp_path):
    folder = tmp_path / "policies"
    (folder / "data").mkdir(parents=True)
    (folder / "a.rego").write_text("package webhook.a\n\ndeny contains if {\n")
    with pytest.raises(ToolError, match=r"^rego-eval failed \(exit 2\): load: .*rego_parse_error") as err:
        run([POLICY_FIXTURES / "clean" / "services.yaml"], tmp_path, policies_dir=folder)
    assert "\n" not in str(err.value)


def test_slo_file_is_read_and_checked(tmp_path):
    assert slo.load(REPO / "base" / "slo.yaml") == {
        "successRateMin": 0.995, "latencyP95MaxSeconds": 0.5, "deploymentBudgetSeconds": 900, "rollbackBudgetSeconds": 300,
        "recoveryBudgetSeconds": 600, "firstCanaryWeightMaxPercent": 10,
    }
    text = (REPO / "base" / "slo.yaml").read_text()
    broken = tmp_path / "slo.yaml"
    broken.write_text(text.replace('successRateMin: "0.995"', 'successRateMin: "high"'))
    with pytest.raises(InputError, match=r"slo.yaml: data.successRateMin .* not a number"):
        slo.load(broken)
    broken.write_text(text.replace('  deploymentBudgetSeconds: "900"\n', ""))
    with pytest.raises(InputError, match="no data key deploymentBudgetSeconds"):
        slo.load(broken)

"""The timeline model of a Rollout (gitops_check/timeline.py) and its rules: the worst case fits the budget
(WH-REF-022), every canary weight is guarded in time (WH-REF-044), the analysis measures the new version
(WH-REF-045); and `gitops-check plan`, whose production output docs/architecture.md carries.

The held-out mistakes are made in a copy of the rendered production overlay and must fire exactly their rule;
the valid changes must stay clean (only the rules of this model are looked at: the others have their own
tests)."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import plan, references, render, settings, timeline
from gitops_check.context import Context
from gitops_check.model import Document, Source
from gitops_check.references.index import Index

PRODUCTION = "overlays/production"
OWN = {"WH-REF-022", "WH-REF-041", "WH-REF-044", "WH-REF-045"}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(settings.load(), tmp_path_factory.mktemp("timeline"))


@pytest.fixture(scope="module")
def production():
    return render.documents(REPO / PRODUCTION, PRODUCTION, settings.load())


def edited(docs: list[Document], change) -> list[Document]:
    out = [Document(copy.deepcopy(d.obj), d.source, d.line) for d in docs]
    change({(d.kind, d.name): d.obj for d in out})
    return out


def found(ctx, docs) -> list[str]:
    return sorted(v.rule for v in references.check([Source("production (edited)", "file", docs)], ctx) if v.rule in OWN)


def canary(objs) -> dict:
    return objs[("Rollout", "webhook-service")]["spec"]["strategy"]["canary"]


def metric(objs, template="webhook-service-success-rate") -> dict:
    return objs[("AnalysisTemplate", template)]["spec"]["metrics"][0]


def the_plan(docs) -> timeline.Plan:
    idx = Index(Source("x", "file", docs))
    return timeline.plan(idx, idx.of_kind("Rollout")[0], timeline.scrape_seconds(docs, settings.load().policies_dir))


# --------------------------------------------------------------------------- the production numbers


def test_production_plan(production):
    p = the_plan(production)
    assert (p.to_full_least, p.to_full_most) == (360, 600)  # pauses 3 x 2m; + 4 readiness waits of 60 s
    assert p.parts() == {"readiness waits": 240, "pauses": 360}
    assert p.detection() == 90  # one scrape (30 s) + (failureLimit 1 + 1) x 30 s
    assert p.first_abort_most() == 150  # first weight after at most 60 s, then 90 s
    assert p.gaps() == [] and p.unread == [] and p.waits_for_human == []


# --------------------------------------------------------------------------- held-out mistakes


def _late_start(o):
    canary(o)["analysis"]["startingStep"] = 2


def _stops_early(o):
    for t in ("webhook-service-success-rate", "webhook-service-latency-p95"):
        metric(o, t)["count"] = 4  # 4 x 30 s: stops during the first pause


def _slow_interval(o):
    metric(o)["interval"] = "1m"  # 30 s + 2 x 1m = 2m30s, longer than a 2m pause


def _inline_only_first(o):
    c = canary(o)
    analysis = c.pop("analysis")
    c["steps"].insert(2, {"analysis": {"templates": analysis["templates"], "args": analysis["args"]}})
    for t in ("webhook-service-success-rate", "webhook-service-latency-p95"):
        metric(o, t)["count"] = 3


def _extra_steps_over_budget(o):
    c = canary(o)
    c["steps"][1:1] = [{"pause": {"duration": "3m"}}, {"setWeight": 20}, {"pause": {"duration": "3m"}}]  # 17m


def _long_deadline(o):
    o[("Rollout", "webhook-service")]["spec"]["progressDeadlineSeconds"] = 600  # 4 waits of up to 10 m


def _blocking_analysis(o):
    c = canary(o)
    c["steps"].append({"analysis": {"templates": [{"templateName": "webhook-service-latency-p95"}],
                                    "args": c["analysis"]["args"]}})
    metric(o, "webhook-service-latency-p95")["count"] = 12  # 12 measurements, 30 s apart: 5m30s more
    c["steps"][-3]["pause"]["duration"] = "4m"


def _measures_stable(o):
    for arg in canary(o)["analysis"]["args"]:
        if arg["name"] == "canary-service":
            arg["value"] = "webhook-service"


def _measures_what_the_canary_calls(o):
    m = metric(o)
    m["provider"]["prometheus"]["query"] = m["provider"]["prometheus"]["query"].replace(
        'destination_service_name="{{args.canary-service}}"', 'source_workload="{{args.canary-service}}"')


def _regex_matches_stable_too(o):
    m = metric(o)
    m["provider"]["prometheus"]["query"] = m["provider"]["prometheus"]["query"].replace(
        'destination_service_name="{{args.canary-service}}"', 'destination_service_name=~"webhook-service.*"')


def _latency_inline_once(o):
    c = canary(o)
    c["analysis"]["templates"] = [t for t in c["analysis"]["templates"] if t["templateName"] != "webhook-service-latency-p95"]
    c["steps"].insert(2, {"analysis": {"templates": [{"templateName": "webhook-service-latency-p95"}],
                                       "args": c["analysis"]["args"]}})
    metric(o, "webhook-service-latency-p95")["count"] = 3


def _gate_before_a_scrape(o):
    c = canary(o)
    c["steps"][3] = {"analysis": {"templates": [{"templateName": "webhook-service-latency-p95"}],
                                  "args": c["analysis"]["args"]}}  # the 30 % pause becomes a one-shot gate
    metric(o, "webhook-service-latency-p95").pop("interval")


def _measures_nothing_of_the_canary(o):
    for arg in canary(o)["analysis"]["args"]:
        if arg["name"] == "canary-service":
            arg["value"] = "webhook-service-cannary"


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (_late_start, "WH-REF-044"), (_stops_early, "WH-REF-044"), (_slow_interval, "WH-REF-044"),
        (_inline_only_first, "WH-REF-044"), (_extra_steps_over_budget, "WH-REF-022"), (_long_deadline, "WH-REF-022"),
        (_blocking_analysis, "WH-REF-022"), (_measures_stable, "WH-REF-045"), (_measures_nothing_of_the_canary, "WH-REF-045"),
        (_measures_what_the_canary_calls, "WH-REF-045"), (_regex_matches_stable_too, "WH-REF-045"),
        (_latency_inline_once, "WH-REF-044"), (_gate_before_a_scrape, "WH-REF-044"),
    ],
)
def test_held_out_mistakes(ctx, production, change, rule):
    assert set(found(ctx, edited(production, change))) == {rule}


# --------------------------------------------------------------------------- valid changes stay clean


def _longer_bake(o):
    canary(o)["steps"][5]["pause"]["duration"] = "5m"


def _extra_step(o):
    canary(o)["steps"][1:1] = [{"pause": {"duration": "2m"}}, {"setWeight": 20}]


def _shorter_interval(o):
    metric(o)["interval"] = "15s"


def _tighter_threshold(o):
    canary(o)["analysis"]["args"].append({"name": "success-rate-min", "value": "0.999"})


def _by_pod_template_hash(o):
    m = metric(o)
    m["provider"]["prometheus"]["query"] = (
        'sum(rate(http_requests_total{rollouts_pod_template_hash="{{args.hash}}", code!~"5.."}[2m]))'
        ' / sum(rate(http_requests_total{rollouts_pod_template_hash="{{args.hash}}"}[2m]))')
    o[("AnalysisTemplate", "webhook-service-success-rate")]["spec"]["args"].append({"name": "hash"})
    canary(o)["analysis"]["args"].append({"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}})


def _regex_selects_canary(o):
    m = metric(o)
    m["provider"]["prometheus"]["query"] = m["provider"]["prometheus"]["query"].replace(
        'destination_service_name="{{args.canary-service}}"', 'destination_service_name=~"{{args.canary-service}}|none"')


def _by_istio_service_fqdn(o):
    m = metric(o)
    m["provider"]["prometheus"]["query"] = m["provider"]["prometheus"]["query"].replace(
        'destination_service_name="{{args.canary-service}}"',
        'destination_service="{{args.canary-service}}.{{args.namespace}}.svc.cluster.local"')


@pytest.mark.parametrize("change", [_longer_bake, _extra_step, _shorter_interval, _tighter_threshold,
                                    _by_pod_template_hash, _regex_selects_canary, _by_istio_service_fqdn])
def test_valid_changes_stay_clean(ctx, production, change):
    assert found(ctx, edited(production, change)) == []


def test_the_real_overlays_are_clean(ctx):
    s = settings.load()
    for overlay in ("overlays/staging", "tests/overlays/blue-green", "tests/overlays/header-routing",
                    "tests/overlays/e2e", "tests/overlays/e2e-blue-green", "tests/overlays/e2e-header-routing"):
        docs = render.documents(REPO / overlay, overlay, s)
        assert found(ctx, docs) == [], overlay
        assert the_plan(docs).gaps() == []


def test_blue_green_preview_analysis_must_measure_the_preview(ctx):
    s = settings.load()
    docs = render.documents(REPO / "tests/overlays/blue-green", "tests/overlays/blue-green", s)

    def active(o):
        pre = o[("Rollout", "webhook-service")]["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]
        for arg in pre["args"]:
            if arg.get("value") == o[("Rollout", "webhook-service")]["spec"]["strategy"]["blueGreen"]["previewService"]:
                arg["value"] = o[("Rollout", "webhook-service")]["spec"]["strategy"]["blueGreen"]["activeService"]

    assert found(ctx, edited(docs, active)) == ["WH-REF-045", "WH-REF-045"]  # success rate and latency


# --------------------------------------------------------------------------- the model's pieces


def test_a_job_metric_lasts_up_to_its_deadline_and_without_one_forever(ctx):
    s = settings.load()
    docs = render.documents(REPO / "tests/overlays/blue-green", "tests/overlays/blue-green", s)
    assert the_plan(docs).to_full_most == 600  # preview ready (300 s) + the load Job (activeDeadlineSeconds 300)

    def no_deadline(o):
        del o[("AnalysisTemplate", "webhook-service-preview-load")]["spec"]["metrics"][0]["provider"]["job"]["spec"][
            "activeDeadlineSeconds"]

    assert the_plan(edited(docs, no_deadline)).to_full_most == math.inf
    assert found(ctx, edited(docs, no_deadline)) == ["WH-REF-022"]


def test_indefinite_pause_waits_for_a_human_and_is_listed(production):
    p = the_plan(edited(production, lambda o: canary(o)["steps"].insert(2, {"pause": {}})))
    assert p.waits_for_human == ["canary.steps[2].pause"] and p.to_full_most == 600


def test_back_to_back_weights_leave_the_first_unguarded(ctx, production):
    docs = edited(production, lambda o: canary(o)["steps"].insert(0, {"setWeight": 5}))
    gaps = the_plan(docs).gaps()
    assert gaps and all("5 %" in g.why and "moves on after 0s" in g.why for g in gaps)


def test_scrape_interval_comes_from_the_monitors_else_the_default(production):
    s = settings.load()
    assert timeline.scrape_seconds(production, s.policies_dir) == 30
    assert timeline.scrape_seconds([], s.policies_dir) == 30  # params.prometheus.scrapeInterval

    def slow(o):
        o[("ServiceMonitor", "webhook-service")]["spec"]["endpoints"][0]["interval"] = "1m"

    assert timeline.scrape_seconds(edited(production, slow), s.policies_dir) == 60


# --------------------------------------------------------------------------- gitops-check plan


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_plan_prints_the_timeline_and_worst_cases(tmp_path):
    proc = _cli("plan", PRODUCTION, "--svg", str(tmp_path / "p.svg"))
    assert proc.returncode == 0, proc.stderr
    assert "Sync to 100 %: best 6m, worst 10m" in proc.stdout and "Unguarded canary traffic: none" in proc.stdout
    root = ET.parse(tmp_path / "p.svg").getroot()
    assert root.tag.endswith("svg") and root.findall(".//{http://www.w3.org/2000/svg}polyline")


def test_plan_json_and_exit_codes(tmp_path):
    data = json.loads(_cli("plan", PRODUCTION, "--format", "json").stdout)
    (r,) = data["rollouts"]
    assert r["to_full_seconds"] == {"best": 360, "worst": 600} and data["problems"] == []
    proc = _cli("plan", str(tmp_path / "missing"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def _production_with(tmp_path, name: str, operation: str) -> Path:
    """An overlay of production whose Rollout gets one JSON patch OPERATION (a flow mapping)."""
    overlay = tmp_path / name
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources:\n  - {os.path.relpath(REPO / PRODUCTION, overlay)}\npatches:\n  - target: {{kind: Rollout}}\n    patch: |-\n"
        f"      - {operation}\n")
    return overlay


def test_plan_exits_1_when_over_budget_or_unguarded(tmp_path):
    proc = _cli("plan", str(_production_with(tmp_path, "slow", "{op: replace, path: /spec/progressDeadlineSeconds, value: 600}")))
    assert proc.returncode == 1 and "OVER the budget" in proc.stdout


def test_the_docs_carry_the_generated_plan():
    """docs/architecture.md and docs/plan-production.svg are what `make docs` writes (plan.docs_block)."""
    block, picture = plan.docs_block(settings.load())
    assert block in (REPO / "docs" / "architecture.md").read_text(encoding="utf-8"), "run make docs"
    assert (REPO / "docs" / "plan-production.svg").read_text(encoding="utf-8") == picture, "run make docs"


# --------------------------------------------------------------------------- rollback


def _no_rollback_window(o):
    del o[("Rollout", "webhook-service")]["spec"]["rollbackWindow"]


def test_rollback_to_a_recent_revision_skips_the_steps_only_with_rollback_window(production):
    """With rollbackWindow (base/rollout.yaml: 3 revisions) a rollback is one readiness wait bounded by
    progressDeadlineSeconds; without it, the controller walks the whole canary again."""
    p = the_plan(production)
    assert p.rollback_window == 3
    assert p.rollback_most == p.progress_deadline == 60
    without = the_plan(edited(production, _no_rollback_window))
    assert without.rollback_window == 0
    assert without.rollback_most == without.to_full_most == 600
    report = plan.Report(PRODUCTION, 900.0, "base/slo.yaml", [p])
    assert "  Rollback to a recent revision: worst 1m (rollbackWindow: one of the last 3 revisions" in plan.text(report)
    assert json.loads(plan.as_json(report))["rollouts"][0]["rollback_seconds"] == 60
    report = plan.Report(PRODUCTION, 900.0, "base/slo.yaml", [without])
    assert "  Rollback to a recent revision: worst 10m (no rollbackWindow: a full release)" in plan.text(report)
    assert json.loads(plan.as_json(report))["rollouts"][0]["rollback_seconds"] == 600


def test_plan_text_keeps_a_forged_rollout_name_on_its_line(tmp_path):
    """A Rollout named with newlines put `::error` workflow commands and cursor moves at the start of plan lines
    (offline, nothing else checks that a name is a DNS name)."""
    overlay = _production_with(tmp_path, "forged",
                               '{op: replace, path: /metadata/name, value: "x\\n::error file=README.md::forged\\n\\e[2K\\e[1A"}')
    proc = _cli("plan", str(overlay))
    assert proc.returncode in (0, 1), proc.stderr
    assert "Rollout x\\n::error file=README.md::forged\\n\\x1b[2K\\x1b[1A (" in proc.stdout
    assert not any(ln.lstrip().startswith("::") for ln in proc.stdout.splitlines()) and "\x1b" not in proc.stdout


def test_measurements_after_a_time_are_counted_by_arithmetic_for_huge_counts():
    """`count: 9223372036854775807` made a list of that many measurements (24 GB, then the OOM killer)."""
    rng = random.Random(12)
    for _ in range(500):
        first, interval = rng.uniform(-100, 1000), rng.choice([30.0, 0.1, -30.0, 0.0, rng.uniform(-5, 90)])
        count = rng.randint(10_001, 11_000)
        threshold = rng.choice([first + interval * rng.randint(-5, 11_500), rng.uniform(-1000, 400_000)])
        assert timeline._at_or_after(first, interval, count, threshold) == \
            sum(first + k * interval >= threshold for k in range(count))
    assert timeline._at_or_after(0.0, 30.0, 2 ** 63 - 1, 60.0) == 2 ** 63 - 3


@pytest.mark.parametrize("raw, value", [("9" * 5000, 2 ** 63 - 1), ("-" + "9" * 30, -(2 ** 63)), ("0" * 30 + "42", 42),
                                        ("0" * 5000 + "5", 5), ("-" + "0" * 5000 + "5", -5),
                                        (10 ** 30, 2 ** 63 - 1), ("²", 0), ("12", 12)])
def test_int_or_string_values_are_read_as_intstr_reads_them(raw, value):
    """Out of range, strconv.Atoi returns the bound (with its range error, which IntValue drops); 5,000 digits
    were an internal error (Python's int() refuses more than 4,300)."""
    assert timeline._go_int(raw) == value

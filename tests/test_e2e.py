"""The canary and the rollback, end to end: the real Argo Rollouts controller, kube-controller-manager,
kube-scheduler and kwok on the local control plane, Prometheus fed synthetic Istio traffic (make e2e).

The whole run (every scenario) happens once, in a subprocess with a network namespace of its own; it writes
reports/e2e.json, which these tests read. Then three broken canaries prove the scenarios can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import controlplane, render, settings, timeline
from gitops_check.e2e import scenarios
from gitops_check.model import Source
from gitops_check.references.index import Index

REPORT = REPO / "reports" / "e2e.json"
TARGETS = {"deploy": 15 * 60, "rollback": 5 * 60, "recovery": 10 * 60}  # the seed's, in seconds


DURATION_KEYS = {"duration", "interval", "initialDelay"}
SECOND_KEYS = {"progressDeadlineSeconds", "abortScaleDownDelaySeconds", "scaleDownDelaySeconds", "autoPromotionSeconds",
               "activeDeadlineSeconds"}


def _durations(docs) -> dict[str, float]:
    """path -> seconds of every duration of the Rollout, the AnalysisTemplates and the ServiceMonitor's
    scrape interval (the timeline model reads it)."""
    from gitops_check.durations import duration_string_seconds

    out: dict[str, float] = {}

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in DURATION_KEYS and isinstance(v, str) and k != "scrapeTimeout":
                    out[f"{path}/{k}"] = duration_string_seconds(v)
                elif k in SECOND_KEYS:
                    out[f"{path}/{k}"] = float(v)
                else:
                    walk(v, f"{path}/{k}")
        elif isinstance(node, str) and node.startswith("--duration="):  # the load Job's argument
            out[path] = duration_string_seconds(node.split("=", 1)[1])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")

    for d in docs:
        if d.kind in ("Rollout", "AnalysisTemplate", "ServiceMonitor"):
            walk(d.obj["spec"], f"{d.kind}/{d.name}")
    return out


@pytest.mark.parametrize("e2e_overlay, production", [("tests/overlays/e2e", "overlays/production"),
                                                     ("tests/overlays/e2e-header-routing", "tests/overlays/header-routing"),
                                                     ("tests/overlays/e2e-blue-green", "tests/overlays/blue-green")])
def test_the_e2e_overlays_divide_every_duration_by_the_one_scale(rendered, e2e_overlay, production):
    import tomllib

    scale = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["gitops-check"]["e2e-scale"]
    scaled, real = _durations(rendered(e2e_overlay)), _durations(rendered(production))
    assert scaled.keys() == real.keys() and real
    assert {k: v * scale for k, v in scaled.items()} == real


def e2e(*args: str, report: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitops_check.e2e", "--report", str(report), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def run():
    REPORT.unlink(missing_ok=True)  # never judge an earlier run's report
    proc = e2e(report=REPORT)
    assert REPORT.is_file(), proc.stdout + proc.stderr
    report = json.loads(REPORT.read_text())
    return proc, report, {s["name"]: s for s in report["scenarios"]}


def test_every_scenario_runs_and_the_run_passes(run):
    proc, report, by_name = run
    assert list(by_name) == list(scenarios.SCENARIOS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_scenario(run, name):
    entry = run[2][name]
    assert entry["passed"], entry["message"]
    assert set(entry) >= {"name", "passed", "scale", "time_to_full_seconds", "rollback_seconds", "timeline"}
    assert entry["scale"] == run[1]["scale"] and entry["timeline"]
    assert all(set(e) == {"t", "event", "weights"} for e in entry["timeline"])


def test_the_seeds_targets_are_met(run):
    by_name = run[2]
    assert by_name["healthy-release"]["time_to_full_seconds"] < TARGETS["deploy"]
    for name in ("rollback", "rollback-after-scale-down"):  # right after the release, and once v1 was scaled down
        assert by_name[name]["rollback_seconds"] < TARGETS["rollback"], name
    for name in ("bad-release", "slow-release", "stuck-release"):  # back on the stable version: recovered
        assert by_name[name]["rollback_seconds"] < TARGETS["recovery"], name


def test_nothing_listened_beyond_loopback_and_nothing_survives(run):
    # The run's network namespace has no interface but loopback, so even a wildcard listener (the Argo
    # Rollouts controller binds its metrics and health ports to every address) is reachable on loopback only.
    assert run[1]["interfaces"] == ["lo"]
    assert run[1]["listening"] and set(run[1]["listening"]) <= {"127.0.0.1", "::1", "0.0.0.0", "::"}, run[1]["listening"]
    session = os.environ[controlplane.SHARED]  # this test session's own control plane (tests/conftest.py)
    survivors = [p for p in Path("/proc").iterdir()
                 if p.name.isdigit() and "controlplanes/run-" in _cmdline(p) and session not in _cmdline(p)]
    assert survivors == [], [_cmdline(p) for p in survivors]


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _plan() -> timeline.Plan:
    """The timeline model of the Rollout the scenarios release (the scaled overlay)."""
    s = settings.load()
    docs = render.documents(REPO / scenarios.OVERLAY, scenarios.OVERLAY, s)
    rollout = next(d for d in docs if d.kind == "Rollout")
    return timeline.plan(Index(Source(scenarios.OVERLAY, "overlay", docs)), rollout, timeline.scrape_seconds(docs, s.policies_dir))


def test_the_timeline_model_and_the_controller_agree(run):
    """One model, two witnesses: the timeline gitops-check plan computes for the scaled overlay brackets the
    time the real controller took to reach 100 % (best case: pauses only; worst case: every readiness wait
    up to progressDeadlineSeconds), and since the model finds no unguarded stretch, the bad release is
    aborted at its first weight, within the model's worst case to abort."""
    plan = _plan()
    scale = run[1]["scale"]
    measured = run[2]["healthy-release"]["time_to_full_seconds"]
    assert plan.to_full_least * scale <= measured <= plan.to_full_most * scale, (plan.parts(), measured)
    assert plan.gaps() == []
    bad = run[2]["bad-release"]["timeline"]
    synced = next(e["t"] for e in bad if e["event"].startswith("sync v2"))
    aborted = next(e["t"] for e in bad if e["event"] == "aborted")
    weights = {e["weights"].get("canary") for e in bad if synced <= e["t"] <= aborted} - {None, 0}
    assert weights == {10}, weights
    assert aborted - synced <= plan.first_abort_most() * scale, (aborted - synced, plan.first_abort_most())


@pytest.mark.parametrize("name, v1_scaled_up", [("rollback", True), ("rollback-after-scale-down", False)])
def test_a_rollback_of_a_completed_release_skips_the_steps_within_the_models_worst_case(run, name, v1_scaled_up):
    """rollbackWindow, measured twice: a revert right after the release (v1's ReplicaSet still scaled up, within
    scaleDownDelaySeconds) and the usual one, later, once the controller scaled v1's ReplicaSet down to 0 and its
    pods must start again. Neither walks the canary (no pause, no step's weight, no AnalysisRun), and both are back
    on v1 within the timeline model's worst case for a rollback (one readiness wait, progressDeadlineSeconds)."""
    entry, scale, plan = run[2][name], run[1]["scale"], _plan()
    d = entry["details"]
    assert (d["v1_replicas_at_rollback"] > 0) is v1_scaled_up, d
    assert d["steps_skipped"] and not d["paused"] and not d["analysis_runs_started"], d
    steps = len(plan.rollout.obj["spec"]["strategy"]["canary"]["steps"])
    assert set(d["canary_weights"]) <= {0, 100} and max(d["steps_walked"]) == steps, d
    assert plan.rollback_window > 0
    assert entry["rollback_seconds"] <= plan.rollback_most * scale, (entry["rollback_seconds"], plan.rollback_most * scale)
    if not v1_scaled_up:  # the wait was the controller's scale-down delay, scaled like every other duration
        delay = plan.rollout.obj["spec"]["strategy"]["canary"]["scaleDownDelaySeconds"] * scale
        # The delay runs from the controller's own promotion, which the recorder sees up to a poll or two later
        # (a second of real time is 15 s here): 18 to 33 s measured for 30 s. Not at once is what is checked.
        assert d["v1_scaled_down_seconds_after_promotion"] >= 0.4 * delay, (d, delay)


@pytest.mark.parametrize(
    "broken, expected",
    [
        ("analysis-on-stable", "a failing measurement of v2 (5 % errors) did not happen; instead: phase Healthy"),
        ("loose-threshold", "a failing measurement of v2 (5 % errors) did not happen; instead: phase Healthy"),
        ("route-typo", "HTTP Route 'primry' is not found in the defined Virtual Service"),
        ("preview-unmeasured", "the pre-promotion analysis measured nothing: the preview received no traffic"),
    ],
)
def test_a_broken_canary_fails_the_bad_release_saying_what_the_controller_did(tmp_path, broken, expected):
    scenario = "blue-green" if broken.startswith("preview") else "bad-release"
    proc = e2e(scenario, "--break", broken, report=tmp_path / "e2e.json")
    entry = json.loads((tmp_path / "e2e.json").read_text())["scenarios"][0]
    assert proc.returncode == 1 and not entry["passed"]
    assert expected in entry["message"], entry["message"]


def test_the_simulated_cluster_starts_only_in_a_network_namespace_of_its_own():
    """The Argo Rollouts controller has no flag for its ports' address and listens on every interface: the simulated
    cluster refuses to start where anything but loopback is (here, pytest's own namespace), before it starts anything."""
    from gitops_check import simcluster
    from gitops_check.errors import ToolError

    assert simcluster.interfaces() != ["lo"], "this test needs a namespace with more than loopback"
    with pytest.raises(ToolError, match="starts only in a network namespace of its own"):
        simcluster.start(settings.load(), "127.0.0.1:1")

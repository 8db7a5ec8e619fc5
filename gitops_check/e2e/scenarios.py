"""The end-to-end scenarios: what the real controllers do with the repository's Rollout on the simulated
cluster. Each runs in a namespace of its own, asserts on what it reads from the API, and returns its
measurements in scaled seconds (the report multiplies them back by the scale).

A scenario fails with an AssertionError that says what the controllers did instead (observe.Recorder.wait).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..kubeapi import Client
from ..model import Document
from ..settings import Settings
from . import deploy
from .observe import Recorder, Sample
from .traffic import Behaviour, Traffic

OVERLAY = "tests/overlays/e2e"
HEADER_ROUTING = "tests/overlays/e2e-header-routing"
BLUE_GREEN = "tests/overlays/e2e-blue-green"

V1, V2, V3 = deploy.digest("v1"), deploy.digest("v2"), deploy.digest("v3")
ERRORS, SLOW, STUCK, QUIET = deploy.digest("v2-errors"), deploy.digest("v2-slow"), deploy.digest("v2-never-ready"), deploy.digest("v2-quiet")
NEVER_READY_DIGESTS = (STUCK,)
SETTLE = 1.0  # scaled seconds between a first sync and the release that follows it


@dataclass
class World:
    settings: Settings
    client: Client
    traffic: Traffic
    releases: deploy.Releases
    resources: dict
    ignores: list[dict]  # the Application's ignoreDifferences, honoured on every sync
    scale: int = 1
    query: Callable[[str], list[dict]] | None = None  # PromQL against the cluster's Prometheus  # the e2e overlays' durations are the real ones divided by this
    timeout: float = 90.0  # scaled seconds any single wait may take

    def real(self, scaled: float) -> float:
        """A measured (scaled) duration as its real-time equivalent, in seconds."""
        return round(scaled * self.scale, 1)


@dataclass
class Outcome:
    """What a scenario measured, in scaled (measured) seconds."""

    time_to_full: float | None = None
    rollback: float | None = None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def image(w: World, overlay: str, digest: str) -> str:
    return deploy.image_of(w.releases.render(overlay, digest))


def release(w: World, rec: Recorder, overlay: str, digest: str, label: str) -> float:
    docs = w.releases.render(overlay, digest)
    rec.mark(f"sync {label} ({digest[:19]})")
    deploy.sync(w.client, docs, rec.namespace, w.resources, w.ignores)
    return rec.now()


def promoted(rec: Recorder, steps: int | None, after: float, replicas: int = 1) -> Callable[[Sample], bool]:
    """Fully promoted to a pod template other than the one running at `after` (the moment of a sync)."""
    before = next((s.current_hash for s in reversed(rec.samples) if s.t <= after), "")
    return lambda s: healthy_on(steps, replicas)(s) and s.current_hash != before


def rollout_spec(w: World, overlay: str) -> dict:
    ro = next(d for d in w.releases.render(overlay, V1) if d.kind == "Rollout")
    return ro.obj["spec"]


def hpa_minimum(w: World, overlay: str) -> int:
    hpa = next(d for d in w.releases.render(overlay, V1) if d.kind == "HorizontalPodAutoscaler")
    return int(hpa.obj["spec"]["minReplicas"])


def healthy_on(steps: int | None, replicas: int = 1) -> Callable[[Sample], bool]:
    """Fully promoted: Healthy, every step done, the stable ReplicaSet is the current one, all traffic on it,
    at least `replicas` pods available."""
    return lambda s: (s.phase == "Healthy" and s.step == steps and s.stable_hash and s.stable_hash == s.current_hash
                      and s.weights.get("canary") == 0 and s.available >= replicas)


def invalid_spec(since: float, grace: float = 3.0) -> Callable[[Sample], bool]:
    """InvalidSpec for longer than `grace` scaled seconds after `since`: the controller will not act."""
    return lambda s: "InvalidSpec" in s.message and s.t - since > grace


def step_count(w: World, overlay: str) -> int | None:
    """The number of canary steps (the final currentStepIndex), None for blue-green (it has no steps)."""
    canary = rollout_spec(w, overlay)["strategy"].get("canary")
    return len(canary["steps"]) if canary else None


def first_sync(w: World, rec: Recorder, overlay: str = OVERLAY) -> Sample:
    """The first sync, done when the Rollout is Healthy with the HPA's minimum of available pods."""
    t0 = release(w, rec, overlay, V1, "v1")
    steps = step_count(w, overlay)
    minimum = hpa_minimum(w, overlay)
    done = rec.wait(lambda s: healthy_on(steps, minimum)(s) and s.replicas == minimum, w.timeout,
                    f"the first sync becoming Healthy with {minimum} available pods", unless=invalid_spec(t0))
    # Let the controller settle (15 s real): a release arriving within a second of the first deploy races
    # the controller's own status updates (blue-green then takes it for the initial deploy), which no real
    # release does.
    time.sleep(SETTLE)
    return done


def check_step_weights(rec: Recorder, steps: list[dict], after: float) -> list[str]:
    """At every pause that follows a setWeight, the VirtualService sends exactly that share to the canary."""
    problems, weight = [], None
    for i, step in enumerate(steps):
        if "setWeight" in step:
            weight = step["setWeight"]
        elif "pause" in step and weight is not None:
            seen = {s.weights.get("canary") for s in rec.samples if s.t >= after and s.step == i and not s.abort}
            if seen != {weight}:
                problems.append(f"step {i} (pause after setWeight {weight}): canary weights seen {sorted(x for x in seen if x is not None) or 'none'}")
    return problems


def analysis_runs(w: World, ns: str) -> list[dict]:
    return w.client.request("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/analysisruns").body.get("items", [])


def measurements(run: dict) -> list[dict]:
    return [m for r in (run.get("status") or {}).get("metricResults") or [] for m in r.get("measurements") or []]


def release_to(w: World, rec: Recorder, digest: str, label: str, behaviour: Behaviour | None = None,
               overlay: str = OVERLAY) -> float:
    if behaviour is not None:
        w.traffic.namespace(rec.namespace).behaviours[image(w, overlay, digest)] = behaviour
    return release(w, rec, overlay, digest, label)


# --------------------------------------------------------------------------- scenarios


def sync(w: World, rec: Recorder) -> Outcome:
    """The production overlay synced as Argo CD would: Healthy with the HPA minimum of Ready pods, one per zone."""
    t0 = rec.now()
    done = first_sync(w, rec)
    ns = rec.namespace
    hpa = w.client.request("GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/webhook-service").body
    minimum = hpa["spec"]["minReplicas"]
    pods = [p for p in w.client.request("GET", f"/api/v1/namespaces/{ns}/pods").body["items"] if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for n in w.client.request("GET", "/api/v1/nodes").body["items"]}
    zones = sorted(nodes[p["spec"]["nodeName"]] for p in ready)
    assert len(ready) == minimum, f"{len(ready)} Ready pods, the HPA minimum is {minimum}"
    invalid = [s.message for s in rec.samples if s.t >= t0 and "InvalidSpec" in s.message]
    assert not invalid, f"the Rollout was InvalidSpec during the sync: {invalid[0]}"
    assert len(set(zones)) == min(minimum, len(set(nodes.values()))), f"Ready pods in zones {zones}: not spread"
    return Outcome(time_to_full=done.t - t0, details={"ready_pods": len(ready), "zones": zones, "hpa_min": minimum})


def healthy_release(w: World, rec: Recorder) -> Outcome:
    """A good new digest walks every step; at each pause the weights equal the step's setWeight; analysis passes."""
    first_sync(w, rec)
    spec = rollout_spec(w, OVERLAY)
    steps = spec["strategy"]["canary"]["steps"]
    t0 = release_to(w, rec, V2, "v2 (good)", Behaviour())
    done = rec.wait(promoted(rec, len(steps), t0), w.timeout, "full promotion of v2")
    problems = check_step_weights(rec, steps, t0)
    assert not problems, "; ".join(problems)
    rec.wait(lambda s: s.analysis and all(p in ("Successful", "Failed", "Error", "Inconclusive") for p in s.analysis.values()),
             w.timeout, "the background analysis to end")
    runs = [r for r in analysis_runs(w, rec.namespace)]
    background = [r for r in runs if r["metadata"]["name"].startswith("webhook-service-") and measurements(r)]
    assert background, "no AnalysisRun took a measurement during the release"
    phases = {r["metadata"]["name"]: r["status"]["phase"] for r in background}
    assert all(p == "Successful" for p in phases.values()), f"AnalysisRuns ended {phases}"
    failed = [m for r in background for m in measurements(r) if m.get("phase") != "Successful"]
    assert not failed, f"measurements that did not succeed: {failed[:3]}"
    time.sleep(2.0)  # two scrapes of the controller's metrics after the promotion
    quiet = {name: w.query(expr) for name, expr in alert_conditions(w, rec, ROLLOUT_ALERTS).items()}
    assert not any(quiet.values()), f"alerts fire after a healthy release: {quiet}"
    return Outcome(time_to_full=done.t - t0, details={
        "measurements": sum(len(measurements(r)) for r in background), "analysis": phases})


def _aborted_by_analysis(w: World, rec: Recorder, digest: str, label: str, behaviour: Behaviour) -> Outcome:
    first_sync(w, rec)
    t0 = release_to(w, rec, digest, label, behaviour)
    steps = len(rollout_spec(w, OVERLAY)["strategy"]["canary"]["steps"])
    failed = rec.wait(lambda s: s.failed_measurements > 0, w.timeout, f"a failing measurement of {label}",
                      unless=lambda s: promoted(rec, steps, t0)(s) or invalid_spec(t0)(s))
    aborted = rec.wait(lambda s: s.abort, w.timeout, f"the abort of {label}")
    back = rec.wait(lambda s: s.abort and s.weights.get("canary") == 0 and s.weights.get("stable") == 100, w.timeout,
                    "all traffic back on stable")
    phases = {r["metadata"]["name"]: r["status"].get("phase") for r in analysis_runs(w, rec.namespace)}
    assert "Failed" in phases.values(), f"no AnalysisRun failed: {phases}"
    assert back.phase == "Degraded", f"after the abort the Rollout is {back.phase}, not Degraded"
    fired = alerts_fire(w, rec, ROLLOUT_ALERTS)
    return Outcome(rollback=back.t - failed.t, details={"alerts": fired,
        "first_failed_measurement_seconds": w.real(failed.t - t0), "aborted_seconds": w.real(aborted.t - t0), "analysis": phases,
        "max_canary_weight": max(s.weights.get("canary", 0) for s in rec.samples if s.t >= t0)})


ROLLOUT_ALERTS = ("WebhookServiceAnalysisRunFailed", "WebhookServiceRolloutDegraded")


def alert_conditions(w: World, rec: Recorder, names: tuple[str, ...]) -> dict[str, str]:
    """The repository's alert expressions, scoped to the scenario's namespace."""
    rule = next(d for d in w.releases.render(OVERLAY, V1) if d.kind == "PrometheusRule")
    exprs = {r["alert"]: r["expr"] for g in rule.obj["spec"]["groups"] for r in g["rules"] if r.get("alert") in names}
    assert set(exprs) == set(names), f"alerts missing from the PrometheusRule: {sorted(set(names) - set(exprs))}"
    return {n: e.replace('namespace="webhook-service"', f'namespace="{rec.namespace}"') for n, e in exprs.items()}


def alerts_fire(w: World, rec: Recorder, names: tuple[str, ...], timeout: float = 10.0) -> dict[str, list[dict]]:
    """Evaluate the repository's alert expressions on what Prometheus scraped from the real Argo Rollouts
    controller: each must return a series (the alert's condition holds)."""
    fired: dict[str, list[dict]] = {}
    deadline = time.monotonic() + timeout
    for name, scoped in alert_conditions(w, rec, names).items():
        while not (result := w.query(scoped)):
            assert time.monotonic() < deadline, f"alert {name} did not fire on the controller's metrics: {scoped}"
            time.sleep(0.5)
        fired[name] = [r["metric"] for r in result]
    return fired


def bad_release(w: World, rec: Recorder) -> Outcome:
    """5 % of the canary's requests fail: the analysis fails, the Rollout aborts, all traffic returns to stable."""
    return _aborted_by_analysis(w, rec, ERRORS, "v2 (5 % errors)", Behaviour(error_ratio=0.05))


def slow_release(w: World, rec: Recorder) -> Outcome:
    """The canary answers in 800 ms (p95 over the 500 ms SLO): aborted the same way."""
    return _aborted_by_analysis(w, rec, SLOW, "v2 (p95 800 ms)", Behaviour(latency_ms=800))


def no_traffic(w: World, rec: Recorder) -> Outcome:
    """No requests at all: observe what the analysis and the Rollout do (documented: empty results count as
    success, so the release is promoted; a canary with no traffic is not judged)."""
    w.traffic.namespace(rec.namespace).rps = 0.0
    first_sync(w, rec)
    steps = rollout_spec(w, OVERLAY)["strategy"]["canary"]["steps"]
    t0 = release_to(w, rec, QUIET, "v2 (no traffic)", Behaviour(error_ratio=1.0))
    done = rec.wait(promoted(rec, len(steps), t0), w.timeout, "promotion without traffic (documented behaviour)")
    values = sorted({str(m.get("value")) for r in analysis_runs(w, rec.namespace) for m in measurements(r)})
    assert values and all(v in ("[]", "[NaN]") for v in values), f"measurements with traffic: {values}"
    return Outcome(time_to_full=done.t - t0, details={"observed": "promoted; every measurement empty and counted Successful",
                                                      "measurement_values": values})


def stuck_release(w: World, rec: Recorder) -> Outcome:
    """New pods never become Ready: the progress deadline aborts the release."""
    first_sync(w, rec)
    deadline = rollout_spec(w, OVERLAY)["progressDeadlineSeconds"]
    t0 = release_to(w, rec, STUCK, "v2 (never Ready)")
    aborted = rec.wait(lambda s: s.abort, w.timeout, "the abort of a release whose pods never become Ready")
    back = rec.wait(lambda s: s.abort and s.weights.get("canary") == 0, w.timeout, "all traffic on stable")
    assert "ProgressDeadlineExceeded" in aborted.message or "progress deadline" in aborted.message.lower() \
        or aborted.phase == "Degraded", f"aborted for another reason: {aborted.message!r}"
    fired = alerts_fire(w, rec, ("WebhookServiceRolloutDegraded",))
    return Outcome(rollback=back.t - t0, details={"alerts": fired, "aborted_seconds": w.real(aborted.t - t0),
                                                  "progress_deadline_seconds": w.real(deadline),
                                                  "message": aborted.message})


def _rollback_of_a_completed_release(w: World, rec: Recorder, after_scale_down: bool) -> Outcome:
    """Release v2 to 100 %, then apply v1 again (a revert of the promotion commit, synced): the time from that sync
    until v1 is the stable version with all traffic and the Rollout Healthy. With `after_scale_down` the revert
    comes once the controller has scaled v1's ReplicaSet to 0 (scaleDownDelaySeconds after the promotion), so v1's
    pods must be started and become ready again. Within rollbackWindow the canary steps and the analysis must be
    skipped."""
    before = first_sync(w, rec)
    old_hash = before.stable_hash
    steps = len(rollout_spec(w, OVERLAY)["strategy"]["canary"]["steps"])
    t1 = release_to(w, rec, V2, "v2 (good)", Behaviour())
    full = rec.wait(promoted(rec, steps, t1), w.timeout, "full promotion of v2")
    details: dict = {}
    if after_scale_down:
        down = rec.wait(lambda s: s.rs_replicas.get(old_hash) == 0, w.timeout,
                        f"v1's ReplicaSet ({old_hash}) scaled down to 0 replicas (scaleDownDelaySeconds)")
        details["v1_scaled_down_seconds_after_promotion"] = w.real(down.t - full.t)
    last = rec.samples[-1]
    details["v1_replicas_at_rollback"] = last.rs_replicas.get(old_hash)
    runs_before = set(last.analysis)
    t0 = release(w, rec, OVERLAY, V1, "v1 again (rollback)")
    done = rec.wait(lambda s: healthy_on(steps)(s) and s.stable_hash == old_hash, w.timeout * 2, "all traffic back on v1")
    after = [s for s in rec.samples if t0 <= s.t <= done.t]
    walked = sorted({s.step for s in after if s.step is not None})
    # all traffic on v1's pods: v1 the canary at 100 % (before the promotion), or the stable version
    on_v1 = next((s for s in after if (s.current_hash == old_hash and s.weights.get("canary") == 100)
                  or (s.stable_hash == old_hash and s.weights.get("stable") == 100)), done)
    weights = sorted({s.weights["canary"] for s in after if "canary" in s.weights})
    started = sorted(set(done.analysis) - runs_before)
    paused = any(s.phase == "Paused" for s in after)
    details.update({
        # currentStepIndex values seen: the last (== the step count) means "every step done"; a new revision's status
        # starts at 0, and when v1's ReplicaSet has to be scaled up again the controller shows that 0 for one
        # reconcile before rollbackWindow moves it to the end (no weight is set at 0)
        "steps_walked": walked,
        "canary_weights": weights,
        "paused": paused,
        "analysis_runs_started": started,
        # skipped: no pause, no step's weight (only 0 and 100), no AnalysisRun, no step index between 0 and the last
        "steps_skipped": not paused and set(weights) <= {0, 100} and not started and set(walked) <= {0, steps},
        "traffic_on_v1_seconds": w.real(on_v1.t - t0),
        # issue argoproj/argo-rollouts#3941: the weight may move to 100 % before every v1 pod is available
        "v1_available_when_traffic_moved": on_v1.rs_available.get(old_hash),
        "v1_replicas_when_traffic_moved": on_v1.rs_replicas.get(old_hash),
    })
    assert details["steps_skipped"], f"the rollback walked the canary: {details}"
    return Outcome(rollback=done.t - t0, details=details)


def rollback(w: World, rec: Recorder) -> Outcome:
    """A completed release rolled back to the previous digest (a revert of the promotion commit) right after it
    completed, while the previous ReplicaSet is still scaled up (scaleDownDelaySeconds): time until all traffic
    is on the old version."""
    return _rollback_of_a_completed_release(w, rec, after_scale_down=False)


def rollback_after_scale_down(w: World, rec: Recorder) -> Outcome:
    """The usual rollback: long after the release completed, when the previous ReplicaSet has been scaled down to
    0. rollbackWindow still skips the steps and the analysis, but v1's pods must start and become ready again (one
    readiness wait, the timeline model's worst case)."""
    return _rollback_of_a_completed_release(w, rec, after_scale_down=True)


def header_routing(w: World, rec: Recorder) -> Outcome:
    """The header-routing component: the X-Canary route appears at its step and is gone at the end."""
    first_sync(w, rec, HEADER_ROUTING)
    steps = rollout_spec(w, HEADER_ROUTING)["strategy"]["canary"]["steps"]
    route_step = next(i for i, s in enumerate(steps) if "setHeaderRoute" in s)
    route = steps[route_step]["setHeaderRoute"]["name"]
    t0 = release_to(w, rec, V2, "v2 (good)", Behaviour(), overlay=HEADER_ROUTING)
    appeared = rec.wait(lambda s: route in s.routes, w.timeout, f"the {route} route")
    done = rec.wait(promoted(rec, len(steps), t0), w.timeout, "full promotion of v2")
    assert appeared.step is not None and appeared.step >= route_step, f"{route} appeared at step {appeared.step}, before its step {route_step}"
    assert route not in done.routes, f"{route} is still in the VirtualService at the end: {done.routes}"
    problems = check_step_weights(rec, steps, t0)
    assert not problems, "; ".join(problems)
    return Outcome(time_to_full=done.t - t0, details={"route_appeared_at_step": appeared.step, "final_routes": done.routes})


def load_job_seconds(w: World) -> float:
    """How long the blue-green component's load Job runs (its --duration), in scaled seconds."""
    from ..durations import duration_string_seconds

    template = next(d for d in w.releases.render(BLUE_GREEN, V1) if d.name == "webhook-service-preview-load")
    job = template.obj["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    return duration_string_seconds(next(a.split("=", 1)[1] for a in job["args"] if a.startswith("--duration=")))


def blue_green(w: World, rec: Recorder) -> Outcome:
    """The blue-green component: a good preview is promoted after its pre-promotion analysis (which loads
    it on purpose: the preview has no user traffic); a bad preview (5 % errors) is not promoted."""
    first = first_sync(w, rec, BLUE_GREEN)
    t0 = release_to(w, rec, V2, "v2 (good)", Behaviour(), overlay=BLUE_GREEN)
    good = rec.wait(promoted(rec, None, t0), w.timeout, "promotion of a good preview")
    runs = {r["metadata"]["name"]: r["status"].get("phase") for r in analysis_runs(w, rec.namespace)}
    assert "Successful" in runs.values(), f"the good preview was promoted without a Successful analysis: {runs}"
    requests = sum(1 for r in analysis_runs(w, rec.namespace) for m in measurements(r) if m.get("value") not in (None, "[]", "[NaN]"))
    assert requests, "the pre-promotion analysis measured nothing: the preview received no traffic"
    t1 = release_to(w, rec, V3, "v3 (5 % errors)", Behaviour(error_ratio=0.05), overlay=BLUE_GREEN)
    rec.wait(lambda s: s.abort, w.timeout, "the abort of a bad preview",
             unless=lambda s: promoted(rec, None, t1)(s))
    after = rec.wait(lambda s: s.abort and s.phase == "Degraded", w.timeout, "the Rollout Degraded after the abort")
    assert after.stable_hash == good.stable_hash and after.stable_hash != first.stable_hash, \
        f"the active version changed: stable {after.stable_hash}, the promoted good version was {good.stable_hash}"
    phases = {r["metadata"]["name"]: r["status"].get("phase") for r in analysis_runs(w, rec.namespace)}
    assert "Failed" in phases.values(), f"no AnalysisRun failed: {phases}"
    return Outcome(time_to_full=good.t - t0, details={"analysis": phases, "measured_values": requests})


def disruption(w: World, rec: Recorder) -> Outcome:
    """With the pods Ready, the Eviction API allows exactly the disruptions the PodDisruptionBudget allows."""
    first_sync(w, rec)
    ns = rec.namespace
    pdb_path = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/webhook-service"
    deadline = time.monotonic() + w.timeout
    while True:
        pdb = w.client.request("GET", pdb_path).body
        st = pdb.get("status") or {}
        if st.get("observedGeneration") == pdb["metadata"]["generation"] and st.get("currentHealthy") == st.get("expectedPods") and st.get("expectedPods"):
            break
        assert time.monotonic() < deadline, f"the PodDisruptionBudget status never settled: {st}"
        time.sleep(0.1)
    allowed = st["disruptionsAllowed"]
    nodes = [n["metadata"]["name"] for n in w.client.request("GET", "/api/v1/nodes").body["items"]]
    for n in nodes:  # replacements must not become Ready while we evict: cordon every node first
        w.client.request("PATCH", f"/api/v1/nodes/{n}", {"spec": {"unschedulable": True}}, "application/merge-patch+json")
    try:
        pods = [p["metadata"]["name"] for p in w.client.request("GET", f"/api/v1/namespaces/{ns}/pods").body["items"]]
        results = []
        for name in pods:
            resp = w.client.request("POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction",
                                    {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}})
            results.append(resp.status)
            rec.mark(f"eviction of {name}: HTTP {resp.status}")
    finally:
        for n in nodes:
            w.client.request("PATCH", f"/api/v1/nodes/{n}", {"spec": {"unschedulable": False}}, "application/merge-patch+json")
    evicted = sum(1 for r in results if r == 201)
    assert evicted == allowed, f"{evicted} evictions succeeded, the PodDisruptionBudget allowed {allowed} ({results})"
    assert all(r == 429 for r in results[evicted:]), f"refused evictions answered {results[evicted:]}, expected 429"
    return Outcome(details={"disruptions_allowed": allowed, "eviction_answers": results,
                            "max_unavailable": pdb["spec"].get("maxUnavailable"), "min_available": pdb["spec"].get("minAvailable")})


# --------------------------------------------------------------------------- broken canaries
# What the tests break on purpose to prove the scenarios can fail (tests/test_e2e.py): each edits the
# rendered release the way a careless change to the repository would.


def _analysis_on_stable(docs: list[Document]) -> None:
    for d in docs:
        if d.kind == "Rollout" and "canary" in d.obj["spec"]["strategy"]:
            for arg in d.obj["spec"]["strategy"]["canary"]["analysis"]["args"]:
                if arg["name"] == "canary-service":
                    arg["value"] = "webhook-service"


def _loose_threshold(docs: list[Document]) -> None:
    for d in docs:
        if d.kind == "AnalysisTemplate":
            for arg in d.obj["spec"].get("args", []):
                if arg["name"] == "success-rate-min":
                    arg["value"] = "0.5"


def _route_typo(docs: list[Document]) -> None:
    for d in docs:
        if d.kind == "Rollout" and "canary" in d.obj["spec"]["strategy"]:
            d.obj["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["virtualService"]["routes"] = ["primry"]


def _preview_unmeasured(docs: list[Document]) -> None:
    """The blue-green component as it was: no load on the preview, and no data counted as success."""
    for d in docs:
        if d.kind == "Rollout" and "blueGreen" in d.obj["spec"]["strategy"]:
            analysis = d.obj["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]
            analysis["templates"] = [t for t in analysis["templates"] if t["templateName"] != "webhook-service-preview-load"]
        if d.kind == "AnalysisTemplate" and d.name != "webhook-service-preview-load":
            m = d.obj["spec"]["metrics"][0]
            m["successCondition"] = "len(result) == 0 || isNaN(result[0]) || " + m["successCondition"].split(" && ", 2)[-1]
            m["failureCondition"] = "len(result) > 0 && !isNaN(result[0]) && " + m["failureCondition"].split(" || ", 2)[-1]


MUTATIONS: dict[str, Callable[[list[Document]], None]] = {
    "analysis-on-stable": _analysis_on_stable,
    "loose-threshold": _loose_threshold,
    "route-typo": _route_typo,
    "preview-unmeasured": _preview_unmeasured,
}


SCENARIOS: dict[str, Callable[[World, Recorder], Outcome]] = {
    "sync": sync,
    "healthy-release": healthy_release,
    "bad-release": bad_release,
    "slow-release": slow_release,
    "no-traffic": no_traffic,
    "stuck-release": stuck_release,
    "rollback": rollback,
    "rollback-after-scale-down": rollback_after_scale_down,
    "header-routing": header_routing,
    "blue-green": blue_green,
    "disruption": disruption,
}

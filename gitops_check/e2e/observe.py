"""What the controllers did, read from the API: a recorder samples the Rollout, its VirtualService, its
AnalysisRuns and its ReplicaSets a few times a second and keeps a timeline of the changes, in scaled (measured)
seconds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..kubeapi import Client

ROLLOUT = "webhook-service"
POLL = 0.1  # seconds between samples


def primary_route(vs: dict) -> list[tuple[str, int]]:
    """(Service, weight %) of the route Argo Rollouts manages (`primary`): the share of the host's requests
    each destination gets. A lone destination without a weight gets all of them, as in Istio."""
    routes = (vs.get("spec") or {}).get("http") or []
    primary = next((r for r in routes if r.get("name") == "primary"), None) or {}
    dests = primary.get("route") or []
    return [(d["destination"]["host"].split(".")[0], int(d.get("weight", 100 if len(dests) == 1 else 0))) for d in dests]


def weights(vs: dict) -> dict[str, int]:
    """{"stable": w, "canary": w} of the primary route."""
    out = {"stable": 0, "canary": 0}
    for host, weight in primary_route(vs):
        out["canary" if host.endswith("-canary") else "stable"] += weight
    return out


def route_names(vs: dict) -> list[str]:
    return [r.get("name", "") for r in (vs.get("spec") or {}).get("http") or []]


@dataclass
class Sample:
    t: float  # seconds since the recorder started (measured, not scaled)
    phase: str
    step: int | None
    abort: bool
    message: str
    stable_hash: str
    current_hash: str
    weights: dict[str, int]
    routes: list[str]
    analysis: dict[str, str]  # AnalysisRun name -> phase
    failed_measurements: int
    replicas: int = 0
    available: int = 0
    # the Rollout's ReplicaSets by pod-template hash: spec.replicas (what the controller asks for) and
    # status.availableReplicas
    rs_replicas: dict[str, int] = field(default_factory=dict)
    rs_available: dict[str, int] = field(default_factory=dict)


@dataclass
class Recorder:
    client: Client
    namespace: str
    samples: list[Sample] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    started: float = 0.0

    def start(self) -> "Recorder":
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{self.namespace}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, event: str) -> None:
        """An event of the scenario's own (an apply, a traffic change), on the same clock."""
        last = self.samples[-1].weights if self.samples else {}
        self.events.append({"t": self.now(), "event": event, "weights": dict(last)})

    def sample(self) -> Sample:
        ns = self.namespace

        def get(path: str) -> dict:
            resp = self.client.request("GET", path)
            return resp.body if resp.ok else {}  # not there (yet): an empty object

        ro = get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{ROLLOUT}")
        vs = get(f"/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/{ROLLOUT}")
        runs = get(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/analysisruns").get("items", [])
        sets = [rs for rs in get(f"/apis/apps/v1/namespaces/{ns}/replicasets").get("items", [])
                if any(o.get("kind") == "Rollout" and o.get("name") == ROLLOUT
                       for o in rs["metadata"].get("ownerReferences") or [])]
        status = ro.get("status") or {}
        failed = sum(
            1 for r in runs for m in (r.get("status") or {}).get("metricResults") or []
            for x in m.get("measurements") or [] if x.get("phase") == "Failed"
        )
        return Sample(
            t=self.now(), phase=status.get("phase", ""), step=status.get("currentStepIndex"),
            abort=bool(status.get("abort")), message=status.get("message", ""),
            stable_hash=status.get("stableRS", ""), current_hash=status.get("currentPodHash", ""),
            weights=weights(vs) if vs.get("spec") else {}, routes=route_names(vs) if vs.get("spec") else [],
            analysis={r["metadata"]["name"]: (r.get("status") or {}).get("phase", "") for r in runs},
            failed_measurements=failed, replicas=int(status.get("replicas") or 0),
            available=int(status.get("availableReplicas") or 0),
            rs_replicas={_hash(rs): int(rs["spec"].get("replicas") or 0) for rs in sets},
            rs_available={_hash(rs): int((rs.get("status") or {}).get("availableReplicas") or 0) for rs in sets},
        )

    def _run(self) -> None:
        previous: Sample | None = None
        while not self._stop.is_set():
            try:
                s = self.sample()
            except Exception as exc:  # the API is busy: the next sample will tell
                self.events.append({"t": self.now(), "event": f"sample failed: {exc}", "weights": {}})
                time.sleep(POLL)
                continue
            self.samples.append(s)
            for event in _changes(previous, s):
                self.events.append({"t": s.t, "event": event, "weights": dict(s.weights)})
            previous = s
            time.sleep(POLL)

    # ------------------------------------------------------------------ questions about the timeline

    def wait(self, predicate, timeout: float, what: str, unless=None) -> Sample:
        """The first sample (from now on) that satisfies `predicate`; AssertionError naming the state the
        controllers left instead, after `timeout` scaled seconds or as soon as a sample satisfies `unless`
        (a state from which what is awaited cannot happen any more)."""
        deadline = time.monotonic() + timeout
        seen = len(self.samples)
        while time.monotonic() < deadline:
            for s in self.samples[seen:]:
                if predicate(s):
                    return s
                if unless is not None and unless(s):
                    raise AssertionError(f"{what} did not happen; instead: {_state(s)}")
            seen = len(self.samples)
            time.sleep(POLL)
        last = self.samples[-1] if self.samples else None
        raise AssertionError(f"{what} did not happen within {timeout:.0f}s (scaled); instead: "
                             f"{_state(last) if last else 'nothing was read'}")


def _hash(rs: dict) -> str:
    return (rs["metadata"].get("labels") or {}).get("rollouts-pod-template-hash", rs["metadata"]["name"])


def _state(s: Sample) -> str:
    message = f", message: {s.message}" if s.message else ""
    sets = f", replicasets {s.rs_replicas}" if s.rs_replicas else ""
    return f"phase {s.phase or '-'}, step {s.step}, abort {s.abort}, weights {s.weights}, analysis {s.analysis}{sets}{message}"


def _changes(old: Sample | None, new: Sample) -> list[str]:
    out = []
    if old is None or old.phase != new.phase:
        out.append(f"phase {new.phase or '-'}" + (f": {new.message}" if new.message else ""))
    if old is None or old.step != new.step:
        out.append(f"step {new.step}")
    if old is None or old.weights != new.weights:
        out.append(f"weights stable {new.weights.get('stable')} / canary {new.weights.get('canary')}")
    if old is not None and new.abort and not old.abort:
        out.append("aborted")
    if old is None or old.routes != new.routes:
        out.append(f"routes {', '.join(new.routes)}")
    for name, phase in new.analysis.items():
        if old is None or old.analysis.get(name) != phase:
            out.append(f"analysis {name}: {phase or 'created'}")
    for h, n in new.rs_replicas.items():
        if old is not None and old.rs_replicas.get(h) != n:
            out.append(f"replicaset {h}: {n} replicas")
    if old is not None and new.failed_measurements > old.failed_measurements:
        out.append(f"failed measurement ({new.failed_measurements} so far)")
    return out

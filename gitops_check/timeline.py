"""The one timeline model of a Rollout: what the Argo Rollouts controller will do, step by step, in time.

From the rendered Rollout and its AnalysisTemplates it lays out the phases of a release (canary: each
step's readiness wait, pause, inline analysis, experiment, then full promotion; blueGreen: the preview's
readiness, pre-promotion analysis and auto-promotion, the switch, post-promotion analysis) with the
shortest and the longest each can take, and every analysis window (background and blocking metrics with
their initialDelay, interval, count and failureLimit). From that it answers:

- the worst case from sync to 100 % of traffic on the new version (the deployment budget), and the best case;
- how fast a bad or stuck canary is aborted (detection latency of each metric, progressDeadlineSeconds);
- which stretches of canary traffic no measurement can fail in time (the analysis coverage);
- how long a rollback to a recent revision takes at worst: with spec.rollbackWindow.revisions set, a return to
  one of the last N revisions skips the steps and the analysis (that version already ran), so the worst case
  is one readiness wait (progressDeadlineSeconds) for the old pods to be fully available; without it, a
  rollback is a full release;
- the earliest a new pod can be available: its probes' delays (startupProbe, then readinessProbe with
  successThreshold probes one period apart) plus minReadySeconds, before any image is pulled. When that is
  not under progressDeadlineSeconds, every step that starts pods misses the deadline.

Readiness: a step that scales canary pods (setWeight, setCanaryScale) waits until they are available; the
controller aborts (progressDeadlineAbort) or stalls when that takes longer than progressDeadlineSeconds, so
the wait is at most that long and at least nothing. Pauses without a duration wait for a human and are left
out of the worst case (and listed). A duration is read as Argo Rollouts reads it (gitops_check/durations.py);
one that does not parse is `unread`, never counted as 0 in silence.

Detection: a measurement sees the canary's bad requests only once Prometheus scraped them (one scrape
interval), and the run fails after failureLimit + 1 failed measurements. A canary that turns bad at some
moment is therefore caught, at worst, scrape + (failureLimit + 1) x interval later, if the metric still
measures then. This ignores the dilution of a query window by earlier good samples: a canary that degrades
slowly is caught later than that.

The policies (gitops_check/references/budget.py), `gitops-check plan`, the docs (docs/architecture.md) and
the end-to-end comparison with the real controller (tests/test_e2e.py) all read this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from . import scrape
from .durations import DurationError, duration_string_seconds, read_pause
from .model import Document
from .references.index import Index, as_dict, dicts, human
from .references.templates import AnalysisUse, analysis_uses, resolve, template_args

_ARG_REF = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
MISSING = "an AnalysisTemplate it runs is missing"
DEFAULT_PROGRESS_DEADLINE = 600  # Argo Rollouts' default progressDeadlineSeconds
INF = math.inf


@dataclass
class Unread:
    """A part of the timeline that cannot be priced: where, the value, and why."""

    where: str
    value: Any
    why: str
    unparseable: bool = True  # a value Argo Rollouts cannot read, not merely one unknown here


@dataclass
class Phase:
    """One stretch of a release during which the traffic weight of the new version does not change."""

    step: int | None  # canary step index; None for promotion and blueGreen phases
    what: str  # human words: "setWeight 10: canary pods become ready", "pause 2m", ...
    kind: str  # ready | pause | analysis | experiment | human | promotion | switch
    weight: float  # % of traffic on the new version during this phase
    least: float  # shortest duration, seconds
    most: float  # longest duration, seconds (inf: unbounded)
    start_least: float = 0.0
    start_most: float = 0.0
    gate: str = ""  # a blocking check this phase waits for (inline analysis, experiment), "" when none

    @property
    def end_least(self) -> float:
        return self.start_least + self.least

    @property
    def end_most(self) -> float:
        return self.start_most + self.most


@dataclass
class Measurement:
    """One metric of one analysis: when it measures and how many failures it tolerates."""

    where: str  # "canary.analysis", "canary.steps[3].analysis", "blueGreen.prePromotionAnalysis"
    template: str
    metric: str
    blocking: bool
    starts_at_phase: int  # index into Plan.phases where the AnalysisRun starts
    initial_delay: float
    interval: float | None  # None: one measurement only
    count: float  # measurements (inf: until the rollout ends it)
    failure_limit: int
    start_least: float = 0.0  # when the AnalysisRun starts, shortest / longest run
    start_most: float = 0.0
    lasts: float = 0.0  # how long one measurement can take: a Job metric up to its activeDeadlineSeconds

    def first(self, start: float) -> float:
        return start + self.initial_delay

    def last(self, start: float) -> float:
        """When the last measurement ends (inf: never)."""
        if self.interval is None or self.count == INF:
            return self.first(start) + self.lasts if self.interval is None else INF
        return self.first(start) + self.interval * (max(self.count, 1) - 1) + self.lasts

    def detection_after(self, bad_at: float, start: float, scrape: float) -> float:
        """The latest time a canary that turned bad at `bad_at` is aborted by this metric (inf: never),
        for an AnalysisRun started at `start`: the first measurement that can see bad samples comes after
        one scrape, at the worst phase of the interval, then failureLimit more must fail."""
        seen = bad_at + scrape
        first, last = self.first(start), self.last(start)
        if self.interval is None:
            return first if seen <= first and self.failure_limit == 0 else INF
        if seen <= first:
            at = first + self.failure_limit * self.interval
        else:
            at = seen + self.interval + self.failure_limit * self.interval  # worst phase: just missed one
        return at if at <= last else INF

    @property
    def latency(self) -> float | None:
        """Worst case from going bad to abort, once running: (failureLimit + 1) x interval (plus a scrape)."""
        return None if self.interval is None else (self.failure_limit + 1) * self.interval


@dataclass
class Gap:
    """A stretch of canary traffic that a measurement cannot fail in time."""

    phase: Phase
    where: str  # the metric, or the stretch when no analysis runs at all
    why: str


@dataclass
class Plan:
    rollout: Document
    strategy: str  # canary | blueGreen | none
    phases: list[Phase] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)
    waits_for_human: list[str] = field(default_factory=list)
    progress_deadline: float = DEFAULT_PROGRESS_DEADLINE
    deadline_aborts: bool = False
    scrape: float = 0.0
    rollback_window: int = 0  # spec.rollbackWindow.revisions; 0 when not set
    available_least: float = 0.0  # the earliest a new pod can be available (probe delays, minReadySeconds)
    available_why: str = ""  # what that earliest time is made of, in words

    # ------------------------------------------------------------------ answers

    @property
    def to_full_most(self) -> float:
        """Worst case from sync to 100 % of traffic on the new version."""
        return self._until_full("most")

    @property
    def to_full_least(self) -> float:
        return self._until_full("least")

    @property
    def rollback_most(self) -> float:
        """Worst case of a rollback to a recent revision (within rollbackWindow): the controller skips the steps
        and the analysis and only waits for the old pods to be fully available, a wait progressDeadlineSeconds
        bounds; without rollbackWindow a rollback is a full release (to_full_most)."""
        return float(self.progress_deadline) if self.rollback_window > 0 else self.to_full_most

    def _until_full(self, which: str) -> float:
        for p in self.phases:
            if p.kind in ("promotion", "switch"):
                return getattr(p, f"end_{which}")
        return getattr(self.phases[-1], f"end_{which}") if self.phases else 0.0

    def parts(self) -> dict[str, float]:
        """Where the worst case to 100 % goes, by kind of phase."""
        out: dict[str, float] = {}
        for p in self.phases:
            label = {"ready": "readiness waits", "experiment": "experiments", "pause": "pauses"}.get(p.kind, p.kind)
            if p.most > 0:
                out[label] = out.get(label, 0.0) + p.most
            if p.kind in ("promotion", "switch"):
                break
        return out

    @property
    def canary_phases(self) -> list[Phase]:
        """Phases with some, but not all, traffic on the new version."""
        return [p for p in self.phases if 0 < p.weight < 100]

    def background(self) -> list[Measurement]:
        return [m for m in self.measurements if not m.blocking]

    def detection(self) -> float | None:
        """Worst case from a canary going bad to its abort, over every background metric (None: none)."""
        latencies = [m.latency + self.scrape for m in self.background() if m.latency is not None]
        return max(latencies) if latencies else None

    def recovery_most(self) -> float | None:
        """Worst case from a canary going bad to its abort (all traffic back on stable): its slowest background
        metric, or, with progressDeadlineAbort, pods that never become available (None: nothing aborts it)."""
        detection = self.detection()
        times = [] if detection is None else [detection]
        if self.deadline_aborts:
            times.append(float(self.progress_deadline))
        return max(times) if times else None

    def first_abort_most(self) -> float | None:
        """Worst case from sync to the abort of a canary that is bad from its first request."""
        first = next((p for p in self.phases if p.weight > 0), None)
        if first is None:
            return None
        times = [m.detection_after(first.start_most, m.start_most, self.scrape) for m in self.background()]
        times = [t for t in times if t != INF]
        return min(times) if times else None

    def gaps(self) -> list[Gap]:
        """Stretches of canary traffic a measurement cannot fail before the weight moves on, on the fastest
        run (steps advance as soon as they may). Each metric the canary analysis runs anywhere guards its own
        failure mode (errors, latency, ...), so each must guard every stretch: in the background, able to
        abort a canary that turns bad when the stretch begins before it ends; or as a blocking gate of the
        stretch that takes failureLimit + 1 measurements after one scrape of the new weight. An experiment's
        analyses measure the experiment's pods, not the canary's traffic: they guard only when the canary
        runs no analysis of its own."""
        out: list[Gap] = []
        if not self.measurements and not any(p.gate for p in self.phases):
            return out  # no analysis at all: WH-ROLL-004's finding, not a gap of one stretch
        if any(u.why == MISSING for u in self.unread):
            return out  # a template it runs is missing (Argo Rollouts' own finding): its metrics are unknown
        keys = sorted({(m.template, m.metric) for m in self.measurements if m.where.startswith("canary.")
                       and ".experiment." not in m.where})
        for stretch in self._stretches():
            first = stretch[0]
            label = f"{first.weight:g} % (step {first.step})" if first.step is not None else f"{first.weight:g} %"
            if not keys:
                if not any(p.gate for p in stretch):
                    out.append(Gap(first, "no analysis", f"no analysis measures the canary at {label}"))
                continue
            for key in keys:
                why = self._unguarded(key, stretch, label)
                if why:
                    out.append(Gap(first, f"{key[0]}/{key[1]}", why))
        return out

    def _unguarded(self, key: tuple[str, str], stretch: list[Phase], label: str) -> str | None:
        """None when metric `key` guards the stretch; else why not, in words."""
        start, end = stretch[0].start_least, stretch[-1].end_least
        phases = {id(p) for p in stretch}
        mine = [m for m in self.measurements if (m.template, m.metric) == key]
        gates = [m for m in mine if m.blocking and id(self.phases[m.starts_at_phase]) in phases]
        for m in gates:
            if m.count == INF and m.interval is not None:
                return None
            taken = _at_or_after(m.first(m.start_least) + m.lasts, m.interval or 0.0, int(max(m.count, 1)), start + self.scrape)
            if taken >= m.failure_limit + 1:
                return None
        background = [m for m in mine if not m.blocking]
        for m in background:
            if m.detection_after(start, m.start_least, self.scrape) <= end:
                return None
        name = f"{key[0]}/{key[1]}"
        if gates and not background:
            m = gates[0]
            return (f"{m.where} {name} takes fewer than failureLimit + 1 = {m.failure_limit + 1} measurement(s) after one "
                    f"scrape ({human(self.scrape)}) of {label}, so it judges the previous weight's samples")
        if not background:
            where = ", ".join(sorted({m.where for m in mine}))
            return f"{name} measures only at {where}, not while the canary takes {label}"
        m = background[0]
        metric = f"{m.where} {name}"
        caught = m.detection_after(start, m.start_least, self.scrape)
        if m.first(m.start_least) > end or (caught == INF and m.first(m.start_least) >= start and m.interval is None):
            return f"{metric} has not started measuring while the canary takes {label}"
        if m.last(m.start_least) < end and caught == INF:
            return f"{metric} stops measuring (count {m.count:g}) before the canary leaves {label}"
        latency = caught - start if caught != INF else INF
        return (f"{metric} catches a canary that turns bad at {label} after up to {_show(latency)} "
                f"(scrape {human(self.scrape)} + (failureLimit {m.failure_limit} + 1) x interval "
                f"{_show(m.interval)}), but the rollout moves on after {human(end - start)}")

    def _stretches(self) -> list[list[Phase]]:
        """Consecutive canary phases at the same weight."""
        out: list[list[Phase]] = []
        previous = None  # the phase before this one, when it is the last of the stretch being built
        for i, p in enumerate(self.phases):
            if not 0 < p.weight < 100 or p.kind in ("promotion", "switch"):
                continue
            if out and out[-1][-1].weight == p.weight and previous == i - 1:  # (list.index per phase: 25,000 steps, minutes)
                out[-1].append(p)
            else:
                out.append([p])
            previous = i
        return out


def _show(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    return "forever" if seconds == INF else human(seconds)


# --------------------------------------------------------------------------- building the plan


def _arg_value(text: Any, use: AnalysisUse, templates: list[Document]) -> Any:
    """Substitute a lone `{{args.x}}` with the passed or default value (count/interval/failureLimit may be
    templated); None when the arg has no literal value here (valueFrom, set at run time)."""
    match = _ARG_REF.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if not match:
        return text
    name = match.group(1)
    for arg in use.args + template_args(templates):
        if str(arg.get("name")) == name and "value" in arg:
            return arg["value"]
    return None


def _at_or_after(first: float, interval: float, count: int, threshold: float) -> int:
    """How many of COUNT measurements, taken at first + k * interval (k = 0..count-1), end at or after THRESHOLD:
    counted one by one for the counts a template uses, by arithmetic for the rest (`count: 9223372036854775807`
    in a pull request made a list of that many)."""
    if count <= 10_000:
        return sum(first + k * interval >= threshold for k in range(count))
    if not (math.isfinite(first) and math.isfinite(threshold)) or interval == 0:
        return count if first >= threshold else 0  # (a Job without a deadline ends at infinity: after any threshold)
    if interval > 0:  # from the first k at or after the threshold to the end
        k = max(0, math.ceil((threshold - first) / interval))
        for _ in range(3):  # the estimate is off by a step at most where floats still tell the steps apart
            if k > 0 and first + (k - 1) * interval >= threshold:
                k -= 1
            elif k < count and first + k * interval < threshold:
                k += 1
        return count - min(k, count)
    k = math.floor((first - threshold) / -interval)  # a negative interval: from the start to the last k at or after it
    return 0 if k < 0 else min(count, k + 1)


def _go_int(value: Any) -> int:
    """intstr.IntOrString.IntValue(): an int as is, a string through strconv.Atoi: 0 when it is not a number,
    clamped to int64 when it is out of range (Atoi returns the bound with its range error)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(-(2 ** 63), min(2 ** 63 - 1, value))
    text = str(value)
    body = text[1:] if text[:1] in "+-" else text
    if not (body and all(c in "0123456789" for c in body)):
        return 0
    digits = body.lstrip("0") or "0"  # int() counts leading zeros against its 4,300 digits; Go reads 0005 as 5
    if len(digits) > 19:  # beyond int64, and beyond what int() converts quickly (or at all)
        return -(2 ** 63) if text[0] == "-" else 2 ** 63 - 1
    return max(-(2 ** 63), min(2 ** 63 - 1, -int(digits) if text[0] == "-" else int(digits)))


def _seconds(probe: dict, key: str, default: int) -> int:
    """A probe's integer field as the kubelet reads it; anything else (the API server refuses it) counts as the
    default, so the earliest time stays a lower bound."""
    value = probe.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 31 else default


def _available_least(idx: Index, rollout: Document, spec: dict) -> tuple[float, str]:
    """The earliest a new pod of the Rollout can be available, and why: every container must be Ready (readiness
    probes start once the startup probe succeeded; a readiness probe needs successThreshold successes one
    periodSeconds apart from its initialDelaySeconds), then stay Ready for minReadySeconds. Image pulls and
    start-up work only add to it."""
    worst, why = 0, ""
    for template in idx.templates_of(rollout):
        for container in template.containers():
            startup, ready = as_dict(container.get("startupProbe")), as_dict(container.get("readinessProbe"))
            started = _seconds(startup, "initialDelaySeconds", 0) if startup else 0
            at = started
            if ready:
                first = _seconds(ready, "initialDelaySeconds", 0)
                extra = (_seconds(ready, "successThreshold", 1) - 1) * _seconds(ready, "periodSeconds", 10)
                at = max(started, first) + max(0, extra)
            if at > worst:
                parts = [f"startupProbe.initialDelaySeconds {started}"] if started else []
                if ready:
                    parts.append(f"readinessProbe from {_seconds(ready, 'initialDelaySeconds', 0)}s, successThreshold "
                                 f"{_seconds(ready, 'successThreshold', 1)} x periodSeconds {_seconds(ready, 'periodSeconds', 10)}")
                worst, why = at, f"container {container.get('name')!s}: {', '.join(parts)}"
    min_ready = _seconds(spec, "minReadySeconds", 0)
    if min_ready:
        why = f"{why}, then minReadySeconds {min_ready}" if why else f"minReadySeconds {min_ready}"
    return float(worst + min_ready), why


def _measurement(metric: dict, use: AnalysisUse, templates: list[Document], doc: Document,
                 phase: int) -> Measurement | Unread:
    where = f"{use.where} ({doc.kind} {doc.name!r} metric {metric.get('name')!r})"

    def value(key: str) -> Any:
        return _arg_value(metric.get(key), use, templates)

    def duration(key: str) -> float | None | Unread:
        raw = metric.get(key)
        if raw is None or raw == "":
            return None
        resolved = value(key)
        if resolved is None:
            return Unread(f"{where}.{key}", raw, "its arg has no literal value here", unparseable=False)
        if resolved == "":
            return None
        try:
            return max(0.0, duration_string_seconds(resolved))  # a negative interval or delay waits for nothing
        except DurationError as exc:
            return Unread(f"{where}.{key}", resolved, str(exc))

    delay, interval = duration("initialDelay"), duration("interval")
    for part in (delay, interval):
        if isinstance(part, Unread):
            return part
    raw_count = value("count") if metric.get("count") is not None else 0
    if raw_count is None:
        return Unread(f"{where}.count", metric.get("count"), "its arg has no literal value here", unparseable=False)
    count: float = _go_int(raw_count)
    if count == 0:  # Metric.EffectiveCount: one measurement without interval, indefinite with one
        count = 1 if interval is None else INF
    raw_limit = value("failureLimit") if metric.get("failureLimit") is not None else 0
    limit = max(0, _go_int(raw_limit)) if raw_limit is not None else 0
    lasts = 0.0
    job = as_dict(as_dict(metric.get("provider")).get("job"))
    if job:
        deadline = as_dict(job.get("spec")).get("activeDeadlineSeconds")
        if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline > 0:
            lasts = float(deadline)
        else:  # the measurement lasts as long as the Job runs: without a deadline, possibly forever
            lasts = INF
    return Measurement(use.where, doc.name, str(metric.get("name")), use.blocking, phase, delay or 0.0,
                       interval, count, limit, lasts=lasts)


def _blocking_seconds(ms: list[Measurement]) -> float:
    """A blocking analysis ends with its slowest metric (metrics run in parallel)."""
    worst = 0.0
    for m in ms:
        worst = max(worst, m.last(0.0))
    return worst


class _Builder:
    def __init__(self, idx: Index, rollout: Document, scrape: float):
        spec = as_dict(rollout.obj.get("spec"))
        self.idx, self.rollout = idx, rollout
        strategy = as_dict(spec.get("strategy"))
        self.canary, self.blue_green = as_dict(strategy.get("canary")), as_dict(strategy.get("blueGreen"))
        kind = "canary" if "canary" in strategy else "blueGreen" if "blueGreen" in strategy else "none"
        deadline = spec.get("progressDeadlineSeconds")
        self.plan = Plan(rollout, kind, scrape=scrape)
        if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline > 0:
            self.plan.progress_deadline = deadline
        self.plan.deadline_aborts = spec.get("progressDeadlineAbort") is True
        revisions = as_dict(spec.get("rollbackWindow")).get("revisions")
        if isinstance(revisions, int) and not isinstance(revisions, bool) and revisions > 0:
            self.plan.rollback_window = revisions
        self.plan.available_least, self.plan.available_why = _available_least(idx, rollout, spec)
        self.weight = 0.0
        self.uses = analysis_uses(rollout)

    def add(self, phase: Phase) -> int:
        self.plan.phases.append(phase)
        return len(self.plan.phases) - 1

    def ready(self, step: int | None, what: str, weight: float | None = None) -> int:
        return self.add(Phase(step, what, "ready", self.weight if weight is None else weight, 0.0,
                              float(self.plan.progress_deadline)))

    def measurements(self, use: AnalysisUse, phase: int) -> list[Measurement]:
        resolved = resolve(self.idx, self.idx.ns(self.rollout), use.templates)
        if resolved.missing:
            self.plan.unread.append(Unread(use.where, None, MISSING, unparseable=False))
            return []
        out = []
        for doc in resolved.templates:
            for metric in dicts(as_dict(doc.obj.get("spec")).get("metrics")):
                m = _measurement(metric, use, resolved.templates, doc, phase)
                if isinstance(m, Unread):
                    self.plan.unread.append(m)
                else:
                    out.append(m)
        self.plan.measurements += out
        return out

    def build(self) -> Plan:
        if self.plan.strategy == "canary":
            self.canary_phases()
        elif self.plan.strategy == "blueGreen":
            self.blue_green_phases()
        self.schedule()
        return self.plan

    # ------------------------------------------------------------------ canary

    def canary_phases(self) -> None:
        background = next((u for u in self.uses if u.where == "canary.analysis"), None)
        starting = _go_int(as_dict(self.canary.get("analysis")).get("startingStep") or 0) if background else 0
        steps = dicts(self.canary.get("steps"))
        started = False
        for i, step in enumerate(steps):
            if background and not started and i >= starting:
                self.measurements(background, len(self.plan.phases))
                started = True
            self.canary_step(i, step)
        if background and not started:  # startingStep past the last step: starts at promotion
            self.measurements(background, len(self.plan.phases))
        if self.weight < 100 or not steps:
            self.ready(None, "full promotion: every pod of the new version becomes ready")
        self.add(Phase(None, "promotion: the new version is stable, 100 % of traffic", "promotion", 100.0, 0.0, 0.0))

    def canary_step(self, i: int, step: dict) -> None:
        if "setWeight" in step:
            weight = step.get("setWeight")
            self.ready(i, f"setWeight {weight}: canary pods become ready, then traffic shifts")
            if isinstance(weight, (int, float)) and not isinstance(weight, bool):
                self.weight = float(max(0, min(100, weight)))
        elif "setCanaryScale" in step:
            self.ready(i, "setCanaryScale: canary pods become ready")
        elif "pause" in step:
            self.pause(i, step.get("pause"))
        elif "analysis" in step:
            use = next((u for u in self.uses if u.where == f"canary.steps[{i}].analysis"), None)
            if use is None:  # `analysis:` with an empty value: no AnalysisRun, nothing gates the step
                self.add(Phase(i, "inline analysis (empty: nothing runs)", "analysis", self.weight, 0.0, 0.0))
                return
            phase = self.add(Phase(i, "inline analysis", "analysis", self.weight, 0.0, 0.0, gate=use.where))
            ms = self.measurements(use, phase)
            seconds = _blocking_seconds(ms)
            p = self.plan.phases[phase]
            p.least = p.most = seconds
            p.what = f"inline analysis ({', '.join(sorted({m.template for m in ms})) or 'no metric'})"
        elif "experiment" in step:
            self.experiment(i, as_dict(step.get("experiment")))
        else:
            action = next(iter(step), "step")
            self.add(Phase(i, f"{action}", "route", self.weight, 0.0, 0.0))

    def pause(self, i: int, pause: Any) -> None:
        duration = as_dict(pause).get("duration")
        if duration is None:
            self.plan.waits_for_human.append(f"canary.steps[{i}].pause")
            self.add(Phase(i, "pause until promoted by hand", "human", self.weight, 0.0, 0.0))
            return
        try:
            seconds = float(max(0, read_pause(duration)))  # below 0: Argo Rollouts rejects it
        except DurationError as exc:
            self.plan.unread.append(Unread(f"canary.steps[{i}].pause.duration", duration, str(exc)))
            seconds = 0.0
        self.add(Phase(i, f"pause {duration}", "pause", self.weight, seconds, seconds))

    def experiment(self, i: int, experiment: dict) -> None:
        raw = experiment.get("duration")
        seconds = 0.0
        if raw not in (None, ""):
            try:
                seconds = max(0.0, duration_string_seconds(raw))
            except DurationError as exc:
                self.plan.unread.append(Unread(f"canary.steps[{i}].experiment.duration", raw, str(exc)))
        analyses = [u for u in self.uses if u.experiment and u.step == i]
        self.ready(i, "experiment pods become ready")
        phase = self.add(Phase(i, f"experiment {raw or '(until its analyses end)'}", "experiment", self.weight,
                               seconds, seconds, gate=f"canary.steps[{i}].experiment" if analyses else ""))
        ms = [m for u in analyses for m in self.measurements(u, phase)]
        for m in ms:
            m.blocking = True
        if raw in (None, "") and ms:
            p = self.plan.phases[phase]
            p.most = _blocking_seconds(ms)
            p.least = p.most

    # ------------------------------------------------------------------ blueGreen

    def blue_green_phases(self) -> None:
        bg = self.blue_green
        self.ready(None, "preview pods become ready", 0.0)
        pre = next((u for u in self.uses if u.where == "blueGreen.prePromotionAnalysis"), None)
        auto = bg.get("autoPromotionEnabled") is not False
        seconds = bg.get("autoPromotionSeconds")
        wait = 0.0
        if auto and seconds is not None:
            if isinstance(seconds, int) and not isinstance(seconds, bool):
                wait = float(max(0, seconds))
            else:
                self.plan.unread.append(Unread("blueGreen.autoPromotionSeconds", seconds, "not a whole number of seconds"))
        gate = self.add(Phase(None, "pre-promotion analysis" if pre else "auto-promotion wait", "analysis", 0.0,
                              wait, wait, gate=pre.where if pre else ""))
        if pre:
            analysis = _blocking_seconds(self.measurements(pre, gate))
            p = self.plan.phases[gate]
            p.least = p.most = max(wait, analysis)  # promotion waits for both
            if not auto:
                p.what += ", then promotion by hand"
        if not auto:
            self.plan.waits_for_human.append("blueGreen.autoPromotionEnabled: false")
            self.add(Phase(None, "promotion by hand", "human", 0.0, 0.0, 0.0))
        self.add(Phase(None, "switch: the active Service selects the new version", "switch", 100.0, 0.0, 0.0))
        post = next((u for u in self.uses if u.where == "blueGreen.postPromotionAnalysis"), None)
        if post:
            phase = self.add(Phase(None, "post-promotion analysis", "analysis", 100.0, 0.0, 0.0, gate=post.where))
            p = self.plan.phases[phase]
            p.least = p.most = _blocking_seconds(self.measurements(post, phase))

    # ------------------------------------------------------------------ clock

    def schedule(self) -> None:
        least = most = 0.0
        for p in self.plan.phases:
            p.start_least, p.start_most = least, most
            least, most = least + p.least, most + p.most
        for m in self.plan.measurements:
            phase = self.plan.phases[m.starts_at_phase] if m.starts_at_phase < len(self.plan.phases) else None
            m.start_least = phase.start_least if phase else least
            m.start_most = phase.start_most if phase else most


def plan(idx: Index, rollout: Document, scrape_seconds: float = 0.0) -> Plan:
    """The timeline of one Rollout of a source (its AnalysisTemplates looked up in the same source)."""
    return _Builder(idx, rollout, scrape_seconds).build()


# --------------------------------------------------------------------------- the scrape interval


def scrape_seconds(documents: list[Document], policies_dir) -> float:
    """How often Prometheus scrapes what the analysis reads (gitops_check/scrape.py)."""
    return scrape.interval(documents, lambda: scrape.default(policies_dir)).seconds

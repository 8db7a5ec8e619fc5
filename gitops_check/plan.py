"""`gitops-check plan OVERLAY`: the timeline model of each Rollout (gitops_check/timeline.py), as a table, as
JSON, and as an SVG chart of the traffic weight over the worst-case time with the analysis windows.

`make docs` writes the production plan into docs/architecture.md (between the PLAN markers) and its chart to
docs/plan-production.svg; tests/test_plan.py fails when they drift from what this module generates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

from . import render, slo, timeline
from .model import Source
from .report import escape as visible
from .references.index import Index, human
from .settings import Settings

DOC_OVERLAY = "overlays/production"
BEGIN, END = "<!-- BEGIN PLAN (make docs) -->", "<!-- END PLAN -->"


@dataclass
class Report:
    source: str
    budget: float
    slo_file: str
    plans: list[timeline.Plan]

    @property
    def problems(self) -> list[str]:
        """What the budget and coverage rules (WH-REF-022, WH-REF-044) would report, in short."""
        out = []
        for p in self.plans:
            if p.to_full_most > self.budget:
                out.append(f"Rollout {p.rollout.name}: worst case {_t(p.to_full_most)} is over the budget {_t(self.budget)}")
            out += [f"Rollout {p.rollout.name}: {g.why}" for g in p.gaps()]
        return out


def build(overlay: str, settings: Settings) -> Report:
    """Render the overlay and lay out the timeline of every Rollout in it."""
    docs = render.documents(Path(overlay), overlay, settings)
    idx = Index(Source(overlay, "overlay", docs))
    scrape = timeline.scrape_seconds(docs, settings.policies_dir)
    plans = [timeline.plan(idx, r, scrape) for r in idx.of_kind("Rollout")]
    budget = float(slo.load(settings.slo_file)["deploymentBudgetSeconds"])
    return Report(overlay, budget, settings.display(settings.slo_file), plans)


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return "forever" if seconds == math.inf else human(seconds)


def _range(least: float, most: float) -> str:
    return _t(most) if least == most else f"{_t(least)}-{_t(most)}"


# --------------------------------------------------------------------------- text


def text(report: Report) -> str:
    """The plan for people. Names come from the pull request (a Rollout named with a newline and `::error`): each
    line is escaped as the validate report escapes its values, so it stays one line that starts with our text."""
    out = []
    for p in report.plans:
        out += _plan_text(p, report)
        out.append("")
    if not report.plans:
        out.append(f"{report.source}: no Rollout")
    return "\n".join(map(visible, out)).rstrip("\n") + "\n"


def _plan_text(p: timeline.Plan, report: Report) -> list[str]:
    deadline = f"progressDeadlineSeconds {int(p.progress_deadline)}" + ("" if p.deadline_aborts else " (does not abort)")
    out = [f"Rollout {p.rollout.name} ({report.source}): {p.strategy}, {deadline}, scrape interval {_t(p.scrape)}", ""]
    rows = [("step", "phase", "weight", "starts (best-worst)", "lasts (best-worst)", "gate")]
    for ph in p.phases:
        rows.append((
            "-" if ph.step is None else str(ph.step), ph.what, f"{ph.weight:g} %",
            _range(ph.start_least, ph.start_most), _range(ph.least, ph.most), ph.gate or "",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    out.append("")
    if p.measurements:
        out.append("  Analysis:")
        for m in p.measurements:
            kind = "blocking" if m.blocking else "background"
            every = f"every {_t(m.interval)}" if m.interval is not None else "once"
            count = "until promotion" if m.count == math.inf else f"{m.count:g} measurement(s)"
            delay = f", after {_t(m.initial_delay)}" if m.initial_delay else ""
            job = f", each up to {_t(m.lasts)} (Job activeDeadlineSeconds)" if m.lasts else ""
            out.append(f"    {m.where} {m.template}/{m.metric}: {kind}, {every}{delay}, {count}{job}, "
                       f"failureLimit {m.failure_limit}")
        out.append("")
    parts = ", ".join(f"{k} {_t(v)}" for k, v in p.parts().items()) or "nothing to wait for"
    margin = report.budget - p.to_full_most
    verdict = f"within the budget of {_t(report.budget)} ({report.slo_file}) by {_t(margin)}" if margin >= 0 else \
        f"OVER the budget of {_t(report.budget)} ({report.slo_file}) by {_t(-margin)}"
    out.append(f"  Sync to 100 %: best {_t(p.to_full_least)}, worst {_t(p.to_full_most)} ({parts}); {verdict}")
    if p.strategy == "canary":
        detection = p.detection()
        out.append(f"  Bad canary: aborted at worst {_t(detection)} after it turns bad (one scrape + (failureLimit + 1) "
                   f"x interval); bad from its first request: aborted at worst {_t(p.first_abort_most())} after sync")
    if p.rollback_window:
        rollback = (f"worst {_t(p.rollback_most)} (rollbackWindow: one of the last {p.rollback_window} revisions "
                    f"skips the steps and analysis; one readiness wait, progressDeadlineSeconds)")
    else:
        rollback = f"worst {_t(p.rollback_most)} (no rollbackWindow: a full release)"
    out.append(f"  Rollback to a recent revision: {rollback}")
    stuck = f"aborted after {_t(p.progress_deadline)} without progress" if p.deadline_aborts else \
        f"marked Degraded after {_t(p.progress_deadline)} and left half-deployed (progressDeadlineAbort is not true)"
    out.append(f"  Stuck new pods: {stuck}")
    gaps = p.gaps()
    out.append("  Unguarded canary traffic: " + ("none" if not gaps else ""))
    out += [f"    - {g.why}" for g in gaps]
    if p.waits_for_human:
        out.append(f"  Waits for a human (not in the worst case): {', '.join(p.waits_for_human)}")
    if p.unread:
        out.append(f"  Not counted: {', '.join(f'{u.where} ({u.why})' for u in p.unread)}")
    return out


def as_json(report: Report) -> str:
    def num(v):
        return None if v is None or v == math.inf else round(v, 3)

    return json.dumps({
        "source": report.source, "budget_seconds": report.budget,
        "rollouts": [{
            "name": p.rollout.name, "strategy": p.strategy, "scrape_seconds": p.scrape,
            "to_full_seconds": {"best": num(p.to_full_least), "worst": num(p.to_full_most)},
            "parts": {k: num(v) for k, v in p.parts().items()},
            "rollback_seconds": num(p.rollback_most),
            "detection_seconds": num(p.detection()), "first_abort_seconds": num(p.first_abort_most()),
            "phases": [{"step": ph.step, "what": ph.what, "kind": ph.kind, "weight": ph.weight,
                        "start": {"best": num(ph.start_least), "worst": num(ph.start_most)},
                        "duration": {"best": num(ph.least), "worst": num(ph.most)}, "gate": ph.gate} for ph in p.phases],
            "analysis": [{"where": m.where, "template": m.template, "metric": m.metric, "blocking": m.blocking,
                          "interval": m.interval, "count": num(m.count), "failure_limit": m.failure_limit,
                          "initial_delay": m.initial_delay, "start_worst": num(m.start_most)} for m in p.measurements],
            "gaps": [g.why for g in p.gaps()],
            "waits_for_human": p.waits_for_human,
            "not_counted": [f"{u.where}: {u.why}" for u in p.unread],
        } for p in report.plans],
        "problems": report.problems,
    }, indent=2) + "\n"


# --------------------------------------------------------------------------- svg


def svg(p: timeline.Plan, budget: float) -> str:
    """Weight of the new version over the worst-case time (readiness waits at their bound), the budget,
    background analysis as a band with its measurements, blocking analysis as shaded phases."""
    width, height, left, bottom, top, right = 720, 340, 56, 84, 24, 24
    end = p.to_full_most if p.to_full_most != math.inf else sum(ph.most for ph in p.phases if ph.most != math.inf)
    span = max(end, budget, 60.0) * 1.05
    x = lambda s: left + (width - left - right) * min(s, span) / span  # noqa: E731
    y = lambda w: height - bottom - (height - bottom - top) * w / 100  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    band_top, band_h = height - bottom + 22, 8
    for ph in p.phases:  # shaded phases: readiness waits (grey), blocking analysis (blue)
        if ph.most <= 0 or ph.most == math.inf:
            continue
        fill = {"ready": "#e9ecef", "analysis": "#d0ebff", "experiment": "#d0ebff"}.get(ph.kind)
        if fill:
            out.append(f'<rect x="{x(ph.start_most):.1f}" y="{y(100):.1f}" width="{x(ph.end_most) - x(ph.start_most):.1f}" '
                       f'height="{y(0) - y(100):.1f}" fill="{fill}"/>')
    for m in p.background():  # the background analysis band and its measurements
        last = min(m.last(m.start_most), end)
        out.append(f'<rect x="{x(m.start_most):.1f}" y="{band_top}" width="{x(last) - x(m.start_most):.1f}" height="{band_h}" '
                   f'fill="#b2f2bb"/>')
        if m.interval:
            t = m.first(m.start_most)
            while t <= last and m.interval > 0:
                out.append(f'<line x1="{x(t):.1f}" y1="{band_top}" x2="{x(t):.1f}" y2="{band_top + band_h}" stroke="#2b8a3e"/>')
                t += m.interval
        break  # one band: the background metrics share their AnalysisRun's start
    out += [f'<line x1="{left}" y1="{y(0)}" x2="{width - right}" y2="{y(0)}" stroke="black"/>',
            f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(100)}" stroke="black"/>']
    for w in (0, 25, 50, 75, 100):
        out.append(f'<text x="{left - 8}" y="{y(w) + 4:.1f}" text-anchor="end">{w}</text>')
    minutes = int(span // 60)
    step = 1 if minutes <= 16 else 2 if minutes <= 32 else 5
    for mnt in range(0, minutes + 1, step):
        out.append(f'<text x="{x(mnt * 60):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{mnt}</text>')
    points, weight = [(0.0, 0.0)], 0.0
    for ph in p.phases:
        if ph.most == math.inf:
            break
        if ph.weight != weight:
            points += [(ph.start_most, weight), (ph.start_most, ph.weight)]
            weight = ph.weight
        points.append((ph.end_most, ph.weight))
    if weight == 100:
        points.append((span, 100.0))
    path = " ".join(f"{x(t):.1f},{y(w):.1f}" for t, w in points)
    out.append(f'<polyline fill="none" stroke="#1c7ed6" stroke-width="2.5" points="{path}"/>')
    out.append(f'<line x1="{x(budget):.1f}" y1="{y(0)}" x2="{x(budget):.1f}" y2="{y(100) - 6}" stroke="#c92a2a" stroke-dasharray="6 4"/>')
    out.append(f'<text x="{x(budget) - 4:.1f}" y="{y(0) - 6:.1f}" text-anchor="end" fill="#c92a2a">budget {_t(budget)}</text>')
    for gap in p.gaps():
        ph = gap.phase
        out.append(f'<rect x="{x(ph.start_most):.1f}" y="{y(ph.weight) - 3:.1f}" width="{max(x(ph.end_most) - x(ph.start_most), 3):.1f}" '
                   f'height="6" fill="#c92a2a"/>')
    out.append(f'<text x="{(width + left) / 2}" y="{height - 26}" text-anchor="middle">minutes after sync, worst case</text>')
    out.append(f'<text x="{(width + left) / 2}" y="{height - 8}" text-anchor="middle" font-size="10" fill="#495057">grey: '
               'readiness wait (up to progressDeadlineSeconds) · blue: blocking analysis · green: background '
               'measurements · red: unguarded</text>')
    out.append(f'<text x="14" y="{(height - bottom) / 2}" transform="rotate(-90 14 {(height - bottom) / 2})" '
               f'text-anchor="middle">% of traffic on the new version</text>')
    out.append(f'<text x="{left + 8}" y="{top - 6}">{escape(f"Rollout {p.rollout.name}: {p.strategy}, worst case {_t(p.to_full_most)}")}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- docs


def docs_block(settings: Settings) -> tuple[str, str]:
    """The markdown block docs/architecture.md carries between the PLAN markers, and the SVG of its chart."""
    report = build(DOC_OVERLAY, settings)
    p = report.plans[0]
    block = (f"{BEGIN}\n`gitops-check plan {DOC_OVERLAY}` (generated by `make docs`; a test fails when it drifts):\n\n"
             f"![Worst-case timeline of the production rollout](plan-production.svg)\n\n```text\n{text(report)}```\n{END}")
    return block, svg(p, report.budget)


def write_docs(settings: Settings, architecture: Path, chart: Path) -> None:
    block, picture = docs_block(settings)
    doc = architecture.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        raise ValueError(f"{architecture}: no {BEGIN} ... {END} block to fill")
    head, rest = doc.split(BEGIN, 1)
    architecture.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")
    chart.write_text(picture, encoding="utf-8")

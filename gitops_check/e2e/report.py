"""The end-to-end report: reports/e2e.json (one entry per scenario), a text summary, and an SVG chart of the
traffic weight over time for the healthy and the bad release (make docs puts it in docs/)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def line(entry: dict) -> str:
    verdict = "PASS" if entry["passed"] else "FAIL"
    parts = []
    if entry.get("time_to_full_seconds") is not None:
        parts.append(f"to 100 %: {_minutes(entry['time_to_full_seconds'])}")
    if entry.get("rollback_seconds") is not None:
        parts.append(f"back on stable: {_minutes(entry['rollback_seconds'])}")
    parts.append(f"ran {entry.get('measured_seconds', 0):.0f}s at scale 1/{entry['scale']}")
    text = f"{verdict} {entry['name']}: " + ", ".join(parts)
    return text + (f"\n  {entry['message']}" if entry.get("message") else "")


def summary(results: list[dict], seconds: float) -> str:
    passed = sum(1 for r in results if r["passed"])
    scale = results[0]["scale"] if results else 0
    return (f"{'PASS' if passed == len(results) else 'FAIL'}: {passed}/{len(results)} scenarios passed in {seconds:.0f}s "
            f"(durations scaled by 1/{scale}; times above are real-time equivalents)")


def write(path: Path, results: list[dict], scale: int, seconds: float, listening: list[str], interfaces: list[str]) -> None:
    payload = {"scale": scale, "seconds": round(seconds, 1), "listening": listening, "interfaces": interfaces,
               "scenarios": results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    path.with_suffix(".txt").write_text("\n".join(line(r) for r in results) + "\n" + summary(results, seconds) + "\n")


def svg(results: list[dict], names: tuple[str, ...] = ("healthy-release", "bad-release")) -> str:
    """Canary weight (%) over real-time-equivalent minutes, one line per scenario, from its first sync event
    of the release (the second sync) on."""
    colours = {"healthy-release": "#2b8a3e", "bad-release": "#c92a2a"}
    series = {}
    for r in results:
        if r["name"] not in names:
            continue
        syncs = [e["t"] for e in r["timeline"] if e["event"].startswith("sync ")]
        start = syncs[1] if len(syncs) > 1 else 0.0
        points, last = [], 0
        for e in r["timeline"]:
            if e["t"] < start or "canary" not in e["weights"]:
                continue
            w = e["weights"]["canary"]
            points.append(((e["t"] - start) / 60, last))
            points.append(((e["t"] - start) / 60, w))
            last = w
        if points:
            points.append((points[-1][0] + 0.2, last))
            series[r["name"]] = points
    width, height, left, bottom = 640, 280, 50, 40
    span = max([p[0] for pts in series.values() for p in pts] + [1.0])
    x = lambda m: left + (width - left - 20) * m / span  # noqa: E731
    y = lambda w: height - bottom - (height - bottom - 20) * w / 100  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{width - 20}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(100)}" stroke="black"/>']
    for w in (0, 25, 50, 75, 100):
        out.append(f'<text x="{left - 8}" y="{y(w) + 4}" text-anchor="end">{w}</text>')
    step = 1 if span <= 10 else 2
    for m in range(0, int(span) + 1, step):
        out.append(f'<text x="{x(m)}" y="{y(0) + 16}" text-anchor="middle">{m}</text>')
    out.append(f'<text x="{(width + left) / 2}" y="{height - 6}" text-anchor="middle">minutes since the release was synced (real-time equivalent)</text>')
    out.append(f'<text x="14" y="{(height - bottom) / 2}" transform="rotate(-90 14 {(height - bottom) / 2})" text-anchor="middle">canary weight %</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = colours.get(name, "#1c7ed6")
        path = " ".join(f"{x(m):.1f},{y(w):.1f}" for m, w in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out.append(f'<text x="{left + 12}" y="{y(100) + 14 + 16 * i}" fill="{colour}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def docs(report_file: Path, target: Path) -> Path:
    """docs/e2e-weights.svg from a report (make docs)."""
    results = json.loads(report_file.read_text())["scenarios"]
    target.write_text(svg(results))
    return target

"""`make bench`: time a full validation of every overlay, several runs, median per phase.

The budget (pyproject: [tool.gitops-check] bench-budget-seconds) is what a pull-request author should
wait at most; the benchmark exits 1 when the median total exceeds it. Timings are not asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tomllib

from . import pipeline, settings as settings_mod
from .errors import InputError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gitops_check.bench", description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("paths", nargs="*")
    args = p.parse_args(argv)
    s = settings_mod.load()
    budget = float(tomllib.loads((s.repo_root / "pyproject.toml").read_text())["tool"]["gitops-check"]["bench-budget-seconds"])
    try:
        pipeline.run(args.paths, s)  # warm-up: schema cache, Python imports, page cache
        runs = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = pipeline.run(args.paths, s)
            runs.append((time.perf_counter() - t0, result))
    except InputError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    med = lambda xs: statistics.median(xs)  # noqa: E731
    last = runs[-1][1]
    docs = sum(len(src.documents) for src in last.sources)
    print(f"gitops-check validate: {len(last.sources)} sources, {docs} resources, {args.runs} runs after 1 warm-up")
    print(f"  {'render (parallel)':22} median {med([r.render_seconds for _, r in runs]):6.3f}s")
    for stage in last.stage_seconds:
        print(f"  {'stage ' + stage:22} median {med([r.stage_seconds[stage] for _, r in runs]):6.3f}s")
    total = med([t for t, _ in runs])
    print(f"  {'total':22} median {total:6.3f}s  min {min(t for t, _ in runs):.3f}s  max {max(t for t, _ in runs):.3f}s")
    print(f"  budget {budget:.1f}s: {'OK' if total <= budget else 'OVER BUDGET'}")
    return 0 if total <= budget else 1


if __name__ == "__main__":
    sys.exit(main())

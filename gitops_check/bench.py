"""`make bench`: time a full validation of every target, several runs interleaved, median per mode.

Modes, measured in the same run:
- the usual script: per overlay `kustomize build | kubeconform -strict` and `conftest test`, with the same
  schemas and policies (what most repositories run today);
- gitops-check --offline (kubeconform judges the schemas);
- gitops-check with the control plane up (`gitops-check cluster up`; the bench starts one if none is);
- gitops-check from cold: a control plane of its own, started and stopped inside each run.

Budgets (pyproject [tool.gitops-check]): bench-budget-seconds for the offline run, and the time the server
stage may add: bench-server-up-extra-seconds with the control plane up, bench-server-cold-extra-seconds
from cold. The benchmark exits 1 when a median is over its budget. Timings are not asserted in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from . import controlplane, pipeline, settings as settings_mod
from .errors import InputError
from .settings import Settings


def _usual_script(targets: list[tuple[Path, str, str]], s: Settings, scratch: Path) -> None:
    """What a plain repository runs per overlay, with the same tools, schemas and policies."""
    from . import policies, schemas, toolchain
    from .context import Context

    locations = schemas.prepare(s).locations
    kustomize, kubeconform, conftest = (toolchain.locate(t, s) for t in ("kustomize", "kubeconform", "conftest"))
    schema_args = [a for loc in locations for a in ("-schema-location", loc)]
    policy_args = policies._data_args(Context(s, scratch))
    for path, _, kind in targets:
        if kind != "overlay":
            continue
        rendered = subprocess.run([kustomize, "build", str(path)], capture_output=True, timeout=120).stdout
        subprocess.run([kubeconform, "-strict", "-summary", "-kubernetes-version", f"{s.kubernetes_minor}.0", *schema_args, "-"],
                       input=rendered, capture_output=True, timeout=120)
        subprocess.run([conftest, "test", "--all-namespaces", "--no-color", *policy_args, "-"], input=rendered,
                       capture_output=True, timeout=120)


def _unshared(run):
    """RUN without the bench's shared control plane in sight: the cold mode boots its own, as a first run does."""
    shared = os.environ.pop(controlplane.SHARED, None)
    try:
        return run()
    finally:
        if shared is not None:
            os.environ[controlplane.SHARED] = shared


def _private_cache(s: Settings, folder: Path) -> Settings:
    """Settings whose control planes live in `folder` (tools, schemas and seed shared): runs start their own."""
    for shared in ("tools", "seeds", "schemas"):
        if (s.cache_dir / shared).exists():
            (folder / shared).symlink_to(s.cache_dir / shared)
    return dataclasses.replace(s, cache_dir=folder)


def _terminate(signum, frame):
    raise SystemExit(143)  # so every `finally` runs and stops the control planes the bench started


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    p = argparse.ArgumentParser(prog="python -m gitops_check.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--fleet-runs", type=int, help="runs per fleet size (default: fleet-runs in pyproject.toml)")
    p.add_argument("--no-fleet", action="store_true", help="only the repository's own targets")
    p.add_argument("--fleet-only", action="store_true", help="only the fleet benchmark")
    p.add_argument("--sizes", default="1,10,50,200", help="fleet sizes (default 1,10,50,200)")
    p.add_argument("paths", nargs="*")
    args = p.parse_args(argv)
    s = settings_mod.load()
    cfg = tomllib.loads((s.repo_root / "pyproject.toml").read_text())["tool"]["gitops-check"]
    ok = True if args.fleet_only else _repository(args, s, cfg)
    if not args.no_fleet:
        ok &= _fleet(args, s, cfg)
    return 0 if ok else 1


def _fleet(args: argparse.Namespace, s: Settings, cfg: dict) -> bool:
    from . import fleetbench

    runs = args.fleet_runs or int(cfg["fleet-runs"])
    sizes = tuple(int(n) for n in args.sizes.split(","))
    print(f"fleet: regional overlays (copies of {fleetbench.TEMPLATE}), median of {runs} interleaved run(s)")
    with tempfile.TemporaryDirectory(prefix="gitops-check-bench-") as tmp:
        scratch = Path(tmp)
        rows = fleetbench.measure(s, lambda targets: _usual_script(targets, s, scratch), runs, sizes)
    targets = {"speedup": float(cfg["fleet-speedup"]), "warm": float(cfg["fleet-warm-seconds"]),
               "one": float(cfg["fleet-one-changed-seconds"]), "memory": float(cfg["fleet-memory-mib"])}
    ok = True
    verdicts = fleetbench.verdicts(rows, targets)
    for name, met in verdicts:
        ok &= met
        print(f"  {name}: {'OK' if met else 'MISSED'}")
    if sizes == fleetbench.SIZES:
        fleetbench.write_docs(s.repo_root / "docs/performance.md", fleetbench.table(rows, runs, verdicts))
        print("  written to docs/performance.md")
    return ok


def _repository(args: argparse.Namespace, s: Settings, cfg: dict) -> bool:
    budget = float(cfg["bench-budget-seconds"])
    up_extra, cold_extra = float(cfg["bench-server-up-extra-seconds"]), float(cfg["bench-server-cold-extra-seconds"])
    # "Control plane up" uses the one `cluster up` keeps, else one of the bench's own: throwaway, tied to this process
    # (a killed bench left an untied one running, which later runs took for the user's), shared as a test session
    # shares its own.
    plane = None
    if controlplane.running(s) is None:
        plane = controlplane.start(s)
    try:
        if plane:
            controlplane.wait_ready(plane)
            controlplane.install_crds(plane, s)
            os.environ[controlplane.SHARED] = str(plane.dir)
        with tempfile.TemporaryDirectory(prefix="gitops-check-bench-") as tmp:
            cold = _private_cache(s, Path(tmp))
            offline = dataclasses.replace(s, offline=True)
            targets = pipeline.resolve_targets(args.paths, s)
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            modes = {
                "usual script (per overlay)": lambda: _usual_script(targets, s, scratch),
                "gitops-check --offline": lambda: pipeline.run(args.paths, offline),
                "gitops-check, control plane up": lambda: pipeline.run(args.paths, s),
                "gitops-check, cold control plane": lambda: _unshared(lambda: pipeline.run(args.paths, cold)),
            }
            times: dict[str, list[float]] = {m: [] for m in modes}
            results = {}
            for fn in modes.values():
                fn()  # warm-up: caches, imports, page cache
            for _ in range(args.runs):  # interleaved, so a busy moment hits every mode alike
                for mode, fn in modes.items():
                    t0 = time.perf_counter()
                    results[mode] = fn()
                    times[mode].append(time.perf_counter() - t0)
    except InputError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if plane:
            os.environ.pop(controlplane.SHARED, None)
            controlplane.stop(plane)
    med = {m: statistics.median(t) for m, t in times.items()}
    last = results["gitops-check, control plane up"]
    docs = sum(len(src.documents) for src in last.sources)
    print(f"{len(last.sources)} targets, {docs} resources; median of {args.runs} interleaved runs after a warm-up")
    for mode, t in times.items():
        print(f"  {mode:34} median {med[mode]:6.2f}s  min {min(t):6.2f}s  max {max(t):6.2f}s")
    print("  stages of the last run with the control plane up: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in last.stage_seconds.items()))
    base = med["gitops-check --offline"]
    checks = [
        ("offline run", base, budget),
        ("server stage, control plane up (extra)", med["gitops-check, control plane up"] - base, up_extra),
        ("server stage, cold (extra)", med["gitops-check, cold control plane"] - base, cold_extra),
    ]
    ok = True
    for name, value, limit in checks:
        verdict = "OK" if value <= limit else "OVER BUDGET"
        ok &= value <= limit
        print(f"  {name:40} {value:6.2f}s  budget {limit:.1f}s: {verdict}")
    return ok


if __name__ == "__main__":
    sys.exit(main())

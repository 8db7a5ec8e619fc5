"""`make bench`, the fleet part: N regional overlays (N = 1, 10, 50, 200), each a copy of tests/overlays/region-eu
(production with its own namespace and nameSuffix), generated into a copy of the repository in a temporary folder.

For each N, interleaved in the same run (median of RUNS): the usual script (per overlay `kustomize build |
kubeconform -strict` and `conftest test`, same schemas and policies), and gitops-check --offline as a fresh
process: cold (an empty result cache), warm (nothing changed) and warm with one overlay changed; and the CPU time
(user + system, every process) of the usual script and of the cold run. Peak memory is
the largest sum of resident memory over gitops-check and every process it started, sampled every 20 ms. The
table goes to stdout and into docs/performance.md (between the FLEET markers); the bench exits 1 when a target
of issue 12 is missed (pyproject: fleet-*).
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .settings import Settings

SIZES = (1, 10, 50, 200)
TEMPLATE = "tests/overlays/region-eu"  # the regional overlay every generated one copies
SKIP = {".git", ".venv", "rendered", "reports", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}
BEGIN, END = "<!-- FLEET:BEGIN (make bench writes this block) -->", "<!-- FLEET:END -->"
RUN_TIMEOUT = 900  # seconds, one gitops-check or usual-script run of the largest fleet


@dataclass
class Row:
    n: int
    usual: float
    cold: float
    warm: float
    one_changed: float
    peak_mib: float
    errors: int
    usual_cpu: float = 0.0  # CPU seconds (user + system, every process), medians like the times
    cold_cpu: float = 0.0

    @property
    def speedup(self) -> float:
        return self.usual / self.cold if self.cold else float("inf")


def make_repo(settings: Settings, into: Path) -> Path:
    """A copy of the repository's working tree (no .git, virtualenv or outputs) to grow fleets in."""
    root = into / "repo"
    shutil.copytree(settings.repo_root, root, symlinks=True, ignore=lambda d, names: [n for n in names if n in SKIP])
    return root


def make_fleet(root: Path, n: int) -> list[str]:
    """N regional overlays under fleet/, as tests/overlays/region-eu is made: (re)written, extra ones removed."""
    template = (root / TEMPLATE / "kustomization.yaml").read_text()
    fleet = root / "fleet"
    shutil.rmtree(fleet, ignore_errors=True)
    names = []
    for i in range(1, n + 1):
        region = f"r{i:03d}"
        folder = fleet / region
        folder.mkdir(parents=True)
        text = (template.replace("webhook-service-eu", f"webhook-service-{region}")
                .replace("nameSuffix: -eu", f"nameSuffix: -{region}")
                .replace("eu.api.", f"{region}.api.")
                .replace("../../../overlays/production", "../../overlays/production"))
        (folder / "kustomization.yaml").write_text(text)
        names.append(f"fleet/{region}")
    return names


def _tree_rss(session: int) -> int:
    """Resident bytes of every process in SESSION (gitops-check and the tools it started)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == session:  # field 6 of stat: the session id
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss in pages
        except (OSError, IndexError, ValueError):
            continue
    return total


def _children_cpu() -> float:
    """CPU seconds of every child this process has reaped (each with the children it reaped in turn)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_run(cmd: list[str], env: dict, cwd: Path) -> tuple[float, int, str, float]:
    """(seconds, peak resident bytes of the process tree, stdout, CPU seconds of the tree) of one run in a
    session of its own."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except BaseException:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[:6])}… exited {proc.returncode}: {err.decode(errors='replace').strip()[-300:]}")
    return elapsed, peak, out.decode(errors="replace"), _children_cpu() - cpu


def measure(settings: Settings, usual, runs: int, sizes=SIZES, out=sys.stdout) -> list[Row]:
    """The fleet table; USUAL(targets) runs the usual script over the (path, name, kind) targets."""
    from . import pipeline

    rows = []
    with tempfile.TemporaryDirectory(prefix="gitops-check-fleet-") as tmp:
        root = make_repo(settings, Path(tmp))
        cache = Path(tmp) / "result-cache"
        env = {**os.environ, "GITOPS_CHECK_CRDS_DIR": str(settings.crds_dir), "GITOPS_CHECK_RESULT_CACHE": str(cache)}
        for n in sizes:
            names = make_fleet(root, n)
            cmd = [sys.executable, "-P", "-m", "gitops_check", "--repo", str(root), "validate", "--offline",
                   "--format", "json", *names]
            fleet_settings = dataclasses.replace(settings, repo_root=root)
            targets = pipeline.resolve_targets([str(root / p) for p in names], fleet_settings)
            times: dict[str, list[float]] = {"usual": [], "cold": [], "warm": [], "one": [], "usual_cpu": [], "cold_cpu": []}
            peaks, errors = [], 0
            changed = root / names[0] / "kustomization.yaml"
            for r in range(runs):  # interleaved: a busy moment hits every mode alike
                t0, cpu = time.perf_counter(), _children_cpu()
                usual(targets)
                times["usual"].append(time.perf_counter() - t0)
                times["usual_cpu"].append(_children_cpu() - cpu)
                shutil.rmtree(cache, ignore_errors=True)
                seconds, peak, report, cpu = timed_run(cmd, env, root)
                times["cold"].append(seconds)
                times["cold_cpu"].append(cpu)
                peaks.append(peak)
                errors = int(re.search(r'"errors": (\d+)', report).group(1))
                times["warm"].append(timed_run(cmd, env, root)[0])
                changed.write_text(changed.read_text() + f"# run {r}\n")
                times["one"].append(timed_run(cmd, env, root)[0])
            med = {k: statistics.median(v) for k, v in times.items()}
            row = Row(n, med["usual"], med["cold"], med["warm"], med["one"], max(peaks) / 2**20, errors,
                      med["usual_cpu"], med["cold_cpu"])
            rows.append(row)
            print(f"  N={n:<4} usual {row.usual:6.2f}s  gitops-check cold {row.cold:6.2f}s ({row.speedup:4.1f}x)  "
                  f"CPU {row.usual_cpu:6.2f}s / {row.cold_cpu:6.2f}s  "
                  f"warm {row.warm:5.2f}s  one changed {row.one_changed:5.2f}s  peak {row.peak_mib:4.0f} MiB  "
                  f"errors {row.errors}", file=out, flush=True)
    return rows


def table(rows: list[Row], runs: int, verdicts_: list[tuple[str, bool]] = ()) -> str:
    lines = [
        f"Measured by `make bench` on {runner.usable_cores()} cores, median of {runs} interleaved run(s) per N "
        "(generated by the bench; do not edit by hand):",
        "",
        "| overlays | usual script | gitops-check cold | speed-up | CPU time, usual / cold | warm, nothing changed | "
        "warm, one changed | peak memory | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.n} | {r.usual:.2f} s | {r.cold:.2f} s | {r.speedup:.1f}x | {r.usual_cpu:.2f} s / {r.cold_cpu:.2f} s | {r.warm:.2f} s | "
                     f"{r.one_changed:.2f} s | {r.peak_mib:.0f} MiB | {r.errors} |")
    if verdicts_:
        lines += ["", "Targets (`fleet-*` in pyproject.toml):", ""]
        lines += [f"- {'met' if met else '**missed**'}: {name}" for name, met in verdicts_]
    return "\n".join(lines)


def write_docs(path: Path, block: str) -> None:
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + block + "\n" + text[end:])


def verdicts(rows: list[Row], targets: dict[str, float]) -> list[tuple[str, bool]]:
    """The targets of issue 12, each with whether this run met it."""
    largest = rows[-1]
    cores = runner.usable_cores()
    checks = [(f"N={r.n}: gitops-check cold faster than the usual script"
               + (f" (its {r.cold_cpu:.2f} s of CPU time over {cores} cores: never under {r.cold_cpu / cores:.2f} s)"
                  if r.cold_cpu else ""), r.cold < r.usual) for r in rows]
    checks += [
        (f"N={largest.n}: at least {targets['speedup']:g}x faster cold", largest.speedup >= targets["speedup"]),
        (f"N={largest.n}: warm, nothing changed, under {targets['warm']:g} s", largest.warm < targets["warm"]),
        (f"N={largest.n}: warm, one overlay changed, under {targets['one']:g} s", largest.one_changed < targets["one"]),
        (f"N={largest.n}: peak memory under {targets['memory']:g} MiB", largest.peak_mib < targets["memory"]),
        ("every fleet validates with 0 errors", all(r.errors == 0 for r in rows)),
    ]
    if len(rows) >= 3:  # linear or better: the cost of one more overlay does not grow with the fleet
        (a, b, c) = rows[-3:]
        before, after = (b.cold - a.cold) / (b.n - a.n), (c.cold - b.cold) / (c.n - b.n)
        checks.append((f"time grows linearly or better: {after * 1000:.0f} ms per overlay from N={b.n} to {c.n}, "
                       f"{before * 1000:.0f} ms from N={a.n} to {b.n} (25 % tolerance)", after <= before * 1.25))
    return checks

"""`make e2e` (python -m gitops_check.e2e): every scenario against the real controllers on a simulated cluster.

The run re-executes itself in a user and network namespace of its own (`unshare -rn`): nothing it starts
can listen beyond its own loopback, and the analysis can name a fixed Prometheus address
(127.0.0.1:9090, tests/components/e2e) without colliding with anything on the machine. The simulated
cluster (gitops_check.simcluster) and the synthetic mesh traffic (traffic.py) are started once; each
scenario runs in a namespace of its own. The report (reports/e2e.json, a text summary, an SVG chart) states
the scale and every time in real-time equivalents.

Exit codes: 0 every scenario passed, 1 a scenario failed, 2 the cluster could not be started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .. import controlplane, simcluster
from ..errors import InputError
from ..settings import Settings, load
from . import deploy, report, scenarios
from .observe import Recorder
from .traffic import Traffic

PROMETHEUS_PORT = 9090  # inside the run's own network namespace: tests/components/e2e names it
IN_NAMESPACE = "GITOPS_CHECK_E2E_NETNS"
PARENT = "GITOPS_CHECK_E2E_PARENT"  # the pid of the process that started the run, before it entered its namespaces


def scale(settings: Settings) -> int:
    import tomllib

    cfg = tomllib.loads((settings.repo_root / "pyproject.toml").read_text())["tool"]["gitops-check"]
    return int(cfg["e2e-scale"])


def run_scenarios(settings: Settings, names: list[str], logs: Path | None, mutate: str | None = None) -> tuple[list[dict], list[str]]:
    factor = scale(settings)
    releases: deploy.Releases | None = None
    traffic: Traffic | None = None
    sim = None
    results, addresses = [], set()
    try:  # from the first folder it makes: a run interrupted in its first second left its renders behind
        releases = deploy.Releases(settings, scenarios.MUTATIONS[mutate] if mutate else None)
        never_ready = [deploy.image_of(releases.render(scenarios.OVERLAY, d)) for d in scenarios.NEVER_READY_DIGESTS]
        controlplane.free_port()  # brings the namespace's loopback up
        port = controlplane.free_port()
        world = scenarios.World(settings, None, None, releases, {}, deploy.ignore_differences(settings), factor)
        sim = simcluster.start(settings, f"127.0.0.1:{port}", never_ready=never_ready, prometheus_port=PROMETHEUS_PORT,
                               job_seconds=scenarios.load_job_seconds(world))
        traffic = Traffic(sim.client)
        traffic.start(port)
        world.client, world.traffic, world.resources, world.query = sim.client, traffic, sim.client.resources(), sim.query
        for name in names:
            ns = f"e2e-{name}"
            traffic.namespace(ns)
            rec = Recorder(sim.client, ns).start()
            started = time.monotonic()
            entry = {"name": name, "passed": False, "scale": factor, "time_to_full_seconds": None,
                     "rollback_seconds": None, "timeline": [], "message": "", "details": {}}
            try:
                outcome = scenarios.SCENARIOS[name](world, rec)
                entry.update(passed=True, details=outcome.details,
                             time_to_full_seconds=_real(outcome.time_to_full, factor),
                             rollback_seconds=_real(outcome.rollback, factor))
            except AssertionError as exc:
                entry["message"] = str(exc)
            except Exception as exc:  # a harness or cluster problem: reported as this scenario's failure
                entry["message"] = f"{type(exc).__name__}: {exc}"
                if os.environ.get("GITOPS_CHECK_DEBUG"):
                    traceback.print_exc()
            finally:
                rec.stop()
            entry["measured_seconds"] = round(time.monotonic() - started, 1)
            entry["timeline"] = [{"t": round(e["t"] * factor, 1), "event": e["event"], "weights": e["weights"]}
                                 for e in sorted(rec.events, key=lambda e: e["t"])]
            results.append(entry)
            print(report.line(entry), flush=True)
            if traffic.errors:
                print(f"  traffic generator: {traffic.errors[-1]}", flush=True)
        addresses = simcluster.listening(sim) | controlplane.listening(os.getpid())
        if logs is not None and not all(r["passed"] for r in results):
            simcluster.keep_logs(sim, logs)
    finally:
        if traffic:
            traffic.stop()
        simcluster.stop(sim)
        if releases:
            releases.close()
    return results, sorted(addresses)


def _real(value: float | None, factor: int) -> float | None:
    return None if value is None else round(value * factor, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gitops_check.e2e", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*", help=f"which to run (default: all of {', '.join(scenarios.SCENARIOS)})")
    p.add_argument("--report", default="reports/e2e.json", help="where the JSON report goes (default: %(default)s)")
    p.add_argument("--break", dest="mutate", choices=sorted(scenarios.MUTATIONS),
                   help="break the canary on purpose (the tests prove the scenarios then fail)")
    args = p.parse_args(argv)
    unknown = [n for n in args.scenarios if n not in scenarios.SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}")
    if os.environ.get(IN_NAMESPACE) != "1":
        # Own user and network namespace: nothing this run starts is reachable from outside it.
        try:
            probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, timeout=30)
            problem = probe.stderr.strip().splitlines()[-1] if probe.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
        if problem:
            print(f"e2e: error: cannot make a user and network namespace of its own (unshare -rn): {problem}; "
                  "enable unprivileged user namespaces (kernel.unprivileged_userns_clone=1) or run as root",
                  file=sys.stderr)
            return 2
        env = dict(os.environ, **{IN_NAMESPACE: "1", PARENT: str(os.getppid())})
        cmd = ["unshare", "-rn", sys.executable, "-m", "gitops_check.e2e", *sys.argv[1:]] if argv is None else \
              ["unshare", "-rn", sys.executable, "-m", "gitops_check.e2e", *argv]
        try:
            os.execvpe("unshare", cmd, env)
        except OSError as exc:
            print(f"e2e: cannot make a network namespace of its own (unshare -rn): {exc}", file=sys.stderr)
            return 2
    if os.environ.get(PARENT):
        # The same process, re-executed in its namespaces: tied to whoever started it (make, pytest), so that their
        # death ends it, cleanly (SIGTERM runs every `finally`). A killed `make e2e` left the run and its whole
        # simulated cluster running scenarios. (Entering the user namespace cleared any earlier tie.)
        controlplane.die_with_parent(int(os.environ[PARENT]), signal.SIGTERM)
    settings = load()
    names = args.scenarios or list(scenarios.SCENARIOS)
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        results, addresses = run_scenarios(settings, names, out.parent / "e2e-logs", args.mutate)
    except InputError as exc:
        print(f"e2e: error: {exc}", file=sys.stderr)
        return 2
    report.write(out, results, scale(settings), time.monotonic() - started, addresses, simcluster.interfaces())
    print(report.summary(results, time.monotonic() - started))
    return 0 if all(r["passed"] for r in results) else 1

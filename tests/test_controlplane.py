"""The local control plane's life cycle: loopback only, stopped on every way out, nothing outlives its owner.

These tests run `gitops-check` in a subprocess with a cache folder of its own (the built tools, schemas and
seed linked in from the real cache), so the run starts a control plane of its own instead of using the
session's, and can be interrupted and killed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import controlplane, runner, settings
from gitops_check.errors import ToolError

GITOPS_CHECK = str(Path(sys.executable).parent / "gitops-check")


@pytest.fixture
def private_cache(tmp_path):
    real = settings.load().cache_dir
    cache = tmp_path / "cache"
    cache.mkdir()
    for shared in ("tools", "seeds", "schemas"):
        (cache / shared).symlink_to(real / shared)
    return cache


def _env(cache: Path) -> dict:
    env = dict(os.environ, GITOPS_CHECK_CACHE_DIR=str(cache))
    env.pop(controlplane.SHARED, None)  # not the session's control plane: each run here has its own
    return env


def _planes(cache: Path) -> list[Path]:
    base = cache / "controlplanes"
    return sorted(base.iterdir()) if base.is_dir() else []


def _wait_for_plane(cache: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """The run's control plane folder, once both etcd and kube-apiserver run from it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for folder in _planes(cache):
            if len(controlplane.processes_in(folder)) == 2:
                return folder
        time.sleep(0.05)
    raise AssertionError("no control plane started")


def test_a_run_listens_on_loopback_only_and_leaves_nothing(private_cache):
    proc = subprocess.Popen([GITOPS_CHECK, "validate", "overlays/production"], cwd=REPO, env=_env(private_cache),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    pids = controlplane.processes_in(folder)
    listening: dict[int, set[str]] = {}
    while proc.poll() is None and len(listening) < len(pids):  # until etcd and kube-apiserver both listen
        for pid in pids:
            try:
                if found := controlplane.listening(pid):
                    listening[pid] = found
            except OSError:  # the run ended meanwhile
                pass
        time.sleep(0.02)
    addresses = set().union(*listening.values())
    out, err = proc.communicate(timeout=120)
    assert len(listening) == 2, "the run ended before both servers listened"
    assert proc.returncode == 0, out + err
    assert addresses == {"127.0.0.1"}, addresses
    assert controlplane.processes_in(folder) == [] and not folder.exists()
    assert _planes(private_cache) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_stops_its_control_plane(private_cache, sig, code):
    proc = subprocess.Popen([GITOPS_CHECK, "validate"], cwd=REPO, env=_env(private_cache),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == code
    assert controlplane.processes_in(folder) == [] and not folder.exists()


def test_a_killed_run_takes_its_control_plane_along_and_the_next_run_cleans_up(private_cache):
    proc = subprocess.Popen([GITOPS_CHECK, "validate"], cwd=REPO, env=_env(private_cache),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while controlplane.processes_in(folder) and time.monotonic() < deadline:  # PR_SET_PDEATHSIG
        time.sleep(0.05)
    assert controlplane.processes_in(folder) == []
    assert folder.exists()  # what kill -9 leaves: the folder, until the next run
    nxt = subprocess.run([GITOPS_CHECK, "validate", "overlays/staging"], cwd=REPO, env=_env(private_cache),
                         capture_output=True, text=True, timeout=120)
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert _planes(private_cache) == []


def test_the_next_run_kills_what_a_dead_owner_left_running(private_cache):
    # A control plane whose owner died and whose processes were not tied to it (started from a thread,
    # where PR_SET_PDEATHSIG is not used): the next start finds them by their folder and kills them.
    code = (
        "import threading; from gitops_check import controlplane, settings;"
        "t = threading.Thread(target=lambda: print(controlplane.start(settings.load()).dir)); t.start(); t.join()"
    )
    orphan = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env=_env(private_cache))
    folder = Path(orphan.stdout.strip())
    assert folder.exists() and len(controlplane.processes_in(folder)) == 2, orphan.stderr
    controlplane.reap(dataclasses.replace(settings.load(), cache_dir=private_cache))
    assert controlplane.processes_in(folder) == [] and not folder.exists()


def test_cluster_up_status_down(private_cache):
    def cli(*args):
        return subprocess.run([GITOPS_CHECK, "cluster", *args], cwd=REPO, env=_env(private_cache),
                              capture_output=True, text=True, timeout=120)

    assert cli("status").returncode == 1
    try:
        up = cli("up")
        assert up.returncode == 0 and "control plane up: kube-apiserver v1.34.4 at https://127.0.0.1:" in up.stdout
        assert cli("status").returncode == 0
        run = subprocess.run([GITOPS_CHECK, "validate", "overlays/production"], cwd=REPO, env=_env(private_cache),
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert [p.name for p in _planes(private_cache)] == ["cluster"]  # it used the one that is up
    finally:
        down = cli("down")
    assert down.returncode == 0 and down.stdout.strip() == "control plane stopped"
    assert cli("status").returncode == 1 and _planes(private_cache) == []


def test_validate_needs_no_network(private_cache):
    # A new user and network namespace: no interface but a loopback that is down. The run brings the
    # loopback up inside it, starts its control plane there and passes; nothing is reachable beyond.
    proc = subprocess.run(["unshare", "-rn", GITOPS_CHECK, "validate"], cwd=REPO, env=_env(private_cache),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: 0 error(s), 0 warning(s)" in proc.stdout and "server" in proc.stdout


def test_a_cluster_up_killed_while_booting_is_reaped(private_cache):
    """`cluster up` killed while booting left etcd and kube-apiserver running, untied, forever: status said down,
    runs did not reap them, and `cluster up` refused to start."""
    proc = subprocess.Popen([GITOPS_CHECK, "cluster", "up"], cwd=REPO, env=_env(private_cache),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert (folder / "starting").exists() and len(controlplane.processes_in(folder)) == 2  # untied: they run on
    controlplane.reap(dataclasses.replace(settings.load(), cache_dir=private_cache))
    assert controlplane.processes_in(folder) == [] and not folder.exists()


def test_a_signal_while_a_control_plane_stops_waits_for_the_cleanup(tmp_path, monkeypatch):
    """A second Ctrl-C (or a SIGTERM) while a run stopped its control plane cut the cleanup short: the folder, with
    its token and keys, stayed."""
    folder = tmp_path / "run-1-abc"
    folder.mkdir()
    (folder / "token").write_text("t")
    cp = controlplane.ControlPlane(folder, "", "", Path(), False)
    real = controlplane._stop

    def interrupted(plane):
        os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C in the middle of the cleanup
        time.sleep(0.3)
        real(plane)

    monkeypatch.setattr(controlplane, "_stop", interrupted)
    done = threading.Event()
    worker = threading.Thread(target=done.wait)  # a run's pool threads are alive then: a signal mask alone did not do
    worker.start()
    try:
        with pytest.raises(KeyboardInterrupt):  # it takes effect once the folder is gone
            controlplane.stop(cp)
    finally:
        done.set()
        worker.join()
    assert not folder.exists()


def test_a_stopping_run_does_not_wait_for_its_control_plane_to_boot(tmp_path):
    """A Ctrl-C while etcd stalled kept the run waiting 25 s for the boot (up to 60 + 60 s)."""
    sleeper = subprocess.Popen(["sleep", "60"])
    cp = controlplane.ControlPlane(tmp_path, "https://127.0.0.1:1", "", tmp_path / "ca.crt", False, [sleeper, sleeper])
    runner._REFUSING.set()
    try:
        started = time.monotonic()
        with pytest.raises(ToolError, match="the run is stopping"):
            controlplane.wait_ready(cp, timeout=30)
        assert time.monotonic() - started < 1
    finally:
        runner._REFUSING.clear()
        sleeper.kill()
        sleeper.wait()


def test_a_killed_bench_leaves_no_control_plane(private_cache):
    """The bench started the untied `cluster up` kind of control plane: SIGTERM or SIGKILL left it running for good,
    and later runs took it for the user's."""
    proc = subprocess.Popen([sys.executable, "-m", "gitops_check.bench", "--no-fleet", "--runs", "1", "overlays/staging"],
                            cwd=REPO, env=_env(private_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    assert folder.name != "cluster"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and controlplane.processes_in(folder) == [] and not folder.exists()
    proc = subprocess.Popen([sys.executable, "-m", "gitops_check.bench", "--no-fleet", "--runs", "1", "overlays/staging"],
                            cwd=REPO, env=_env(private_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = _wait_for_plane(private_cache, proc)
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while controlplane.processes_in(folder) and time.monotonic() < deadline:  # tied: PR_SET_PDEATHSIG
        time.sleep(0.05)
    assert controlplane.processes_in(folder) == []


def test_a_process_dies_with_the_one_that_started_it():
    """What ties the e2e run (re-executed in its namespaces) to make or pytest: a killed `make e2e` left the run and
    its simulated cluster going for minutes."""
    code = ("import os, signal, sys, time; from gitops_check import controlplane\n"
            "signal.signal(signal.SIGTERM, lambda *a: (print('terminated', flush=True), sys.exit(143)))\n"
            "controlplane.die_with_parent(int(sys.argv[1]), signal.SIGTERM)\nprint('tied', flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               f"child = subprocess.Popen([sys.executable, '-c', {code!r}, str(__import__('os').getpid())])\n"
                               "print(child.pid, flush=True)\ntime.sleep(60)\n"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(1)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while controlplane._start_time(child) is not None and not controlplane._is_zombie(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert controlplane._start_time(child) is None or controlplane._is_zombie(child)

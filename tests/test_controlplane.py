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
import time
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import controlplane, settings

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

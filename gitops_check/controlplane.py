"""A throwaway Kubernetes control plane on loopback: etcd and kube-apiserver at the pinned version.

Two owners are possible, and nothing outlives its owner:

- a validation run that finds no running control plane starts its own (`start()`), in a folder of its
  own under `<cache>/controlplanes/`, and stops it when the run ends: on success, on error, on SIGINT and
  SIGTERM (the CLI turns SIGTERM into an exception, so `finally` runs). Its children are also tied to it
  with PR_SET_PDEATHSIG, so even a `kill -9` of the run takes etcd and kube-apiserver with it;
- `gitops-check cluster up` starts one that stays up between runs (`<cache>/controlplanes/cluster/`),
  until `gitops-check cluster down`. Validation runs use it when it is up.

Every start first reaps what a killed owner left behind (`reap()`): folders whose owner is gone are
removed, and any process still running from them is killed. A process belongs to a folder when its
command line names that folder (every data and certificate path is inside it), so a reused pid is never
mistaken for one of ours.

Everything listens on 127.0.0.1 only, on free ports; clients authenticate with a random token. In a
network namespace whose loopback interface is down (`unshare -rn`), the interface is brought up first.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import runner, toolchain
from .errors import ToolError
from .schemas import cache, crds
from .settings import Settings

STARTUP_TIMEOUT = 60.0  # seconds until /readyz answers ok; it takes about 2 s on 2 cores
CRD_TIMEOUT = 60.0  # seconds until every locked CRD is established; about 6 s on 2 cores
SEED_FORMAT = 1  # bump when what a seed holds changes: it is part of the seed's folder name
STOP_TIMEOUT = 10.0  # seconds a process gets after SIGTERM before SIGKILL
PERSISTENT = "cluster"  # the folder of `gitops-check cluster up`


@dataclass
class ControlPlane:
    """A running control plane: where to reach it and what to stop."""

    dir: Path
    url: str
    token: str
    ca_file: Path
    persistent: bool
    processes: list[subprocess.Popen] = field(default_factory=list)  # only when this process started it
    state: dict = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def save(self) -> None:
        self.state.update(url=self.url, ca_file=str(self.ca_file), token_file=str(self.dir / "token"))
        tmp = self.dir / f"state.json.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.rename(self.dir / "state.json")


def root(settings: Settings) -> Path:
    return settings.cache_dir / "controlplanes"


def seed_dir(settings: Settings) -> Path:
    """An etcd data folder with the locked CRDs installed, copied into each new control plane so that it
    serves them at once (installing them takes about 6 s, the copy milliseconds). Keyed by everything it
    depends on: the Kubernetes version, the CRD lock and the seed format."""
    version = settings.tools["kubernetes"].version
    return settings.cache_dir / "seeds" / f"etcd-{version}-crds-{crds.lock_hash(settings.repo_root)}-f{SEED_FORMAT}"


# --------------------------------------------------------------------------- processes


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/PID/stat): a pid plus this names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def processes_in(folder: Path) -> list[int]:
    """Pids of running processes whose command line names `folder`."""
    marker = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _kill_all(pids: list[int], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, up to `timeout` seconds to exit, then SIGKILL (only SIGKILL when timeout is 0)."""
    for sig in (signal.SIGTERM, signal.SIGKILL) if timeout > 0 else (signal.SIGKILL,):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            alive = [p for p in pids if _start_time(p) is not None and not _is_zombie(p)]
            if not alive:
                return
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _owner_alive(folder: Path) -> bool:
    try:
        owner = json.loads((folder / "owner.json").read_text())
    except (OSError, ValueError):
        return False
    return _start_time(int(owner["pid"])) == owner["start"]


def reap(settings: Settings) -> list[str]:
    """Remove what killed owners left: folders of dead runs and their processes. Returns what it removed."""
    removed = []
    base = root(settings)
    if not base.is_dir():
        return removed
    for folder in sorted(base.iterdir()):
        if not folder.is_dir():
            continue
        if folder.name.startswith(".new-") and time.time() - folder.stat().st_mtime < 60:
            continue  # being made by a start() right now
        if folder.name == PERSISTENT:
            if _persistent_alive(folder):
                continue
        elif _owner_alive(folder):
            continue
        _kill_all(processes_in(folder))
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


def _persistent_alive(folder: Path) -> bool:
    """The `cluster up` control plane is in use: booting under a live `cluster up`, or up with its processes. One
    whose `cluster up` died while booting is not (its processes ran on, untied, and nothing took them down)."""
    if (folder / "starting").exists():
        return _owner_alive(folder)
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return all(_start_time(p["pid"]) == p["start"] for p in state.get("processes", []))


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, in the parent: nothing to load after fork


def _pdeathsig(parent: int) -> None:
    """In the child before exec: die with the parent (Linux prctl PR_SET_PDEATHSIG), and at once if the
    parent died between fork and prctl."""
    die_with_parent(parent, signal.SIGKILL)


def die_with_parent(parent: int, sig: int) -> None:
    """Get SIG when the process PARENT (this one's parent) ends (Linux prctl PR_SET_PDEATHSIG); exit at once if it
    already has."""
    _LIBC.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os._exit(1)


def can_tie() -> bool:
    """PR_SET_PDEATHSIG fires when the thread that forked exits: only the main thread lives as long as the
    process. Children started elsewhere are not tied (the next run reaps them instead)."""
    return threading.current_thread() is threading.main_thread()


def spawn(cmd: list[str], log: Path, tie_to_parent: bool) -> subprocess.Popen:
    out = open(log, "ab")
    try:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=(lambda parent=os.getpid(): _pdeathsig(parent)) if tie_to_parent else None,
            env={"PATH": "/usr/bin:/bin", "HOME": str(log.parent)},
        )
    finally:
        out.close()


# --------------------------------------------------------------------------- network


def _loopback_up() -> None:
    """Bring `lo` up when it is down (a fresh network namespace, as under `unshare -rn`): there, 127.0.0.1
    can be bound but nothing connects to it."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        if flags & IFF_UP:
            return
        try:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))
        except OSError as exc:
            raise ToolError(f"the loopback interface is down and cannot be brought up: {exc.strerror}") from None


def listening(pid: int) -> set[str]:
    """The local addresses a process listens on, from /proc (TCP over IPv4 and IPv6), e.g. {"127.0.0.1"}."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (loopback only; brought up first when it is down)."""
    _loopback_up()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    except OSError as exc:
        raise ToolError(f"cannot listen on 127.0.0.1: {exc.strerror}") from None


# --------------------------------------------------------------------------- start and stop


def _service_account_key(path: Path) -> None:
    """kube-apiserver needs a key to sign service account tokens; an EC key from openssl."""
    try:
        proc = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path)],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ToolError("openssl not found: install Debian package openssl (it makes the control plane's signing key)") from None
    if proc.returncode != 0:
        raise ToolError(f"openssl could not make a key: {proc.stderr.strip()[:200]}")


def last_line(log: Path) -> str:
    try:
        lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "no log"
    errors = [l for l in lines if l[:1] in "EF"] or lines
    return errors[-1][:300] if errors else "no output"


def start(settings: Settings, persistent: bool = False) -> ControlPlane:
    """Start etcd and kube-apiserver and return as soon as they are started (see wait_ready)."""
    reap(settings)
    base = root(settings)
    base.mkdir(parents=True, exist_ok=True)
    name = PERSISTENT if persistent else f"run-{os.getpid()}-{secrets.token_hex(3)}"
    folder = base / name
    if persistent and folder.exists():
        raise ToolError(f"a control plane is already up in {folder}: `gitops-check cluster down` first")
    # The folder appears with its owner already recorded (built under a hidden name, then renamed), so a
    # concurrent reap() never takes a folder being made for one without an owner.
    tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=base))
    (tmp / "owner.json").write_text(json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid())}))
    if persistent:
        (tmp / "starting").touch()
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ToolError(f"a control plane is already up in {folder}: `gitops-check cluster down` first") from None
    try:
        return _launch(settings, folder, persistent)
    except BaseException:
        _kill_all(processes_in(folder))
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _launch(settings: Settings, folder: Path, persistent: bool) -> ControlPlane:
    etcd, apiserver = toolchain.locate("etcd", settings), toolchain.locate("kube-apiserver", settings)
    token = secrets.token_urlsafe(32)
    (folder / "token").write_text(token)
    (folder / "tokens.csv").write_text(f"{token},gitops-check,gitops-check,system:masters\n")
    for f in ("token", "tokens.csv"):
        (folder / f).chmod(0o600)
    _service_account_key(folder / "sa.key")
    seed = seed_dir(settings) / "etcd"
    if cache.ready(seed.parent):
        shutil.copytree(seed, folder / "etcd")
    client, peer, secure = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client}"
    tie = not persistent and can_tie()
    procs = [spawn([
        etcd, "--name", "gitops-check", "--data-dir", str(folder / "etcd"),
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"gitops-check=http://127.0.0.1:{peer}", "--listen-metrics-urls", "",
        "--unsafe-no-fsync", "--log-level", "error",
    ], folder / "etcd.log", tie)]
    procs.append(spawn([
        apiserver, "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
        "--secure-port", str(secure), "--cert-dir", str(folder / "certs"), "--token-auth-file", str(folder / "tokens.csv"),
        "--authorization-mode", "RBAC", "--anonymous-auth=false",
        "--service-account-issuer", "https://kubernetes.default.svc", "--api-audiences", "https://kubernetes.default.svc",
        "--service-account-key-file", str(folder / "sa.key"), "--service-account-signing-key-file", str(folder / "sa.key"),
        "--service-cluster-ip-range", "10.96.0.0/16", "--allow-privileged=true", "--endpoint-reconciler-type", "none",
        "--profiling=false", "--enable-priority-and-fairness=false", "--v", "0",
    ], folder / "kube-apiserver.log", tie))
    cp = ControlPlane(folder, f"https://127.0.0.1:{secure}", token, folder / "certs" / "apiserver.crt", persistent, procs)
    cp.state = {
        "kubernetes": settings.tools["kubernetes"].version,
        "crds": crds.lock_hash(settings.repo_root) if cache.ready(seed.parent) else "",
        "processes": [{"name": n, "pid": p.pid, "start": _start_time(p.pid)} for n, p in zip(("etcd", "kube-apiserver"), procs)],
    }
    cp.save()
    return cp


def wait_ready(cp: ControlPlane, timeout: float = STARTUP_TIMEOUT) -> None:
    """Block until kube-apiserver answers /readyz with ok; ToolError naming the log line that says why not."""
    from .kubeapi import Client

    deadline = time.monotonic() + timeout
    client = None
    while time.monotonic() < deadline:
        _give_up_when_stopping()
        for proc, name in zip(cp.processes, ("etcd", "kube-apiserver")):
            if proc.poll() is not None:
                raise ToolError(f"{name} exited with code {proc.returncode} while starting: {last_line(cp.log(name))}")
        if client is None and (cp.dir / "certs" / "apiserver.key").is_file():  # written after the certificate
            try:
                client = Client(cp.url, cp.token, cp.ca_file)
            except (OSError, ValueError):  # ssl.SSLError included: the file is still being written
                client = None
        if client is not None and client.ready():
            return
        time.sleep(0.05)
    raise ToolError(f"kube-apiserver was not ready after {timeout:.0f}s: {last_line(cp.log('kube-apiserver'))}")


def _give_up_when_stopping() -> None:
    """An interrupted or failed run does not wait for its control plane to boot (a stalled etcd kept Ctrl-C
    waiting 25 s)."""
    if runner.stopping():
        raise ToolError("the control plane was not waited for: the run is stopping")


def install_crds(cp: ControlPlane, settings: Settings) -> None:
    """Install the locked CRDs (each file checked against crds.lock first) unless the control plane holds
    them already, and wait until the server establishes them."""
    from .kubeapi import Client

    files = crds.verify(settings.repo_root, settings.crds_dir)  # always: a seed is only as good as the files
    lock = crds.lock_hash(settings.repo_root)
    if cp.state.get("crds") == lock:
        return
    client = Client(cp.url, cp.token, cp.ca_file)
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    definitions = crds.load(files)
    for crd in definitions:
        name = crd["metadata"]["name"]
        resp = client.request("PATCH", f"{path}/{name}?fieldManager=gitops-check&force=true", crd, "application/apply-patch+yaml")
        if not resp.ok:
            raise ToolError(f"the local kube-apiserver refused the locked CRD {name}: {resp.body.get('message', resp.status)}")
    names = {c["metadata"]["name"] for c in definitions}
    deadline = time.monotonic() + CRD_TIMEOUT
    while True:
        items = client.request("GET", path).body.get("items", [])
        established = {
            i["metadata"]["name"] for i in items
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in (i.get("status") or {}).get("conditions") or [])
        }
        if names <= established:
            break
        _give_up_when_stopping()
        if time.monotonic() > deadline:
            raise ToolError(f"the locked CRDs {sorted(names - established)} were not established after {CRD_TIMEOUT:.0f}s")
        time.sleep(0.05)
    cp.state["crds"] = lock
    cp.save()


def prepare_seed(settings: Settings) -> Path:
    """Build the seed (see seed_dir) once: a private control plane, the CRDs installed, stopped, its etcd
    data published atomically into the cache."""
    target = seed_dir(settings)
    if cache.ready(target):
        return target

    def build(tmp: Path) -> dict:
        cp = start(settings)
        try:
            wait_ready(cp)
            install_crds(cp, settings)
            for proc in reversed(cp.processes):  # a clean stop leaves a consistent etcd folder to copy
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    raise ToolError(f"{proc.args[0]} did not stop within {STOP_TIMEOUT:.0f}s while preparing the seed") from None
            shutil.copytree(cp.dir / "etcd", tmp / "etcd")
        finally:
            stop(cp)
        return {"kubernetes": settings.tools["kubernetes"].version, "crds": crds.lock_hash(settings.repo_root)}

    return cache.publish(target, build)


def stop(cp: ControlPlane) -> None:
    """Stop kube-apiserver, then etcd, and remove the folder (data, keys, logs). A throwaway control plane
    is killed outright (its data goes anyway); the persistent one is asked to shut down first. Ctrl-C and SIGTERM
    wait until it is done (a second Ctrl-C cut it short and left the folder, its token and keys behind): while it
    runs in the main thread, where Python runs signal handlers, they are only noted, and raised again as soon as it
    returns. (Blocking them with a signal mask would not do: any other thread of the process takes them then.)"""
    noted: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: noted.append(signum))
    try:
        _stop(cp)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if noted:
            signal.raise_signal(noted[0])


def _stop(cp: ControlPlane) -> None:
    ours = processes_in(cp.dir)  # by command line, so a reused pid is never signalled
    by_name = {p["name"]: p["pid"] for p in cp.state.get("processes", [])}
    for name in ("kube-apiserver", "etcd"):
        if by_name.get(name) in ours:
            _kill_all([by_name[name]], timeout=STOP_TIMEOUT if cp.persistent else 0.0)
    for proc in cp.processes:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    _kill_all(processes_in(cp.dir))
    shutil.rmtree(cp.dir, ignore_errors=True)


SHARED = "GITOPS_CHECK_CLUSTER"  # a control plane folder a parent process shares with its children


def running(settings: Settings) -> ControlPlane | None:
    """The control plane to use instead of starting one: the folder GITOPS_CHECK_CLUSTER names (a test
    session shares its own that way), else the one `gitops-check cluster up` keeps; None when neither is up."""
    folder = Path(os.environ[SHARED]) if os.environ.get(SHARED) else root(settings) / PERSISTENT
    try:
        state = json.loads((folder / "state.json").read_text())
        token = Path(state["token_file"]).read_text()
    except (OSError, ValueError, KeyError):
        return None
    if (folder / "starting").exists() or not _persistent_alive(folder):
        return None
    if state.get("kubernetes") != settings.tools["kubernetes"].version:
        return None
    return ControlPlane(folder, state["url"], token, Path(state["ca_file"]), True, state=state)


# --------------------------------------------------------------------------- `gitops-check cluster`


def up(settings: Settings) -> ControlPlane:
    cp = running(settings)
    if cp and cp.dir.name == PERSISTENT:
        return cp
    reap(settings)
    cp = start(settings, persistent=True)
    try:
        wait_ready(cp)
        install_crds(cp, settings)
    except BaseException:
        stop(cp)
        raise
    (cp.dir / "starting").unlink()
    return cp


def down(settings: Settings) -> bool:
    folder = root(settings) / PERSISTENT  # never the shared folder of GITOPS_CHECK_CLUSTER: its owner stops it
    if not folder.exists():
        return False
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    stop(ControlPlane(folder, "", "", Path(), True, state=state))
    return True


class Session:
    """The control plane one validation run uses: the one `gitops-check cluster up` keeps running, or its
    own, started at once (so it boots while overlays render) and stopped by close()."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cp = running(settings)
        self.owned = self.cp is None
        if self.cp is None:
            self.cp = start(settings)
        self._lock = threading.Lock()
        self._ready = False

    def ready(self) -> ControlPlane:
        """The control plane, once it answers with the locked CRDs installed (the first caller waits)."""
        with self._lock:
            if not self._ready:
                if self.owned:
                    wait_ready(self.cp)
                install_crds(self.cp, self.settings)
                self._ready = True
        return self.cp

    def close(self) -> None:
        if self.owned:
            stop(self.cp)

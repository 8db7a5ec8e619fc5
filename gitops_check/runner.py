"""One way to run every tool the harness calls while it validates, renders or plans.

kustomize, kustomize-batch, kubeconform, conftest, rego-eval, promtool, promql-ast and rollouts-validate all go
through `run()`, which guarantees, whatever the input under check does to the tool:

- a time bound: the whole process group is killed after `tool-timeout-seconds` (wall clock), and on every
  other way out of `run()` (an exception, Ctrl-C, SystemExit), or when `stop_all()` is called (by
  `stop_on_failure()`, when the thread waiting on a run's worker threads fails or is interrupted: no tool
  starts then until they are done); leftovers of a tool that exited (a background child still holding its
  pipes) are killed too. The child starts in a session of its own,
  is tied to the harness with PR_SET_PDEATHSIG and gets an RLIMIT_CPU of `tool-cpu-seconds`, so even a
  harness killed with SIGKILL leaves nothing running for long;
- a memory cap of `tool-memory-mib` as RLIMIT_DATA, not RLIMIT_AS. Every pinned tool is a Go program (built
  with cgo), and Go reserves address space it never touches: measured on this repository, 760 to 830 MiB
  of RLIMIT_AS just to start, and a VmPeak of 1.5 GiB at 25 MiB resident while building an overlay, growing
  with the number of threads (2.4 GiB with GOMAXPROCS=64). An address-space cap would depend on the
  machine's core count rather than on what the tool uses. RLIMIT_DATA (Linux 4.7 and later) counts the
  private writable memory a process maps (heap, anonymous mappings, thread stacks), not reservations: a Go
  tool needs about 100 to 130 MiB of it to start and then what it really uses. GOMEMLIMIT is set to three
  quarters of the cap so Go's collector works harder before the cap is reached, and GOGC to 400 so it works
  less before then (these tools live for a fraction of a second);
- an output cap of `tool-output-mib` per stream: a tool printing more is killed and reported;
- an allow-listed environment: of the harness's own variables only PATH, the locale, TZ, TMPDIR and GOMAXPROCS
  (no CI token, credential, proxy or XDG_* folder), a private empty HOME (removed afterwards; conftest panics
  without one and user-level plugin folders must not change a verdict), GOTRACEBACK=none (a Go panic prints
  its message, not every goroutine), GOMEMLIMIT and GOGC as above;
- one line: a timeout, a limit, a missing binary or a tool killed by a signal is a ToolError of one line,
  and `one_line()` turns any tool's error text into one short, redacted line for the user.

What a tool's exit code means is left to its caller, which also checks that the tool accounted for every
document it was sent: exit 0 without a parseable report is a tool error for every tool, never a pass.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping

from .errors import ToolError
from .model import URL_CREDENTIALS

if TYPE_CHECKING:
    from .settings import Settings

_CHUNK = 1 << 16
# Go's collector at its default (GOGC=100) spent a fifth of the CPU of our short-lived tools collecting heaps
# they were about to drop: 400 lets a heap grow to five times its live size first (rego-eval 72 -> 64 ms,
# kustomize-batch 82 -> 69 ms, rollouts-validate 41 -> 32 ms of CPU on one overlay); GOMEMLIMIT still bounds it.
GOGC = "400"
# What a tool is given of the harness's environment: where programs are, the locale and time zone, the temporary
# folder and Go's thread count. Nothing else: a tool judging a pull request can be made to show what it was given (a
# policy file that is a symbolic link to /proc/self/environ ends up in its error line), and CI runs hold tokens and
# cloud credentials; proxies (nothing is fetched) and the user's configuration folders stay out too (HOME is an
# empty folder of its own).
_KEPT = re.compile(r"^(?:PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|GOMAXPROCS)$")
# How a program says it could not get memory: Go, Python, C/C++ and glibc's thread creation.
_OUT_OF_MEMORY = re.compile(
    r"^(?:(?:fatal error|runtime): .*(?:out of memory|cannot allocate memory|cannot map pages|cannot reserve arena).*"
    r"|MemoryError\b.*|terminate called after throwing an instance of 'std::bad_alloc'"
    r"|runtime/cgo: pthread_create failed.*|runtime: failed to create new OS thread.*)$",
    re.MULTILINE,
)

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux: no PR_SET_PDEATHSIG
    _LIBC = None


@dataclass(frozen=True)
class Limits:
    """The bounds every tool runs within (settings tool-timeout-seconds, tool-memory-mib, tool-cpu-seconds,
    tool-output-mib)."""

    timeout: float
    memory_mib: int
    cpu_seconds: int
    output_mib: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> Limits:
        if settings is None:
            settings = _current_settings()
        if settings is None:
            from .settings import Settings

            fields = Settings.__dataclass_fields__
            return cls(*(fields[f].default for f in ("tool_timeout_seconds", "tool_memory_mib",
                                                      "tool_cpu_seconds", "tool_output_mib")))
        return cls(settings.tool_timeout_seconds, settings.tool_memory_mib, settings.tool_cpu_seconds,
                   settings.tool_output_mib)


def _current_settings() -> Settings | None:
    """The settings of the repository the working directory is in (for callers given only a binary);
    None outside one, where the defaults apply."""
    from . import settings as settings_mod

    try:
        return settings_mod.load()
    except Exception:  # no repository here, or one whose settings do not load: the defaults bound the tool
        return None


@dataclass(frozen=True)
class Completed:
    """What a tool did: its exit code and what it printed (UTF-8, undecodable bytes replaced)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str  # "" when stderr was merged into stdout


class _Stop(Exception):
    """Internal: the tool must be stopped (timeout or output cap); the message is the ToolError's."""


_LIVE: dict[int, subprocess.Popen] = {}  # pid -> every tool running now, from any thread
_STOPPED: set[int] = set()  # pids stop_all() killed
_LOCK = threading.Lock()
_REFUSING = threading.Event()  # set while stop_on_failure() drains a failed run's threads: no tool may start
# Set by the command-line program, which exits at once when interrupted: its interrupted run's threads are then not
# waited for, and stay refused new tools until the process ends (a library caller's threads are waited for).
LEAVING_ON_INTERRUPT = False
_HOMES: set[str] = set()  # the private HOME folders of the tools running now (removed by the program as it leaves)


def usable_cores() -> int:
    """The cores this process may run on (a CI runner may pin it to fewer than the machine has): how many tool
    processes are worth running side by side."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def stopping() -> bool:
    """True while a failed or interrupted run drains its threads: work that waits (a control plane booting)
    gives up instead of keeping the run alive."""
    return _REFUSING.is_set()


def stop_all() -> None:
    """Kill every tool running now (their runs raise ToolError). For the main thread when a run is
    interrupted (Ctrl-C, SIGTERM) while other threads wait on tools: without it, leaving a thread pool
    would wait for each tool to finish or reach its timeout."""
    with _LOCK:
        for pid, proc in _LIVE.items():
            _STOPPED.add(pid)
            _kill_group(proc, reap=False)


@contextmanager
def stop_on_failure(*pools: Executor) -> Iterator[None]:
    """For the thread that hands tool-running work to POOLS and waits for it. When it leaves with an exception (a
    stage's error, Ctrl-C, SIGTERM turned into an exception), every tool running now is stopped and none starts
    until the pools' threads are done: leaving a pool waits for its threads, which would otherwise wait on their
    tools until those finish or time out, or start new ones."""
    try:
        yield
    except BaseException as exc:
        # A stage's error: the other threads are let finish (their tools stopped), so the run ends with the first
        # error in order. Ctrl-C or SIGTERM: the run leaves at once; a thread still computing (not waiting on a tool)
        # is not waited for (the CLI exits without joining it).
        leaving = LEAVING_ON_INTERRUPT and not isinstance(exc, Exception)
        _REFUSING.set()
        try:
            stop_all()
            for pool in pools:
                pool.shutdown(wait=not leaving, cancel_futures=True)
        finally:
            if not leaving:
                _REFUSING.clear()
        raise


def remove_homes() -> None:
    """The private HOME folders of tools still counted as running: for the program leaving without waiting for
    the threads that would remove them."""
    for home in list(_HOMES):
        shutil.rmtree(home, ignore_errors=True)


def run(
    cmd: list[str],
    *,
    tool: str,
    settings: Settings | None = None,
    input: str | bytes | None = None,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_output: int | None = None,
    merge_stderr: bool = False,
) -> Completed:
    """Run CMD (the tool named TOOL in messages) within the limits of SETTINGS and return what it did.

    ENV adds to (or overrides) the sanitized environment. TIMEOUT (seconds) and MAX_OUTPUT (bytes per
    stream) override the settings for one call. MERGE_STDERR sends stderr into stdout, keeping the order
    the tool wrote them in. ToolError (one line) when the tool cannot start, runs out of time, memory,
    CPU time or output size, or is killed by a signal; any other exit code is the caller's to judge."""
    if _REFUSING.is_set():
        raise ToolError(f"{tool} was not started: the run is stopping")
    limits = Limits.of(settings)
    timeout = limits.timeout if timeout is None else timeout
    cap = (limits.output_mib << 20) if max_output is None else max_output
    cmd = [str(c) for c in cmd]
    data = input.encode() if isinstance(input, str) else input
    home = tempfile.mkdtemp(prefix="gitops-check-home-")
    _HOMES.add(home)
    try:
        try:
            forked_kib = _resident_kib()
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE, cwd=cwd,
                env=_environment(env, home, limits), start_new_session=True, preexec_fn=_child_setup(limits),
            )
        except FileNotFoundError:
            raise ToolError(f"{tool} could not run: {cmd[0]} not found: run `make tools`") from None
        except PermissionError:
            raise ToolError(f"{tool} could not run: {cmd[0]} is not executable: run `make tools`") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise ToolError(f"{tool} could not run: {one_line(str(exc))}") from None
        return _supervise(proc, cmd, tool, data, timeout, cap, limits, forked_kib)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        _HOMES.discard(home)


def _supervise(proc: subprocess.Popen, cmd: list[str], tool: str, data: bytes | None, timeout: float, cap: int,
               limits: Limits, forked_kib: int = 0) -> Completed:
    deadline = time.monotonic() + timeout
    with _LOCK:
        _LIVE[proc.pid] = proc
        if _REFUSING.is_set():  # started while stop_on_failure() stopped the others: it goes too
            _STOPPED.add(proc.pid)
            _kill_group(proc, reap=False)
    try:
        try:
            try:
                out, err = _exchange(proc, data, deadline, cap, tool, timeout)
                rusage = _reap(proc, deadline, tool, timeout)
            except _Stop as stop:
                raise ToolError(str(stop)) from None
        except BaseException:
            _kill_group(proc)
            _close(proc)
            raise
    finally:
        with _LOCK:
            _LIVE.pop(proc.pid, None)
            stopped = proc.pid in _STOPPED
            _STOPPED.discard(proc.pid)
    _close(proc)
    if stopped:
        raise ToolError(f"{tool} was stopped: the run was interrupted")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    _judge_end(tool, proc.returncode, stdout + stderr, rusage, limits, forked_kib)
    return Completed(cmd, proc.returncode, stdout, stderr)


def _exchange(proc: subprocess.Popen, data: bytes | None, deadline: float, cap: int, tool: str,
              timeout: float) -> tuple[bytes, bytes]:
    """Feed DATA to stdin and read stdout/stderr until both close, within the deadline and the output cap.
    When the tool itself exits, whatever it left in its process group is killed so the pipes close."""
    chunks: dict[int, list[bytes]] = {}
    sizes: dict[int, int] = {}
    names: dict[int, str] = {}
    pipes: set[int] = set()  # the pipes still open
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # before Linux 5.3: leftovers holding a pipe run into the deadline
        pidfd = None
    view = memoryview(data or b"")
    with selectors.DefaultSelector() as sel:
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            if stream is not None:
                sel.register(stream.fileno(), selectors.EVENT_READ)
                chunks[stream.fileno()], sizes[stream.fileno()], names[stream.fileno()] = [], 0, name
                pipes.add(stream.fileno())
        stdin = proc.stdin.fileno() if proc.stdin is not None else None
        if stdin is not None:
            if view:
                os.set_blocking(stdin, False)
                sel.register(stdin, selectors.EVENT_WRITE)
                pipes.add(stdin)
            else:
                proc.stdin.close()
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ)
        try:
            while pipes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Stop(f"{tool} gave no answer within {timeout:g}s (setting tool-timeout-seconds): stopped it")
                for key, _ in sel.select(remaining):
                    fd = key.fd
                    if fd == pidfd:  # the tool exited: stop what it left behind, then drain its pipes
                        sel.unregister(fd)
                        _kill_group(proc, reap=False)
                    elif fd == stdin:
                        try:
                            view = view[os.write(fd, view[:_CHUNK * 4]):]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # the tool stopped reading: its exit code says why
                            view = view[:0]
                        if not view:
                            sel.unregister(fd)
                            pipes.discard(fd)
                            proc.stdin.close()
                    else:
                        block = os.read(fd, _CHUNK)
                        if not block:
                            sel.unregister(fd)
                            pipes.discard(fd)
                            continue
                        sizes[fd] += len(block)
                        if sizes[fd] > cap:
                            raise _Stop(f"{tool} printed more than {_size(cap)} on {names[fd]} "
                                        "(setting tool-output-mib): its output was too large, stopped it")
                        chunks[fd].append(block)
        finally:
            if pidfd is not None:
                os.close(pidfd)
    streams = [b"".join(chunks[s.fileno()]) if s is not None else b"" for s in (proc.stdout, proc.stderr)]
    return streams[0], streams[1]


def _reap(proc: subprocess.Popen, deadline: float, tool: str, timeout: float):
    """Wait (until the deadline) for the tool to exit, kill what is left of its process group while its
    pid cannot be reused (the tool is a zombie until reaped), then reap it. Its resource usage."""
    delay = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
        except ChildProcessError:
            break
        if time.monotonic() >= deadline:
            raise _Stop(f"{tool} gave no answer within {timeout:g}s (setting tool-timeout-seconds): stopped it")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    _kill_group(proc, reap=False)
    with _LOCK:  # from here on its pid may be reused: stop_all() must not signal it
        _LIVE.pop(proc.pid, None)
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # reaped elsewhere: no usage to tell
        proc.wait()
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return rusage


def _kill_group(proc: subprocess.Popen, reap: bool = True) -> None:
    """SIGKILL the tool's process group (its session: start_new_session made the tool its leader)."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if reap:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # uninterruptible sleep: the kernel delivers SIGKILL later
            pass


def _close(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def _judge_end(tool: str, returncode: int, output: str, rusage, limits: Limits, forked_kib: int = 0) -> None:
    """ToolError when the tool died of a limit or a signal: no report it printed can be trusted then."""
    if returncode < 0:
        sig = -returncode
        cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= limits.cpu_seconds - 1:
            raise ToolError(f"{tool} used more than {limits.cpu_seconds}s of CPU time (setting tool-cpu-seconds): stopped it")
        detail = one_line(output, default="")
        hint = " (it may have run out of memory: setting tool-memory-mib)" if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS) else ""
        raise ToolError(f"{tool} was killed by {_signal_name(sig)}{hint}" + (f": {detail}" if detail else ""))
    if returncode != 0 and _OUT_OF_MEMORY.search(output):
        raise ToolError(f"{tool} ran out of memory: a tool may use {limits.memory_mib} MiB (setting tool-memory-mib): "
                        f"{one_line(_OUT_OF_MEMORY.search(output).group(0))}")
    # Go's runtime sometimes meets the memory cap as a fault rather than an allocation error (an alias bomb in
    # kustomize, about one run in five): a fatal SIGSEGV after using at least half of the cap is the cap. A child's
    # ru_maxrss starts at the harness's own resident memory when it was forked (Linux keeps the pre-exec image's
    # high-water mark), so only a peak past that image says what the tool itself used.
    peak_kib = rusage.ru_maxrss if rusage is not None else 0  # Linux: KiB
    peak_mib = peak_kib / 1024
    grew = peak_kib > forked_kib + _FORK_DRIFT_KIB
    if (returncode != 0 and output.lstrip().startswith("SIGSEGV: segmentation violation") and grew
            and peak_mib >= limits.memory_mib / 2):
        raise ToolError(f"{tool} ran out of memory: a tool may use {limits.memory_mib} MiB (setting tool-memory-mib): "
                        f"it faulted (SIGSEGV) after using {peak_mib:.0f} MiB")


_FORK_DRIFT_KIB = 16 << 10  # what the harness's other threads may add between measuring and forking


def _resident_kib() -> int:
    """This process's resident memory now, in KiB: where a child forked from it starts its ru_maxrss."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _size(nbytes: int) -> str:
    return f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 and nbytes % (1 << 20) == 0 else f"{nbytes} bytes"


def _environment(extra: Mapping[str, str] | None, home: str, limits: Limits) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if _KEPT.match(k)}
    env["HOME"] = home
    env.setdefault("PATH", os.defpath)
    env.setdefault("GOTRACEBACK", "none")
    env.setdefault("GOMEMLIMIT", f"{max(64, limits.memory_mib * 3 // 4)}MiB")
    env.setdefault("GOGC", GOGC)
    env.update(extra or {})
    return env


def _child_setup(limits: Limits):
    """What the child does between fork and exec: limits, and dying with the harness. Only calls that take
    no lock (setrlimit, prctl): the harness runs tools from several threads."""
    memory = limits.memory_mib << 20
    wanted = {resource.RLIMIT_DATA: memory, resource.RLIMIT_CPU: limits.cpu_seconds, resource.RLIMIT_CORE: 0}
    plan = []
    for which, soft in wanted.items():  # never above a hard limit the harness was given
        _, hard = resource.getrlimit(which)
        soft = soft if hard == resource.RLIM_INFINITY else min(soft, hard)
        # CPU: SIGXCPU at the soft limit (Go ignores it), SIGKILL one second later at the hard limit
        new_hard = soft + 1 if which == resource.RLIMIT_CPU else soft
        new_hard = new_hard if hard == resource.RLIM_INFINITY else min(new_hard, hard)
        plan.append((which, (soft, new_hard)))
    parent = os.getpid()
    libc = _LIBC

    def setup() -> None:
        for which, values in plan:
            resource.setrlimit(which, values)
        if libc is not None:
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the thread that started it
            if os.getppid() != parent:  # the harness died before prctl took effect
                os._exit(1)

    return setup


# --------------------------------------------------------------------------- tool error text for users

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_STACK = re.compile(
    r"^(?:goroutine \d+ \[|runtime stack:|\[signal |\s*\S+\.go:\d+|\S+\(.*\)$|created by |exit status \d+$"
    r"|\s+at |\s*File \"|\[goroutine stacks? omitted\]|(?:rax|rbx|rcx|rdx|rdi|rsi|rbp|rsp|r\d+|rip|rflags|cs|fs|gs)\s+0x)"
)
_SECRET_KEY = (r"(?:[A-Za-z0-9_.-]{0,40}(?:password|passwd|passphrase|pass|pwd|secret|token|api[_-]?key|access[_-]?key"
               r"|private[_-]?key|credentials?|auth)[A-Za-z0-9_.-]{0,40})")
_REDACTIONS = (
    # -----BEGIN ... PRIVATE KEY----- and what follows it on the line
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), "-----PRIVATE KEY ***-----"),
    # Authorization / Proxy-Authorization headers: the scheme and its credentials
    (re.compile(r"\b((?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|digest|token|negotiate)\s+)?[^\s,;'\"]+", re.I), r"\1***"),
    # URLs with user:password@ (or a token as the user)
    (URL_CREDENTIALS, r"\1***@"),
    # what kustomize quotes of a generator input it could not read: a literal (`DB_PASS Hunter2`, `=Hunter2`) or an
    # env file's line (its bytes, then its text)
    (re.compile(r"(literal sources? \[)[^\]]*(\])"), r"\1***\2"),
    (re.compile(r"(invalid literal source ).*?(, expected|$)"), r"\1***\2"),
    (re.compile(r"(\bline \[)[\d ]*(\] has invalid utf8 bytes\s*:).*"), r"\1***\2 ***"),
    # key=value, key: value, "key": "value" for credential-like keys
    (re.compile(r"(" + _SECRET_KEY + r"[\"']?\s*[:=]\s*[\"']?)(?:[^\s\"',;&)}\]:]|:(?!\s|$))+", re.I), r"\1***"),
    # long hex runs: keys, tokens (and digests, which are no secret but cannot be told apart)
    (re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])"), "***"),
)
# base64/base64url runs of 24+ characters (JWTs: up to three of them joined by dots)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{8,}(?:\.[A-Za-z0-9+/_-]{8,}){0,2}=*(?![A-Za-z0-9+/_-])")
# What such a run is when it is no secret: a path or field path of identifiers (camelCase words, numbers)
_WORD = re.compile(r"^(?:[A-Za-z][a-z0-9]*(?:[A-Z][a-z0-9]+)*[A-Z]?|[0-9]+|)$")


def _opaque(match: re.Match) -> str:
    run = match.group(0)
    if len(run) < 24:
        return run
    mixed = any(c.isdigit() for c in run) and any(c.islower() for c in run) and any(c.isupper() for c in run)
    if not mixed or all(_WORD.match(part) for part in re.split(r"[/._+=-]", run)):
        return run  # spec/strategy/canary/trafficRouting/0, ValidateRolloutReferencedResources
    return "***"


def redact(text: str) -> str:
    """TEXT with anything that looks like a credential replaced by ***: `password=...`, `token: ...`,
    `Authorization:` headers, URLs with user:password@, private key blocks, long hex runs, and long base64
    runs mixing digits and both cases (unless they read as a path of identifiers)."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return _BASE64.sub(_opaque, text)


def clean(text: str) -> str:
    """TEXT without terminal escape sequences and control characters (tabs and newlines become spaces)."""
    text = _ANSI.sub("", text)
    return " ".join(_CONTROL.sub(" ", text.replace("\t", " ")).split())


def one_line(text: str, limit: int = 300, default: str = "no output") -> str:
    """A tool's error text as one safe line for the user: its first meaningful line (a Go panic's message,
    not its goroutine stack; a Python traceback's last line), control characters and escape sequences
    removed, credentials redacted, and cut to about LIMIT characters. A long line keeps its start and its
    end, where a wrapped Go error names the root cause."""
    lines = [clean(line) for line in _ANSI.sub("", text).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return default
    if lines[0].startswith("Traceback (most recent call last)"):
        chosen = lines[-1]
    else:
        chosen = next((line for line in lines if not _STACK.match(line)), lines[0])
    if len(chosen) > 8 * limit:  # bound the work of redact(); what it cuts here is never shown
        chosen = f"{chosen[:4 * limit]} … {chosen[-4 * limit:]}"
    chosen = redact(chosen)
    if len(chosen) > limit:
        head = limit // 3
        chosen = f"{chosen[:head].rstrip()} … {chosen[-(limit - head - 3):].lstrip()}"
    return chosen


# --------------------------------------------------------------------------- many documents, several runs

ARG_BYTES = 512 * 1024  # per command line: a quarter of Linux's usual ARG_MAX (2 MiB), the rest for the environment


def batches(fixed: list[str], items: list[str], max_items: int | None = None, max_bytes: int = ARG_BYTES) -> list[list[str]]:
    """ITEMS (file arguments) split into batches so that FIXED + a batch fits a command line of MAX_BYTES
    (and has at most MAX_ITEMS): a fleet of any size runs in several processes instead of failing to start
    ("Argument list too long"). Order is kept; every item is in exactly one batch."""
    budget = max_bytes - sum(len(os.fsencode(a)) + 9 for a in fixed)  # + NUL and the argv pointer
    out: list[list[str]] = []
    current: list[str] = []
    used = 0
    for item in items:
        size = len(os.fsencode(item)) + 9
        if current and (used + size > budget or (max_items and len(current) >= max_items)):
            out.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        out.append(current)
    return out

"""gitops_check.runner: every tool the harness runs is bounded (time, memory, CPU, output), leaves nothing
running, never fails open, and its error text reaches the user as one short, redacted line (exit 2)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO
from gitops_check import cli, loader, policies, rollouts, runner, settings, toolchain
from gitops_check.context import Context
from gitops_check.errors import InputError, ToolError
from gitops_check.model import Source

GITOPS_CHECK = REPO / ".venv" / "bin" / "gitops-check"
SECRET = "hunter2"


def limits(**changes) -> settings.Settings:
    return dataclasses.replace(settings.load(), **changes)


def one_line_tool_error(exc: pytest.ExceptionInfo) -> str:
    """The message of a ToolError, checked to be what the CLI prints with exit 2: one line."""
    assert isinstance(exc.value, InputError)  # cli.main: InputError (ToolError included) -> exit 2
    message = str(exc.value)
    assert message and "\n" not in message and "\r" not in message
    return message


def group_members(pgid: int) -> list[int]:
    """Processes of process group PGID that still run (zombies, waiting for a reaper, do not count)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def wait_for_pid(path: Path, seconds: float = 10) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"the child never wrote {path}")


def assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pgid) == []


def two_sleepers(pidfile: Path) -> list[str]:
    """A shell that records its pid (= its process group) and waits on a background child of its own."""
    return ["sh", "-c", f"echo $$ > {pidfile}; sleep 100 & sleep 100"]


# --------------------------------------------------------------------------- bounds


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ToolError) as err:
        runner.run(two_sleepers(pidfile), tool="sleeper", timeout=1)
    assert time.monotonic() - started < 5
    assert one_line_tool_error(err) == "sleeper gave no answer within 1s (setting tool-timeout-seconds): stopped it"
    assert_group_gone(wait_for_pid(pidfile))


def test_the_timeout_comes_from_the_setting(tmp_path):
    pidfile = tmp_path / "pid"
    with pytest.raises(ToolError, match=r"within 1.5s \(setting tool-timeout-seconds\)") as err:
        runner.run(two_sleepers(pidfile), tool="sleeper", settings=limits(tool_timeout_seconds=1.5))
    one_line_tool_error(err)
    assert_group_gone(wait_for_pid(pidfile))


def test_what_a_tool_leaves_running_is_killed_when_it_exits(tmp_path):
    """A background child holding the tool's stdout neither delays the answer nor survives it."""
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    done = runner.run(["sh", "-c", f"echo $$ > {pidfile}; sleep 100 & echo answer"], tool="sh", timeout=60)
    assert time.monotonic() - started < 5
    assert (done.returncode, done.stdout) == (0, "answer\n")
    assert_group_gone(int(pidfile.read_text()))


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_run_kills_the_tool(tmp_path, interruption):
    pidfile = tmp_path / "pid"

    def interrupt(signum, frame):
        raise interruption()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(interruption):
            runner.run(two_sleepers(pidfile), tool="sleeper", timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert_group_gone(wait_for_pid(pidfile))


def test_stop_all_stops_tools_other_threads_wait_on(tmp_path):
    """What the main thread calls when a run is interrupted while a thread pool waits on tools."""
    pidfile = tmp_path / "pid"
    caught: list[BaseException] = []

    def worker():
        try:
            runner.run(two_sleepers(pidfile), tool="sleeper", timeout=60)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            caught.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    pgid = wait_for_pid(pidfile)
    runner.stop_all()
    thread.join(10)
    assert not thread.is_alive()
    [exc] = caught
    assert isinstance(exc, ToolError) and str(exc) == "sleeper was stopped: the run was interrupted"
    assert_group_gone(pgid)


def test_a_tool_over_the_memory_cap_is_one_line_tool_error():
    allocate = [sys.executable, "-c", "blob = bytearray(1 << 30); print(len(blob))"]
    with pytest.raises(ToolError) as err:
        runner.run(allocate, tool="hog", settings=limits(tool_memory_mib=200))
    assert one_line_tool_error(err) == "hog ran out of memory: a tool may use 200 MiB (setting tool-memory-mib): MemoryError"
    assert runner.run(allocate, tool="hog", settings=limits(tool_memory_mib=2048)).stdout == f"{1 << 30}\n"


def test_the_memory_cap_lets_go_tools_work_and_stops_them_when_exceeded():
    """RLIMIT_DATA, not RLIMIT_AS: a Go tool's reserved address space does not count (kustomize needs
    about 110 MiB of data to start, and more than 770 MiB of address space)."""
    kustomize = toolchain.locate("kustomize", settings.load())
    done = runner.run([kustomize, "build", str(REPO / "overlays/production")], tool="kustomize",
                      settings=limits(tool_memory_mib=256))
    assert done.returncode == 0 and "kind: Rollout" in done.stdout
    with pytest.raises(ToolError, match=r"^kustomize ran out of memory: a tool may use 64 MiB \(setting tool-memory-mib\): fatal error: ") as err:
        runner.run([kustomize, "build", str(REPO / "overlays/production")], tool="kustomize",
                   settings=limits(tool_memory_mib=64))
    one_line_tool_error(err)


def test_an_alias_bomb_in_an_overlay_is_stopped_by_the_memory_cap(tmp_path):
    """576 bytes of YAML aliases that kustomize expands: exit 2, one line naming the overlay, in seconds."""
    lines, previous = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'], "a0"
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{','.join(['*' + previous] * 9)}]")
        previous = f"a{i}"
    overlay = tmp_path / "bomb"
    overlay.mkdir()
    (overlay / "bomb.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  annotations:\n"
                                       + "".join(f"    {line}\n" for line in lines))
    (overlay / "kustomization.yaml").write_text("resources:\n- bomb.yaml\n")
    env = {**os.environ, "GITOPS_CHECK_TOOL_MEMORY_MIB": "512"}
    started = time.monotonic()
    proc = subprocess.run([str(GITOPS_CHECK), "render", str(overlay)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"gitops-check: error: {overlay}: kustomize ran out of memory: a tool may use 512 MiB")


def test_cpu_time_is_capped():
    with pytest.raises(ToolError) as err:
        runner.run([sys.executable, "-c", "while True: pass"], tool="spinner", settings=limits(tool_cpu_seconds=1), timeout=60)
    assert one_line_tool_error(err) == "spinner used more than 1s of CPU time (setting tool-cpu-seconds): stopped it"


def test_output_is_capped(tmp_path):
    pidfile = tmp_path / "pid"
    flood = ["sh", "-c", f"echo $$ > {pidfile}; yes flood"]
    with pytest.raises(ToolError) as err:
        runner.run(flood, tool="flood", settings=limits(tool_output_mib=1))
    assert one_line_tool_error(err) == ("flood printed more than 1 MiB on stdout (setting tool-output-mib): "
                                        "its output was too large, stopped it")
    assert_group_gone(wait_for_pid(pidfile))
    with pytest.raises(ToolError, match=r"^flood printed more than 1000 bytes on stderr"):
        runner.run(["sh", "-c", "yes flood >&2"], tool="flood", max_output=1000)


def test_a_missing_or_unusable_binary_is_one_line(tmp_path):
    with pytest.raises(ToolError) as err:
        runner.run([str(tmp_path / "nowhere"), "--version"], tool="conftest")
    assert one_line_tool_error(err) == f"conftest could not run: {tmp_path / 'nowhere'} not found: run `make tools`"
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    with pytest.raises(ToolError, match="is not executable: run `make tools`") as err:
        runner.run([str(plain)], tool="conftest")
    one_line_tool_error(err)


def test_a_tool_killed_by_a_signal_is_a_tool_error():
    with pytest.raises(ToolError) as err:
        runner.run(["sh", "-c", "echo half a report; kill -SEGV $$"], tool="crasher")
    assert one_line_tool_error(err).startswith("crasher was killed by SIGSEGV (it may have run out of memory")


def test_input_output_and_exit_code_come_back_whole():
    payload = "x" * (3 << 20)  # more than a pipe holds: written while the output is read
    done = runner.run([sys.executable, "-c", "import sys; d = sys.stdin.read(); print(len(d)); sys.stderr.write('e'); sys.exit(3)"],
                      tool="echo", input=payload)
    assert (done.returncode, done.stdout, done.stderr) == (3, f"{len(payload)}\n", "e")


def test_tools_get_a_private_home_and_only_the_environment_they_need(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("XDG_DATA_HOME", ".local/share")  # relative: what made conftest panic
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_never_given_to_a_tool")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never/given/either")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.delenv("HOME", raising=False)
    done = runner.run([sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"], tool="env")
    env = json.loads(done.stdout)
    given = {"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "GOMAXPROCS", "HOME", "GOTRACEBACK", "GOMEMLIMIT", "GOGC"}
    assert {k for k in env if not k.startswith("LC_")} <= given, sorted(env)
    assert env["LC_ALL"] == "C.UTF-8" and env["PATH"] == os.environ["PATH"]
    assert env["HOME"].startswith(os.path.join(os.path.realpath(os.environ.get("TMPDIR", "/tmp")), "gitops-check-home-"))
    assert not os.path.exists(env["HOME"])  # removed afterwards
    assert env["GOTRACEBACK"] == "none" and env["GOMEMLIMIT"].endswith("MiB")


def test_conftest_runs_without_home(tmp_path):
    """With HOME unset conftest used to panic (a relative XDG_DATA_HOME); now the run is a normal one."""
    env = {k: v for k, v in os.environ.items() if k != "HOME" and not k.startswith("XDG_")}
    env["XDG_DATA_HOME"] = ".local/share"
    proc = subprocess.run([str(GITOPS_CHECK), "validate", "--offline", str(FIXTURES / "policies" / "WH-POD-001.yaml")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "WH-POD-001" in proc.stdout and "panic" not in proc.stdout + proc.stderr and proc.stderr == ""


# --------------------------------------------------------------------------- one safe line


@pytest.mark.parametrize(
    "text, shown, hidden",
    [
        ("open /x/password=hunter2.yaml: no such file", "open /x/password=***: no such file", SECRET),
        ("token: hunter2-token-value in header", "token: *** in header", SECRET),
        ('{"apiKey": "hunter2"}', '{"apiKey": "***"}', SECRET),
        ("Authorization: Bearer hunter2.abc.def was refused", "Authorization: *** was refused", SECRET),
        ("fetching https://admin:hunter2@git.example.com/repo.git", "fetching https://***@git.example.com/repo.git", SECRET),
        ("key 0123456789abcdef0123456789abcdef0123 leaked", "key *** leaked", "0123456789abcdef"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c end", "jwt *** end", "eyJ"),
        ("-----BEGIN RSA PRIVATE KEY----- MIIEowIBAAKCAQEA", "-----PRIVATE KEY ***-----", "MIIE"),
        ("DB_PASS=hunter2 in the env file", "DB_PASS=*** in the env file", SECRET),
        # kustomize quotes a generator literal it cannot read (a space instead of `=`), and an env file's line
        ("loading KV pairs: literal sources [DB_PASS hunter2]: invalid literal source DB_PASS hunter2, expected key=value",
         "loading KV pairs: literal sources [***]: invalid literal source ***, expected key=value", SECRET),
        ("env source files: [e.env]: line [68 66 61 255 104] has invalid utf8 bytes : DB=\ufffdhunter2",
         "env source files: [e.env]: line [***] has invalid utf8 bytes : ***", SECRET),
    ],
)
def test_credentials_are_redacted(text, shown, hidden):
    assert runner.one_line(text) == shown
    assert hidden not in runner.redact(text)


def test_paths_and_field_paths_are_not_mistaken_for_secrets():
    for text in ("spec/strategy/canary/trafficRouting/istio/virtualService/routes/0: Invalid value",
                 "ValidateRolloutReferencedResources failed for apps/v1/Deployment",
                 "/root/.cache/gitops-check/schemas/crds-4fed486f-k1.34-kv1.37.0-f2/x.json: missing"):
        assert runner.one_line(text) == text


def test_a_go_panic_becomes_its_message():
    stack = ('panic: path in XDG_DATA_HOME is relative: ".local/share"\n\ngoroutine 1 [running]:\n'
             "github.com/tzrikka/xdg.must[...](...)\n\t/root/go/pkg/mod/github.com/tzrikka/xdg@v1.3.2/must.go:41\n"
             "main.main()\n\t/root/go/pkg/mod/github.com/open-policy-agent/conftest@v0.71.1/main.go:11 +0x13\n")
    assert runner.one_line(stack) == 'panic: path in XDG_DATA_HOME is relative: ".local/share"'
    assert runner.one_line("Traceback (most recent call last):\n  File \"x\", line 1\nValueError: bad\n") == "ValueError: bad"


def test_control_characters_and_escapes_are_removed_and_long_lines_cut():
    line = runner.one_line("\x1b[2K\x1b[31mError:\x1b[0m bad\tthing\x07\x00 ::error::forged " + "y" * 5000 + " root cause password=hunter2")
    assert line.startswith("Error: bad thing ::error::forged yyy") and line.endswith("yyy root cause password=***")
    assert len(line) <= 301 and " … " in line
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in line)


def test_kustomize_error_text_is_one_short_redacted_line(tmp_path):
    """kustomize quotes the object it rejects: 160 KB on one line, with a password, a URL with credentials
    and a file named after a password. The user sees one line of about 300 characters, without them."""
    overlay = tmp_path / "leaky"
    overlay.mkdir()
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"annotations": {"a": "y" * 160_000, "zdb": f"postgres://admin:{SECRET}@db:5432/x"}},
           "data": {"password": SECRET}}
    (overlay / "cm.yaml").write_text(json.dumps(obj))
    (overlay / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "kustomization.yaml").write_text(f"resources:\n- password={SECRET}.yaml\n")
    typo = tmp_path / "typo"  # a space instead of `=` in a secretGenerator literal: kustomize quotes it
    typo.mkdir()
    (typo / "kustomization.yaml").write_text(f"secretGenerator:\n- name: db\n  literals: ['DB_PASS {SECRET}']\n")
    for folder in (overlay, missing, typo):
        for args in (["render", str(folder)], ["validate", "--offline", "--format", "json", str(folder)]):
            proc = subprocess.run([str(GITOPS_CHECK), *args], cwd=REPO, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2
            [line] = proc.stderr.splitlines()
            assert line.startswith(f"gitops-check: error: {folder}: kustomize build failed: ") and len(line) < 500
            assert SECRET not in proc.stderr + proc.stdout
            if "json" in args:
                assert json.loads(proc.stdout)["error"] == line.removeprefix("gitops-check: error: ")


# --------------------------------------------------------------------------- no fail-open


def fake_tool(tmp_path: Path, name: str, script: str) -> str:
    path = tmp_path / "fake" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def validate_with(monkeypatch, capsys, fakes: dict[str, str], *paths: str) -> tuple[int, list[str], str]:
    """`gitops-check validate --offline PATHS` in this process, with some pinned tools replaced by fakes."""
    real = toolchain.locate
    monkeypatch.setattr(toolchain, "locate", lambda name, s=None: fakes.get(name) or real(name, s))
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # leave pytest's SIGTERM handler alone
    code = cli.main(["validate", "--offline", *paths])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


def test_rego_eval_printing_no_answer_is_a_tool_error(tmp_path, monkeypatch, capsys):
    """rego-eval exiting 0 without an answer for documents with real policy errors must not pass."""
    fixture = str(FIXTURES / "policies" / "WH-POD-001.yaml")
    silent = fake_tool(tmp_path, "rego-eval", "cat >/dev/null")
    code, err, out = validate_with(monkeypatch, capsys, {"rego-eval": silent}, fixture)
    assert code == 2 and out == ""
    [line] = err
    docs = len(loader.read_file(Path(fixture)))
    assert line.startswith(f"gitops-check: error: rego-eval exited 0 without judging {docs} of {docs} document(s) by package webhook.")
    assert "tests/fixtures/policies/WH-POD-001.yaml" in line


def test_rego_eval_printing_garbage_or_a_panic_is_a_tool_error(tmp_path, monkeypatch, capsys):
    fixture = str(FIXTURES / "policies" / "WH-POD-001.yaml")
    garbage = fake_tool(tmp_path, "rego-eval", "cat >/dev/null; echo '[]'")
    code, err, _ = validate_with(monkeypatch, capsys, {"rego-eval": garbage}, fixture)
    assert code == 2 and err == ["gitops-check: error: rego-eval printed something that is not an answer: []"]
    panic = fake_tool(tmp_path, "rego-eval", "printf 'panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n\\t/x/main.go:11 +0x13\\n' >&2; exit 2")
    code, err, _ = validate_with(monkeypatch, capsys, {"rego-eval": panic}, fixture)
    assert code == 2 and err == ["gitops-check: error: rego-eval failed (exit 2): panic: boom"]


def test_rego_eval_leaving_out_one_package_is_a_tool_error(tmp_path):
    answer = {"index": 0, "results": [], "namespaces": ["webhook.pod"]}
    rego_eval = fake_tool(tmp_path, "rego-eval", f"cat >/dev/null; echo '{json.dumps(answer)}'")
    docs = loader.read_file(FIXTURES / "policies" / "clean" / "services.yaml")[:1]
    ctx = Context(settings.load(), tmp_path)
    ctx.tool = lambda name: rego_eval if name == "rego-eval" else toolchain.locate(name, ctx.settings)
    with pytest.raises(ToolError, match=r"rego-eval exited 0 without judging 1 of 1 document\(s\) by package webhook\.") as err:
        policies.check([Source("x", "file", docs)], ctx)
    one_line_tool_error(err)


def test_promtool_exiting_0_silently_is_a_tool_error(tmp_path, monkeypatch, capsys):
    """promtool must say `SUCCESS: N rules found` (or FAILED) for every rule file, else its findings would vanish."""
    fixture = str(FIXTURES / "promql" / "broken-rule.yaml")
    silent = fake_tool(tmp_path, "promtool", "exit 0")
    code, err, out = validate_with(monkeypatch, capsys, {"promtool": silent}, fixture)
    assert code == 2 and out == ""
    [line] = err
    assert line.startswith("gitops-check: error: promtool check rules exited 0 without a verdict on 1 of 1 rule file(s)")
    wrong_count = fake_tool(tmp_path, "promtool", 'for f in "$@"; do case "$f" in *.yaml) printf "Checking %s\\n  SUCCESS: 1 rules found\\n\\n" "$f";; esac; done')
    code, err, _ = validate_with(monkeypatch, capsys, {"promtool": wrong_count}, fixture)
    assert code == 2 and len(err) == 1
    assert "promtool check rules found 1 rule(s) in the rules of" in err[0] and "were written" in err[0]


def test_rollouts_validate_panicking_is_one_line(tmp_path):
    panic = fake_tool(tmp_path, "rollouts-validate", "cat >/dev/null; printf 'panic: runtime error: index out of range\\n\\ngoroutine 1 [running]:\\nmain.main()\\n' >&2; exit 2")
    docs = loader.read_file(FIXTURES / "policies" / "clean" / "rollout.yaml")
    with pytest.raises(ToolError) as err:
        rollouts.run(panic, [Source("x", "file", docs)])
    assert one_line_tool_error(err) == "rollouts-validate failed (exit 2): panic: runtime error: index out of range"


# --------------------------------------------------------------------------- batches


def test_batches_fit_the_command_line_and_keep_every_item_once():
    items = [f"/tmp/gitops-check-x/docs/{n:05d}.json" for n in range(60_000)]
    fixed = ["conftest", "test", "-o", "json"]
    batches = runner.batches(fixed, items, max_items=5000)
    assert [i for b in batches for i in b] == items
    assert all(len(b) <= 5000 for b in batches)
    assert all(sum(len(a) + 9 for a in fixed + b) <= runner.ARG_BYTES for b in batches)
    assert len(runner.batches(fixed, items[:3])) == 1


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_validation_stops_the_tools_its_stages_wait_on(tmp_path, monkeypatch, interruption):
    """Ctrl-C or SIGTERM while the stages' threads wait on tools: the run ends at once, not at the tools' timeout."""
    pidfile = tmp_path / "pid"
    monkeypatch.setattr(rollouts, "check", lambda sources, ctx: runner.run(two_sleepers(pidfile), tool="sleeper", timeout=60))

    def interrupt(signum, frame):
        raise interruption()

    previous = signal.signal(signal.SIGALRM, interrupt)
    started = time.monotonic()
    try:
        with pytest.raises(interruption):
            signal.setitimer(signal.ITIMER_REAL, 2.0)
            from gitops_check import pipeline

            pipeline.run([str(REPO / "overlays/staging")], dataclasses.replace(settings.load(), offline=True))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 20
    assert_group_gone(wait_for_pid(pidfile))


def test_a_failed_run_starts_no_tool_while_its_threads_finish(tmp_path):
    """A thread about to start a tool when the run fails: refused, instead of the run waiting for it."""
    pidfile = tmp_path / "pid"
    refused: list[str] = []

    def late() -> None:
        time.sleep(0.5)
        try:
            runner.run(two_sleepers(pidfile), tool="sleeper", timeout=60)
        except ToolError as exc:
            refused.append(str(exc))

    started = time.monotonic()
    with pytest.raises(RuntimeError):
        with ThreadPoolExecutor(max_workers=1) as pool, runner.stop_on_failure(pool):
            pool.submit(late)
            raise RuntimeError("a stage failed")
    assert time.monotonic() - started < 10
    assert refused == ["sleeper was not started: the run is stopping"] and not pidfile.exists()
    assert runner.run(["true"], tool="true").returncode == 0  # the next run starts tools again


def test_a_stage_error_stops_the_tools_other_stages_wait_on(tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setattr(rollouts, "check", lambda sources, ctx: runner.run(two_sleepers(pidfile), tool="sleeper", timeout=60))

    def fails(sources, ctx):
        wait_for_pid(pidfile)
        raise ToolError("rego-eval failed (exit 2): a broken policy")

    monkeypatch.setattr(policies, "check", fails)
    started = time.monotonic()
    with pytest.raises(ToolError, match="a broken policy"):
        from gitops_check import pipeline

        pipeline.run([str(REPO / "overlays/staging")], dataclasses.replace(settings.load(), offline=True))
    assert time.monotonic() - started < 20
    assert_group_gone(wait_for_pid(pidfile))


@pytest.mark.parametrize("key, raw", [("TOOL_TIMEOUT_SECONDS", "1e6"), ("TOOL_TIMEOUT_SECONDS", "inf"),
                                      ("TOOL_MEMORY_MIB", "1e9"), ("TOOL_OUTPUT_MIB", "nan")])
def test_a_limit_cannot_be_set_so_high_it_stops_bounding(monkeypatch, key, raw):
    """1e6 seconds turned the tool timeout off; 1e9 and inf overflowed into an internal error."""
    monkeypatch.setenv(f"GITOPS_CHECK_{key}", raw)
    most = settings.LIMIT_MAXIMA[key.lower().replace("_", "-")]
    settings._load.cache_clear()  # the settings are read once per repository and process
    try:
        with pytest.raises(InputError, match=rf"^GITOPS_CHECK_{key} must be a positive (whole )?number of at most {most}, not '{raw}'$"):
            settings.load()
        monkeypatch.setenv(f"GITOPS_CHECK_{key}", str(most))
        assert settings.load()
    finally:
        settings._load.cache_clear()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_ends_while_a_stage_still_computes(sig, code):
    """A stage computing in Python (no tool to stop) kept an interrupted run alive until it finished: the interpreter
    joins every worker thread at exit. The program now leaves at once."""
    program = ("import sys, time\nfrom gitops_check import cli, rollouts\n"
               "def busy(sources, ctx):\n    end = time.monotonic() + 120\n    while time.monotonic() < end:\n        pass\n"
               "rollouts.check = busy\nprint('started', flush=True)\n"
               "sys.argv = ['gitops-check', 'validate', '--offline', '--no-cache', 'overlays/staging']\nsys.exit(cli.main())\n")
    proc = subprocess.Popen([sys.executable, "-c", program], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(3)  # the stages are running: rollouts' busy loop among them
    started = time.monotonic()
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == code and time.monotonic() - started < 5


@pytest.mark.parametrize("allocate, out_of_memory", [(200, True), (0, False)])
def test_a_go_fault_near_the_memory_cap_is_the_cap(allocate, out_of_memory):
    """Go sometimes meets RLIMIT_DATA as a fatal SIGSEGV rather than "out of memory" (the alias bomb in kustomize, one
    run in five): after half the cap or more it is reported as the cap; a fault well below it stays the tool's."""
    fake = ("import sys\nheld = bytearray(%d * 1024 * 1024)\nheld[::4096] = b'x' * len(held[::4096])\n"
            "sys.stderr.write('SIGSEGV: segmentation violation\\nPC=0x0 m=0 sigcode=1\\n')\nsys.exit(2)\n" % allocate)
    command = [sys.executable, "-c", fake]
    if out_of_memory:
        with pytest.raises(ToolError, match=r"^fake ran out of memory: a tool may use 256 MiB \(setting tool-memory-mib\): "
                                            r"it faulted \(SIGSEGV\) after using \d+ MiB$"):
            runner.run(command, tool="fake", settings=limits(tool_memory_mib=256))
    else:
        assert runner.run(command, tool="fake", settings=limits(tool_memory_mib=256)).returncode == 2


def test_the_harness_own_memory_is_not_counted_as_the_tools():
    """A child's ru_maxrss starts at the memory of the process it was forked from: with the harness at 200 MiB, a
    tool that faults after using almost nothing is not reported as out of memory (CI met it at 129 MiB)."""
    held = bytearray(200 << 20)
    held[::4096] = b"x" * len(held[::4096])  # resident, not only reserved
    fake = "import sys\nsys.stderr.write('SIGSEGV: segmentation violation\\nPC=0x0 m=0 sigcode=1\\n')\nsys.exit(2)\n"
    assert runner.run([sys.executable, "-c", fake], tool="fake", settings=limits(tool_memory_mib=256)).returncode == 2
    del held


def test_context_once_computes_once_for_every_thread(tmp_path):
    """Context.once: the first caller computes, concurrent callers wait for the same answer or exception."""
    from gitops_check.context import Context

    ctx, calls, gate = Context(settings.load(), tmp_path), [], threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return object()

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = [pool.submit(ctx.once, "k", slow) for _ in range(4)]
        gate.set()
        assert len({id(a.result(timeout=10)) for a in answers}) == 1 and calls == [1]

    def failing():
        calls.append(2)
        raise ToolError("tool broke")

    for _ in range(2):
        with pytest.raises(ToolError, match="broke"):
            ctx.once("bad", failing)
    assert calls == [1, 2]

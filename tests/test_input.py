"""Untrusted and malformed input: one test per input class of issue 11. Each bad input ends in exit 2 with one
line on stderr naming the file (and line), `{"error": ...}` on stdout under --format json, within a time
bound; nothing crashes, hangs or is skipped silently. The loader's meaning of a document is what kubectl and
Argo CD see (sigs.k8s.io/yaml): dates stay strings, merge keys follow YAML's override rule."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO
from gitops_check import loader, pipeline
from gitops_check import settings as gc_settings

INPUT = FIXTURES / "input"


def run_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, **kwargs)


def assert_bad_input(path, expected: str, seconds: float = 20, **kwargs) -> str:
    """Exit 2, one stderr line naming the file and saying `expected`, the same as JSON under --format json,
    each run within `seconds`. Returns the line."""
    started = time.monotonic()
    proc = run_cli("validate", "--offline", str(path), **kwargs)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr + proc.stdout[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitops-check: error: "), proc.stderr
    assert "internal error" not in lines[0] and "Traceback" not in proc.stderr
    assert os.path.basename(str(path)) in lines[0] and expected in lines[0], lines[0]
    assert took < seconds, f"{took:.1f}s"
    as_json = run_cli("validate", "--offline", str(path), "--format", "json", **kwargs)
    assert as_json.returncode == 2
    error = json.loads(as_json.stdout)["error"]
    assert os.path.basename(str(path)) in error and expected in error
    return lines[0]


def input_error_in_child(imports: str, call: str, arg: Path) -> subprocess.CompletedProcess:
    """CALL (Python, given `arg`) in a child process, which a crash (SIGSEGV) or a hang cannot take the test run
    down with; the child prints the InputError it raised, if any."""
    code = (f"import sys; from pathlib import Path; {imports}\nfrom gitops_check.errors import InputError\n"
            f"arg = Path(sys.argv[1])\ntry:\n    {call}\nexcept InputError as exc:\n    print(exc)\n")
    return subprocess.run([sys.executable, "-c", code, str(arg)], capture_output=True, text=True, cwd=REPO, timeout=60)


# --------------------------------------------------------------------------- the loader's limits


def test_alias_bomb_is_refused_in_seconds():
    line = assert_bad_input(INPUT / "alias-bomb.yaml", "refused as a YAML alias bomb", seconds=10)
    assert "alias-bomb.yaml:12:" in line  # the alias that crossed the budget


def test_an_alias_inside_its_own_anchor_is_refused():
    assert_bad_input(INPUT / "recursive-alias.yaml", "recursive-alias.yaml:6: invalid YAML: alias *self refers to the node that contains it")


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_deep_nesting_is_refused(tmp_path, depth):
    # 200,000 levels overflow the C stack of libyaml's own (recursive) composer: the process would die
    path = tmp_path / f"deep-{depth}.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: " + "[" * depth + "]" * depth + "\n")
    assert_bad_input(path, f"deep-{depth}.yaml:6: nesting deeper than {loader.MAX_DEPTH} levels: refused", seconds=10)


def test_a_deep_waivers_file_is_refused_too(tmp_path):
    """waivers.yaml goes through PyYAML (its dates and lines) after the same checks: its recursive C composer
    killed the process with SIGSEGV at this depth."""
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers: " + "[" * 200_000 + "]" * 200_000 + "\n")
    proc = run_cli("validate", "--offline", str(INPUT / "valid-configmap.yaml"), "--waivers", str(waivers))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"gitops-check: error: {waivers}:1: invalid YAML: nesting deeper than {loader.MAX_DEPTH} levels: refused"


def test_a_deep_kustomization_is_refused_not_a_crash(tmp_path):
    """The walk before kustomize composes kustomizations with libyaml, whose recursive composer overflowed the C
    stack here: the process died with SIGSEGV, no message."""
    overlay = tmp_path / "deep-overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: " + "[" * 200_000 + "]" * 200_000 + "\n")
    assert_bad_input(overlay, f"kustomization.yaml:1: invalid YAML: nesting deeper than {loader.MAX_DEPTH} levels: refused",
                     seconds=10)


def test_a_deep_inline_plugin_config_is_refused_not_a_crash(tmp_path):
    overlay = tmp_path / "inline-overlay"
    overlay.mkdir()
    deep = "[" * 200_000 + "]" * 200_000
    (overlay / "kustomization.yaml").write_text(f"transformers:\n- |-\n  kind: X\n  x: {deep}\n")
    assert_bad_input(overlay, f"inline YAML refused: nesting deeper than {loader.MAX_DEPTH} levels: refused", seconds=10)


def test_a_kustomization_that_is_a_fifo_is_refused_at_once(tmp_path):
    """Reading a FIFO waits for a writer that never comes: the walk before kustomize hung on this one."""
    overlay = tmp_path / "fifo-overlay"
    (overlay / "sub").mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources:\n- sub\n")
    os.mkfifo(overlay / "sub" / "kustomization.yaml")
    assert_bad_input(overlay, "kustomization.yaml: not a regular file", seconds=10)


def test_a_deep_data_file_is_refused_not_a_crash(tmp_path):
    """policies/data/params.yaml is the pull request's to edit; read with libyaml, it gets parse()'s limits first."""
    params = tmp_path / "data" / "params.yaml"
    params.parent.mkdir()
    params.write_text("params: " + "[" * 200_000 + "]" * 200_000 + "\n")
    proc = input_error_in_child("from gitops_check.references import inputs", "inputs.load_min_replicas(arg)", tmp_path)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.strip() == f"{params}:1: invalid YAML: nesting deeper than {loader.MAX_DEPTH} levels: refused"


def test_nesting_within_the_limit_loads():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx: " + "[" * 90 + "]" * 90 + "\n"
    value = loader.parse(text, "deep.yaml")[0].obj["x"]
    for _ in range(89):
        value = value[0]
    assert value == []


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(loader.MAX_FILE_BYTES + 1)  # sparse: nothing is written, and nothing needs reading
    assert_bad_input(path, "larger than 64 MiB: refused", seconds=10)


# --------------------------------------------------------------------------- what a document means


def test_an_unquoted_date_is_the_string_kubectl_sees():
    proc = run_cli("validate", "--offline", str(INPUT / "timestamp.yaml"))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    data = loader.read_file(INPUT / "timestamp.yaml")[0].obj["data"]
    assert data == {"released": "2024-01-01", "at": "2001-12-14t21:59:43.10-05:00", "spaced": "2001-12-14 21:59:43.10 -5"}


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3), ("true", True), ("yes", True), ("off", False), ("~", None), ("0x1F", 31), ("0o17", 15), ("010", 8),
        ("1_000", 1000), ("3.0", 3), ("1e3", 1000), ("0.5", 0.5), (".5", 0.5), ("-1", -1), ("'3'", "3"),
        ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("1e400", "1e400"), ("0x", "0x"), ("!!str 3", "3"),
        ("!!float 3", 3), ("!custom 3", "3"), ("99999999999999999999", 10**20), ("1e21", 1e21), ("18446744073709551615", 2**64 - 1),
    ],
)
def test_scalars_mean_what_sigs_k8s_io_yaml_reads(text, value):
    """Go's yaml.v2 resolution (kubectl, Argo CD), not PyYAML's: `1:30` is no sexagesimal 90, `1e3` a number,
    a whole float the integer JSON carries, a date a string."""
    got = loader.parse(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nv: {text}\n", "s.yaml")[0].obj["v"]
    assert got == value and type(got) is type(value)


def test_digits_beyond_any_integer_stay_text():
    """Go's ParseInt fails on them (Python's int() refuses 4,300 digits with a ValueError)."""
    for text in ("9" * 5000, "-0x" + "f" * 5000):
        assert loader.parse(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nv: {text}\n", "s.yaml")[0].obj["v"] == text


def test_an_alias_of_the_merge_key_is_its_text():
    obj = loader.parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  &m <<: {a: b}\n  c: *m\n", "m.yaml")[0].obj
    assert obj["data"] == {"a": "b", "c": "<<"}


def test_keys_are_the_strings_json_carries():
    obj = loader.parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  1: a\n  true: b\n  0.5: c\n", "k.yaml")[0].obj
    assert obj["data"] == {"1": "a", "true": "b", "0.5": "c"}


@pytest.mark.parametrize("value", [".inf", "-.Inf", ".nan"])
def test_a_number_json_cannot_carry_is_refused(value):
    with pytest.raises(loader.InputError, match=r"^n\.yaml:1: .*not a JSON number"):
        loader.parse(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nv: {value}\n", "n.yaml")


def test_a_merge_key_overridden_by_an_explicit_key_is_no_duplicate():
    proc = run_cli("validate", "--offline", str(INPUT / "merge-override.yaml"))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert loader.read_file(INPUT / "merge-override.yaml")[0].obj["data"] == {"tier": "override", "team": "webhooks"}


def test_merge_keys_take_the_first_merged_mapping_and_refuse_non_mappings():
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\na: &a {k: 1, a: 1}\nb: &b {k: 2, b: 2}\n"
    assert loader.parse(head + "m:\n  <<: [*a, *b]\n", "m.yaml")[0].obj["m"] == {"k": 1, "a": 1, "b": 2}
    with pytest.raises(loader.InputError, match=r"^m\.yaml:9: invalid YAML: a merge key"):
        loader.parse(head + "s: &s text\nm:\n  <<: *s\n", "m.yaml")


def test_a_genuine_duplicate_key_next_to_a_merge_key_is_still_one():
    assert_bad_input(INPUT / "merge-duplicate.yaml", "merge-duplicate.yaml:11: invalid YAML: duplicate key 'tier' (first at line 10)")


def test_a_complex_mapping_key_is_an_input_error():
    assert_bad_input(INPUT / "complex-key.yaml", "complex-key.yaml:6: invalid YAML: a sequence as a mapping key")


def test_an_unhashable_mapping_key_is_an_input_error():
    assert_bad_input(INPUT / "unhashable-key.yaml", "unhashable-key.yaml:6: invalid YAML: a mapping as a mapping key")


def test_a_null_mapping_key_is_an_input_error():
    with pytest.raises(loader.InputError, match=r"^k\.yaml:6: invalid YAML: a mapping key is null"):
        loader.parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  ~: x\n", "k.yaml")


# --------------------------------------------------------------------------- shapes the stages read


def test_an_analysis_template_whose_spec_is_true():
    assert_bad_input(INPUT / "analysis-spec-true.yaml", "analysis-spec-true.yaml:1: AnalysisTemplate success-rate: spec is a boolean, not a mapping")


def test_a_prometheus_rule_whose_spec_is_a_list():
    assert_bad_input(INPUT / "prometheusrule-spec-list.yaml", "prometheusrule-spec-list.yaml:1: PrometheusRule alerts: spec is a sequence, not a mapping")


# --------------------------------------------------------------------------- files and folders


def test_a_folder_takes_json_and_any_case_of_yaml():
    """evil.json and nested/Upper.YAML are checked like fine.yaml: their privileged Pods are violations."""
    proc = run_cli("validate", "--offline", str(INPUT / "manifest-folder"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    privileged = {v["source"] for v in json.loads(proc.stdout)["violations"] if v["rule"] == "WH-POD-005"}
    assert privileged == {"tests/fixtures/input/manifest-folder/evil.json", "tests/fixtures/input/manifest-folder/nested/Upper.YAML"}


def test_a_broken_symbolic_link_in_a_folder_is_not_skipped(tmp_path):
    (tmp_path / "fine.yaml").write_text((INPUT / "valid-configmap.yaml").read_text())
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    assert_bad_input(tmp_path, "gone.yaml: a broken symbolic link")


def test_a_fifo_is_refused_not_read(tmp_path):
    """Reading a FIFO nobody writes to blocks forever: it is refused from its type, at once."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert_bad_input(fifo, "pipe.yaml: not a regular file", seconds=10)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "pipe.yaml")
    assert_bad_input(folder, "pipe.yaml: not a regular file", seconds=10)


def _without_dac_override():
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so that root, as CI
    runs, is refused a mode-000 folder like any user (the capabilities go at exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_drop_dac() -> bool:
    try:
        return subprocess.run(["true"], preexec_fn=_without_dac_override, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def test_an_unreadable_folder_is_an_input_error_not_a_skip(tmp_path):
    assert _can_drop_dac(), "prctl(PR_CAPBSET_DROP): the test drops root's read-anything capability to make a folder unreadable"
    folder = tmp_path / "manifests"
    (folder / "locked").mkdir(parents=True)
    (folder / "fine.yaml").write_text((INPUT / "valid-configmap.yaml").read_text())
    (folder / "locked" / "evil.yaml").write_text((INPUT / "manifest-folder" / "nested" / "Upper.YAML").read_text())
    (folder / "locked").chmod(0)
    try:
        # the folder as a whole (unreadable subfolder), and the locked folder itself
        assert_bad_input(folder, "locked: cannot read directory: Permission denied", preexec_fn=_without_dac_override)
        assert_bad_input(folder / "locked", "locked", preexec_fn=_without_dac_override)
    finally:
        (folder / "locked").chmod(0o755)


# --------------------------------------------------------------------------- size has no cliff


def test_a_large_stream_of_small_documents(tmp_path):
    """50,000 small documents in one file (the issue's 50 MB file had 51,870): each becomes an object of the
    run, and no tool's command line overflows. In-process and without the policies stage, which needs about
    4 ms per document (conftest; 3.5 minutes for all of these, measured): the CLI's contract is the same path."""
    path = tmp_path / "many.yaml"
    doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\ndata:\n  key: value-{n}\n"
    path.write_text("".join(doc.format(n=n) for n in range(50_000)))
    settings = dataclasses.replace(gc_settings.load(), offline=True)
    started = time.monotonic()
    result = pipeline.run([str(path)], settings, stages=("lint", "schemas", "references", "promql", "rollouts"))
    took = time.monotonic() - started
    assert len(result.sources[0].documents) == 50_000 and result.exit_code in (0, 1)
    assert took < 60, f"{took:.0f}s"


def test_a_regular_expression_in_a_query_is_matched_in_linear_time():
    """A PromQL =~ matcher in an AnalysisTemplate is the pull request's to write: Python's re backtracked on this one
    for minutes, holding every thread. RE2 matches it as Prometheus does, and says nothing on stderr about a bad one."""
    code = ("from gitops_check.promql_ast import Matcher\nfrom gitops_check.references.measured import _selects\n"
            "print(_selects(Matcher('destination_workload', '=~', '(.|.)*Z'), 'webhook-service-canary', 'webhook-service-production'))\n"
            "print(_selects(Matcher('destination_workload', '=~', 'webhook-service-canary.*'), 'webhook-service-canary', 'ns'))\n"
            "print(_selects(Matcher('destination_workload', '=~', '('), 'webhook-service-canary', 'ns'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert (proc.stdout.split(), proc.stderr) == (["False", "True", "False"], "")


def test_a_dashboard_query_full_of_unfinished_variables_is_scanned_in_linear_time():
    """A dashboard is the pull request's to write: 240 KB of "${a:" took 84 s (every "${" rescanned the rest)."""
    code = ("from gitops_check import grafana\nfrom gitops_check.loader import Expansion\n"
            "text = '${a:' * 60000\n"
            "print(grafana._substitute(text, {'a': 'x'}, Expansion('t')) == text,\n"
            "      grafana._substitute('${a:csv} [[a]] $a', {'a': 'x'}, Expansion('t')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert proc.stdout.strip() == "True x x x", proc.stderr[-500:]


def test_a_query_too_deep_for_the_json_reader_is_refused_not_a_crash():
    """Prometheus parses "(" 1,500 times or "up+" 2,000 times; the tree's JSON overflowed Python's reader ("internal
    error", exit 2). Such a query is refused: the stages raise one line naming its object (a skip passed it)."""
    from gitops_check import promql_ast, toolchain

    binary = toolchain.locate("promql-ast", gc_settings.load())
    parsed = promql_ast.parse({"deep": "(" * 1500 + "up" + ")" * 1500, "long": "+".join(["up"] * 2000), "ok": "up"}, binary)
    assert parsed["ok"].tree is not None
    for name in ("deep", "long"):
        assert parsed[name].tree is None and parsed[name].refused and "nested deeper than the harness reads" in parsed[name].error


def test_a_value_under_a_wrong_tag_is_refused_without_being_shown(tmp_path):
    """A Secret's value with a tag it does not fit was echoed in the error line, for the CI log."""
    secret = tmp_path / "secret.yaml"
    secret.write_text('apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: !!int "Sup3rS3cretDbPassw0rd"\n')
    line = assert_bad_input(secret, "secret.yaml:6: invalid YAML: the value is not a !!int (not shown: it may be a secret)")
    assert "Sup3r" not in line


@pytest.mark.parametrize("make, expected", [
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.write_bytes(b"params:\n  token: AKIA-not-shown \xff\n"), "cannot read: not UTF-8 (byte 32)"),
])
def test_a_data_file_that_is_no_text_file_is_one_line_naming_it(tmp_path, make, expected):
    """policies/data/params.yaml as a FIFO hung the references stage for good; as bytes that are not UTF-8, the
    error line carried the repr of every byte of the file."""
    params = tmp_path / "data" / "params.yaml"
    params.parent.mkdir()
    make(params)
    proc = input_error_in_child("from gitops_check.references import inputs", "inputs.load_min_replicas(arg)", tmp_path)
    assert proc.stdout.strip() == f"{params}: {expected}" + (": expected a YAML or JSON manifest file" if "regular" in expected else "")
    assert "AKIA" not in proc.stdout + proc.stderr


def test_a_deep_crd_is_refused_not_a_crash(tmp_path):
    """CRD files are named by crds.lock, a pull request's to change (outside the judge, which takes the base's): libyaml's
    recursive composer killed the process on this one when the schemas were built."""
    crd = tmp_path / "evil-crd.yaml"
    crd.write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nx: " + "[" * 30_000 + "]" * 30_000 + "\n")
    proc = input_error_in_child("from gitops_check.schemas import crds", "crds.load([arg])", crd)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(f"{crd}: locked CRD is not valid YAML: ") and "nesting deeper than 100 levels" in proc.stdout


@contextlib.contextmanager
def deep_folder(folder: Path, levels: int):
    """FOLDER with LEVELS folders nested in it (a/a/a/...), made and removed one level at a time: pathlib's
    mkdir(parents=True) recurses per level, and so does pytest's own clean-up of old temp folders (shutil.rmtree),
    which would fail on it runs later."""
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY)
    for _ in range(levels):
        os.mkdir("a", dir_fd=fd)
        fd, parent = os.open("a", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    os.close(fd)
    try:
        yield folder
    finally:
        top, n = folder, 0
        while (top / "a").is_dir():
            n += 1
            os.rename(top / "a", folder.parent / f"level-{n}")
            os.rmdir(top)
            top = folder.parent / f"level-{n}"
        os.rmdir(top)


def test_a_folder_target_nested_too_deep_is_one_line(tmp_path):
    """A directory under overlays/ without a kustomization is a folder of manifests; os.walk recursed once per level."""
    with deep_folder(tmp_path / "deep-folder", 1100) as folder:
        assert_bad_input(folder, "deep-folder: folders nested more than 1000 levels deep: refused", seconds=20)


# --------------------------------------------------------------------------- the policies folder


def policies_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(REPO / "policies", copy)
    return copy


def test_a_policy_file_that_is_a_fifo_is_one_line(tmp_path):
    """A .rego FIFO hung the run: the harness read it for its package, then conftest's loader would have."""
    policies = policies_copy(tmp_path)
    os.mkfifo(policies / "lib" / "evil.rego")
    proc = input_error_in_child("from gitops_check import policies", "policies.judged_packages(arg)", policies)
    assert proc.stdout.strip() == f"{policies / 'lib' / 'evil.rego'}: not a regular file: the policies folder holds only policy and data files"
    env = {**os.environ, "GITOPS_CHECK_POLICIES_DIR": str(policies)}
    proc = run_cli("validate", "--offline", str(FIXTURES / "policies" / "WH-POD-001.yaml"), env=env, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().endswith("evil.rego: not a regular file: the policies folder holds only policy and data files"), proc.stderr


def test_a_policies_folder_nested_too_deep_is_one_line(tmp_path):
    """pathlib's rglob recurses once per level: 1,100 folders under policies/ were an internal error."""
    policies = policies_copy(tmp_path)
    with deep_folder(policies / "deep", 1100):
        proc = input_error_in_child("from gitops_check import policies", "policies.rule_table(arg)", policies)
    assert proc.stdout.strip() == f"{policies}: folders nested more than 1000 levels deep: refused", proc.stderr[-500:]


def test_a_policy_linked_to_the_environment_shows_no_secret(tmp_path):
    """Tools got the whole CI environment: a policy that is a link to /proc/self/environ put its variables in
    rego-eval's error line. Such a link is refused now (it leaves the policies folder), and tools get only PATH, the
    locale, the time zone and TMPDIR of the environment (tests/test_runner.py)."""
    policies = policies_copy(tmp_path)
    (policies / "environ.rego").symlink_to("/proc/self/environ")
    env = {**os.environ, "GITOPS_CHECK_POLICIES_DIR": str(policies), "DEPLOY_KEY": "ZZsecretZZ", "GH_AUTH": "YYsecretYY"}
    proc = run_cli("validate", "--offline", str(FIXTURES / "policies" / "WH-POD-001.yaml"), env=env, timeout=120)
    assert proc.returncode == 2 and "environ.rego: a symbolic link out of the policies folder: refused" in proc.stderr, proc.stderr
    assert "secretZZ" not in proc.stdout + proc.stderr and "secretYY" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- values a stage computes with
# Found by a red-team pass: each ran for minutes, ran out of memory or was an internal error.

_ROLLOUT_WITH_ANALYSIS = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: t}}
spec:
  metrics:
    - name: m
      interval: 30s
      count: {count}
      provider: {{prometheus: {{address: "http://p:9090", query: up}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: r}}
spec:
  selector: {{matchLabels: {{app: r}}}}
  strategy:
    canary:
      steps: [{{setWeight: 10}}, {{analysis: {{templates: [{{templateName: t}}]}}}}, {{setWeight: 100}}]
  template:
    metadata: {{labels: {{app: r}}}}
    spec: {{containers: [{{name: c, image: "nginx:1.0"}}]}}
"""
_DEPLOYMENT = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: d}}\n"
               "  template:\n    metadata: {labels: {app: d}}\n    spec: {containers: [{name: c, image: 'nginx:1.0'%s}]}\n")


def _pdb(value: str) -> str:
    return (_DEPLOYMENT % "" + f"---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: p}}\n"
            f"spec:\n  minAvailable: \"{value}\"\n  selector: {{matchLabels: {{app: d}}}}\n")


def _monitor(interval: str) -> str:
    return ("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm}\nspec:\n"
            f"  selector: {{matchLabels: {{app: x}}}}\n  endpoints: [{{port: http, interval: \"{interval}\"}}]\n---\n"
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: pr}\nspec:\n"
            "  groups: [{name: g, rules: [{alert: A, expr: 'rate(http_requests_total[5m]) > 1'}]}]\n")


def _dashboard(board: dict) -> str:
    board = {"title": "t", "panels": [{"title": "p", "targets": [{"refId": "A", "expr": 'up{job="$job"}'}]}], **board}
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dash", "labels": {"grafana_dashboard": "1"}},
                       "data": {"d.json": json.dumps(board)}})


def _appset(elements: int, placeholders: int, size: int) -> str:
    others = "".join("      - v: *big\n" for _ in range(elements - 1))
    return ("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n  generators:\n"
            f"    - list:\n        elements:\n          - v: &big \"{'x' * size}\"\n{others.replace('      -', '          -')}"
            "  template:\n    metadata: {name: app}\n    spec:\n      project: default\n      source:\n"
            "        repoURL: https://example.com/r.git\n        path: overlays/staging\n"
            f"        plugin: {{name: \"{'{{v}}' * placeholders}\"}}\n"
            "      destination: {server: 'https://kubernetes.default.svc', namespace: webhook-service}\n")


def _arg_bomb(placeholders: int, size: int) -> str:
    query = 'sum(up{job="' + "{{args.a}}" * placeholders + '"})'
    return ("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n"
            f"  args: [{{name: a, value: \"{'x' * size}\"}}]\n  metrics:\n    - name: m\n      interval: 30s\n"
            f"      successCondition: result[0] > 0\n      provider: {{prometheus: {{address: 'http://p:9090', query: '{query}'}}}}\n")


def _deep_flags() -> str:
    flags = '{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": ' + "[" * 900 + "]" * 900 + "}"
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags"}, "data": {"flags.json": flags}})


@pytest.mark.parametrize("content, codes, expected", [
    # a list of `count` measurements: 24 GB and the OOM killer; 5,000 digits: Python's int() limit
    (_ROLLOUT_WITH_ANALYSIS.format(count=2 ** 63 - 1), (0, 1), ""),
    (_ROLLOUT_WITH_ANALYSIS.format(count='"' + "9" * 5000 + '"'), (0, 1), ""),
    # str.isdigit() is true of "²", which int() refuses; 400 digits overflowed a float
    (_pdb("²"), (0, 1), ""),
    (_pdb("1" + "0" * 400 + "%"), (0, 1), ""),
    ((_DEPLOYMENT % ", envFrom: [{configMapRef: {name: cfg}}]") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"
     "data:\n  config.yaml: |\n    db: {host: db.example.com, port: \"²\"}\n---\napiVersion: networking.k8s.io/v1\n"
     "kind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}, policyTypes: [Egress]}\n", (0, 1), ""),
    (_monitor("1" + "0" * 400 + "ms"), (0, 1), ""),
    (_monitor("9" * 4299 + "y"), (0, 1), ""),
    (_dashboard({"templating": {"list": 5}}), (0, 1), ""),
    (_dashboard({"templating": {"list": [{"name": "job", "options": 7}]}}), (0, 1), ""),
    # one 100 kB value in 1,000 placeholders for 300 list elements: over 120 s
    (_appset(300, 1000, 100_000), (2,), "ApplicationSet/s: its placeholders add more than 1,048,576 characters: refused"),
    # a 200 kB arg in 1,000 placeholders: 20 s and 2.9 GB
    (_arg_bomb(1000, 200_000), (2,), "AnalysisTemplate/t metric 'm': its placeholders add more than 1,048,576 characters"),
    # a flag file too deep to parse was skipped in silence
    (_deep_flags(), (1,), "WH-FLAG-001"),
    # found by a type-confusion pass: a pause of 2^55 s before a 1ns metric made a float correction loop count 4e9
    # times; a Job metric without a deadline passed infinity to math.ceil; 25,000 steps were quadratic (minutes)
    (_ROLLOUT_WITH_ANALYSIS.replace("interval: 30s", "interval: 1ns").replace("steps: [", "steps: [{{pause: {{duration: 36028797018963968}}}}, ")
     .format(count=20_000), (0, 1), ""),
    (_ROLLOUT_WITH_ANALYSIS.replace('provider: {{prometheus: {{address: "http://p:9090", query: up}}}}',
                                    "provider: {{job: {{spec: {{template: {{spec: {{restartPolicy: Never, containers: [{{name: c, image: x}}]}}}}}}}}}}")
     .format(count=20_000), (0, 1), ""),
    (_ROLLOUT_WITH_ANALYSIS.replace("{{setWeight: 10}}, ", "{{setWeight: 10}}, " + "{{pause: {{}}}}, " * 20_000).format(count=3),
     (0, 1), ""),
    # a number where a list of SNI hosts goes; (0-1)^0.5 is a complex number in Python (NaN in Go); 5,000 digits
    # in an ingress-nginx annotation (an int, and a CIDR's mask)
    ("apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: vs, namespace: ns}\nspec:\n  hosts: [svc]\n"
     "  tls: [{match: [{port: 443, sniHosts: 7}], route: [{destination: {host: stable}}]}]\n---\n"
     "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, namespace: ns}\nspec:\n  selector: {matchLabels: {app: r}}\n"
     "  strategy: {canary: {canaryService: canary, stableService: stable, trafficRouting: {istio: {virtualService: "
     "{name: vs, tlsRoutes: [{port: 443, sniHosts: 5}]}}}}}\n"
     "  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: c, image: x}]}}\n", (0, 1), ""),
    ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: pr, namespace: ns}\nspec:\n  groups:\n"
     "    - name: g\n      rules: [{record: 'x:q', expr: 'histogram_quantile((0-1)^0.5, sum by (le) (rate(x_bucket[5m])))'}]\n",
     (0, 1), ""),
    *[("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ing\n  namespace: ns\n  annotations:\n"
       f"    nginx.ingress.kubernetes.io/{key}: \"{value}\"\nspec: {{ingressClassName: nginx, rules: [{{host: a.example.com}}]}}\n",
       (0, 1), "") for key, value in (("limit-rpm", "1" * 5000), ("denylist-source-range", "10.0.0.0/" + "1" * 5000),
                                      ("limit-rpm", "0" * 5000 + "1"), ("denylist-source-range", "10.0.0.0/" + "0" * 5000 + "8"))],
    # int() counts leading zeros against its 4,300 digits, Go does not: a count, a pause
    (_ROLLOUT_WITH_ANALYSIS.format(count='"' + "0" * 5000 + '3"'), (0, 1), ""),
    (_ROLLOUT_WITH_ANALYSIS.replace("{{setWeight: 10}}, ", "{{setWeight: 10}}, {{pause: {{duration: " + "0" * 5000 + "1}}}}, ")
     .format(count=3), (0, 1), ""),
])
def test_values_a_stage_computes_with_are_bounded(tmp_path, content, codes, expected):
    path = tmp_path / "input.yaml"
    path.write_text(content)
    started = time.monotonic()
    proc = run_cli("validate", "--offline", "--no-cache", str(path), timeout=60)
    assert proc.returncode in codes and "internal error" not in proc.stderr, proc.stderr[-600:]
    assert time.monotonic() - started < 20
    assert expected in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-600:]


@pytest.mark.parametrize("make, expected", [
    (lambda p: p.write_text(_WAIVER + "    expires: 2024-02-30\n"), "waivers.yaml:8: invalid YAML: not a valid date (not shown)"),
    (lambda p: p.write_text(_WAIVER.replace("name: x", "name: " + "9" * 5000)),
     "waivers.yaml:4: invalid YAML: an integer longer than 100 characters: refused"),
    (lambda p: p.write_text(_WAIVER.replace("name: x", "name: 1" + ":59" * 450_000)),  # base 60: 47 s
     "waivers.yaml:4: invalid YAML: an integer longer than 100 characters: refused"),
    (lambda p: p.mkdir(), "waivers.yaml: a directory"),
    (lambda p: os.mkfifo(p), "waivers.yaml: not a regular file"),  # hung for good
])
def test_a_waivers_file_the_pull_request_breaks_is_one_line(tmp_path, make, expected):
    waivers = tmp_path / "waivers.yaml"
    make(waivers)
    started = time.monotonic()
    proc = run_cli("validate", "--offline", "--no-cache", "--waivers", str(waivers),
                   str(FIXTURES / "policies" / "WH-POD-001.yaml"), timeout=60)
    assert proc.returncode == 2 and time.monotonic() - started < 20
    assert proc.stderr.strip().startswith("gitops-check: error: ") and expected in proc.stderr and "internal" not in proc.stderr


_WAIVER = "waivers:\n  - rule: WH-REF-001\n    kind: Service\n    name: x\n    source: overlays/production\n    reason: r\n    approved-by: me\n"


# --------------------------------------------------------------------------- what the tools choked on
# Found by a red-team pass of the Go tools: a fail-open, a run at its timeout, tool errors for valid input.

def _deep_rule(expr: str) -> str:
    return json.dumps({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "ns"},
                       "spec": {"groups": [{"name": "g", "rules": [{"record": "job:foo:rate10s", "expr": expr}]}]}})


def _template_fan(levels: int, fan: int, cycle: bool = False) -> str:
    service = lambda name: {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"},  # noqa: E731
                            "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}}
    docs = [service("stable"), service("canary")]
    for i in range(levels):
        last = i == levels - 1
        spec = {"templates": [{"templateName": f"t{i + 1}"}] * fan} if not last else \
            {"metrics": [{"name": "m", "interval": "30s", "successCondition": "result[0] >= 0.99",
                          "provider": {"prometheus": {"address": "http://p:9090", "query": "sum(up)"}}}]}
        if last and cycle:
            spec["templates"] = [{"templateName": "t0"}]
        docs.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": f"t{i}", "namespace": "ns"},
                     "spec": spec})
    docs.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "ns"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        "strategy": {"canary": {"canaryService": "canary", "stableService": "stable", "steps": [{"setWeight": 10}],
                                "analysis": {"templates": [{"templateName": "t0"}]}}}}})
    return "\n---\n".join(json.dumps(d) for d in docs)


@pytest.mark.parametrize("content, code, expected", [
    # 1,200 parentheses made the tree too deep to read; the query was then skipped as promtool's to report, and
    # promtool accepts it: WH-PROM-007 (and WH-REF-045 on an analysis query) disappeared, exit 0
    (_deep_rule("sum(rate(foo_total[10s])) + 0 * " + "(" * 1200 + "1" + ")" * 1200), 2,
     'PrometheusRule/ns/r: group "g", record "job:foo:rate10s": the PromQL expression is nested deeper than the harness reads'),
    # promql-ast's converter is quadratic on a long chain (160 kB: 196 s)
    (_deep_rule("+".join(["a"] * 9000)), 2, "the PromQL expression is longer than 16,384 characters: refused"),
    # U+0085 (NEL) in a string, which str.splitlines() splits JSON lines on: "printed something that is not a result"
    (_deep_rule('sum(rate(foo_total{job="a\u0085b"}[5m]))'), 0, "PASS"),
    (json.dumps({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "app", "namespace": "argocd"},
                 "spec": {"project": "default", "source": {"repoURL": "https://example.com/org/repo\u0085.git", "targetRevision": "HEAD",
                                                           "path": "overlays/staging"},
                          "destination": {"server": "https://kubernetes.default.svc", "namespace": "ns"}}}), 1, "WH-ARGO-004"),
    # twelve templates each naming the next ten times: rollouts-validate expanded 10^11 references until its timeout
    (_template_fan(12, 10), 1, "WH-"),
    (_template_fan(3, 2, cycle=True), 1, "analysis templates refer to each other in a cycle"),
    # an arg named twice made a Rego function conflict, which failed the policies of every document in the run
    (json.dumps({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "success-rate", "namespace": "ns"},
                 "spec": {"args": [{"name": "min", "value": "0.999"}, {"name": "min", "value": "0.5"}],
                          "metrics": [{"name": "success-rate", "interval": "30s", "successCondition": "result[0] >= {{args.min}}",
                                       "provider": {"prometheus": {"address": "http://prometheus:9090",
                                                                   "query": 'sum(rate(x_total{svc="a"}[2m]))'}}}]}}), 1, "WH-ANA-002"),
])
def test_input_the_tools_choked_on_is_judged(tmp_path, content, code, expected):
    path = tmp_path / "input.yaml"
    path.write_text(content)
    started = time.monotonic()
    proc = run_cli("validate", "--offline", "--no-cache", str(path), timeout=120)
    assert time.monotonic() - started < 30
    assert proc.returncode == code and "printed something" not in proc.stderr, (proc.stdout + proc.stderr)[-800:]
    assert expected in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-800:]


def test_a_kustomization_in_the_repository_cannot_name_a_folder_outside_it(tmp_path):
    """`resources: [../../../../../work/main/overlays/staging]` built and passed: the verdict depended on what else
    was on the CI host. (A kustomization outside the repository, given on the command line, may name the repository.)"""
    proc = run_cli("validate", "--offline", "--no-cache", str(INPUT / "escaping-overlay"))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "gitops-check: error: tests/fixtures/input/escaping-overlay/kustomization.yaml:5: resources entry "
        "'../../../../../outside-the-repository' leads out of the repository: refused"), proc.stderr


def test_a_dashboard_variable_expanding_too_far_names_its_configmap(tmp_path):
    board = {"templating": {"list": [{"name": "job", "current": {"value": "x" * 100_000}}]},
             "panels": [{"title": "p", "targets": [{"refId": "A", "expr": "+".join(['up{job="$job"}'] * 20)}]}]}
    path = tmp_path / "dash.yaml"
    path.write_text(_dashboard(board))
    proc = run_cli("validate", "--offline", "--no-cache", str(path))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f'gitops-check: error: {path}: ConfigMap/dash: dashboard "t" (d.json), panel "p", query A: '
        "its placeholders add more than 1,048,576 characters: refused"), proc.stderr


def test_a_policy_linked_out_of_the_policies_folder_is_refused(tmp_path):
    """/proc/<the harness's pid>/environ is a regular file: linked in as a policy, rego-eval's error line would show
    the harness's own environment (the tools' is allow-listed, the harness's is the CI's)."""
    policies = policies_copy(tmp_path)
    outside = tmp_path / "outside.rego"
    outside.write_text("package webhook.outside\n")
    (policies / "linked.rego").symlink_to(outside)
    proc = input_error_in_child("from gitops_check import policies", "policies.judged_packages(arg)", policies)
    assert proc.stdout.strip() == f"{policies / 'linked.rego'}: a symbolic link out of the policies folder: refused"


def test_a_legit_application_set_with_many_elements_is_judged():
    """The expansion budget counted the template's own text once per element: 150 elements of a template with
    6.5 kB of Helm values were refused. It counts what the placeholders add."""
    from gitops_check import argocdsync
    from gitops_check.model import Document

    values = "".join(f"key{i}: value-for-{{{{cluster}}}}-{i}\n" for i in range(200))
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s", "namespace": "argocd"},
              "spec": {"generators": [{"list": {"elements": [{"cluster": f"c{n}"} for n in range(300)]}}],
                       "template": {"metadata": {"name": "app-{{cluster}}"}, "spec": {"project": "default", "source": {
                           "repoURL": "https://example.com/r.git", "path": "overlays/staging", "helm": {"values": values}},
                           "destination": {"name": "{{cluster}}", "namespace": "webhook-service"}}}}}
    assert len(values) > 6000
    apps = list(argocdsync.applications([Document(appset, "appset.yaml")]))
    assert len(apps) == 300 and apps[-1].meta["name"] == "app-c299"

"""Cache integrity: a damaged prepared schema or built tool is a cache problem, never a manifest violation.

Every test works on a copy of the cache (GITOPS_CHECK_CACHE_DIR, or Settings.cache_dir in process): the
prepared schema folders are copied, tools are folders of symlinks to the real binaries (plus their
manifest), except kubeconform, which is copied so it can be damaged and rebuilt. A damaged entry stops
`validate` with exit 2 and one line naming the folder and `make tools`; `gitops-check prepare` and the
tools step (both run by `make tools`) rebuild it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO
from gitops_check import schemas, settings, toolchain
from gitops_check.errors import ToolError
from gitops_check.schemas import cache, flagd

VALID = str(FIXTURES / "input" / "valid-configmap.yaml")


@pytest.fixture
def cache_copy(tmp_path):
    """A cache of our own: copies of the prepared schemas and of kubeconform, symlinks to the other tools."""
    real = settings.load()
    prepared = schemas.prepare(real)  # built (or verified) in the real cache first
    copy = tmp_path / "cache"
    for folder in (prepared.kubernetes_dir, prepared.crds_dir, flagd.load(real).folder):
        shutil.copytree(folder, copy / "schemas" / folder.name)  # copy2: sizes and mtimes kept
    for name, tool in real.tools.items():
        source, target = real.tool_dir(name), copy / real.tool_dir(name).relative_to(real.cache_dir)
        if not source.is_dir():
            continue
        target.mkdir(parents=True)
        if name == "kubeconform":
            shutil.copy2(source / "kubeconform", target / "kubeconform")
        else:
            for binary in tool.binaries:
                (target / binary).symlink_to(source / binary)
        shutil.copy2(source / toolchain.MANIFEST, target / toolchain.MANIFEST)
    if (real.cache_dir / "seeds").is_dir():
        (copy / "seeds").symlink_to(real.cache_dir / "seeds")  # `prepare` also checks the control plane's seed
    return copy


def in_copy(copy: Path) -> settings.Settings:
    return dataclasses.replace(settings.load(), cache_dir=copy)


def run_cli(copy: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GITOPS_CHECK_CACHE_DIR=str(copy), **(env or {}))
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitops-check: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "WH-" not in proc.stderr + proc.stdout  # no finding about the manifests
    return lines[0]


def kubernetes_folder(copy: Path) -> Path:
    return next((copy / "schemas").glob("kubernetes-*"))


def crds_folder(copy: Path) -> Path:
    return next((copy / "schemas").glob("crds-*"))


# --------------------------------------------------------------------------- prepared schemas


def test_a_truncated_prepared_schema_is_one_line_cache_problem_and_prepare_repairs_it(cache_copy):
    damaged = crds_folder(cache_copy) / "argoproj.io" / "rollout_v1alpha1.json"
    damaged.write_bytes(damaged.read_bytes()[:100])
    proc = run_cli(cache_copy, "validate", "--offline", VALID)
    line = one_line(proc)
    assert f"schema cache damaged: {crds_folder(cache_copy)}: argoproj.io/rollout_v1alpha1.json is 100 bytes" in line
    assert line.endswith("run `make tools` to rebuild it") and proc.stdout == ""
    as_json = run_cli(cache_copy, "validate", "--offline", "--format", "json", VALID)
    assert "schema cache damaged" in json.loads(as_json.stdout)["error"] and as_json.returncode == 2

    repaired = run_cli(cache_copy, "prepare")  # what `make tools` runs
    assert repaired.returncode == 0, repaired.stderr
    assert cache.damage(crds_folder(cache_copy), full=True) is None
    assert not [p for p in (cache_copy / "schemas").iterdir() if ".tmp-" in p.name or ".damaged-" in p.name]
    proc = run_cli(cache_copy, "validate", "--offline", VALID)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _truncate(folder: Path) -> str:
    path = folder / "apps" / "deployment-apps-v1.json"
    path.write_bytes(path.read_bytes()[:-10])
    return "apps/deployment-apps-v1.json is "


def _delete(folder: Path) -> str:
    (folder / "v1" / "service-v1.json").unlink()
    return "v1/service-v1.json is missing"


def _rewrite_same_size(folder: Path) -> str:
    path = folder / "v1" / "configmap-v1.json"
    data = bytearray(path.read_bytes())
    data[data.index(b'"additionalProperties":false')] = ord(" ")  # same size, not the same schema
    path.write_bytes(bytes(data))
    return "v1/configmap-v1.json has sha256 "


def _add_file(folder: Path) -> str:
    (folder / "example.com").mkdir()
    (folder / "example.com" / "widget-example-v1.json").write_text("{}")  # a schema that accepts anything
    return "example.com/widget-example-v1.json was added after the build"


def _break_marker(folder: Path) -> str:
    (folder / cache.MARKER).write_text('{"schemas": [')
    return "its marker .complete is unreadable or has no integrity manifest"


@pytest.mark.parametrize("damage", [_truncate, _delete, _rewrite_same_size, _add_file, _break_marker])
def test_every_kind_of_schema_damage_is_detected_at_use(cache_copy, damage):
    folder = kubernetes_folder(cache_copy)
    expected = damage(folder)
    with pytest.raises(ToolError) as caught:
        schemas.prepare(in_copy(cache_copy))
    message = str(caught.value)
    assert message.startswith(f"schema cache damaged: {folder}: {expected}") and "\n" not in message
    assert message.endswith(": run `make tools` to rebuild it")


def test_a_copied_cache_with_new_mtimes_is_verified_by_sha256_once(cache_copy):
    folder = kubernetes_folder(cache_copy)
    path = folder / "v1" / "configmap-v1.json"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # as `cp -r` without -p
    assert cache.damage(folder) is None  # same bytes: accepted...
    recorded = json.loads((folder / cache.MARKER).read_text())["files"]["v1/configmap-v1.json"]
    assert recorded[1] == path.stat().st_mtime_ns  # ...and recorded, so the next run takes the fast path


def test_verifying_the_prepared_schemas_is_cheap(cache_copy):
    import time

    s = in_copy(cache_copy)
    schemas.prepare(s)
    started = time.perf_counter()
    for _ in range(5):
        schemas.prepare(s)
    assert (time.perf_counter() - started) / 5 < 0.1  # measured ~10 ms (of which ~3 ms the manifest check)


# --------------------------------------------------------------------------- built tools


def _module_cache() -> Path:
    out = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, timeout=60).stdout.strip()
    return Path(out) / "cache" / "download"


def test_a_corrupted_tool_binary_is_one_line_cache_problem_and_the_tools_step_rebuilds_it(cache_copy, monkeypatch):
    tool = settings.load().tools["kubeconform"]
    folder = in_copy(cache_copy).tool_dir("kubeconform")
    binary = folder / "kubeconform"
    with open(binary, "r+b") as f:
        f.truncate(binary.stat().st_size // 2)
    line = one_line(run_cli(cache_copy, "validate", "--offline", VALID))
    assert f"tool cache damaged: {folder}: kubeconform is " in line and "(truncated or overwritten)" in line
    assert line.endswith("run `make tools` to rebuild it")

    # The tools step of `make tools` for this tool (toolchain.install runs it for each pinned tool), offline:
    # the Go module proxy is the local module cache, so no network is reached.
    zip_file = _module_cache() / "github.com" / "yannh" / "kubeconform" / "@v" / f"{tool.version}.zip"
    if zip_file.is_file():  # else (a module cache emptied since make tools) the Go module proxy serves it
        monkeypatch.setenv("GOPROXY", f"file://{_module_cache()}")
        monkeypatch.setenv("GOSUMDB", "off")
    said = toolchain._go_build(in_copy(cache_copy), "kubeconform")
    assert said.startswith(f"kubeconform {tool.version}: built into {folder} (the cached build was damaged: kubeconform is "), said
    assert toolchain.damage(folder, ("kubeconform",), full=True) is None
    proc = run_cli(cache_copy, "validate", "--offline", VALID)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_binary_rewritten_in_place_is_detected_by_its_sha256(cache_copy):
    folder = in_copy(cache_copy).tool_dir("kubeconform")
    with open(folder / "kubeconform", "r+b") as f:
        f.seek(4096)
        f.write(b"\0" * 16)  # same size, new mtime
    with pytest.raises(ToolError, match=r"^tool cache damaged: .*kubeconform has sha256 .* \(modified\): run `make tools`"):
        toolchain.locate("kubeconform", in_copy(cache_copy))


def test_a_build_without_manifest_is_checked_and_recorded_by_the_tools_step_without_a_rebuild(cache_copy):
    s = in_copy(cache_copy)
    folder = s.tool_dir("kubeconform")
    (folder / toolchain.MANIFEST).unlink()  # as built before manifests existed
    with pytest.raises(ToolError, match=r"^tool cache unverified: .*no integrity manifest.*run `make tools`"):
        toolchain.locate("kubeconform", s)
    assert toolchain._adopt(folder, s.tools["kubeconform"])  # `go version -m`: the pinned module and version
    assert toolchain.locate("kubeconform", s) == str(folder / "kubeconform")


def test_a_truncated_build_without_manifest_is_not_adopted(cache_copy):
    s = in_copy(cache_copy)
    folder = s.tool_dir("kubeconform")
    (folder / toolchain.MANIFEST).unlink()
    with open(folder / "kubeconform", "r+b") as f:
        f.truncate(1 << 20)
    assert not toolchain._adopt(folder, s.tools["kubeconform"])  # so the tools step rebuilds it
    assert not (folder / toolchain.MANIFEST).exists()


def test_every_cached_tool_has_a_manifest_that_matches():
    s = settings.load()
    for name, tool in s.tools.items():
        if s.tool_dir(name).is_dir():
            assert toolchain.damage(s.tool_dir(name), tool.binaries) is None, name

"""The pinned toolchain: built once per tool and version outside the clone, found again without a rebuild."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from gitops_check import settings, toolchain
from gitops_check.errors import ToolError


def test_every_go_tool_is_found_in_the_versioned_cache_without_a_rebuild():
    s = settings.load()
    lines = toolchain.install(s)  # `make tools` ran before the tests: this must be a no-op
    assert not [l for l in lines if "built into" in l], lines
    for name, tool in s.tools.items():
        for binary in tool.binaries:
            path = toolchain.locate(binary, s)
            assert tool.version in path or toolchain._pinned_build(path, tool.module, tool.version), path


def test_the_cache_lives_outside_the_clone():
    s = settings.load()
    assert not s.cache_dir.resolve().is_relative_to(s.repo_root)


def test_a_version_that_is_not_built_is_a_clear_tool_error(tmp_path, monkeypatch):
    s = settings.load()
    monkeypatch.setenv("PATH", str(tmp_path))
    other = dataclasses.replace(s, cache_dir=tmp_path)
    with pytest.raises(ToolError, match=r"^kubeconform v\S+ not found in .*: run `make tools`$"):
        toolchain.locate("kubeconform", other)


def test_a_binary_on_path_is_used_only_at_the_pinned_version(tmp_path, monkeypatch):
    s = settings.load()
    real = toolchain.locate("kustomize", s)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kustomize").symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + ":" + "/usr/local/go/bin:/usr/bin:/bin")
    pinned = dataclasses.replace(s, cache_dir=tmp_path / "empty-cache")
    assert toolchain.locate("kustomize", pinned) == str(tmp_path / "bin" / "kustomize")
    other = dataclasses.replace(pinned, tools={**s.tools, "kustomize": dataclasses.replace(s.tools["kustomize"], version="v5.0.0")})
    with pytest.raises(ToolError):
        toolchain.locate("kustomize", other)


def test_the_control_plane_is_built_at_the_pinned_kubernetes_version():
    s = settings.load()
    assert s.tools["kubernetes"].version == "v" + s.kubernetes_version
    out = subprocess.run([toolchain.locate("kube-apiserver", s), "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"Kubernetes v{s.kubernetes_version}"
    etcd = subprocess.run([toolchain.locate("etcd", s), "--version"], capture_output=True, text=True, timeout=30).stdout
    # etcd at the version the pinned k8s.io/kubernetes requires in its own go.mod
    built_from = s.tool_dir("kubernetes") / "go.mod"
    required = re.search(r"go\.etcd\.io/etcd/server/v3 (v\S+)", built_from.read_text()).group(1)
    assert f"etcd Version: {required.lstrip('v')}" in etcd


def test_the_wrapper_go_mod_replaces_every_staging_module_with_its_published_version():
    tool = settings.load().tools["kubernetes"]
    upstream = "module k8s.io/kubernetes\n\ngo 1.24.0\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n" \
               "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n"
    gomod = toolchain.wrapper_go_mod(tool, upstream)
    assert f"require k8s.io/kubernetes {tool.version}" in gomod and "go 1.24.0" in gomod
    published = "v0." + tool.version.split(".", 1)[1]
    assert f"\tk8s.io/api => k8s.io/api {published}" in gomod
    assert f"\tk8s.io/client-go => k8s.io/client-go {published}" in gomod
    assert "github.com/x/y" not in gomod  # only local-path replaces are rewritten


def test_argo_rollouts_is_pinned_at_the_version_of_the_locked_rollout_crds():
    s = settings.load()
    lock = (s.repo_root / "crds.lock").read_text()
    locked = re.search(r"argoproj/argo-rollouts/(v[\d.]+)/manifests/crds/rollout-crd\.yaml", lock).group(1)
    assert s.tools["argo-rollouts"].version == locked


def test_a_change_to_a_wrapper_is_a_new_cache_key(tmp_path):
    import shutil

    tool = settings.load().tools["argo-rollouts"]
    copy = tmp_path / "wrapper"
    shutil.copytree(tool.wrapper, copy)
    assert settings.wrapper_key(copy) == tool.source_key and tool.source_key in str(settings.load().tool_dir("argo-rollouts"))
    (copy / "cmd" / "rollouts-validate" / "rollouts-validate").write_bytes(b"\x7fELF a stray local build")
    assert settings.wrapper_key(copy) == tool.source_key  # not a source: no rebuild
    (copy / "cmd" / "rollouts-validate" / "main.go").write_text("package main\n")
    assert settings.wrapper_key(copy) != tool.source_key

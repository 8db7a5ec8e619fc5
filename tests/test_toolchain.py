"""The pinned toolchain: built once per tool and version outside the clone, found again without a rebuild."""

from __future__ import annotations

import dataclasses

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

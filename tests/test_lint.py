"""The lint stage: yamllint over the sources an overlay is built from, not over rendered output."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, REPO
from gitops_check import lint, pipeline, settings


def lint_overlay(tmp_path):
    # a copy outside the repository: .yamllint ignores tests/fixtures/lint/ so `make lint` stays green
    shutil.copytree(FIXTURES / "lint" / "overlay", tmp_path / "overlay")
    return pipeline.run([str(tmp_path / "overlay")], settings.load(), stages=("lint",))


def test_yamllint_errors_and_warnings_in_overlay_sources_are_reported_with_file_and_line(tmp_path):
    found = {(v.rule, v.source.rsplit("/", 1)[-1]) for v in lint_overlay(tmp_path).violations}
    assert ("WH-LINT-001", "configmap.yaml:4") in found  # trailing spaces: an error
    assert ("WH-LINT-002", "configmap.yaml:6") in found  # truthy `yes`: a warning


def test_overlay_sources_follow_resources_components_and_patches():
    files = {p.relative_to(REPO).as_posix() for p in lint.overlay_sources(REPO / "tests" / "overlays" / "header-routing")}
    assert {"overlays/production/kustomization.yaml", "base/rollout.yaml", "components/header-routing/kustomization.yaml"} <= files


def test_rendered_manifest_files_are_not_style_linted(tmp_path):
    rendered = tmp_path / "rendered.yaml"
    long_line = "x" * 300
    rendered.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: long   \ndata:\n  query: {long_line}\n")
    result = pipeline.run([str(rendered)], settings.load(), stages=("lint",))
    assert result.violations == []

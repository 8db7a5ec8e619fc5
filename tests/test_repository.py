"""The repository itself: every overlay, component and Argo CD object is rendered, and all of it is clean."""

from __future__ import annotations

import pytest

from conftest import REPO
from gitops_check import pipeline, settings


@pytest.fixture(scope="module")
def result():
    return pipeline.run([], settings.load())


def test_every_overlay_component_and_argocd_is_rendered(result):
    names = {s.name for s in result.sources}
    assert {"overlays/staging", "overlays/production", "argocd"} <= names
    for component in sorted(p.name for p in (REPO / "components").iterdir() if p.is_dir()):
        overlay = REPO / "tests" / "overlays" / component
        assert f"tests/overlays/{component}" in names, f"component {component} has no test overlay"
        assert f"components/{component}" in (overlay / "kustomization.yaml").read_text()


def test_the_repository_is_clean(result):
    problems = [f"{v.rule} {v.source} {v.ref}: {v.message}" for v in result.errors + result.warnings]
    assert problems == []
    assert result.exit_code == 0


def test_every_stage_ran_over_every_document(result):
    assert set(result.stage_seconds) == set(pipeline.STAGES)
    assert all(d.file is not None for s in result.sources for d in s.documents)
    assert sum(len(s.documents) for s in result.sources) > 40

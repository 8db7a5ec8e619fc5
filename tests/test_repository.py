"""The repository itself: every overlay, component and Argo CD object is rendered, and all of it is clean."""

from __future__ import annotations

import importlib

import pytest

from conftest import REPO
from gitops_check import pipeline, settings


@pytest.fixture(scope="module")
def seen():
    """What each stage was given in a run over the whole repository: stage -> (target names, document ids)."""
    given: dict[str, tuple[list[str], list[int]]] = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in pipeline.STAGES:
            module = importlib.import_module(f"gitops_check.{name}")

            def spy(sources, ctx, check=module.check, name=name):
                given[name] = ([s.name for s in sources], [id(d) for s in sources for d in s.documents])
                return check(sources, ctx)

            mp.setattr(module, "check", spy)
        return pipeline.run([], settings.load()), given


@pytest.fixture(scope="module")
def result(seen):
    return seen[0]


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


def test_every_stage_ran_over_every_document(seen):
    result, given = seen
    assert set(result.stage_seconds) == set(given) == set(pipeline.STAGES)
    targets = [s.name for s in result.sources]
    documents = sorted(id(d) for s in result.sources for d in s.documents)
    assert len(documents) > 40
    for name in pipeline.STAGES:
        names, ids = given[name]
        assert names == targets, name
        if getattr(importlib.import_module(f"gitops_check.{name}"), "READS_DOCUMENTS", True):
            assert sorted(ids) == documents, name
        else:  # lint reads the targets' files; the pipeline starts it before the documents exist
            assert ids == [], name

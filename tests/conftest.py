"""Shared pytest fixtures: the repository's overlays rendered once per session, and fixture loading."""

from __future__ import annotations

import dataclasses
import os
import signal
from functools import lru_cache
from pathlib import Path

import pytest

from gitops_check import controlplane, loader, references, render, settings
from gitops_check.context import Context
from gitops_check.model import Document, Source

# The result cache stays off in tests (and the CLI processes they start): a test's stand-in tools and patched
# stages must run, never a finding cached by another test. tests/test_result_cache.py turns it on, in a folder of its own.
os.environ["GITOPS_CHECK_RESULT_CACHE"] = "off"

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _interrupted(signum, frame):
    raise KeyboardInterrupt()


def pytest_configure(config):
    """SIGTERM (a CI runner cancelling the job) ends the session as Ctrl-C does, so the session's finalizers run:
    pytest otherwise died at once and left its control plane's folder (token, keys, certificates) behind."""
    signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture(scope="session", autouse=True)
def control_plane():
    """One local control plane for the whole session, shared with the CLI subprocesses the tests start
    (GITOPS_CHECK_CLUSTER): a throwaway one tied to this process, so nothing outlives a killed pytest."""
    s = settings.load()
    cp = controlplane.start(s)
    try:
        controlplane.wait_ready(cp)
        controlplane.install_crds(cp, s)
        os.environ[controlplane.SHARED] = str(cp.dir)
        yield cp
    finally:
        os.environ.pop(controlplane.SHARED, None)
        controlplane.stop(cp)


@lru_cache(maxsize=None)
def _render(overlay: str) -> tuple[Document, ...]:
    return tuple(render.documents(REPO / overlay, overlay))


@pytest.fixture(scope="session")
def rendered():
    """rendered("overlays/production") -> the overlay's Documents (kustomize build, cached)."""
    return lambda overlay: list(_render(overlay))


@pytest.fixture(scope="session")
def find():
    """find(docs, kind, name=None) -> the one matching Document (fails the test when absent)."""

    def _find(docs, kind, name=None):
        hits = [d for d in docs if d.kind == kind and (name is None or d.name == name)]
        assert hits, f"no {kind} {name or ''} rendered"
        assert len(hits) == 1, f"{len(hits)} {kind} {name or ''} rendered, expected one"
        return hits[0]

    return _find


@pytest.fixture(scope="session")
def references_ctx(tmp_path_factory):
    """A Context for the references stage with the fixtures' own parameters (tests/fixtures/references/policies:
    replica minimums production 3, staging 2), so the fixtures do not depend on how the repository tunes
    policies/data/params.yaml."""
    fixed = dataclasses.replace(settings.load(), policies_dir=FIXTURES / "references" / "policies")
    return Context(fixed, tmp_path_factory.mktemp("references"))


def check_references(ctx: Context, text_or_docs) -> list:
    """The references stage's violations for one inline source: a YAML text or a list of Documents."""
    docs = loader.parse(text_or_docs, "inline") if isinstance(text_or_docs, str) else list(text_or_docs)
    return references.check([Source("inline", "file", docs)], ctx)

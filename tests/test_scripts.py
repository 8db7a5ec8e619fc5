"""Operational scripts: promotion edits the overlay in place and refuses what production must not run."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO


def load_promote():
    loader = importlib.machinery.SourceFileLoader("promote", str(REPO / "scripts" / "promote"))
    spec = importlib.util.spec_from_loader("promote", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


DIGEST = "sha256:" + "b" * 64
KUSTOMIZATION = """resources:
  - ../../base
images:
  # the service image, pinned by scripts/promote
  - name: ghcr.io/company/webhook-service
    newName: ghcr.io/company/webhook-service
    digest: sha256:{old}
  - name: busybox
    newTag: "1.36"
labels: []
"""


def test_promote_rewrites_only_the_service_image_and_keeps_comments():
    promote = load_promote()
    out = promote.rewrite(KUSTOMIZATION.format(old="a" * 64), DIGEST)
    assert f"    digest: {DIGEST}\n" in out
    assert "a" * 64 not in out
    assert "# the service image, pinned by scripts/promote" in out
    assert '    newTag: "1.36"' in out and "labels: []" in out


def test_promote_to_a_tag_replaces_the_digest():
    out = load_promote().rewrite(KUSTOMIZATION.format(old="a" * 64), "1.9.0")
    assert "    newTag: 1.9.0\n" in out and "digest:" not in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["production", "1.9.0"], "production is pinned by digest"),
        (["staging", "latest"], "is neither a digest"),
        (["qa", DIGEST], "overlays/qa/kustomization.yaml: no such overlay"),
    ],
)
def test_promote_refuses_bad_input_with_exit_2(args, message):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "promote"), *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_production_overlay_pins_the_image_by_digest_where_promote_expects_it():
    text = (REPO / "overlays" / "production" / "kustomization.yaml").read_text()
    assert load_promote().rewrite(text, DIGEST).count(DIGEST) == 1


def test_rollout_script_rejects_unknown_actions_before_touching_a_cluster():
    proc = subprocess.run(["bash", str(REPO / "scripts" / "rollout"), "explode"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rollout: unknown action: explode (status, watch, promote, abort, retry, verify)"

"""Render overlays with the pinned kustomize (the pipeline runs one process per overlay, in parallel)."""

from __future__ import annotations

from pathlib import Path

from . import kustomgraph, loader, runner
from .errors import InputError, ToolError
from .model import Document
from .settings import Settings
from .toolchain import locate

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def is_overlay(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in KUSTOMIZATION_FILES)


def build(overlay: Path, source: str | None = None, settings: Settings | None = None) -> str:
    """`kustomize build OVERLAY`; an overlay that does not build is an InputError with kustomize's message."""
    source = source or str(overlay)
    if not overlay.exists():
        raise InputError(f"{source}: no such file or directory")
    if not is_overlay(overlay):
        raise InputError(f"{source}: not an overlay (no kustomization.yaml)")
    kustomgraph.check(overlay, settings)  # no network: a remote reference is refused before kustomize runs
    kustomize = locate("kustomize", settings)
    try:
        proc = runner.run([kustomize, "build", str(overlay)], tool="kustomize", settings=settings)
    except ToolError as exc:
        raise ToolError(f"{source}: {exc}") from None
    if proc.returncode != 0:
        # kustomize's message can be huge and quote the files it read: one line, cut and redacted
        message = runner.one_line(proc.stderr.replace("Error: ", "", 1), default=f"exit code {proc.returncode}")
        raise InputError(f"{source}: kustomize build failed: {message}")
    return proc.stdout


def documents(overlay: Path, source: str | None = None, settings: Settings | None = None) -> list[Document]:
    """The overlay built and parsed strictly into Documents (what every caller of build() wants)."""
    source = source or str(overlay)
    return loader.parse(build(overlay, source, settings), source)

"""Render overlays with the pinned kustomize, in parallel (one process per overlay)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import InputError
from .settings import Settings, load
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
    kustomize = locate("kustomize", settings)
    proc = subprocess.run([kustomize, "build", str(overlay)], capture_output=True, text=True)
    if proc.returncode != 0:
        message = " ".join(proc.stderr.replace("Error: ", "", 1).split()) or f"exit code {proc.returncode}"
        raise InputError(f"{source}: kustomize build failed: {message}")
    return proc.stdout


def build_all(overlays: list[tuple[Path, str]], settings: Settings | None = None) -> list[str]:
    """Build several overlays at once; results keep the order of `overlays`. The first failure wins."""
    settings = settings or load()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(overlays)))) as pool:
        futures = [pool.submit(build, path, source, settings) for path, source in overlays]
        return [f.result() for f in futures]

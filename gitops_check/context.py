"""What a stage gets besides the rendered sources: settings, a scratch folder and the pinned tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import toolchain
from .settings import Settings

if TYPE_CHECKING:
    from .controlplane import ControlPlane


@dataclass
class Context:
    settings: Settings
    workdir: Path  # scratch folder of this run (the schemas stage writes each document it checks there)
    control_plane: Callable[[], "ControlPlane"] | None = None  # the running control plane (server stage only)

    def tool(self, name: str) -> str:
        """Absolute path of a pinned tool (kustomize, kubeconform, conftest, promtool); ToolError if absent."""
        return toolchain.locate(name, self.settings)

"""What a stage gets besides the rendered sources: settings, a scratch folder and the pinned tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import toolchain
from .settings import Settings


@dataclass
class Context:
    settings: Settings
    workdir: Path  # scratch folder of this run; holds one file per rendered document (Document.file)

    def tool(self, name: str) -> str:
        """Absolute path of a pinned tool (kustomize, kubeconform, conftest, promtool); ToolError if absent."""
        return toolchain.locate(name, self.settings)

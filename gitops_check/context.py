"""What a stage gets besides the rendered sources: settings, a scratch folder and the pinned tools."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import toolchain
from .settings import Settings

if TYPE_CHECKING:
    from .controlplane import ControlPlane


@dataclass
class Context:
    settings: Settings
    workdir: Path  # scratch folder of this run (the schemas stage writes each document it checks there)
    control_plane: Callable[[], "ControlPlane"] | None = None  # the running control plane (server stage only)
    _cells: dict[str, Future] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tool(self, name: str) -> str:
        """Absolute path of a pinned tool (kustomize, kubeconform, conftest, promtool); ToolError if absent."""
        return toolchain.locate(name, self.settings)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """MAKE()'s result, computed once per run by whoever asks for KEY first, the others waiting for it; its
        exception is raised to every caller. A stage's `ahead` hook asks for what needs no document while
        kustomize renders, and its check asks again for the same answer."""
        with self._lock:
            cell = self._cells.get(key)
            mine = cell is None
            if mine:
                cell = self._cells[key] = Future()
        if mine:
            try:
                cell.set_result(make())
            except BaseException as exc:  # noqa: B036 - handed to every caller, raised again by result()
                cell.set_exception(exc)
        return cell.result()

"""Settings: read once from pyproject.toml's [tool.gitops-check], overridable by GITOPS_CHECK_* variables.

pyproject.toml is the single source of truth for tool versions, the target Kubernetes version and the
locations the harness reads (CRDs, SLO file, policies, waivers).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tool:
    name: str
    module: str
    version: str


@dataclass(frozen=True)
class Settings:
    repo_root: Path
    kubernetes_version: str
    crds_dir: Path
    slo_file: Path
    policies_dir: Path
    waivers_file: Path
    targets: tuple[str, ...]
    tools: dict[str, Tool]
    cache_dir: Path

    def display(self, path: Path) -> str:
        """A path as users should read it: relative to the repository when inside it, else as given."""
        try:
            return str(path.resolve().relative_to(self.repo_root))
        except ValueError:
            return str(path)

    def tool_dir(self, name: str) -> Path:
        """Where the pinned build of one Go tool lives: keyed by tool and version, outside the clone."""
        tool = self.tools[name]
        return self.cache_dir / "tools" / name / tool.version


def _cache_home() -> Path:
    explicit = os.environ.get("GITOPS_CHECK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gitops-check"


@lru_cache(maxsize=None)
def load(root: Path = REPO_ROOT) -> Settings:
    pyproject = root / "pyproject.toml"
    try:
        cfg = tomllib.loads(pyproject.read_text())["tool"]["gitops-check"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{pyproject}: cannot read [tool.gitops-check]: {exc}") from None

    def path(env: str, key: str) -> Path:
        value = os.environ.get(env) or cfg[key]
        p = Path(value)
        return (p if p.is_absolute() else root / p).resolve()

    tools = {name: Tool(name, t["module"], t["version"]) for name, t in cfg["tools"].items()}
    return Settings(
        repo_root=root,
        kubernetes_version=os.environ.get("GITOPS_CHECK_KUBERNETES_VERSION") or cfg["kubernetes-version"],
        crds_dir=path("GITOPS_CHECK_CRDS_DIR", "crds-dir"),
        slo_file=path("GITOPS_CHECK_SLO_FILE", "slo-file"),
        policies_dir=path("GITOPS_CHECK_POLICIES_DIR", "policies-dir"),
        waivers_file=path("GITOPS_CHECK_WAIVERS_FILE", "waivers-file"),
        targets=tuple(cfg["targets"]),
        tools=tools,
        cache_dir=_cache_home(),
    )

"""Settings: read once from pyproject.toml's [tool.gitops-check], overridable by GITOPS_CHECK_* variables.

pyproject.toml is the single source of truth for tool versions, the target Kubernetes version and the
locations the harness reads (CRDs, SLO file, policies, waivers).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tool:
    """A pinned Go tool. `build` says how it is made from the Go module proxy:

    - "install": `go install MODULE@VERSION` (the module has no replace directives);
    - "wrapper": a wrapper module (main packages under `wrapper`) that requires MODULE@VERSION; its go.mod
      is generated at build time, replacing MODULE's own local-path replaces with the published versions;
    - "module": `go build` inside MODULE@VERSION's own source tree (its go.mod has replace directives that
      only apply there), with the main packages under `wrapper` added to it.
    """

    name: str
    module: str
    version: str
    build: str = "install"
    commands: tuple[str, ...] = ()  # the binaries it provides (default: one, named like the tool)
    wrapper: Path | None = None  # folder with cmd/<command>/main.go, for "wrapper" and "module" builds
    source_key: str = ""  # the wrapper's content (wrapper_key), part of the cache key

    @property
    def binaries(self) -> tuple[str, ...]:
        return self.commands or (self.name,)


@dataclass(frozen=True)
class Settings:
    repo_root: Path
    kubernetes_version: str
    crds_dir: Path
    slo_file: Path
    policies_dir: Path
    waivers_file: Path
    applications: Path  # the overlay of the Argo CD Applications: how each overlay is synced
    offline: bool  # skip the server stage (no control plane); kubeconform judges schemas instead
    targets: tuple[str, ...]
    tools: dict[str, Tool]
    cache_dir: Path

    def display(self, path: Path) -> str:
        """A path as users should read it: relative to the repository when inside it, else as given."""
        try:
            return str(path.resolve().relative_to(self.repo_root))
        except ValueError:
            return str(path)

    @property
    def kubernetes_minor(self) -> str:
        """"1.34" of "1.34.4": what the offline schemas are keyed by."""
        return ".".join(self.kubernetes_version.split(".")[:2])

    def tool_dir(self, name: str) -> Path:
        """Where the pinned build of one Go tool lives: keyed by tool and version (and, for tools built from a
        wrapper in this repository, by the wrapper's source), outside the clone."""
        tool = self.tools[name]
        return self.cache_dir / "tools" / name / (f"{tool.version}-{tool.source_key}" if tool.source_key else tool.version)


def wrapper_key(folder: Path) -> str:
    """What a wrapper build depends on: its Go sources (not a stray binary or an editor's swap file)."""
    digest = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".go", ".mod", ".sum")):
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


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

    kubernetes_version = os.environ.get("GITOPS_CHECK_KUBERNETES_VERSION") or cfg["kubernetes-version"]

    def tool(name: str, t: dict) -> Tool:
        # The Kubernetes components are built at kubernetes-version: one pin for the clusters' version.
        version = t.get("version") or ("v" + kubernetes_version if t["module"] == "k8s.io/kubernetes" else "")
        if not version:
            raise InputError(f"{pyproject}: [tool.gitops-check.tools.{name}] has no version")
        wrapper = root / t["wrapper"] if t.get("wrapper") else None
        return Tool(
            name, t["module"], version, t.get("build", "install"), tuple(t.get("commands", ())),
            wrapper, wrapper_key(wrapper) if wrapper else "",
        )

    tools = {name: tool(name, t) for name, t in cfg["tools"].items()}
    return Settings(
        repo_root=root,
        kubernetes_version=kubernetes_version,
        crds_dir=path("GITOPS_CHECK_CRDS_DIR", "crds-dir"),
        slo_file=path("GITOPS_CHECK_SLO_FILE", "slo-file"),
        policies_dir=path("GITOPS_CHECK_POLICIES_DIR", "policies-dir"),
        waivers_file=path("GITOPS_CHECK_WAIVERS_FILE", "waivers-file"),
        applications=path("GITOPS_CHECK_APPLICATIONS", "applications"),
        offline=(os.environ.get("GITOPS_CHECK_OFFLINE") or str(cfg.get("offline", False))).lower() in ("1", "true", "yes"),
        targets=tuple(cfg["targets"]),
        tools=tools,
        cache_dir=_cache_home(),
    )

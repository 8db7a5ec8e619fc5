"""Settings: read once from pyproject.toml's [tool.gitops-check], overridable by GITOPS_CHECK_* variables.

pyproject.toml is the single source of truth for tool versions, the target Kubernetes version and the
locations the harness reads (CRDs, SLO file, policies, waivers). It is the pyproject.toml of the repository
under check: `--repo PATH`, else the nearest one with [tool.gitops-check] at or above the working directory.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import InputError


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
class NpmPackage:
    """A pinned npm package the harness reads data from and never runs: `npm pack NAME@VERSION` fetches its
    registry tarball, whose sha256 must be `sha256` (gitops_check.schemas.flagd)."""

    name: str
    version: str
    sha256: str


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
    # The bounds of every tool run during validate, render and plan (gitops_check.runner): wall-clock
    # seconds, memory (RLIMIT_DATA), CPU seconds (RLIMIT_CPU) and output per stream.
    tool_timeout_seconds: float = 300.0
    tool_memory_mib: int = 4096
    tool_cpu_seconds: int = 600
    tool_output_mib: int = 256
    # Where flagd's flag-definition schema comes from ([tool.gitops-check.flagd-schema]); None when unset.
    flagd_schema: NpmPackage | None = None

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


def is_repository(path: Path) -> bool:
    """PATH holds a pyproject.toml with a [tool.gitops-check] table."""
    try:
        cfg = tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    tool = cfg.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("gitops-check"), dict)


def find_root(start: Path | None = None) -> Path:
    """The repository under check: the nearest directory at or above START (default: the working directory)
    whose pyproject.toml has a [tool.gitops-check] table, never the place the package is installed from (one
    clone's virtualenv checks the clone it runs in). The search stops at the top of a Git work tree (a folder
    holding .git) without one: a clone of another project inside the repository does not borrow its settings."""
    try:
        here = (start or Path.cwd()).resolve()
    except OSError as exc:
        raise InputError(f"the working directory is not usable ({exc.strerror}): pass --repo PATH") from None
    for folder in (here, *here.parents):
        if is_repository(folder):
            return folder
        if (folder / ".git").exists():
            break
    raise InputError(f"{here}: not inside a gitops-check repository (no pyproject.toml with [tool.gitops-check] "
                     "here or above): run it from the repository or pass --repo PATH")


def load(root: Path | None = None) -> Settings:
    """The settings of the repository at ROOT (`--repo`), else of the one the working directory is in."""
    if root is None:
        return _load(find_root())
    root = Path(root).resolve()
    if not is_repository(root):
        raise InputError(f"{root}: not a gitops-check repository (no pyproject.toml with [tool.gitops-check])")
    return _load(root)


@lru_cache(maxsize=None)
def _load(root: Path) -> Settings:
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
        **{key.replace("-", "_"): _positive(cfg, key, pyproject) for key in TOOL_LIMITS},
        flagd_schema=_npm_package(cfg, "flagd-schema", pyproject),
    )


def _npm_package(cfg: dict, key: str, pyproject: Path) -> NpmPackage | None:
    """[tool.gitops-check.KEY] as an NpmPackage (package, version, sha256 of the registry tarball), or None."""
    table = cfg.get(key)
    if table is None:
        return None
    where = f"{pyproject}: [tool.gitops-check.{key}]"
    if not isinstance(table, dict):
        raise InputError(f"{where} must be a table with package, version and sha256")
    values = {k: table.get(k) for k in ("package", "version", "sha256")}
    missing = [k for k, v in values.items() if not isinstance(v, str) or not v]
    if missing:
        raise InputError(f"{where} has no {', '.join(missing)}")
    if not re.fullmatch(r"[0-9a-f]{64}", values["sha256"]):
        raise InputError(f"{where} sha256 must be 64 lowercase hex digits (the sha256 of the tarball `npm pack` writes)")
    return NpmPackage(values["package"], values["version"], values["sha256"])


TOOL_LIMITS = ("tool-timeout-seconds", "tool-memory-mib", "tool-cpu-seconds", "tool-output-mib")
# The most each limit may be set to: a limit is a bound, so a huge or infinite value (which turned the timeout off,
# or overflowed into an internal error) is refused. An hour of wall or CPU time, 64 GiB, 4 GiB of output.
LIMIT_MAXIMA = {"tool-timeout-seconds": 3600, "tool-memory-mib": 65536, "tool-cpu-seconds": 3600, "tool-output-mib": 4096}


def _positive(cfg: dict, key: str, pyproject: Path) -> float:
    """A positive number from GITOPS_CHECK_<KEY>, else [tool.gitops-check] KEY, else the Settings default;
    InputError naming where it is wrong."""
    default = Settings.__dataclass_fields__[key.replace("-", "_")].default
    kind = type(default)
    env = "GITOPS_CHECK_" + key.upper().replace("-", "_")
    raw, where = (os.environ[env], env) if os.environ.get(env) else (cfg.get(key, default), f"{pyproject}: {key}")
    most = LIMIT_MAXIMA.get(key, math.inf)
    try:
        value = kind(raw)
        if isinstance(raw, bool) or not 0 < value <= most:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where} must be a positive {'whole ' if kind is int else ''}number"
                         f"{f' of at most {most:g}' if most < math.inf else ''}, not {raw!r}") from None
    return value

"""Install and locate the pinned tools.

Every Go tool is built from the Go module proxy into `<cache>/tools/<name>/<key>/`, outside the clone,
so every clean clone on the machine reuses it (see settings.Tool for the three ways a tool is built):
kustomize, kubeconform and conftest with `go install`; kube-apiserver, kube-controller-manager,
kube-scheduler and etcd through the wrapper module in tools/kubernetes; rollouts-validate inside Argo
Rollouts' own module. A go-install binary already on PATH is used when `go version -m` proves it is the
pinned module version. promtool comes from Debian's `prometheus` package.

Each cache entry holds an integrity manifest (.integrity.json: size, mtime and sha256 of every binary,
written before the entry is published; see gitops_check.integrity). `locate()` checks the binary it
returns against it (one stat, and a sha256 only when the mtime moved): a truncated, rewritten or missing
binary is one ToolError naming the folder and `make tools` (exit 2), never a tool failure blamed on the
manifests under check. `install` (make tools) rebuilds a damaged entry; an entry built before manifests
existed is checked with `go version -m` (the pinned main package) and its manifest recorded, without a
rebuild. `python3 -m gitops_check.toolchain verify` checks every pinned binary's sha256.

Runs with the standard library only: `python3 -m gitops_check.toolchain install` works before the
virtualenv exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import integrity
from .errors import InputError, ToolError
from .settings import Settings, Tool, load

# Debian package -> the programs it must provide (the end-to-end tests run Prometheus itself, the
# control plane needs openssl for its signing key, `gitops-check prepare` fetches the pinned flagd schema
# package with npm: gitops_check/schemas/flagd.py).
APT_PACKAGES = {"prometheus": ("promtool", "prometheus"), "openssl": ("openssl",), "npm": ("npm",)}
APT_TOOLS = {tool: package for package, tools in APT_PACKAGES.items() for tool in tools}
BUILD_TIMEOUT = 3600  # seconds; a cold build of the Kubernetes components takes about 7 minutes on 2 cores
MODULE_TIMEOUT = 900  # seconds for `go mod download` / `go mod tidy`
MANIFEST = ".integrity.json"  # in each tool's cache folder: {"tool", "version", "files": {binary: [size, mtime_ns, sha256]}}
LEGACY = "it has no integrity manifest (built before gitops-check recorded one)"


def _pinned_build(binary: str, module: str, version: str) -> bool:
    """True when `binary` was built from `module@version` (read from the Go build info)."""
    try:
        out = subprocess.run(["go", "version", "-m", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and module.startswith(parts[1]) and parts[2] == version:
            return True
    return False


def _main_package(binary: str, tool: Tool) -> str:
    """The Go main package `binary` is built from, as `go version -m` shows it (its `path` line)."""
    if tool.build == "wrapper":
        return f"gitops-check.local/{tool.name}/cmd/{binary}"
    if tool.build == "module":
        return f"{tool.module}/cmd/{binary}"
    return tool.module


def _built_from(path: Path, binary: str, tool: Tool) -> bool:
    """`go version -m` reads the binary's build info (ELF section headers sit at its end, so a truncated
    file fails) and it names the pinned main package (and, for go install builds, the pinned version)."""
    if tool.build == "install":
        return _pinned_build(str(path), tool.module, tool.version)
    try:
        out = subprocess.run(["go", "version", "-m", str(path)], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(l.split()[:2] == ["path", _main_package(binary, tool)] for l in out.splitlines())


def damage(folder: Path, binaries: tuple[str, ...], full: bool = False) -> str | None:
    """Why the cached tool in `folder` cannot be trusted (a phrase), or None when every binary in
    `binaries` matches the manifest written when it was built."""
    data = integrity.read_json(folder / MANIFEST)
    if data is None:
        return LEGACY if not (folder / MANIFEST).exists() else f"its manifest {MANIFEST} is unreadable"
    files = data.get("files")
    if not isinstance(files, dict) or any(b not in files for b in binaries):
        return f"its manifest {MANIFEST} does not list {', '.join(b for b in binaries if b not in (files or {}))}"
    problem, touched = integrity.check(folder, {b: files[b] for b in binaries}, full=full)
    if problem is None:
        not_executable = [b for b in binaries if not os.access(folder / b, os.X_OK)]
        if not_executable:
            return f"{not_executable[0]} is not executable"
        integrity.refresh(folder, folder / MANIFEST, data, touched)
    return problem


def _write_manifest(folder: Path, tool: Tool) -> None:
    integrity.write_json(folder / MANIFEST, {"tool": tool.name, "version": tool.version,
                                             "files": integrity.record(folder, list(tool.binaries))})


def provider(name: str, settings: Settings) -> Tool:
    """The pinned tool that provides the binary `name` (kube-apiserver -> kubernetes)."""
    for tool in settings.tools.values():
        if name in tool.binaries:
            return tool
    raise ToolError(f"unknown tool {name!r}")


def locate(name: str, settings: Settings | None = None) -> str:
    settings = settings or load()
    if name in APT_TOOLS:
        found = shutil.which(name)
        if not found:
            raise ToolError(f"{name} not found: run `make tools` (installs Debian package {APT_TOOLS[name]})")
        return found
    tool = provider(name, settings)
    folder = settings.tool_dir(tool.name)
    cached = folder / name
    if cached.exists() or (folder / MANIFEST).exists():
        problem = damage(folder, (name,))
        if problem == LEGACY:
            raise ToolError(f"tool cache unverified: {folder}: {problem}: run `make tools` (it checks and records it)")
        if problem:
            raise ToolError(f"tool cache damaged: {folder}: {problem}: {integrity.FIX}")
        return str(cached)
    on_path = shutil.which(name) if tool.build == "install" else None
    if on_path and _pinned_build(on_path, tool.module, tool.version):
        return on_path
    raise ToolError(f"{name} {tool.version} not found in {cached.parent}: run `make tools`")


def _run(cmd: list[str], env: dict, cwd: Path | None, timeout: int, what: str) -> str:
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{what}: no result after {timeout}s") from None
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.strip().splitlines() if not l.startswith("go: downloading")]
        raise ToolError(f"{what} failed: {' / '.join(lines[-3:]) or 'no output'}")
    return proc.stdout


def _download(tool: Tool, env: dict) -> dict:
    """`go mod download -json MODULE@VERSION`: the module's source folder and go.mod, from the proxy."""
    out = _run(["go", "mod", "download", "-json", f"{tool.module}@{tool.version}"], env, None, MODULE_TIMEOUT,
               f"go mod download {tool.module}@{tool.version}")
    info = json.loads(out)
    if info.get("Error"):
        raise ToolError(f"go mod download {tool.module}@{tool.version} failed: {info['Error']}")
    return info


def _ldflags(tool: Tool) -> list[str]:
    """Version stamps upstream's own release builds set, so clients read the right version."""
    if tool.module == "k8s.io/kubernetes":
        major, minor = tool.version.lstrip("v").split(".")[:2]
        pkg = "k8s.io/component-base/version"
        stamps = {"gitVersion": tool.version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    elif tool.module == "github.com/argoproj/argo-rollouts":
        pkg = "github.com/argoproj/argo-rollouts/utils/version"
        stamps = {"version": tool.version, "gitTreeState": "clean"}
    else:
        return []
    return ["-ldflags", "-s -w " + " ".join(f"-X {pkg}.{k}={v}" for k, v in stamps.items())]


def wrapper_go_mod(tool: Tool, upstream_go_mod: str) -> str:
    """The wrapper's go.mod: require MODULE@VERSION and replace each module it replaces with a local path
    (the k8s.io staging modules) by the published version of the same release (v1.34.4 -> v0.34.4)."""
    go = re.search(r"^go (\S+)", upstream_go_mod, re.M)
    local = re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./\S+\s*$", upstream_go_mod, re.M)
    published = "v0." + tool.version.split(".", 1)[1]
    lines = [f"module gitops-check.local/{tool.name}", "", f"go {go.group(1) if go else '1.24'}", "",
             f"require {tool.module} {tool.version}", "", "replace ("]
    lines += [f"\t{m} => {m} {published}" for m in local] + [")", ""]
    return "\n".join(lines)


def _add_commands(tool: Tool, src: Path) -> None:
    for cmd in sorted((tool.wrapper / "cmd").iterdir()):
        if (src / "cmd" / cmd.name).exists():
            raise ToolError(f"{tool.wrapper}/cmd/{cmd.name}: upstream {tool.module} already has a command of that name")
        shutil.copytree(cmd, src / "cmd" / cmd.name)


def _build(settings: Settings, tool: Tool, staging: Path, env: dict) -> None:
    if tool.build == "install":
        _run(["go", "install", f"{tool.module}@{tool.version}"], dict(env, GOBIN=str(staging)), None, BUILD_TIMEOUT,
             f"go install {tool.module}@{tool.version}")
        return
    info = _download(tool, env)
    src = staging / "src"
    if tool.build == "wrapper":
        src.mkdir()
        _add_commands(tool, src)
        (src / "go.mod").write_text(wrapper_go_mod(tool, Path(info["GoMod"]).read_text()))
        _run(["go", "mod", "tidy"], env, src, MODULE_TIMEOUT, f"go mod tidy for {tool.name} {tool.version}")
        packages = ["./cmd/..."]
    elif tool.build == "module":
        top = Path(info["Dir"])
        shutil.copytree(top, src, ignore=lambda d, names: ["docs"] if Path(d) == top else [])  # 11 MB of prose
        for d in [src, *src.rglob("*")]:
            d.chmod(d.stat().st_mode | 0o200)  # the module cache is read-only
        _add_commands(tool, src)
        packages = [f"./cmd/{c}" for c in tool.binaries]
    else:
        raise ToolError(f"{tool.name}: unknown build {tool.build!r} in pyproject.toml")
    _run(["go", "build", "-trimpath", *_ldflags(tool), "-o", str(staging) + "/", *packages], env, src, BUILD_TIMEOUT,
         f"go build of {tool.name} {tool.version}")
    shutil.copy2(src / "go.mod", staging / "go.mod")  # what it was built from, for the curious
    shutil.rmtree(src)


def _adopt(target: Path, tool: Tool) -> bool:
    """An entry built before manifests existed: record its manifest when `go version -m` shows every
    binary is the pinned main package, so it is verified from now on without a rebuild."""
    if (target / MANIFEST).exists() or not all((target / b).is_file() for b in tool.binaries):
        return False
    if not all(_built_from(target / b, b, tool) for b in tool.binaries):
        return False
    _write_manifest(target, tool)
    return True


def _go_build(settings: Settings, name: str) -> str:
    tool = settings.tools[name]
    target = settings.tool_dir(name)
    adopted = _adopt(target, tool)
    try:
        found = [locate(b, settings) for b in tool.binaries]
        how = " (checked, manifest recorded)" if adopted else ""
        if len(found) == 1:
            return f"{name} {tool.version}: {found[0]}{how}"
        return f"{name} {tool.version}: {', '.join(tool.binaries)} in {os.path.dirname(found[0])}{how}"
    except ToolError:
        pass
    problem = damage(target, tool.binaries) if target.is_dir() else None  # rebuilt below; said in the result line
    target.parent.mkdir(parents=True, exist_ok=True)
    # A staging folder of this build's own: two clones building the same tool at once never touch each
    # other's work, and the first to finish publishes (rename); the other keeps that one.
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    env = dict(os.environ, GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"), GOFLAGS="-buildvcs=false")
    try:
        _build(settings, tool, staging, env)
        missing = [b for b in tool.binaries if not (staging / b).is_file()]
        if missing:
            raise ToolError(f"{name} {tool.version}: the build made no {', '.join(missing)}")
        _write_manifest(staging, tool)  # before publishing: an entry is never without its manifest
        if all((target / b).is_file() for b in tool.binaries) and damage(target, tool.binaries) is None:
            return f"{name} {tool.version}: built by another run into {target}"
        shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover or a damaged entry
        try:
            staging.rename(target)  # atomic: a half-built tool is never found by locate()
        except OSError as exc:
            raise ToolError(f"cannot publish {name} {tool.version} into {target}: {exc.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"{name} {tool.version}: built into {target}" + (f" (the cached build was damaged: {problem})" if problem else "")


def _apt_install(package: str) -> str:
    tools = APT_PACKAGES[package]
    if all(shutil.which(t) for t in tools):
        return f"{package}: {', '.join(shutil.which(t) for t in tools)}"
    name = tools[0]
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        raise ToolError(f"{name} missing: install Debian package {package} as root (apt-get install {package})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]):
        proc = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ToolError(f"{' '.join(cmd)} failed: {last}")
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise ToolError(f"{package} installed but {', '.join(missing)} not on PATH")
    return f"{package}: installed from Debian package {package}"


def install(settings: Settings | None = None) -> list[str]:
    settings = settings or load()
    if not shutil.which("go"):
        raise ToolError("Go is not installed: install Go 1.24 or newer (https://go.dev/doc/install) and retry")
    jobs = [lambda n=n: _go_build(settings, n) for n in settings.tools] + [lambda p=p: _apt_install(p) for p in APT_PACKAGES]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def verify_all(settings: Settings) -> int:
    """Every cached pinned binary against its manifest's sha256 (not only size and mtime): 0 when all
    match, 2 naming each damaged entry (`make tools` rebuilds them)."""
    bad = 0
    for name, tool in settings.tools.items():
        folder = settings.tool_dir(name)
        if not folder.is_dir():
            print(f"{name} {tool.version}: not in the cache ({folder})")
            continue
        problem = damage(folder, tool.binaries, full=True)
        bad += problem is not None
        print(f"{name} {tool.version}: " + (f"DAMAGED: {problem}: {integrity.FIX}" if problem else f"sha256 verified ({folder})"))
    return 2 if bad else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        try:
            for line in install():
                print(line)
        except OSError as exc:
            print(f"make tools: {exc}", file=sys.stderr)
            return 2
        except ToolError as exc:
            print(f"make tools: {exc}", file=sys.stderr)
            return 2
        return 0
    if argv[:1] == ["verify"]:
        try:
            return verify_all(load())
        except InputError as exc:  # settings that cannot be read
            print(f"verify: {exc}", file=sys.stderr)
            return 2
    if argv[:1] == ["path"] and len(argv) == 2:
        try:
            print(locate(argv[1]))
        except ToolError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    print("usage: python3 -m gitops_check.toolchain install | verify | path TOOL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

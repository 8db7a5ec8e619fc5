"""Install and locate the pinned tools.

Every Go tool is built from the Go module proxy into `<cache>/tools/<name>/<key>/`, outside the clone,
so every clean clone on the machine reuses it (see settings.Tool for the three ways a tool is built):
kustomize, kubeconform and conftest with `go install`; kube-apiserver, kube-controller-manager,
kube-scheduler and etcd through the wrapper module in tools/kubernetes; rollouts-validate inside Argo
Rollouts' own module. A go-install binary already on PATH is used when `go version -m` proves it is the
pinned module version. promtool comes from Debian's `prometheus` package.

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

from .errors import ToolError
from .settings import Settings, Tool, load

# Debian package -> the programs it must provide (the end-to-end tests run Prometheus itself, the
# control plane needs openssl for its signing key).
APT_PACKAGES = {"prometheus": ("promtool", "prometheus"), "openssl": ("openssl",)}
APT_TOOLS = {tool: package for package, tools in APT_PACKAGES.items() for tool in tools}
BUILD_TIMEOUT = 3600  # seconds; a cold build of the Kubernetes components takes about 7 minutes on 2 cores
MODULE_TIMEOUT = 900  # seconds for `go mod download` / `go mod tidy`


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
    cached = settings.tool_dir(tool.name) / name
    if cached.is_file() and os.access(cached, os.X_OK):
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


def _go_build(settings: Settings, name: str) -> str:
    tool = settings.tools[name]
    try:
        found = [locate(b, settings) for b in tool.binaries]
        if len(found) == 1:
            return f"{name} {tool.version}: {found[0]}"
        return f"{name} {tool.version}: {', '.join(tool.binaries)} in {os.path.dirname(found[0])}"
    except ToolError:
        pass
    target = settings.tool_dir(name)
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
        if all((target / b).is_file() for b in tool.binaries):
            return f"{name} {tool.version}: built by another run into {target}"
        shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover
        try:
            staging.rename(target)  # atomic: a half-built tool is never found by locate()
        except OSError as exc:
            raise ToolError(f"cannot publish {name} {tool.version} into {target}: {exc.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"{name} {tool.version}: built into {target}"


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
    if argv[:1] == ["path"] and len(argv) == 2:
        try:
            print(locate(argv[1]))
        except ToolError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    print("usage: python3 -m gitops_check.toolchain install | path TOOL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

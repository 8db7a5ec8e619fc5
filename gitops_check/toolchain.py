"""Install and locate the pinned tools.

Go tools (kustomize, kubeconform, conftest) are built with `go install MODULE@VERSION` into
`<cache>/tools/<name>/<version>/`, outside the clone, so every clean clone on the machine reuses
them. A binary already on PATH is used when `go version -m` proves it is the pinned module version.
promtool comes from Debian's `prometheus` package.

Runs with the standard library only: `python3 -m gitops_check.toolchain install` works before the
virtualenv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from .errors import ToolError
from .settings import Settings, load

APT_TOOLS = {"promtool": "prometheus"}  # tool -> Debian package


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


def locate(name: str, settings: Settings | None = None) -> str:
    settings = settings or load()
    if name in APT_TOOLS:
        found = shutil.which(name)
        if not found:
            raise ToolError(f"{name} not found: run `make tools` (installs Debian package {APT_TOOLS[name]})")
        return found
    if name not in settings.tools:
        raise ToolError(f"unknown tool {name!r}")
    cached = settings.tool_dir(name) / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    tool = settings.tools[name]
    on_path = shutil.which(name)
    if on_path and _pinned_build(on_path, tool.module, tool.version):
        return on_path
    raise ToolError(f"{name} {tool.version} not found in {cached.parent}: run `make tools`")


def _go_install(settings: Settings, name: str) -> str:
    tool = settings.tools[name]
    try:
        return f"{name} {tool.version}: {locate(name, settings)}"
    except ToolError:
        pass
    target = settings.tool_dir(name)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = dict(os.environ, GOBIN=str(staging), GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"), GOFLAGS="-buildvcs=false")
    proc = subprocess.run(["go", "install", f"{tool.module}@{tool.version}"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"go install {tool.module}@{tool.version} failed: {last}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # atomic: a half-built tool is never found by locate()
    return f"{name} {tool.version}: built into {target}"


def _apt_install(name: str) -> str:
    if shutil.which(name):
        return f"{name}: {shutil.which(name)}"
    package = APT_TOOLS[name]
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        raise ToolError(f"{name} missing: install Debian package {package} as root (apt-get install {package})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]):
        proc = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ToolError(f"{' '.join(cmd)} failed: {last}")
    if not shutil.which(name):
        raise ToolError(f"{package} installed but {name} is not on PATH")
    return f"{name}: installed from Debian package {package}"


def install(settings: Settings | None = None) -> list[str]:
    settings = settings or load()
    if not shutil.which("go"):
        raise ToolError("Go is not installed: install Go 1.24 or newer (https://go.dev/doc/install) and retry")
    jobs = [lambda n=n: _go_install(settings, n) for n in settings.tools] + [lambda n=n: _apt_install(n) for n in APT_TOOLS]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        try:
            for line in install():
                print(line)
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

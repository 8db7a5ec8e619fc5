"""The lint stage: yamllint (in-process, the repository's .yamllint) over the YAML sources of overlays.

An overlay's sources are the files its kustomization tree pulls in (resources, components, patches,
generators), found by walking the kustomizations. A manifest file given directly is usually rendered
output (kustomize, helm): style rules say nothing about it, and its syntax and duplicate keys are
already enforced by the strict loader, so it is not style-linted.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from .context import Context
from .model import Source, Violation
from .render import KUSTOMIZATION_FILES
from .rules import rule

YAMLLINT_ERROR = rule(
    "WH-LINT-001", "error", "lint", "YAML sources pass yamllint (errors)",
    "Syntax and structure problems (duplicate keys, bad indentation, trailing spaces) make diffs and merges unsafe.",
)
YAMLLINT_WARNING = rule(
    "WH-LINT-002", "warning", "lint", "YAML sources pass yamllint (warnings)",
    "Style drift makes reviews harder; fix it while the change is small.",
)

YAML_SUFFIXES = (".yaml", ".yml")


def _kustomization(directory: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                return {}  # kustomize build reports it with its own message
            return data if isinstance(data, dict) else {}
    return {}


def _referenced_paths(k: dict) -> list[str]:
    """Local paths a kustomization names: resources, components, bases and patch/generator files."""
    refs: list[str] = []
    for key in ("resources", "components", "bases", "patchesStrategicMerge", "crds"):
        refs += [r for r in k.get(key) or [] if isinstance(r, str)]
    for patch in (k.get("patches") or []) + (k.get("patchesJson6902") or []):
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            refs.append(patch["path"])
    for gen in (k.get("configMapGenerator") or []) + (k.get("secretGenerator") or []):
        for entry in (gen.get("files") or []) if isinstance(gen, dict) else []:
            refs.append(str(entry).split("=", 1)[-1])
    return [r for r in refs if "://" not in r and not r.startswith("github.com/")]


def overlay_sources(overlay: Path) -> list[Path]:
    """Every YAML file an overlay's kustomization tree reads, each once."""
    seen_dirs: set[Path] = set()
    files: set[Path] = set()

    def walk(directory: Path) -> None:
        directory = directory.resolve()
        if directory in seen_dirs:
            return
        seen_dirs.add(directory)
        for name in KUSTOMIZATION_FILES:
            if (directory / name).is_file():
                files.add(directory / name)
        for ref in _referenced_paths(_kustomization(directory)):
            target = (directory / ref).resolve()
            if target.is_dir():
                walk(target)
            elif target.is_file() and target.suffix in YAML_SUFFIXES:
                files.add(target)

    walk(overlay)
    return sorted(files)



def check(sources: list[Source], ctx: Context) -> list[Violation]:
    root = ctx.settings.repo_root
    config = YamlLintConfig(file=str(root / ".yamllint"))
    files: set[Path] = set()
    for source in sources:
        if source.kind == "overlay":
            files.update(overlay_sources(source.path or Path(source.name)))
    violations = []
    for path in sorted(files):
        shown = ctx.settings.display(path)
        for problem in linter.run(path.read_text(encoding="utf-8"), config, shown):
            r = YAMLLINT_ERROR if problem.level == "error" else YAMLLINT_WARNING
            violations.append(r.at(f"{shown}:{problem.line}", f"{problem.desc} ({problem.rule or 'syntax'}); run `make lint` locally"))
    return violations

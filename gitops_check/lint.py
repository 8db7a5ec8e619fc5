"""The lint stage: yamllint (in-process, the repository's .yamllint) over the YAML sources of overlays.

An overlay's sources are the YAML files its kustomization tree pulls in (resources, components, patches,
generators), found by kustomgraph's walk; a file many overlays share is linted once per run. A manifest file
given directly is usually rendered output (kustomize, helm): style rules say nothing about it, and its syntax
and duplicate keys are already enforced by the strict loader, so it is not style-linted.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from . import kustomgraph, loader
from .context import Context
from .errors import InputError
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
# This stage reads the files the targets' kustomizations name, not what they render to: the pipeline starts it
# while kustomize renders, with sources that hold no documents yet.
READS_DOCUMENTS = False


def _syntax_error(buffer):  # type: ignore[no-untyped-def]
    """yamllint's syntax pass with libyaml first: a buffer libyaml parses has no syntax error to report (most of
    them), and only one it refuses is parsed again by PyYAML, for yamllint's own message and position. The pure
    Python parse was 40 % of the stage. Files that reach kustomize are parsed strictly again anyway."""
    try:
        for _ in yaml.parse(buffer, Loader=_C_LOADER):
            pass
        return None
    except yaml.YAMLError:
        return _PURE_SYNTAX_ERROR(buffer)


_C_LOADER = getattr(yaml, "CBaseLoader", None)
_PURE_SYNTAX_ERROR = linter.get_syntax_error
if _C_LOADER is not None:
    linter.get_syntax_error = _syntax_error


def overlay_sources(overlay: Path, settings=None) -> list[Path]:
    """Every YAML file an overlay's kustomization tree reads, each once: the kustomization files and the YAML
    files they name (kustomgraph.files, the walk that refuses remote references and keys the result cache)."""
    return sorted(p for p in kustomgraph.files(overlay, settings)
                  if (p.name in KUSTOMIZATION_FILES or p.suffix in YAML_SUFFIXES) and p.is_file())


def files_of(source: Source, settings) -> set[str]:
    """The files (as findings name them) the lint stage reads for SOURCE: an overlay's YAML sources."""
    if source.kind != "overlay":
        return set()
    return {settings.display(p) for p in overlay_sources(source.path or Path(source.name), settings)}


BUILTIN_CONFIGS = ("default", "relaxed")  # what yamllint's `extends` may name here: its own presets


def config(root: Path) -> YamlLintConfig:
    """The repository's .yamllint, read alone: yamllint resolves a file that `extends` or `ignore-from-file` names
    against the working directory, and the result cache and `--changed` (which key .yamllint) would not see it
    change, so such a name is refused (one line: move those rules into .yamllint)."""
    path = root / ".yamllint"
    try:
        data = loader.data_file(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file: the lint stage reads the repository's yamllint configuration") from None
    data = data if isinstance(data, dict) else {}
    rules = data.get("rules") if isinstance(data.get("rules"), dict) else {}
    extends = data.get("extends")
    if extends is not None and extends not in BUILTIN_CONFIGS:
        raise InputError(f"{path}: `extends` names something other than yamllint's presets ({', '.join(BUILTIN_CONFIGS)}): "
                         "copy its rules into .yamllint")
    named = [k for k in ("ignore-from-file",) if k in data] + [
        f"rules.{name}.ignore-from-file" for name, rule in rules.items()
        if isinstance(rule, dict) and "ignore-from-file" in rule]
    if named:
        raise InputError(f"{path}: {named[0]} names a file yamllint reads from the working directory: list the patterns "
                         "under `ignore` in .yamllint")
    return YamlLintConfig(file=str(path))


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    root = ctx.settings.repo_root
    config_ = config(root)
    files: set[Path] = set()
    for source in sources:
        if source.kind == "overlay":
            files.update(overlay_sources(source.path or Path(source.name), ctx.settings))
    violations = []
    for path in sorted(files):
        shown = ctx.settings.display(path)
        # Lint runs while kustomize renders, before kustomize refuses what it would not read: the loader's read never
        # blocks (a /proc file a pull request names) and refuses what is too large for yamllint to finish.
        for problem in linter.run(loader.read_text(path, shown), config_, shown):
            r = YAMLLINT_ERROR if problem.level == "error" else YAMLLINT_WARNING
            violations.append(r.at(f"{shown}:{problem.line}", f"{problem.desc} ({problem.rule or 'syntax'}); run `make lint` locally"))
    return violations

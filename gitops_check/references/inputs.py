"""What reference checks read besides the rendered objects, loaded lazily and once per run: the
per-environment replica minimum, the deployment budget from the SLO file, and rendered overlays."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import yaml

from .. import render
from ..context import Context
from ..errors import InputError
from ..model import Document, Source
from .index import STRICTEST_ENVIRONMENT, environment


def params_file(policies_dir: Path) -> Path:
    return policies_dir / "data" / "params.yaml"


def load_min_replicas(policies_dir: Path) -> dict[str, int]:
    """Per-environment minimum replicas, from `params.environments.<env>.minReplicas` in
    policies/data/params.yaml: the file the Rego policies read too, so one number rules both."""
    path = params_file(policies_dir)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        envs = data["params"]["environments"]
        mins = {str(env): int(values["minReplicas"]) for env, values in envs.items()}
    except FileNotFoundError:
        raise InputError(f"{path}: missing; it must define params.environments.<env>.minReplicas") from None
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: cannot read params.environments.<env>.minReplicas: {exc!r}") from None
    if not mins:
        raise InputError(f"{path}: params.environments is empty")
    return mins


def load_deployment_budget(slo_file: Path) -> float:
    """deploymentBudgetSeconds from the SLO file (base/slo.yaml), through gitops_check.slo.load."""
    from .. import slo  # written alongside; imported late so other stages never depend on it

    try:
        return float(slo.load(slo_file)["deploymentBudgetSeconds"])
    except KeyError:
        raise InputError(f"{slo_file}: no deploymentBudgetSeconds") from None


class Inputs:
    """Shared, lazily loaded inputs of one `references` run (a missing file only matters when a check needs it)."""

    def __init__(self, ctx: Context, sources: list[Source] = ()):
        self.ctx = ctx
        self._rendered: dict[Path, list[Document] | InputError] = {}
        # Overlays this run already rendered are reused: no second kustomize process for the same path.
        for source in sources:
            path = Path(source.name)
            path = path if path.is_absolute() else ctx.settings.repo_root / path
            if source.kind == "overlay" and path.is_dir():
                self._rendered[path.resolve()] = source.documents

    @cached_property
    def min_replicas(self) -> dict[str, int]:
        return load_min_replicas(self.ctx.settings.policies_dir)

    @cached_property
    def deployment_budget(self) -> float:
        return load_deployment_budget(self.ctx.settings.slo_file)

    def minimum_for(self, doc: Document) -> tuple[str, int]:
        """(environment, minimum replicas) for an object; an unknown environment gets the strictest minimum."""
        mins = self.min_replicas
        env = environment(doc)
        if env in mins:
            return env, mins[env]
        return STRICTEST_ENVIRONMENT, mins.get(STRICTEST_ENVIRONMENT, max(mins.values()))

    def rendered(self, overlay: Path, shown: str) -> list[Document]:
        """`kustomize build` of an overlay, once per run; raises the InputError of a failed build each time."""
        key = overlay.resolve()
        if key not in self._rendered:
            try:
                self._rendered[key] = render.documents(overlay, shown, self.ctx.settings)
            except InputError as exc:
                self._rendered[key] = exc
        result = self._rendered[key]
        if isinstance(result, InputError):
            raise result
        return result

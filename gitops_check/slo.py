"""The SLO thresholds and the deployment, rollback and recovery budgets, read from the one file that holds them (base/slo.yaml).

kustomize copies the same values into the AnalysisTemplates; the policies get them as `data.slo`, so a
threshold changed in base/slo.yaml moves the canary analysis and the policies that judge it together.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import loader
from .errors import InputError

KEYS = ("successRateMin", "latencyP95MaxSeconds", "deploymentBudgetSeconds", "rollbackBudgetSeconds", "recoveryBudgetSeconds",
        "firstCanaryWeightMaxPercent")
NAME = "webhook-service-slo"


def load(path: Path) -> dict[str, float]:
    """The SLO numbers of the ConfigMap `webhook-service-slo` in `path`, keyed as in its data.

    InputError (naming the file) when the file has no such ConfigMap, a key is missing or a value is
    not a finite number: every threshold must come from here, never from a silent default.
    """
    docs = [d for d in loader.read_file(Path(path)) if d.kind == "ConfigMap" and d.name == NAME]
    if len(docs) != 1:
        raise InputError(f"{path}: expected one ConfigMap named {NAME}, found {len(docs)}")
    data = docs[0].obj.get("data")
    if not isinstance(data, dict):
        raise InputError(f"{path}: ConfigMap {NAME} has no data")
    values: dict[str, float] = {}
    for key in KEYS:
        if key not in data:
            raise InputError(f"{path}: ConfigMap {NAME} has no data key {key}")
        try:
            values[key] = float(data[key])
        except (TypeError, ValueError):
            values[key] = math.nan
        if not math.isfinite(values[key]):
            raise InputError(f"{path}: data.{key} of ConfigMap {NAME} is {data[key]!r}, not a number")
    return values

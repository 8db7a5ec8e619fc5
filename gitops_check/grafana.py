"""Grafana dashboards shipped in ConfigMaps, and the Prometheus queries of their panels.

Grafana's dashboard sidecar loads dashboards from ConfigMaps (base/ generates one, labelled
grafana_dashboard=1, from base/dashboards/*.json with a configMapGenerator). Every `data` entry named
`*.json` that holds a dashboard (an object with `panels` or `rows`) is read; rows' nested panels too.

A panel query is PromQL only once Grafana has replaced its variables, so `queries` does what Grafana would
with values that parse: `$__rate_interval` is four scrape intervals (Grafana's own floor),
`$__interval` one scrape interval (its floor when zoomed in), `$__range` an hour; the dashboard's own
variables (`$namespace`, `${namespace}`, `${namespace:regex}`, `[[namespace]]`) take their current value
(`.*` for All), or a placeholder. A `$name` that is neither stays as written, as Grafana leaves it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

from .loader import Expansion
from .model import Document
from .promql_ast import format_duration

PLACEHOLDER = "placeholder"
# Grafana's ${var}, ${var:format}, [[var]], [[var:format]] and $var. A format is a short word (csv, regex, date:...):
# bounded, so a dashboard of "${a:" repeated is scanned in linear time, not once more from every "${" (quadratic).
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]{0,200})?\}|\[\[(\w+)(?::[^\]]{0,200})?\]\]|\$(\w+)")


@dataclass(frozen=True)
class Dashboard:
    doc: Document  # the ConfigMap it ships in
    key: str  # its data key (the file name)
    board: dict | None  # None when the entry is not valid JSON
    error: str = ""


@dataclass(frozen=True)
class PanelQuery:
    where: str  # how messages name it: dashboard "T" (file.json), panel "P", query A
    expr: str  # variables substituted


def dashboards(doc: Document) -> list[Dashboard]:
    """The dashboards of a ConfigMap: entries named *.json holding a dashboard; in a ConfigMap labelled
    grafana_dashboard, a *.json entry that is not JSON too (with `error` set)."""
    data = doc.obj.get("data")
    if doc.kind != "ConfigMap" or doc.group != "" or not isinstance(data, dict):
        return []
    found = []
    for key, text in data.items():
        if not str(key).endswith(".json") or not isinstance(text, str):
            continue
        try:
            board = json.loads(text)
        except (ValueError, RecursionError) as exc:  # a nesting too deep for the parser is not JSON we read
            if "grafana_dashboard" in doc.labels:
                found.append(Dashboard(doc, str(key), None, str(exc)))
            continue
        if isinstance(board, dict) and (isinstance(board.get("panels"), list) or isinstance(board.get("rows"), list)):
            found.append(Dashboard(doc, str(key), board))
    return found


def queries(board: dict, key: str, scrape_seconds: float, doc: Document | None = None) -> list[PanelQuery]:
    """Every Prometheus panel target's `expr`, its variables replaced (see the module docstring); DOC, the ConfigMap
    that holds the dashboard, names it when a query's variables expand too far."""
    values = _builtins(scrape_seconds) | _variables(board)
    title = board.get("title") or key
    found = []
    for panel in _panels(board):
        targets = panel.get("targets")
        for target in (t for t in (targets if isinstance(targets, list) else []) if isinstance(t, dict)):
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip() or not _prometheus(target, panel):
                continue
            where = f'dashboard "{title}" ({key}), panel "{panel.get("title", "")}", query {target.get("refId", "?")}'
            what = f"{doc.source}: {doc.ref}: {where[:300]}" if doc is not None else where[:300]
            found.append(PanelQuery(where, _substitute(expr, values, Expansion(what))))
    return found


def _panels(holder: dict, depth: int = 0) -> Iterator[dict]:
    if depth > 20:  # Grafana nests a row's panels one level; anything deeper is not a dashboard it draws
        return
    listed = [p for key in ("panels", "rows") if isinstance(ps := holder.get(key), list) for p in ps]
    for panel in (p for p in listed if isinstance(p, dict)):
        yield panel
        yield from _panels(panel, depth + 1)  # a row's panels


def _prometheus(target: dict, panel: dict) -> bool:
    """False for a target of another data source type (Loki's targets have an `expr` too); a data source
    given by name or variable only is taken to be Prometheus."""
    source = target.get("datasource") or panel.get("datasource")
    kind = source.get("type") if isinstance(source, dict) else None
    return kind in (None, "prometheus")


def _builtins(scrape_seconds: float) -> dict[str, str]:
    return {
        "__rate_interval": format_duration(4 * scrape_seconds),
        "__interval": format_duration(scrape_seconds),
        "__interval_ms": str(round(scrape_seconds * 1000)),
        "__range": "1h",
        "__range_s": "3600",
        "__range_ms": "3600000",
        "__from": "1700000000000",
        "__to": "1700003600000",
    }


def _variables(board: dict) -> dict[str, str]:
    templating = board.get("templating") if isinstance(board.get("templating"), dict) else {}
    values = {}
    for var in (v for v in _list(templating.get("list")) if isinstance(v, dict) and isinstance(v.get("name"), str)):
        values[var["name"]] = _current(var)
    return values


def _list(value: Any) -> list:
    """A list the dashboard JSON holds, or none: `"list": 5` was an internal error."""
    return value if isinstance(value, list) else []


def _current(var: dict[str, Any]) -> str:
    current = var.get("current") if isinstance(var.get("current"), dict) else {}
    value = current.get("value")
    if isinstance(value, list):
        value = value[0] if value else None
    if value == "$__all":
        return str(var.get("allValue") or ".*")
    if isinstance(value, (str, int, float)) and str(value):
        return str(value)
    options = [o.get("value") for o in _list(var.get("options")) if isinstance(o, dict) and o.get("value")]
    if options:
        return str(options[0])
    if var.get("type") in ("interval", "custom", "constant", "textbox") and isinstance(var.get("query"), str) and var["query"]:
        return var["query"].split(",")[0].strip()
    return PLACEHOLDER


def _substitute(expr: str, values: dict[str, str], budget: Expansion) -> str:
    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        return values.get(name, match.group(0))

    return budget.sub(_VARIABLE, expr, replace)

"""How often Prometheus scrapes what a source's queries read: one answer for the PromQL rules (a rate window
must span four scrapes) and the rollout timeline (a measurement cannot see a sample before it is scraped).

The longest interval of the source's ServiceMonitor and PodMonitor endpoints; an endpoint without one, and a
source without any, is scraped at the default, params.prometheus.scrapeInterval of policies/data/params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from . import loader
from .errors import InputError
from .model import Document
from .promql_ast import duration_seconds

MONITORS = {"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"}


@dataclass(frozen=True)
class Scrape:
    seconds: float
    origin: str  # where the interval comes from, as messages name it


def default(policies_dir: Path, display: Callable[[Path], str] = str) -> Scrape:
    path = policies_dir / "data" / "params.yaml"
    try:
        raw = loader.data_file(path)["params"]["prometheus"]["scrapeInterval"]
        return Scrape(duration_seconds(str(raw)), "params.prometheus.scrapeInterval")
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{display(path)}: cannot read params.prometheus.scrapeInterval (a Prometheus duration such as 30s): {exc!r}"
        ) from None


# The port of the Istio sidecar's metrics (Envoy's stats, every istio_* and envoy_* series) as a monitor names it: the
# name the injector gives it on the istio-proxy container (istio/istio manifests/charts/istio-control/istio-discovery/
# files/injection-template.yaml: containerPort 15090, name http-envoy-prom) or its number (params.network.prometheus.
# sidecarMetricsPorts).
SIDECAR_PORT_NAME = "http-envoy-prom"


def interval(documents: list[Document], fallback: Callable[[], Scrape | None],
             sidecar_ports: Callable[[], tuple[int, ...]] | None = None, sidecar: bool = False) -> Scrape | None:
    """The longest scrape interval of the documents' monitors; `fallback()` (the default) where none is set. With
    SIDECAR_PORTS (read only when a monitor has endpoints), the sidecar's metrics are scraped by the monitors of its
    port only (SIDECAR) and the service's own by the others: the cluster's Prometheus scrapes every sidecar at its
    default interval otherwise."""
    found = []
    for doc in (d for d in documents if d.kind in MONITORS and d.group == "monitoring.coreos.com"):
        endpoints = (doc.obj.get("spec") or {}).get(MONITORS[doc.kind])
        for endpoint in endpoints if isinstance(endpoints, list) else []:
            if sidecar_ports is not None and _scrapes_sidecar(endpoint, sidecar_ports()) != sidecar:
                continue
            value = endpoint.get("interval") if isinstance(endpoint, dict) else None
            try:
                found.append(Scrape(duration_seconds(value), f"{doc.kind} {doc.name}"))
            except (ValueError, TypeError):  # unset, or malformed (the schemas stage reports that)
                if (fallen := fallback()) is not None:
                    found.append(fallen)
    return max(found, key=lambda s: s.seconds) if found else fallback()


def _scrapes_sidecar(endpoint: object, ports: tuple[int, ...]) -> bool:
    if not isinstance(endpoint, dict):
        return False
    named = {str(endpoint.get(k)) for k in ("port", "portNumber", "targetPort") if endpoint.get(k) is not None}
    return SIDECAR_PORT_NAME in named or bool(named & {str(p) for p in ports})

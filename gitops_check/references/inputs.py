"""What reference checks read besides the rendered objects, loaded lazily and once per run: the
per-environment replica minimum and required objects, the network peers the NetworkPolicies must admit,
the deployment budget from the SLO file, and rendered overlays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .. import loader, render
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
        data = loader.data_file(path)
        envs = data["params"]["environments"]
        mins = {str(env): int(values["minReplicas"]) for env, values in envs.items()}
    except FileNotFoundError:
        raise InputError(f"{path}: missing; it must define params.environments.<env>.minReplicas") from None
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: cannot read params.environments.<env>.minReplicas: {exc!r}") from None
    if not mins:
        raise InputError(f"{path}: params.environments is empty")
    return mins


# What params.environments.<env>.requiredObjects may name (gitops_check/references/required.py). The replica
# floor is not among them: an HPA or spec.replicas at the minimum is minReplicas, judged by WH-REF-008.
REQUIRED_OBJECTS = ("PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Analysis")


def _params(path: Path) -> dict:
    """The `params` mapping of policies/data/params.yaml (an InputError naming the file otherwise)."""
    try:
        data = loader.data_file(path)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; it holds the parameters (params:) policies and reference checks read") from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read it: {exc}") from None
    params = data.get("params") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise InputError(f"{path}: no params: mapping")
    return params


def load_required_objects(policies_dir: Path) -> dict[str, tuple[str, ...]]:
    """Per-environment objects a workload that receives traffic needs, from
    `params.environments.<env>.requiredObjects` in policies/data/params.yaml (every environment must say,
    an empty list included, so a forgotten key never silently requires nothing)."""
    path = params_file(policies_dir)
    envs = _params(path).get("environments")
    if not isinstance(envs, dict) or not envs:
        raise InputError(f"{path}: params.environments is missing or empty")
    found: dict[str, tuple[str, ...]] = {}
    for env, values in envs.items():
        key = f"params.environments.{env}.requiredObjects"
        if not isinstance(values, dict) or "requiredObjects" not in values:
            raise InputError(f"{path}: {key} is missing; list what a workload that receives traffic needs there ([] for nothing)")
        names = values["requiredObjects"]
        if not isinstance(names, list):
            raise InputError(f"{path}: {key} must be a list of {', '.join(REQUIRED_OBJECTS)}")
        for name in names:
            if name == "HorizontalPodAutoscaler":
                raise InputError(
                    f"{path}: {key} names HorizontalPodAutoscaler; the replica floor (an HPA, or spec.replicas at "
                    f"the minimum) is params.environments.{env}.minReplicas, judged by WH-REF-008: remove it"
                )
            if name not in REQUIRED_OBJECTS:
                raise InputError(f"{path}: {key} names {name!r}; the known entries are {', '.join(REQUIRED_OBJECTS)}")
        found[str(env)] = tuple(dict.fromkeys(str(n) for n in names))
    return found


@dataclass(frozen=True)
class NetworkPeers:
    """Who is at the other end of the traffic the NetworkPolicies must allow (params.network)."""

    dns_namespace: str  # where the cluster DNS (kube-dns/CoreDNS) pods run
    ingress_controllers: dict[str, str]  # IngressClass name -> namespace of its controller pods
    istio_gateway_namespace: str  # where the Istio ingress gateway pods run
    prometheus_namespace: str
    prometheus_labels: dict[str, str]  # Prometheus pod labels
    sidecar_metrics_ports: tuple[int, ...] = ()  # the Istio sidecar's metrics ports Prometheus scrapes (Envoy: 15090)
    sidecar_metric_prefixes: tuple[str, ...] = ()  # names of the metrics the sidecar exposes (istio_, envoy_)


def _list_of(path: Path, mapping: dict, key: str, kind: type, where: str) -> tuple:
    """A list parameter ([] allowed, never a missing key): ports are 1..65535, strings non-empty."""
    value = mapping.get(key)
    ok = isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) and (0 < v < 65536 if kind is int else bool(v)) for v in value
    )
    if not ok:
        what = "port numbers" if kind is int else "non-empty strings"
        raise InputError(f"{path}: {where}.{key} is missing or not a list of {what} ([] for none)")
    return tuple(value)


def load_network_peers(policies_dir: Path) -> NetworkPeers:
    """params.network from policies/data/params.yaml; a missing key is an InputError naming the file and key."""
    path = params_file(policies_dir)
    network = _params(path).get("network")

    def get(mapping: Any, key: str, kind: type, where: str) -> Any:
        value = mapping.get(key) if isinstance(mapping, dict) else None
        if not isinstance(value, kind) or not value:
            raise InputError(f"{path}: {where}.{key} is missing or not a {'mapping' if kind is dict else 'string'}")
        return value

    if not isinstance(network, dict):
        raise InputError(f"{path}: params.network is missing (dnsNamespace, ingressControllers, istioGatewayNamespace, prometheus)")
    prometheus = get(network, "prometheus", dict, "params.network")
    return NetworkPeers(
        dns_namespace=get(network, "dnsNamespace", str, "params.network"),
        ingress_controllers={str(k): str(v) for k, v in get(network, "ingressControllers", dict, "params.network").items()},
        istio_gateway_namespace=get(network, "istioGatewayNamespace", str, "params.network"),
        prometheus_namespace=get(prometheus, "namespace", str, "params.network.prometheus"),
        prometheus_labels={str(k): str(v) for k, v in get(prometheus, "podLabels", dict, "params.network.prometheus").items()},
        sidecar_metrics_ports=_list_of(path, prometheus, "sidecarMetricsPorts", int, "params.network.prometheus"),
        sidecar_metric_prefixes=_list_of(path, prometheus, "sidecarMetricPrefixes", str, "params.network.prometheus"),
    )


def load_budgets(slo_file: Path) -> dict[str, float]:
    """The deployment, rollback and recovery budgets (seconds) from the SLO file (base/slo.yaml), keyed as there."""
    from .. import slo  # written alongside; imported late so other stages never depend on it

    values = slo.load(slo_file)  # InputError naming the file and key when one is missing
    return {key: values[key] for key in ("deploymentBudgetSeconds", "rollbackBudgetSeconds", "recoveryBudgetSeconds")}


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
    def required_objects(self) -> dict[str, tuple[str, ...]]:
        return load_required_objects(self.ctx.settings.policies_dir)

    @cached_property
    def network_peers(self) -> NetworkPeers:
        return load_network_peers(self.ctx.settings.policies_dir)

    def required_for(self, doc: Document) -> tuple[str, tuple[str, ...]]:
        """(environment, required objects) for a workload; an unknown environment is judged as the strictest."""
        required = self.required_objects
        env = environment(doc)
        if env in required:
            return env, required[env]
        return STRICTEST_ENVIRONMENT, required.get(STRICTEST_ENVIRONMENT, REQUIRED_OBJECTS)

    @cached_property
    def flagd_schemas(self):
        """flagd's flag-definition schema as `make tools` prepared it (a ToolError, exit 2, when missing or damaged)."""
        from ..schemas import flagd

        return flagd.load(self.ctx.settings)

    @cached_property
    def budgets(self) -> dict[str, float]:
        return load_budgets(self.ctx.settings.slo_file)

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

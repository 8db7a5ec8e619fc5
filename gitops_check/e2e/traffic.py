"""Synthetic Istio metrics for the end-to-end tests: what the sidecars of a real mesh would report.

A scenario says how each version of the service behaves (by image: error ratio, latency) and how many
requests per second its namespace receives. Every tick the generator reads from the API what the
controllers did: the VirtualService weights (how Istio splits the requests between the stable and canary
Services) and which Ready pods, running which image, each Service selects. It adds the requests each
Service received to `istio_requests_total` and `istio_request_duration_milliseconds` exactly as Istio
labels them (reporter="destination"), and serves them for Prometheus to scrape. Traffic follows the
weights the Argo Rollouts controller set, so the analysis measures what a real canary would see.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..kubeapi import Client
from .observe import primary_route

BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000)
TICK = 0.25  # seconds between two traffic updates


@dataclass(frozen=True)
class Behaviour:
    """How one version answers: the share of 5xx responses and the latency of every request (ms)."""

    error_ratio: float = 0.0
    latency_ms: float = 40.0


GOOD = Behaviour()


@dataclass
class Namespace:
    rps: float = 20.0  # requests per second reaching the service's host
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # image -> behaviour (default GOOD)


class Traffic:
    """Counters per (namespace, service, response code) and latency histograms, served as Prometheus text."""

    def __init__(self, client: Client):
        self.client = client
        self.namespaces: dict[str, Namespace] = {}
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], float] = defaultdict(float)
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.errors: list[str] = []

    # ------------------------------------------------------------------ control

    def namespace(self, name: str) -> Namespace:
        with self._lock:
            return self.namespaces.setdefault(name, Namespace())

    def start(self, port: int) -> str:
        traffic = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = traffic.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        threading.Thread(target=self._run, name="traffic", daemon=True).start()
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ the mesh

    def _versions(self, ns: str, pods: list[dict]) -> dict[str, dict[str, int]]:
        """service -> {image: Ready pods of that image it selects}."""
        services = self.client.request("GET", f"/api/v1/namespaces/{ns}/services").body.get("items", [])
        ready = [
            p for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in (p.get("status") or {}).get("conditions") or [])
        ]
        out: dict[str, dict[str, int]] = {}
        for svc in services:
            selector = (svc.get("spec") or {}).get("selector") or {}
            images: dict[str, int] = defaultdict(int)
            for p in ready:
                labels = p["metadata"].get("labels") or {}
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    images[p["spec"]["containers"][0]["image"]] += 1
            out[svc["metadata"]["name"]] = dict(images)
        return out

    def _weights(self, ns: str) -> dict[str, float]:
        """service -> share of the host's requests, from every VirtualService's primary route."""
        shares: dict[str, float] = defaultdict(float)
        for vs in self.client.request("GET", f"/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices").body.get("items", []):
            for host, weight in primary_route(vs):
                shares[host] += weight / 100
        return dict(shares)

    @staticmethod
    def _load_jobs(pods: list[dict]) -> dict[str, float]:
        """service -> requests per second that running load-test pods send it (their --target and --rps
        arguments: the pre-promotion load of the blue-green component)."""
        load: dict[str, float] = defaultdict(float)
        for p in pods:
            if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != "preview-load":
                continue
            if (p.get("status") or {}).get("phase") != "Running":
                continue
            args = dict(a.split("=", 1) for a in p["spec"]["containers"][0].get("args", []) if a.startswith("--") and "=" in a)
            target = args.get("--target", "").split("//", 1)[-1].split(".", 1)[0].split(":", 1)[0]
            if target:
                load[target] += float(args.get("--rps", "0"))
        return load

    def _tick(self, dt: float) -> None:
        for ns, conf in list(self.namespaces.items()):
            pods = self.client.request("GET", f"/api/v1/namespaces/{ns}/pods").body.get("items", [])
            versions = self._versions(ns, pods)
            load = {svc: share * conf.rps for svc, share in self._weights(ns).items()}
            for svc, rps in self._load_jobs(pods).items():
                load[svc] = load.get(svc, 0.0) + rps
            for svc, rps in load.items():
                pods = versions.get(svc) or {}
                total = sum(pods.values())
                if rps <= 0 or total == 0:
                    continue  # no Ready endpoint: the request never reaches a sidecar that reports it
                for image, count in pods.items():
                    b = conf.behaviours.get(image, GOOD)
                    n = rps * dt * count / total
                    self._record(ns, svc, n, b)

    def _record(self, ns: str, svc: str, n: float, b: Behaviour) -> None:
        with self._lock:
            self._requests[(ns, svc, "500")] += n * b.error_ratio
            self._requests[(ns, svc, "200")] += n * (1 - b.error_ratio)
            buckets = self._buckets.setdefault((ns, svc), [0.0] * len(BUCKETS_MS))
            for i, le in enumerate(BUCKETS_MS):
                if b.latency_ms <= le:
                    buckets[i] += n
            self._sum[(ns, svc)] += n * b.latency_ms

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(TICK):
            now = time.monotonic()
            try:
                self._tick(now - last)
            except Exception as exc:  # an API hiccup must not stop the traffic; the report shows it
                self.errors.append(f"{type(exc).__name__}: {exc}")
            last = now

    # ------------------------------------------------------------------ exposition

    def exposition(self) -> str:
        lines = ["# TYPE istio_requests_total counter"]
        with self._lock:
            for (ns, svc, code), v in sorted(self._requests.items()):
                lines.append(f'istio_requests_total{{reporter="destination",destination_service_namespace="{ns}",'
                             f'destination_service_name="{svc}",response_code="{code}"}} {v:.3f}')
            lines.append("# TYPE istio_request_duration_milliseconds histogram")
            for (ns, svc), buckets in sorted(self._buckets.items()):
                labels = f'reporter="destination",destination_service_namespace="{ns}",destination_service_name="{svc}"'
                count = sum(v for (n, s, _), v in self._requests.items() if (n, s) == (ns, svc))
                for le, v in zip(BUCKETS_MS, buckets):
                    lines.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="{le:g}"}} {v:.3f}')
                lines.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} {count:.3f}')
                lines.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {self._sum[(ns, svc)]:.3f}")
                lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {count:.3f}")
        return "\n".join(lines) + "\n"

"""A simulated cluster for the end-to-end tests: the local control plane plus the controllers that act.

On top of etcd and kube-apiserver (gitops_check.controlplane, same folder, same life cycle) it starts, all
at the pinned versions and on 127.0.0.1 only:

- kube-controller-manager (ReplicaSets, Jobs, HPA, PDB status, garbage collection, namespaces) and
  kube-scheduler;
- kwok, which simulates the nodes (three zones): pods scheduled to them run and become Ready after a short
  delay, except pods whose image is listed in `never_ready` (a release whose pods never become Ready);
- the Argo Rollouts controller (rollouts-controller, the version of the locked CRDs);
- Prometheus (Debian's), scraping a metrics endpoint the caller serves (synthetic Istio series) and the Argo
  Rollouts controller's own metrics.

Everything is stopped by stop(), and, as for the control plane, tied to its owner with PR_SET_PDEATHSIG and
reaped by the next start when its owner was killed. The processes' command lines name the folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import controlplane, toolchain
from .errors import ToolError
from .kubeapi import Client
from .settings import Settings

ZONES = ("zone-a", "zone-b", "zone-c")
NODES_PER_ZONE = 2
READY_DELAY_MS = 500  # simulated container start: a pod becomes Ready this long after it is scheduled
PROMETHEUS = "/usr/bin/prometheus"


@dataclass
class SimCluster:
    cp: controlplane.ControlPlane
    client: Client
    prometheus_url: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def query(self, expr: str) -> list[dict]:
        """An instant PromQL query against the cluster's Prometheus: the result vector."""
        import urllib.parse
        import urllib.request

        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=10) as resp:
            body = json.loads(resp.read())  # loopback: never through a proxy
        if body.get("status") != "success":
            raise ToolError(f"Prometheus refused {expr!r}: {body.get('error')}")
        return body["data"]["result"]

    @property
    def dir(self) -> Path:
        return self.cp.dir

    def log(self, name: str) -> Path:
        return self.cp.dir / f"{name}.log"

    def alive(self) -> dict[str, int | None]:
        """Exit code per process that has exited (None when running)."""
        return {name: p.poll() for name, p in self.processes.items()}


def _kubeconfig(cp: controlplane.ControlPlane) -> Path:
    path = cp.dir / "kubeconfig"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": cp.url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": cp.token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    path.chmod(0o600)
    return path


def _kwok_config(folder: Path, never_ready: list[str], job_seconds: float) -> Path:
    """kwok's Stages: pods become Ready after a delay (pods whose first container runs an image of
    `never_ready` are held Pending and unready forever); a Job's pods complete `job_seconds` after they
    started running; deleted pods go; nodes become Ready."""
    hold = [{"key": ".spec.containers.[0].image", "operator": "NotIn", "values": never_ready}] if never_ready else []
    now = "{{ $now := Now }}"
    stages = [
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "pod-ready"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {"matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".spec.nodeName", "operator": "Exists"},
                    {"key": ".status.podIP", "operator": "DoesNotExist"},
                    *hold,
                ]},
                "delay": {"durationMilliseconds": READY_DELAY_MS},
                "next": {"statusTemplate": now + """
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""},
            },
        },
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "node-initialize"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Node"},
                "selector": {"matchExpressions": [
                    {"key": '.status.conditions.[] | select( .type == "Ready" ) | .status', "operator": "NotIn", "values": ["True"]},
                ]},
                "next": {"statusTemplate": now + """
conditions:
{{ range NodeConditions }}
- {lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}, message: {{ .message | Quote }}, reason: {{ .reason | Quote }}, status: {{ .status | Quote }}, type: {{ .type | Quote }}}
{{ end }}
addresses:
- {address: {{ NodeIP | Quote }}, type: InternalIP}
- {address: {{ NodeName | Quote }}, type: Hostname}
phase: Running
"""},
            },
        },
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "pod-complete"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {"matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                    {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
                ]},
                "delay": {"durationMilliseconds": int(job_seconds * 1000)},
                "next": {"statusTemplate": now + """
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodCompleted}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: PodCompleted}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""},
            },
        },
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "pod-delete"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {"matchExpressions": [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]},
                "next": {"finalizers": {"empty": True}, "delete": True},
            },
        },
    ]
    path = folder / "kwok.yaml"
    path.write_text("\n---\n".join(json.dumps(s) for s in stages))
    return path


def _prometheus_config(folder: Path, scrape_target: str, scrape_seconds: float, controller_metrics: str) -> Path:
    """Scrape the synthetic mesh metrics and the Argo Rollouts controller's own metrics (what the alerts use)."""
    path = folder / "prometheus.yml"
    path.write_text(json.dumps({
        "global": {"scrape_interval": f"{int(scrape_seconds * 1000)}ms", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "istio-synthetic", "static_configs": [{"targets": [scrape_target]}]},
            {"job_name": "argo-rollouts", "static_configs": [{"targets": [controller_metrics]}]},
        ],
    }))
    return path


def _nodes(client: Client) -> None:
    for zone in ZONES:
        for i in range(NODES_PER_ZONE):
            name = f"kwok-{zone}-{i}"
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                               "topology.kubernetes.io/zone": zone, "type": "kwok"},
                },
                "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                           "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"}},
            }
            resp = client.request("POST", "/api/v1/nodes", node)
            if not resp.ok and resp.status != 409:
                raise ToolError(f"cannot create node {name}: {resp.body.get('message')}")
            # Admission taints a new node not-ready; the node lifecycle controller (not run: it would want
            # kubelet heartbeats) would lift it once kwok reports the node Ready. Lift it here.
            resp = client.request("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": None}}, "application/merge-patch+json")
            if not resp.ok:
                raise ToolError(f"cannot untaint node {name}: {resp.body.get('message')}")


def interfaces() -> list[str]:
    """The network interfaces of this process's network namespace (/proc/net/dev)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)


def start(settings: Settings, metrics_target: str, *, never_ready: list[str] = (), prometheus_port: int = 0,
          scrape_seconds: float = 1.0, hpa_sync_seconds: float = 1.0, job_seconds: float = 5.0) -> SimCluster:
    """Start the whole simulated cluster; stop() it in a `finally`. `metrics_target` (host:port) is what
    Prometheus scrapes. Only inside a network namespace of its own (the e2e run's `unshare -rn`): the Argo Rollouts
    controller has no flag for the address of its metrics and health ports and listens on every interface."""
    if interfaces() != ["lo"]:
        raise ToolError(f"the simulated cluster starts only in a network namespace of its own with nothing but loopback "
                        f"(this one has {', '.join(interfaces())}): run it through `make e2e` or `python -m gitops_check.e2e`")
    cp = controlplane.start(settings)
    sim = None
    try:
        controlplane.wait_ready(cp)
        controlplane.install_crds(cp, settings)
        client = Client(cp.url, cp.token, cp.ca_file)
        kubeconfig = _kubeconfig(cp)
        tie = controlplane.can_tie()
        procs: dict[str, subprocess.Popen] = {}

        def spawn(name: str, cmd: list[str]) -> None:
            procs[name] = controlplane.spawn(cmd, cp.dir / f"{name}.log", tie)

        spawn("kube-controller-manager", [
            toolchain.locate("kube-controller-manager", settings), "--kubeconfig", str(kubeconfig),
            "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0",
            "--controllers", "replicaset,deployment,job,disruption,horizontalpodautoscaling,garbagecollector,namespace,serviceaccount,endpointslice",
            "--horizontal-pod-autoscaler-sync-period", f"{hpa_sync_seconds}s", "--use-service-account-credentials=false",
            "--concurrent-replicaset-syncs", "10",
        ])
        spawn("kube-scheduler", [
            toolchain.locate("kube-scheduler", settings), "--kubeconfig", str(kubeconfig), "--leader-elect=false",
            "--bind-address", "127.0.0.1", "--secure-port", "0",
        ])
        spawn("kwok", [
            toolchain.locate("kwok", settings), "--kubeconfig", str(kubeconfig), "--config", str(_kwok_config(cp.dir, list(never_ready), job_seconds)),
            "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
            "--server-address", f"127.0.0.1:{controlplane.free_port()}", "--node-ip", "127.0.0.1",
        ])
        metrics_port = controlplane.free_port()
        spawn("rollouts-controller", [
            toolchain.locate("rollouts-controller", settings), "--kubeconfig", str(kubeconfig), "--leader-elect=false",
            "--metricsport", str(metrics_port), "--healthzPort", str(controlplane.free_port()),
            "--istio-api-version", "v1", "--loglevel", "info", "--rollout-resync", "30",
        ])
        if not Path(PROMETHEUS).is_file():
            raise ToolError(f"{PROMETHEUS} not found: run `make tools` (installs Debian package prometheus)")
        port = prometheus_port or controlplane.free_port()
        spawn("prometheus", [
            PROMETHEUS, "--config.file", str(_prometheus_config(cp.dir, metrics_target, scrape_seconds, f"127.0.0.1:{metrics_port}")),
            "--storage.tsdb.path", str(cp.dir / "prometheus"), "--web.listen-address", f"127.0.0.1:{port}",
            "--log.level", "warn",
        ])
        sim = SimCluster(cp, client, f"http://127.0.0.1:{port}", procs)
        _nodes(client)
        _wait_nodes_ready(sim)
        return sim
    except BaseException:
        stop(sim) if sim else controlplane.stop(cp)
        raise


def _wait_nodes_ready(sim: SimCluster, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, code in sim.alive().items():
            if code is not None:
                raise ToolError(f"{name} exited with code {code} while starting: {controlplane.last_line(sim.log(name))}")
        items = sim.client.request("GET", "/api/v1/nodes").body.get("items", [])
        ready = [n for n in items if any(c.get("type") == "Ready" and c.get("status") == "True"
                                         for c in (n.get("status") or {}).get("conditions") or [])]
        if len(ready) == len(ZONES) * NODES_PER_ZONE:
            return
        time.sleep(0.1)
    raise ToolError(f"the simulated nodes were not Ready after {timeout:.0f}s: {controlplane.last_line(sim.log('kwok'))}")


def stop(sim: SimCluster | None) -> None:
    """Stop the controllers (throwaway: killed outright), then the control plane, and remove the folder."""
    if sim is None:
        return
    for proc in sim.processes.values():
        if proc.poll() is None:
            proc.kill()
    for proc in sim.processes.values():
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    controlplane.stop(sim.cp)


def listening(sim: SimCluster) -> set[str]:
    """Every local address a process of the simulated cluster (control plane included) listens on."""
    pids = controlplane.processes_in(sim.cp.dir) + [p.pid for p in sim.processes.values() if p.poll() is None]
    return set().union(*(controlplane.listening(pid) for pid in set(pids))) if pids else set()


def keep_logs(sim: SimCluster, target: Path) -> None:
    """Copy the processes' logs somewhere that outlives stop() (for a failing scenario's report)."""
    target.mkdir(parents=True, exist_ok=True)
    for log in sim.cp.dir.glob("*.log"):
        shutil.copy2(log, target / log.name)

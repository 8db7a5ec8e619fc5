"""The operational scripts: scripts/rollout, rollback, verify-deployment and smoke-test.

The git side runs for real: each test builds a temporary git repository (the scripts copied into it, overlays
with a promotion history) and the scripts commit in it. The cluster side talks to a stand-in `kubectl` first on
PATH: a small script that records its argv and prints canned JSON (Rollout, Application, ReplicaSets, pods,
AnalysisRuns, Ingress) the way the real API answers. The end-to-end suite's simulated cluster runs the real
controllers but is heavy (a control plane, kwok, the Rollouts controller, Prometheus) and serves neither Argo CD
Applications nor the kubectl-argo-rollouts plugin; what these tests prove is the command lines the scripts build,
the decisions they take on each answer and what they do to git. smoke-test and the health check talk to a small
http.server on 127.0.0.1 that each test starts and stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import REPO

IMAGE = "ghcr.io/company/webhook-service"
OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64
KUSTOMIZATION = """# Production: the base as is, pinned by digest (scripts/promote edits it).
resources:
  - ../../base
images:
  - name: ghcr.io/company/webhook-service
    newName: ghcr.io/company/webhook-service
    digest: {digest}
"""
STAGING = KUSTOMIZATION.replace("digest: {digest}", "newTag: 1.8.0")

FAKE_KUBECTL = r'''#!{python}
"""Stand-in kubectl: records argv, answers from a list of canned responses (the first whose tokens all appear)."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state = os.environ["FAKE_KUBECTL_LOG"] + ".used"
used = set(json.load(open(state))) if os.path.exists(state) else set()
for i, r in enumerate(json.load(open(os.environ["FAKE_KUBECTL_RESPONSES"]))):
    if i in used or not all(t in args for t in r["match"]):
        continue
    if r.get("once"):
        used.add(i)
        json.dump(sorted(used), open(state, "w"))
    sys.stdout.write(r.get("stdout", ""))
    sys.stderr.write(r.get("stderr", ""))
    sys.exit(r.get("rc", 0))
sys.stderr.write("error: the stand-in kubectl has no answer for: " + " ".join(args) + "\n")
sys.exit(1)
'''


# --------------------------------------------------------------------------- helpers


class Cluster:
    """A stand-in kubectl on PATH: `answer(match, obj)` queues a response, `calls` is what the script ran."""

    def __init__(self, folder: Path):
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        kubectl = self.bin / "kubectl"
        kubectl.write_text(FAKE_KUBECTL.replace("{python}", sys.executable))
        kubectl.chmod(0o755)
        self.log = folder / "kubectl.log"
        self.responses_file = folder / "responses.json"
        self.responses: list[dict] = []

    def answer(self, match: list[str], obj=None, *, rc: int = 0, stderr: str = "", once: bool = False) -> None:
        stdout = "" if obj is None else obj if isinstance(obj, str) else json.dumps(obj)
        self.responses.append({"match": match, "stdout": stdout, "rc": rc, "stderr": stderr, "once": once})

    def env(self) -> dict[str, str]:
        self.responses_file.write_text(json.dumps(self.responses))
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "FAKE_KUBECTL_LOG": str(self.log),
                "FAKE_KUBECTL_RESPONSES": str(self.responses_file)}

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=60,
                          env=git_env()).stdout.strip()


def git_env() -> dict[str, str]:
    return {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    """A git repository shaped like this one: the scripts, two overlays, and a history in which production was
    pinned to OLD, an unrelated change landed, production was promoted to NEW, and another change followed."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for script in ("rollback", "promote", "verify-deployment", "smoke-test", "rollout"):
        shutil.copy2(REPO / "scripts" / script, root / "scripts" / script)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, timeout=60, env=git_env())
    git(root, "add", "scripts")
    ids = {
        "initial": commit(root, "Pin production and staging", {
            "overlays/production/kustomization.yaml": KUSTOMIZATION.format(digest=OLD),
            "overlays/staging/kustomization.yaml": STAGING, "README.md": "webhook-service\n"}),
        "docs": commit(root, "Docs: a runbook", {"docs/runbook.md": "# Runbook\n"}),
        "promotion": commit(root, "Promote production to the digest staging ran", {
            "overlays/production/kustomization.yaml": KUSTOMIZATION.format(digest=NEW)}),
        "later": commit(root, "Tune the dashboards", {"base/dashboard.json": "{}\n"}),
    }
    return root, ids


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**git_env(), **(env or {})})


def rollout_json(phase: str, *, current: str = "6c9f7d", stable: str = "6c9f7d", abort: bool = False,
                 image: str = f"{IMAGE}@{NEW}") -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "webhook-service", "namespace": "webhook-service"},
        "spec": {"rollbackWindow": {"revisions": 3},
                 "template": {"spec": {"containers": [{"name": "webhook-service", "image": image}]}}},
        "status": {"phase": phase, "currentPodHash": current, "stableRS": stable, "abort": abort,
                   "message": "RolloutAborted: Rollout aborted update to revision 5" if abort else ""},
    }


def application(automated: bool) -> dict:
    policy = {"automated": {"enabled": True, "prune": True, "selfHeal": True}} if automated else {}
    return {"kind": "Application", "metadata": {"name": "webhook-service-production"}, "spec": {"syncPolicy": policy}}


def replicasets(*entries: tuple[str, str, str]) -> dict:
    """(pod-template-hash, image, creationTimestamp) per ReplicaSet."""
    return {"items": [{
        "metadata": {"name": f"webhook-service-{h}", "creationTimestamp": created, "labels": {"rollouts-pod-template-hash": h}},
        "spec": {"template": {"spec": {"containers": [{"name": "webhook-service", "image": image}]}}},
    } for h, image, created in entries]}


# --------------------------------------------------------------------------- scripts/rollout


ROLLOUT = ["bash", str(REPO / "scripts" / "rollout")]


def test_rollout_status_puts_the_context_after_the_plugin_and_its_subcommand(tmp_path):
    """kubectl refuses global flags before a plugin name (`kubectl --context X argo rollouts ...` fails): the script
    builds `kubectl argo rollouts get rollout NAME -n NS --context X`, which the plugin (a cobra CLI taking
    kubectl's global flags) accepts."""
    cluster = Cluster(tmp_path)
    cluster.answer(["argo", "rollouts", "version"], "kubectl-argo-rollouts: v1.9.1\n")
    cluster.answer(["argo", "rollouts", "get", "rollout"], "Name: webhook-service\nStatus: ✔ Healthy\n")
    proc = run([*ROLLOUT, "status", "--context", "prod"], cluster.env())
    assert proc.returncode == 0, proc.stderr
    assert "Healthy" in proc.stdout
    assert cluster.calls[-1] == ["argo", "rollouts", "get", "rollout", "webhook-service", "-n", "webhook-service", "--context", "prod"]
    for call in cluster.calls:
        assert call[:2] == ["argo", "rollouts"], f"a flag before the plugin name: kubectl {' '.join(call)}"


@pytest.mark.parametrize("action, expected", [
    ("status", [["get", "rollout", "webhook-service"]]),
    ("watch", [["get", "rollout", "webhook-service", "--watch"]]),
    ("promote", [["promote", "webhook-service"]]),
    ("abort", [["abort", "webhook-service"], ["get", "rollout", "webhook-service"]]),
    ("retry", [["retry", "rollout", "webhook-service"]]),
    ("verify", [["status", "webhook-service", "--timeout", "15m"]]),
])
def test_rollout_dry_run_prints_the_exact_commands_and_runs_none(tmp_path, action, expected):
    cluster = Cluster(tmp_path)
    proc = run([*ROLLOUT, action, "--context", "stg", "--dry-run"], cluster.env())
    assert proc.returncode == 0, proc.stderr
    printed = [line.split() for line in proc.stdout.splitlines()]
    assert printed == [["kubectl", "argo", "rollouts", *e, "-n", "webhook-service", "--context", "stg"] for e in expected]
    assert cluster.calls == []


def test_rollout_kubectl_failure_is_its_exit_code(tmp_path):
    cluster = Cluster(tmp_path)
    cluster.answer(["argo", "rollouts", "version"], "v1.9.1\n")
    cluster.answer(["argo", "rollouts", "promote"], rc=1, stderr='Error: rollouts.argoproj.io "webhook-service" not found\n')
    proc = run([*ROLLOUT, "promote", "--context=prod"], cluster.env())
    assert proc.returncode == 1 and "not found" in proc.stderr
    assert cluster.calls[-1][-2:] == ["--context", "prod"]


@pytest.mark.parametrize("args, message", [
    (["status", "--context"], "rollout: --context needs a value"),
    (["status", "--namespace", "x"], "rollout: unknown argument: --namespace"),
])
def test_rollout_bad_usage_is_exit_2(tmp_path, args, message):
    cluster = Cluster(tmp_path)
    proc = run([*ROLLOUT, *args], cluster.env())
    assert proc.returncode == 2 and proc.stderr.strip() == message
    assert cluster.calls == []


def test_rollout_help_documents_dry_run_and_exit_codes():
    proc = run([*ROLLOUT, "--help"])
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "Exit codes" in proc.stdout


# --------------------------------------------------------------------------- scripts/rollback


def rollback(root: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, str(root / "scripts" / "rollback"), *args], cluster.env(), cwd=root)


def test_rollback_of_a_completed_release_reverts_exactly_the_promotion_commit(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Healthy"))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=True))
    cluster.answer(["get", "replicasets"], replicasets(("5d8c7b", f"{IMAGE}@{OLD}", "2026-11-01T10:00:00Z"),
                                                       ("6c9f7d", f"{IMAGE}@{NEW}", "2026-11-02T10:00:00Z")))
    proc = rollback(root, cluster, "production", "--context", "prod", "--argocd-context", "mgmt")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert git(root, "rev-parse", "HEAD~1") == ids["later"], "the revert must be a new commit on top"
    assert git(root, "log", "-1", "--format=%s") == 'Revert "Promote production to the digest staging ran"'
    assert f"This reverts commit {ids['promotion']}" in git(root, "log", "-1", "--format=%b")
    assert git(root, "show", "--format=", "--name-only", "HEAD").splitlines() == ["overlays/production/kustomization.yaml"]
    assert (root / "overlays/production/kustomization.yaml").read_text() == KUSTOMIZATION.format(digest=OLD)
    assert (root / "docs/runbook.md").is_file() and (root / "base/dashboard.json").is_file()  # nothing else undone
    assert git(root, "status", "--porcelain") == ""

    assert f"pins {IMAGE}@{OLD} again" in proc.stdout
    assert "within rollbackWindow (revisions: 3)" in proc.stdout and "skips the canary steps" in proc.stdout
    assert "git -C" in proc.stdout and "push origin HEAD" in proc.stdout
    calls = cluster.calls
    assert ["get", "rollouts.argoproj.io", "webhook-service", "-n", "webhook-service", "-o", "json", "--context", "prod"] in calls
    assert ["get", "applications.argoproj.io", "webhook-service-production", "-n", "argocd", "-o", "json", "--context", "mgmt"] in calls
    assert not [c for c in calls if "abort" in c]


def test_rollback_twice_refuses_to_revert_the_rollback(repo, tmp_path):
    root, _ = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Healthy", image=f"{IMAGE}@{OLD}"))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=True))
    cluster.answer(["get", "replicasets"], {"items": []})
    assert rollback(root, cluster, "production", "--context", "prod").returncode == 0
    head = git(root, "rev-parse", "HEAD")
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 1
    assert "is already a rollback" in proc.stderr and "scripts/promote" in proc.stderr
    assert git(root, "rev-parse", "HEAD") == head


def test_rollback_during_a_canary_aborts_and_leaves_git_alone(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Paused", current="7f1e2a", stable="6c9f7d"), once=True)
    cluster.answer(["argo", "rollouts", "abort"], 'rollout "webhook-service" aborted\n')
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Degraded", current="7f1e2a", stable="6c9f7d", abort=True))
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ["argo", "rollouts", "abort", "webhook-service", "-n", "webhook-service", "--context", "prod"] in cluster.calls
    assert "all traffic is on the stable version" in proc.stdout and "Degraded" in proc.stdout
    assert "again to revert the promotion commit" in proc.stdout
    assert git(root, "rev-parse", "HEAD") == ids["later"]


def test_rollback_after_an_abort_reverts_the_promotion(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Degraded", current="7f1e2a", stable="6c9f7d", abort=True))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=True))
    cluster.answer(["get", "replicasets"], {"items": []})
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"This reverts commit {ids['promotion']}" in git(root, "log", "-1", "--format=%b")
    assert not [c for c in cluster.calls if "abort" in c]


def test_rollback_refuses_when_argo_cd_does_not_sync_automatically(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Healthy"))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=False))
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 1
    assert "does not sync automatically" in proc.stderr
    assert git(root, "rev-parse", "HEAD") == ids["later"] and git(root, "status", "--porcelain") == ""


def test_rollback_refuses_a_phase_it_cannot_judge(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Progressing"))  # no canary: pods are starting
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 1 and "without a canary in progress" in proc.stderr
    assert git(root, "rev-parse", "HEAD") == ids["later"]


def test_rollback_refuses_uncommitted_changes_of_the_overlay(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Healthy"))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=True))
    (root / "overlays/production/kustomization.yaml").write_text(KUSTOMIZATION.format(digest="sha256:" + "c" * 64))
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 1 and "uncommitted changes" in proc.stderr
    assert git(root, "rev-parse", "HEAD") == ids["later"]


def test_rollback_dry_run_names_the_commit_and_runs_nothing(repo, tmp_path):
    root, ids = repo
    cluster = Cluster(tmp_path)
    proc = rollback(root, cluster, "production", "--context", "prod", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert cluster.calls == []
    assert f"git -C {root} revert --no-edit {ids['promotion']}" in proc.stdout
    assert "kubectl argo rollouts abort webhook-service -n webhook-service --context prod" in proc.stdout
    assert "kubectl get applications.argoproj.io webhook-service-production -n argocd -o json --context prod" in proc.stdout
    assert git(root, "rev-parse", "HEAD") == ids["later"] and git(root, "status", "--porcelain") == ""


def test_rollback_of_a_promotion_that_changed_more_writes_only_the_previous_image(repo, tmp_path):
    """A promotion commit that also changed other files is not reverted whole: scripts/promote writes the previous
    digest (and validates: a stand-in gitops-check here) and only the overlay is committed."""
    root, ids = repo
    bundled = commit(root, "Promote production and tune the runbook", {
        "overlays/production/kustomization.yaml": KUSTOMIZATION.format(digest="sha256:" + "c" * 64),
        "docs/runbook.md": "# Runbook, tuned\n"})
    check = root / ".venv" / "bin" / "gitops-check"
    check.parent.mkdir(parents=True)
    check.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'validated'}\n")
    check.chmod(0o755)
    git(root, "add", "-f", ".venv/bin/gitops-check")
    git(root, "commit", "-q", "-m", "A stand-in validator")
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json("Healthy"))
    cluster.answer(["get", "applications.argoproj.io"], application(automated=True))
    cluster.answer(["get", "replicasets"], {"items": []})
    proc = rollback(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"commit {bundled[:12]} also changed docs/runbook.md" in proc.stdout
    assert git(root, "show", "--format=", "--name-only", "HEAD").splitlines() == ["overlays/production/kustomization.yaml"]
    assert f"digest: {NEW}" in (root / "overlays/production/kustomization.yaml").read_text()
    assert (root / "docs/runbook.md").read_text() == "# Runbook, tuned\n"
    assert (tmp_path / "validated").read_text().split() == ["validate", "overlays/production"]
    assert "no ReplicaSet of the Rollout runs" in proc.stdout  # the stand-in cluster has none: a full canary


@pytest.mark.parametrize("env, code, message", [
    ("qa", 2, "overlays/qa/kustomization.yaml: no such overlay (production or staging)"),
    ("../production", 2, "is not an environment name"),
])
def test_rollback_bad_input_is_exit_2(repo, tmp_path, env, code, message):
    root, _ = repo
    cluster = Cluster(tmp_path)
    proc = rollback(root, cluster, env)
    assert proc.returncode == code and message in proc.stderr
    assert cluster.calls == []


def test_rollback_help_documents_dry_run_and_exit_codes():
    proc = run([sys.executable, str(REPO / "scripts" / "rollback"), "--help"])
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "Exit codes" in proc.stdout


# --------------------------------------------------------------------------- a local HTTP server


class Service:
    """webhook-service's HTTP surface on 127.0.0.1: status per path, records what it received."""

    def __init__(self, statuses: dict[tuple[str, str], int], delay: dict[str, float] | None = None):
        self.statuses, self.delay, self.received = statuses, delay or {}, []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service.received.append((method, self.path, self.headers, body))  # case-insensitive
                if self.path in service.delay:
                    threading.Event().wait(service.delay[self.path])
                status = service.statuses.get((method, self.path), 404)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


HEALTHY = {("GET", "/health"): 200, ("GET", "/ready"): 200, ("POST", "/v1/webhooks"): 202}


# --------------------------------------------------------------------------- scripts/verify-deployment


def verified_cluster(tmp_path: Path, *, pod_digest: str = NEW, analysis: str = "Successful", phase: str = "Healthy") -> Cluster:
    cluster = Cluster(tmp_path)
    cluster.answer(["get", "rollouts.argoproj.io"], rollout_json(phase))
    cluster.answer(["get", "pods"], {"items": [{
        "metadata": {"name": f"webhook-service-6c9f7d-{i}", "labels": {"rollouts-pod-template-hash": "6c9f7d"}},
        "spec": {"containers": [{"name": "webhook-service", "image": f"{IMAGE}@{pod_digest}"}]},
        "status": {"containerStatuses": [{"name": "webhook-service", "imageID": f"{IMAGE}@{pod_digest}"}]},
    } for i in range(3)]})
    owner = [{"kind": "Rollout", "name": "webhook-service"}]
    cluster.answer(["get", "analysisruns.argoproj.io"], {"items": [
        {"metadata": {"name": "webhook-service-5d8c7b-4", "creationTimestamp": "2026-11-01T10:00:00Z", "ownerReferences": owner,
                      "labels": {"rollouts-pod-template-hash": "5d8c7b"}}, "status": {"phase": "Failed"}},
        {"metadata": {"name": "webhook-service-6c9f7d-5", "creationTimestamp": "2026-11-02T10:00:00Z", "ownerReferences": owner,
                      "labels": {"rollouts-pod-template-hash": "6c9f7d"}}, "status": {"phase": analysis}},
    ]})
    cluster.answer(["get", "ingresses.networking.k8s.io"], {"spec": {"rules": [{"host": "api.webhooks.company.com"}]}})
    return cluster


def verify(root: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, str(root / "scripts" / "verify-deployment"), *args], cluster.env(), cwd=root)


def test_verify_deployment_passes_when_the_cluster_runs_what_git_pins(repo, tmp_path):
    root, _ = repo
    cluster = verified_cluster(tmp_path)
    with Service(HEALTHY) as service:
        proc = verify(root, cluster, "production", "--context", "prod", "--url", service.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [["PASS", "rollout-healthy"], ["PASS", "image-matches-git"],
                                                         ["PASS", "analysis"], ["PASS", "health-endpoint"]]
    assert f"run {IMAGE}@{NEW}, as git pins" in lines[1]  # read from the temporary repository's HEAD
    assert "webhook-service-6c9f7d-5 is Successful" in lines[2]  # the current revision's run, not the older Failed one
    assert lines[-1].startswith("verdict: VERIFIED: production")
    assert all(c[-2:] == ["--context", "prod"] for c in cluster.calls)


def test_verify_deployment_fails_when_pods_run_another_digest_than_git(repo, tmp_path):
    root, _ = repo
    cluster = verified_cluster(tmp_path, pod_digest=OLD)
    with Service(HEALTHY) as service:
        proc = verify(root, cluster, "production", "--url", service.url)
    assert proc.returncode == 1
    assert re.search(r"^FAIL\s+image-matches-git\s+3 of 3 pods differ from git", proc.stdout, re.M)
    assert proc.stdout.splitlines()[-1].startswith("verdict: FAILED: image-matches-git")


def test_verify_deployment_reads_the_digest_of_the_git_revision_it_is_given(repo, tmp_path):
    """--ref HEAD~2 is before the promotion: git pins OLD there, the cluster runs NEW."""
    root, _ = repo
    cluster = verified_cluster(tmp_path)
    with Service(HEALTHY) as service:
        proc = verify(root, cluster, "production", "--ref", "HEAD~2", "--url", service.url)
    assert proc.returncode == 1
    assert f"git pins {IMAGE}@{OLD}" in proc.stdout


@pytest.mark.parametrize("cluster_args, statuses, failing", [
    ({"analysis": "Failed"}, HEALTHY, "analysis"),
    ({"phase": "Degraded"}, HEALTHY, "rollout-healthy"),
    ({}, {**HEALTHY, ("GET", "/health"): 503}, "health-endpoint"),
])
def test_verify_deployment_fails_the_check_that_fails(repo, tmp_path, cluster_args, statuses, failing):
    root, _ = repo
    cluster = verified_cluster(tmp_path, **cluster_args)
    with Service(statuses) as service:
        proc = verify(root, cluster, "production", "--url", service.url)
    assert proc.returncode == 1
    failed = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [failing]


def test_verify_deployment_fails_every_check_when_the_cluster_cannot_be_read(repo, tmp_path):
    root, _ = repo
    cluster = Cluster(tmp_path)
    cluster.answer(["get"], rc=1, stderr="error: context \"prod\" does not exist\n")
    proc = verify(root, cluster, "production", "--context", "prod")
    assert proc.returncode == 1
    assert [line.split()[0] for line in proc.stdout.splitlines()[:4]] == ["FAIL"] * 4


def test_verify_deployment_dry_run_runs_nothing(repo, tmp_path):
    root, _ = repo
    cluster = Cluster(tmp_path)
    proc = verify(root, cluster, "staging", "--context", "stg", "--dry-run")
    assert proc.returncode == 0 and cluster.calls == []
    assert f"git -C {root} show HEAD:overlays/staging/kustomization.yaml" in proc.stdout
    assert "kubectl get rollouts.argoproj.io webhook-service -n webhook-service -o json --context stg" in proc.stdout
    assert "GET https://<Ingress host>/health" in proc.stdout


def test_verify_deployment_bad_input_is_exit_2(repo, tmp_path):
    root, _ = repo
    cluster = Cluster(tmp_path)
    proc = verify(root, cluster, "qa")
    assert proc.returncode == 2 and "no such overlay" in proc.stderr and cluster.calls == []


# --------------------------------------------------------------------------- scripts/smoke-test


SMOKE = [sys.executable, str(REPO / "scripts" / "smoke-test")]


def test_smoke_test_passes_against_a_healthy_service():
    with Service(HEALTHY) as service:
        proc = run([*SMOKE, service.url, "--timeout", "5"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split()[:2] for line in proc.stdout.splitlines()[:3]] == [["PASS", "health"], ["PASS", "ready"], ["PASS", "webhook"]]
    assert proc.stdout.splitlines()[-1] == f"verdict: PASSED ({service.url})"
    method, path, headers, body = service.received[-1]
    assert (method, path) == ("POST", "/v1/webhooks")
    assert headers["X-Tenant-ID"] == "smoke-test" and headers["X-Synthetic-Request"] == "true"
    assert json.loads(body)["destination"].startswith("https://smoke-test.invalid/")


def test_smoke_test_fails_when_one_request_fails():
    with Service({**HEALTHY, ("GET", "/ready"): 503}) as service:
        proc = run([*SMOKE, service.url])
    assert proc.returncode == 1
    assert re.search(r"^FAIL\s+ready\s+GET .*/ready: 503", proc.stdout, re.M)
    assert proc.stdout.splitlines()[-1].startswith("verdict: FAILED: ready")


def test_smoke_test_gives_up_after_its_timeout():
    with Service(HEALTHY, delay={"/health": 3.0}) as service:
        proc = run([*SMOKE, service.url, "--timeout", "0.5"])
    assert proc.returncode == 1
    assert re.search(r"^FAIL\s+health\s+GET .*/health: no answer", proc.stdout, re.M)


def test_smoke_test_fails_when_nothing_listens():
    with Service(HEALTHY) as service:
        url = service.url
    proc = run([*SMOKE, url, "--timeout", "2"])
    assert proc.returncode == 1 and proc.stdout.count("no answer") == 3


def test_smoke_test_dry_run_sends_nothing():
    with Service(HEALTHY) as service:
        proc = run([*SMOKE, service.url, "--dry-run"])
        assert service.received == []
    assert proc.returncode == 0
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == ["curl"] * 3
    assert "--max-time 10" in proc.stdout and f"{service.url}/v1/webhooks" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["ftp://example.invalid"], "is not an http(s) URL"),
    (["https://user:secret@example.invalid"], "must not carry credentials"),
    (["https://example.invalid", "--timeout", "0"], "--timeout must be positive"),
    ([], "the following arguments are required: BASE_URL"),
])
def test_smoke_test_bad_input_is_exit_2(args, message):
    proc = run([*SMOKE, *args])
    assert proc.returncode == 2 and message in proc.stderr


# --------------------------------------------------------------------------- notifications and on-call routing


def reason_to_trigger(reason: str) -> str:
    """Argo Rollouts' translateReasonToTrigger (utils/record/record.go, v1.9.1)."""
    trigger = re.sub(r"(.)([A-Z][a-z]+)", r"\1-\2", reason)
    trigger = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", trigger)
    return "on-" + trigger.lower()


def subscriptions(annotations: dict) -> dict[str, str]:
    prefix = "notifications.argoproj.io/subscribe."
    return {k[len(prefix):].rsplit(".", 1)[0]: v for k, v in annotations.items() if k.startswith(prefix)}


def assert_triggers_resolve(data: dict, subscribed: dict[str, str]) -> None:
    assert "token: $slack-token" in data["service.slack"]
    for trigger in subscribed:
        conditions = yaml.safe_load(data[f"trigger.{trigger}"])
        for condition in conditions:
            for template in condition["send"]:
                assert f"template.{template}" in data, f"{trigger} sends {template}, which is not defined"
                assert yaml.safe_load(data[f"template.{template}"])["message"].strip()


@pytest.mark.parametrize("overlay", ["overlays/staging", "overlays/production"])
def test_the_rollout_subscribes_to_abort_analysis_failure_and_completion(overlay, rendered, find):
    docs = rendered(overlay)
    subscribed = subscriptions(find(docs, "Rollout", "webhook-service").obj["metadata"]["annotations"])
    events = ("RolloutAborted", "AnalysisRunFailed", "RolloutCompleted")  # the controller's event reasons
    assert set(subscribed) == {reason_to_trigger(r) for r in events} == {"on-rollout-aborted", "on-analysis-run-failed", "on-rollout-completed"}
    cm = find(docs, "ConfigMap", "argo-rollouts-notification-configmap")
    assert_triggers_resolve(cm.obj["data"], subscribed)
    secret = find(docs, "ExternalSecret", "argo-rollouts-notification-secret").obj["spec"]
    assert secret["target"]["name"] == "argo-rollouts-notification-secret"
    assert [d["secretKey"] for d in secret["data"]] == ["slack-token"]


def test_argo_cd_applications_subscribe_to_failed_syncs_and_degraded_health(rendered, find):
    docs = rendered("argocd")
    cm = find(docs, "ConfigMap", "argocd-notifications-cm")
    assert cm.namespace == "argocd"
    for env in ("staging", "production"):
        subscribed = subscriptions(find(docs, "Application", f"webhook-service-{env}").obj["metadata"]["annotations"])
        assert set(subscribed) == {"on-sync-failed", "on-health-degraded"}
        assert_triggers_resolve(cm.obj["data"], subscribed)
    failed = yaml.safe_load(cm.obj["data"]["trigger.on-sync-failed"])[0]
    assert "['Error', 'Failed']" in failed["when"] and failed["oncePer"]
    assert yaml.safe_load(cm.obj["data"]["trigger.on-health-degraded"])[0]["when"] == "app.status.health.status == 'Degraded'"


def test_on_call_routing_covers_every_critical_alert_and_stays_out_of_validated_targets(rendered, find):
    """base/notifications/alertmanagerconfig.yaml is not rendered (its CRD is not locked: crds.lock); what it says
    is checked here: it routes severity=critical, and its alertname matcher takes every critical alert."""
    path = REPO / "base" / "notifications" / "alertmanagerconfig.yaml"
    amc, external = list(yaml.safe_load_all(path.read_text()))
    assert amc["apiVersion"] == "monitoring.coreos.com/v1alpha1" and amc["kind"] == "AlertmanagerConfig"
    assert "alertmanagerconfigs" not in (REPO / "crds.lock").read_text()
    for overlay in ("overlays/production", "overlays/staging"):
        assert not [d for d in rendered(overlay) if d.kind == "AlertmanagerConfig"]
    matchers = {m["name"]: m for m in amc["spec"]["route"]["matchers"]}
    assert matchers["severity"]["value"] == "critical" and matchers["severity"]["matchType"] == "="
    critical = [r["alert"] for d in rendered("overlays/production") if d.kind == "PrometheusRule"
                for g in d.obj["spec"]["groups"] for r in g["rules"] if r.get("labels", {}).get("severity") == "critical"]
    assert critical and all(re.fullmatch(matchers["alertname"]["value"], a) for a in critical)
    receiver = amc["spec"]["receivers"][0]["pagerdutyConfigs"][0]["routingKey"]
    assert external["kind"] == "ExternalSecret" and external["spec"]["target"]["name"] == receiver["name"]
    assert [d["secretKey"] for d in external["spec"]["data"]] == [receiver["key"]]

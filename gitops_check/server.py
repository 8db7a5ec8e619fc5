"""The `server` stage: every rendered object judged by a real kube-apiserver, as Argo CD's sync would apply it.

The control plane (gitops_check.controlplane) runs kube-apiserver at the clusters' Kubernetes version with
the locked CRDs installed. Each source (an overlay or a manifest file) is applied on its own, in the order
Argo CD syncs (sync wave, then kind, then name), with `dryRun=All` and strict field validation, so nothing
persists and one source's objects never satisfy another's. The apply mode is the one the source's Argo CD
Application uses: server-side apply when its syncOptions (or the object's sync-options annotation) say
`ServerSideApply=true`, otherwise kubectl's client-side apply (a create carrying the last-applied
annotation). Only the namespaces the objects land in are created for real.

What the server refuses or warns about becomes a finding with the server's own message and field path:
the harness does not imitate the API server's validation, it asks it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from . import render, runner
from .argocdsync import SYNC_OPTIONS, App, applications, local_sources, overlay_dir, sync_options, sync_order
from .context import Context
from .errors import ToolError
from .kubeapi import Client, Resource
from .model import Document, Source, Violation
from .references.index import Index
from .rules import rule

REFUSED = rule(
    "WH-API-001", "error", "server",
    "The Kubernetes API server accepts every object (dry run, strict field validation, the Application's apply mode)",
    "Argo CD applies the same object to the same API server: what it refuses here fails the sync there.",
)
WARNED = rule(
    "WH-API-002", "warning", "server",
    "The Kubernetes API server accepts every object without a warning",
    "Server warnings name deprecated APIs and values it will stop accepting or silently ignores.",
)
NOT_SERVED = rule(
    "WH-API-003", "error", "server",
    "Every apiVersion/kind is served by the API server at the target version with the locked CRDs",
    "Argo CD cannot sync a kind the cluster does not serve: a removed API version, a missing CRD or a typo.",
)

SSA, CSA = "server-side apply", "client-side apply"
FIELD_MANAGER = "argocd-controller"  # the field manager Argo CD uses
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
WORKERS = 8  # concurrent dry runs; the server answers each in milliseconds

# --------------------------------------------------------------------------- apply modes


def _applications(sources: list[Source], ctx: Context) -> list[App]:
    """Every Argo CD Application (and ApplicationSet element) this run rendered, plus the repository's own
    (settings.applications) when the run did not include that overlay."""
    docs = [d for s in sources for d in s.documents]
    overlay = ctx.settings.applications
    if overlay and render.is_overlay(overlay) and overlay.resolve() not in {
        s.path.resolve() for s in sources if s.path is not None
    }:
        docs += render.documents(overlay, ctx.settings.display(overlay), ctx.settings)
    return list(applications(docs))


def apply_modes(source: Source, apps: list[App], ctx: Context) -> set[str]:
    """The apply modes the Applications that sync this source use; client-side apply (Argo CD's default)
    when no Application syncs it."""
    if source.path is None:
        return {CSA}
    here = source.path.resolve()
    modes = {
        SSA if app.options.get("ServerSideApply") == "true" else CSA
        for app in apps
        for path, _ in local_sources(app)
        if overlay_dir(ctx.settings.repo_root, path) == here
    }
    return modes or {CSA}


def _mode_for(doc: Document, app_mode: str) -> str:
    """An object's own sync-options annotation overrides its Application's apply mode."""
    own = sync_options((doc.metadata.get("annotations") or {}).get(SYNC_OPTIONS))
    if own.get("ServerSideApply") == "true":
        return SSA
    if own.get("ServerSideApply") == "false":
        return CSA
    return app_mode


# --------------------------------------------------------------------------- judging objects


def _ensure_namespaces(client: Client, namespaces: set[str]) -> None:
    """Create the namespaces objects land in (an invalid name is refused here and reported by the dry run
    of the objects in it; one that exists already is fine)."""
    for ns in sorted(namespaces):
        client.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def _client_side_body(obj: dict) -> dict:
    """What kubectl's client-side apply sends to create an object: the object plus the last-applied
    annotation holding the object itself (compact JSON, as kubectl writes it)."""
    body = json.loads(json.dumps(obj))
    meta = body.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    meta["annotations"] = annotations
    applied = json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"
    meta["annotations"] = {**annotations, LAST_APPLIED: applied}
    return body


def dry_run(client: Client, resource: Resource, doc: Document, mode: str, namespace: str):
    query = f"dryRun=All&fieldManager={FIELD_MANAGER}&fieldValidation=Strict"
    if mode == SSA:
        path = resource.path(namespace, doc.name) + f"?{query}&force=true"
        return client.request("PATCH", path, doc.obj, "application/apply-patch+yaml")
    body = _client_side_body(doc.obj)
    resp = client.request("POST", resource.path(namespace) + f"?{query}", body)
    if resp.status == 409 and doc.name:
        # It exists (a namespace created for the dry run): kubectl apply patches an existing object, with a
        # strategic merge patch for built-in kinds and a JSON merge patch for custom resources.
        group = resource.group_version.rpartition("/")[0]
        builtin = "." not in group or group.endswith(".k8s.io")
        patch = "application/strategic-merge-patch+json" if builtin else "application/merge-patch+json"
        resp = client.request("PATCH", resource.path(namespace, doc.name) + f"?{query}", body, patch)
    return resp


def _served_as(kind: str, resources: dict) -> list[str]:
    return sorted(gv for gv, k in resources if k == kind)


def _judge(doc: Document, resp, mode: str, version: str) -> list[Violation]:
    how = f"kube-apiserver {version}, dry run, {mode}"
    if resp.ok:
        return [WARNED.violation(doc, f"{w} (a warning from {how}): change the object so the server has nothing to warn about")
                for w in resp.warnings]
    causes = [c for c in (resp.body.get("details") or {}).get("causes") or [] if isinstance(c, dict)]
    fix = "Argo CD's sync would fail the same way: change the field to a value the server accepts"
    if not causes:
        message = str(resp.body.get("message") or f"HTTP {resp.status}")
        return [REFUSED.violation(doc, f"{message} (refused by {how}); {fix}")]
    out = []
    for c in causes:
        where = str(c.get("field") or "").strip()
        text = str(c.get("message") or c.get("reason") or "").strip()
        out.append(REFUSED.violation(doc, f"{where + ': ' if where and not text.startswith(where) else ''}{text} (refused by {how}); {fix}"))
    return out


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    cp = ctx.control_plane()  # up, with the locked CRDs installed
    client = Client(cp.url, cp.token, cp.ca_file)
    resources = client.resources()
    version = ctx.settings.tools["kubernetes"].version
    apps = _applications(sources, ctx)

    tasks: list[tuple[Document, str, Resource | None, str]] = []
    namespaces: set[str] = set()
    for source in sources:
        modes = apply_modes(source, apps, ctx)
        # A namespaced object without a namespace lands in the Application's destination namespace: the one
        # most of the source's objects name (or "default").
        default = Index(source).namespace or "default"
        for doc in sync_order(source.documents):
            resource = resources.get((doc.api_version, doc.kind))
            namespace = (doc.namespace or default) if resource is None or resource.namespaced else ""
            if namespace:
                namespaces.add(namespace)
            for mode in sorted({_mode_for(doc, m) for m in modes}):
                tasks.append((doc, mode, resource, namespace))
    _ensure_namespaces(client, namespaces)

    def judge(task: tuple[Document, str, Resource | None, str]) -> list[Violation]:
        if runner.stopping():  # an interrupted run sends no more dry runs
            raise ToolError("the server stage stopped: the run is stopping")
        doc, mode, resource, namespace = task
        if resource is None:
            served = _served_as(doc.kind, resources)
            hint = (f"{doc.kind} is served as {', '.join(served)}: use that apiVersion" if served
                    else "add its CRD to crds.lock (and crds-dir), or fix the apiVersion/kind")
            return [NOT_SERVED.violation(doc, f"{doc.api_version} {doc.kind} is not served by kube-apiserver {version} "
                                              f"with the locked CRDs: {hint}")]
        return _judge(doc, dry_run(client, resource, doc, mode, namespace), mode, version)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(judge, tasks))
    return list(dict.fromkeys(v for violations in results for v in violations))  # one finding per fact

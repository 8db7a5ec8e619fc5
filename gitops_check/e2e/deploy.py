"""Releases as the repository makes them, synced as Argo CD syncs them.

A release is the repository with a new digest written by `scripts/promote` (its own rewrite of
overlays/production/kustomization.yaml, in a scratch copy of the kustomize tree), rendered from one of the
scaled e2e overlays. Syncing applies every object with server-side apply in Argo CD's order (sync wave,
kind, name) as field manager argocd-controller, into a namespace of the scenario's own, and honours the
Application's ignoreDifferences with RespectIgnoreDifferences (what the controllers own, such as the
VirtualService routes and the Services' pod-template-hash selector, stays as they set it).
"""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from .. import argocdsync, render, server
from ..errors import ToolError
from ..kubeapi import Client
from ..model import Document
from ..settings import Settings

TREE = ("base", "components", "overlays", "tests/components", "tests/overlays")


def _promote(settings: Settings):
    path = settings.repo_root / "scripts" / "promote"
    loader = importlib.machinery.SourceFileLoader("promote", str(path))
    spec = importlib.util.spec_from_loader("promote", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Releases:
    """Renders of an e2e overlay at a digest, each made once."""

    def __init__(self, settings: Settings, mutate=None):
        self.settings = settings
        self.mutate = mutate  # a function that breaks every render on purpose (tests only)
        self._tmp = Path(tempfile.mkdtemp(prefix="gitops-check-e2e-"))
        self._rewrite = _promote(settings).rewrite
        self._cache: dict[tuple[str, str], list[Document]] = {}

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def render(self, overlay: str, digest: str) -> list[Document]:
        key = (overlay, digest)
        if key not in self._cache:
            tree = self._tmp / digest.replace(":", "-")
            if not tree.exists():
                for part in TREE:
                    shutil.copytree(self.settings.repo_root / part, tree / part)
                kustomization = tree / "overlays" / "production" / "kustomization.yaml"
                kustomization.write_text(self._rewrite(kustomization.read_text(), digest))
            docs = render.documents(tree / overlay, overlay, self.settings)
            if self.mutate is not None:
                self.mutate(docs)
            self._cache[key] = docs
        return [Document(copy.deepcopy(d.obj), d.source, d.line) for d in self._cache[key]]


def image_of(docs: list[Document]) -> str:
    ro = next(d for d in docs if d.kind == "Rollout")
    return ro.obj["spec"]["template"]["spec"]["containers"][0]["image"]


def ignore_differences(settings: Settings, overlay: str = "overlays/production") -> list[dict]:
    """The ignoreDifferences of the repository's Application that syncs `overlay` (argocd/)."""
    docs = render.documents(settings.applications, settings.display(settings.applications), settings)
    target = settings.repo_root / overlay
    for app in argocdsync.applications(docs):
        if any(argocdsync.overlay_dir(settings.repo_root, p) == target.resolve() for p, _ in argocdsync.local_sources(app)):
            return list(app.spec.get("ignoreDifferences") or [])
    raise ToolError(f"no Application in {settings.display(settings.applications)} syncs {overlay}")


def _pointer(obj: dict, pointer: str) -> tuple[dict | None, str]:
    """The parent mapping and key a JSON pointer names (None when a parent is missing)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    node = obj
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else (node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else None)
        if node is None:
            return None, parts[-1]
    return (node if isinstance(node, dict) else None), parts[-1]


def respect_ignore_differences(live: dict, doc: Document, ignores: list[dict]) -> None:
    """What RespectIgnoreDifferences=true does before applying: ignored fields keep their live values."""
    for entry in ignores:
        if entry.get("kind") != doc.kind or (entry.get("group") or "") != doc.group:
            continue
        for pointer in entry.get("jsonPointers") or []:
            source, key = _pointer(live, pointer)
            target, _ = _pointer(doc.obj, pointer)
            if target is None:
                continue
            if source is not None and key in source:
                target[key] = copy.deepcopy(source[key])
            else:
                target.pop(key, None)
        expressions = entry.get("jqPathExpressions") or []
        if expressions:
            # The Application's jq expressions all select under .spec.http (route weights, managed routes):
            # keeping the live HTTP routes is what they amount to. Anything else is not emulated here.
            if not all(e.startswith(".spec.http") for e in expressions):
                raise ToolError(f"ignoreDifferences jq expressions {expressions} are not emulated by the e2e sync")
            doc.obj.setdefault("spec", {})["http"] = copy.deepcopy((live.get("spec") or {}).get("http"))


def sync(client: Client, docs: list[Document], namespace: str, resources: dict, ignores: list[dict]) -> None:
    """Apply a release into `namespace` as Argo CD syncs it; ToolError naming the first refusal."""
    for doc in argocdsync.sync_order(docs):
        resource = resources.get((doc.api_version, doc.kind))
        if resource is None:
            raise ToolError(f"{doc.api_version} {doc.kind} is not served by the simulated cluster")
        # Into the scenario's namespace, as an Application's destination namespace places them.
        if resource.namespaced:
            doc.obj["metadata"]["namespace"] = namespace
        elif doc.kind == "Namespace":
            doc.obj["metadata"]["name"] = namespace
        path = resource.path(namespace if resource.namespaced else "", doc.name)
        live = client.request("GET", path)
        if live.ok:
            respect_ignore_differences(live.body, doc, ignores)
        resp = client.request("PATCH", path + f"?fieldManager={server.FIELD_MANAGER}&force=true", doc.obj,
                              "application/apply-patch+yaml")
        if not resp.ok:
            raise ToolError(f"sync of {doc.kind}/{doc.name} into {namespace} refused: {resp.body.get('message')}")
    # external-secrets is not part of the simulated cluster: the Secret its ExternalSecret would create
    secret = next((d for d in docs if d.kind == "ExternalSecret"), None)
    if secret is not None:
        target = ((secret.obj.get("spec") or {}).get("target") or {}).get("name") or secret.name
        keys = [x.get("secretKey") for x in (secret.obj.get("spec") or {}).get("data") or []]
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": target, "namespace": namespace},
                "stringData": {k: "e2e" for k in keys if k}}
        client.request("PATCH", f"/api/v1/namespaces/{namespace}/secrets/{target}?fieldManager=external-secrets&force=true",
                       body, "application/apply-patch+yaml")


@lru_cache(maxsize=None)
def digest(name: str) -> str:
    """A stable, valid-looking digest per release name (the simulated nodes pull nothing)."""
    import hashlib

    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()

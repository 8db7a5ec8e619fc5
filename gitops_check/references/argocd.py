"""Argo CD objects against the repository: every Application (and every Application an ApplicationSet
list generator produces) points at an overlay that exists, deploys it into the namespace its manifests
declare, and stays inside what its AppProject allows.

These mistakes only surface after merge, as a ComparisonError or a sync that fails or lands objects in
the wrong namespace. The overlay is rendered (kustomize, cached per path) to learn its namespaces.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterator

from ..argocdsync import App, applications, local_sources, overlay_dir
from ..errors import InputError
from ..model import Document, Violation
from ..render import is_overlay
from ..rules import rule
from .index import CLUSTER_SCOPED, ENVIRONMENT_LABEL, Index, as_dict, dicts
from .inputs import Inputs
from .rollouts import routed_services

APP_PATH = rule(
    "WH-REF-032", "error", "references", "An Application's source path is an overlay of this repository that builds",
    "Argo CD reports a ComparisonError for a missing path and syncs nothing.",
)
APP_NAMESPACE = rule(
    "WH-REF-033", "error", "references",
    "An Application's destination namespace matches the namespace its overlay's manifests declare",
    "A mismatch splits the app across namespaces or fails the sync; references between objects stop resolving.",
)
APP_PROJECT_PERMITS = rule(
    "WH-REF-034", "error", "references", "An Application's destination and repository are allowed by its AppProject",
    "Argo CD refuses to sync an Application outside its project's destinations or sourceRepos.",
)
APP_PROJECT = rule(
    "WH-REF-035", "error", "references", "An Application's project is an AppProject in the source",
    "A missing project makes the Application invalid; the 'default' project would put no bounds on it.",
)
APP_ENVIRONMENT = rule(
    "WH-REF-039", "error", "references",
    "An Application deploys the overlay of its own environment",
    "An Application for one environment syncing another environment's overlay ships the wrong replicas, "
    "images and thresholds there (e.g. staging settings in production).",
)

SELECTOR_HASH = rule(
    "WH-REF-043", "error", "references",
    "An Application that server-side applies Services a Rollout routes ignores their rollouts-pod-template-hash "
    "selector and respects ignored differences when syncing",
    "A Service selector is an atomic map under server-side apply: every sync drops the key Argo Rollouts adds, so "
    "the Service sends traffic to every version, and a blue-green Rollout takes the next release for an initial "
    "deploy and promotes it without analysis (seen end to end).",
)
HASH_POINTER = "/spec/selector/rollouts-pod-template-hash"

def apps(idx: Index) -> list[App]:
    """The source's Applications, those its ApplicationSets generate included: made once per source (six checks
    read them)."""
    made = idx.__dict__.get("_argocd_apps")
    if made is None:
        made = idx.__dict__["_argocd_apps"] = list(applications(idx.source.documents))
    return made


def _unresolved(text: str) -> bool:
    return "{{" in text


def _overlay_dir(inputs: Inputs, path: str) -> Path | None:
    """The overlay folder a source path names; None when it names none (outside the repository, or a path no
    file system takes: a NUL byte, a name too long, a symbolic link loop)."""
    try:
        target = overlay_dir(inputs.ctx.settings.repo_root, str(path))
        return target if target is not None and is_overlay(target) else None
    except (OSError, ValueError, RuntimeError):
        return None


def app_paths(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """source.path / sources[].path must be a directory with a kustomization under the repository root,
    and it must build."""
    for app in apps(idx):
        for path, _ in local_sources(app):
            target = _overlay_dir(inputs, path)
            if target is None:
                yield APP_PATH.violation(
                    app.doc, f"{app.label}source path {path!r} is not an overlay of this repository (no directory "
                    "with a kustomization.yaml there); fix the path",
                )
                continue
            try:
                inputs.rendered(target, path)
            except InputError as exc:
                yield APP_PATH.violation(app.doc, f"{app.label}source path {path!r} does not build: {exc}")


def _rendered_docs(inputs: Inputs, path: str) -> list[Document]:
    """The objects an overlay path renders; [] when it is not an overlay or does not build (app_paths reports it)."""
    target = _overlay_dir(inputs, path)
    if target is None:
        return []
    try:
        return inputs.rendered(target, path)
    except InputError:
        return []


def _rendered_namespaces(inputs: Inputs, path: str, source: dict) -> set[str]:
    override = as_dict(source.get("kustomize")).get("namespace")
    if override:
        return {str(override)}
    return {d.namespace for d in _rendered_docs(inputs, path) if d.namespace and d.kind not in CLUSTER_SCOPED}


def app_namespaces(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """destination.namespace must equal every namespace the overlay's namespaced manifests declare."""
    for app in apps(idx):
        dest = str(app.destination.get("namespace") or "")
        if not dest or _unresolved(dest):
            continue
        for path, source in local_sources(app):
            namespaces = _rendered_namespaces(inputs, path, source)
            others = sorted(namespaces - {dest})
            if others:
                yield APP_NAMESPACE.violation(
                    app.doc,
                    f"{app.label}destination namespace {dest!r} differs from the namespace(s) {', '.join(others)} "
                    f"that {path!r} renders; make them the same",
                )


def _known_environments(inputs: Inputs) -> set[str]:
    """The environment names of params.environments (policies/data/params.yaml); none when unreadable."""
    try:
        return set(inputs.min_replicas)
    except InputError:
        return set()


def app_environment(app: App, inputs: Inputs) -> tuple[str, str] | None:
    """(environment, where it was read) of an Application: its own `environment` label, else a known
    environment name appearing as a token of destination.name, else of metadata.name; None when unknown."""
    label = as_dict(app.meta.get("labels")).get(ENVIRONMENT_LABEL)
    if label and not _unresolved(str(label)):
        return str(label), "its environment label"
    known = _known_environments(inputs)
    for where, value in (("destination name", app.destination.get("name")), ("name", app.meta.get("name"))):
        tokens = set(re.split(r"[^a-z0-9]+", str(value or "").lower()))
        found = sorted(known & tokens)
        if len(found) == 1:
            return found[0], f"its {where} {value!r}"
    return None


def app_environments(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """The environment an Application is for must be the `environment` label of the objects its overlay
    renders. Quiet when either side is unknown."""
    for app in apps(idx):
        env = app_environment(app, inputs)
        if env is None:
            continue
        for path, _ in local_sources(app):
            rendered = {str(d.labels[ENVIRONMENT_LABEL]) for d in _rendered_docs(inputs, path) if d.labels.get(ENVIRONMENT_LABEL)}
            others = sorted(rendered - {env[0]})
            if others:
                yield APP_ENVIRONMENT.violation(
                    app.doc,
                    f"{app.label}is for environment {env[0]!r} (from {env[1]}) but source path {path!r} renders "
                    f"objects labelled environment {', '.join(others)}; point it at the {env[0]} overlay",
                )


def _allowed(patterns: list, value: str) -> bool:
    """Argo CD glob lists: some pattern matches and no `!pattern` excludes."""
    positive = [str(p) for p in patterns if not str(p).startswith("!")]
    negative = [str(p)[1:] for p in patterns if str(p).startswith("!")]
    return any(fnmatchcase(value, p) for p in positive) and not any(fnmatchcase(value, p) for p in negative)


# The cluster Argo CD runs in, by name and by server URL: either spelling names the same destination.
IN_CLUSTER = {"name": "in-cluster", "server": "https://kubernetes.default.svc"}


def _destination_allowed(project: dict, dest: dict) -> bool:
    """Some project destination's namespace glob and server (or name) glob match the Application's."""
    ids = {k: str(dest.get(k) or "") for k in ("server", "name")}
    if ids["server"] == IN_CLUSTER["server"] or ids["name"] == IN_CLUSTER["name"]:
        ids = {k: ids[k] or IN_CLUSTER[k] for k in ids}
    for allowed in dicts(project.get("destinations")):
        if not _allowed([allowed.get("namespace", "")], str(dest.get("namespace", ""))):
            continue
        if any(ids[k] and allowed.get(k) and _allowed([allowed[k]], ids[k]) for k in ("server", "name")):
            return True
    return False


def _project(idx: Index, app: App) -> Document | None:
    return idx.get("AppProject", idx.ns(app.doc), app.spec.get("project"))


def app_projects(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """spec.project must name an AppProject of the source (the built-in 'default' included: it is unbounded)."""
    for app in apps(idx):
        name = app.spec.get("project")
        if not name or _unresolved(str(name)) or _project(idx, app) is None:
            yield APP_PROJECT.violation(
                app.doc,
                f"{app.label}project: {idx.absent('AppProject', idx.ns(app.doc), name or '')}; add an AppProject "
                "that bounds its repositories and destinations and name it in spec.project",
            )


def project_permits(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """The AppProject (when in the source) must allow the Application's destination and repoURLs."""
    for app in apps(idx):
        project = _project(idx, app)
        if project is None:
            continue
        pspec = as_dict(project.obj.get("spec"))
        dest = app.destination
        if not any(_unresolved(str(v)) for v in dest.values()) and not _destination_allowed(pspec, dest):
            yield APP_PROJECT_PERMITS.violation(
                app.doc,
                f"{app.label}destination {dest.get('server') or dest.get('name')} namespace {dest.get('namespace')!r} "
                f"is not in AppProject {project.name!r} destinations; allow it there or fix the destination",
            )
        for source in app.sources():
            repo = str(source.get("repoURL", ""))
            if repo and not _unresolved(repo) and not _allowed(as_list_str(pspec.get("sourceRepos")), repo):
                yield APP_PROJECT_PERMITS.violation(
                    app.doc,
                    f"{app.label}repoURL {repo!r} is not in AppProject {project.name!r} sourceRepos; allow it there "
                    "or fix the repoURL",
                )


def as_list_str(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _ignores_selector_hash(app: App) -> bool:
    for entry in dicts(app.spec.get("ignoreDifferences")):
        if entry.get("kind") != "Service" or entry.get("group", "") not in ("", None):
            continue
        if HASH_POINTER in as_list_str(entry.get("jsonPointers")) or any(
            "rollouts-pod-template-hash" in e for e in as_list_str(entry.get("jqPathExpressions"))
        ):
            return True
    return False


def selector_hash_kept(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Server-side apply must leave the selector key Argo Rollouts owns alone (ignoreDifferences on it, and
    RespectIgnoreDifferences=true so the sync keeps the live value)."""
    for app in apps(idx):
        options = app.options
        if options.get("ServerSideApply") != "true":
            continue
        for path, _ in local_sources(app):
            services = sorted({name for d in _rendered_docs(inputs, path) if d.kind == "Rollout"
                               for _, name in routed_services(d)})
            if not services:
                continue
            missing = []
            if not _ignores_selector_hash(app):
                missing.append(f"an ignoreDifferences entry for kind Service with jsonPointers [{HASH_POINTER}]")
            if options.get("RespectIgnoreDifferences") != "true":
                missing.append("syncOptions RespectIgnoreDifferences=true")
            if missing:
                yield SELECTOR_HASH.violation(
                    app.doc,
                    f"{app.label}server-side applies {path!r}, whose Rollout routes Services {', '.join(services)}: each "
                    "sync would drop the rollouts-pod-template-hash Argo Rollouts adds to their selectors; add "
                    + " and ".join(missing),
                )


CHECKS = (app_paths, app_namespaces, app_projects, project_permits, app_environments, selector_hash_kept)

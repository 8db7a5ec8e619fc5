"""Argo CD objects against the repository: every Application (and every Application an ApplicationSet
list generator produces) points at an overlay that exists, deploys it into the namespace its manifests
declare, and stays inside what its AppProject allows; and what Argo CD would do on top of the overlay is
safe: no render options gitops-check never renders, every rendered kind permitted by the project, no ignored
field of a pod template, the namespace kept (WH-REF-049..051, 055); and an ApplicationSet generates only
Applications this module can enumerate and so judge (WH-REF-056). Patterns are matched as Argo CD matches them
(references.globs); jq expressions are read by references.jqpaths.

These mistakes only surface after merge, as a ComparisonError or a sync that fails or lands objects in
the wrong namespace. The overlay is rendered (kustomize, cached per path) to learn its namespaces.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from .. import loader
from ..argocdsync import PLACEHOLDER, App, applications, lookup, local_sources, overlay_dir
from ..errors import InputError
from ..model import Document, Violation
from ..render import is_overlay
from ..rules import rule
from .globs import argo_match, go_match
from .index import CLUSTER_SCOPED, ENVIRONMENT_LABEL, Index, as_dict, as_list, dicts
from .inputs import Inputs
from .jqpaths import paths as jq_paths
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

RENDER_OPTIONS = rule(
    "WH-REF-049", "error", "references",
    "An Application whose source is an overlay of this repository sets no render options on top of it",
    "Argo CD applies an Application's kustomize images, patches, name prefixes, labels, replicas or components after "
    "the overlay is built (and renders a source with helm, plugin or directory options another way), none of which "
    "gitops-check renders or checks: an unpinned image or a canary straight to 100 % reaches production.",
)
PROJECT_KINDS = rule(
    "WH-REF-050", "error", "references",
    "Every object an Application's overlay renders is of a group and kind its AppProject permits",
    "Argo CD refuses the whole sync when one object is not permitted in the project (\"resource ... is not permitted "
    "in project\"): nothing of the release is applied.",
)
IGNORED_TEMPLATE = rule(
    "WH-REF-051", "error", "references",
    "An Application that respects ignored differences (or syncs automatically) ignores no field of the pod template "
    "of its Rollouts and Deployments (its annotations excepted)",
    "Argo CD keeps the live value of an ignored field when it syncs with RespectIgnoreDifferences=true, and a change "
    "there never makes the Application OutOfSync: a new image, command, env value or resource limit is never applied "
    "while Argo CD shows Synced.",
)
NAMESPACE_KEPT = rule(
    "WH-REF-055", "error", "references",
    "An Application that does not create its namespace (no CreateNamespace=true) renders the Namespace its objects "
    "land in, when its AppProject lets it sync that Namespace",
    "Argo CD prunes a Namespace it synced once it leaves the overlay, and deleting a Namespace deletes every object in "
    "it (Rollout, Services, Secrets); on a new cluster the sync fails on the missing namespace.",
)
GENERATED_UNJUDGED = rule(
    "WH-REF-056", "error", "references",
    "Every Application an ApplicationSet generates is one gitops-check can enumerate: list generators with literal "
    "elements, the ApplicationSet's own template, and placeholders those elements fill",
    "gitops-check judges an ApplicationSet's Applications by filling its template from its list elements; those a "
    "git, clusters, matrix, merge, scmProvider, pullRequest, clusterDecisionResource or plugin generator, an "
    "elementsYaml, a generator's own template or a template expression make are never judged (overlay path, "
    "namespace, project, render options, ignored differences) and reach the clusters unchecked.",
)
# Namespaces every cluster has: no Application needs to create or render them.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

def apps(idx: Index) -> list[App]:
    """The source's Applications, those its ApplicationSets generate included: made once per source (most checks
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


def _rendered(inputs: Inputs, path: str) -> list[Document] | None:
    """The objects an overlay path renders; None when it is not an overlay or does not build (app_paths reports it)."""
    target = _overlay_dir(inputs, path)
    if target is None:
        return None
    try:
        return inputs.rendered(target, path)
    except InputError:
        return None


def _rendered_docs(inputs: Inputs, path: str) -> list[Document]:
    return _rendered(inputs, path) or []


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
    return any(argo_match(p, value) for p in positive) and not any(argo_match(p, value) for p in negative)


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


# --------------------------------------------------------------------------- render options (WH-REF-049)

# Argo CD's ApplicationSourceKustomize options this stage models: namespace (WH-REF-033 judges the namespace it sets)
# and ignoreMissingComponents (changes nothing without components, which are refused). Every other option (images,
# patches, namePrefix, nameSuffix, commonLabels, commonAnnotations, force*, labelWithoutSelector,
# labelIncludeTemplates, commonAnnotationsEnvsubst, replicas, components, version, kubeVersion, apiVersions, and
# any option this list does not know yet) changes what Argo CD renders from the overlay.
MODELLED_KUSTOMIZE = frozenset({"namespace", "ignoreMissingComponents"})
# A source with any of these (even empty: ApplicationSource.ExplicitType) is not built by kustomize at all.
OTHER_TOOLS = {"helm": "a Helm chart", "plugin": "a config management plugin", "directory": "plain manifests"}
# Argo CD merges these files of the source path into the source before rendering (mergeSourceParameters);
# the path, repoURL, targetRevision and chart they set are reset.
SOURCE_FILES = (".argocd-source.yaml", ".argocd-source-{}.yaml")
RESET_BY_ARGOCD = frozenset({"path", "repoURL", "targetRevision", "chart"})


def _empty(value: Any) -> bool:
    """Argo CD's omitempty: an option set to nothing changes nothing."""
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def _render_options(source: dict, modelled: frozenset = MODELLED_KUSTOMIZE) -> list[str]:
    """What a source (or a source override file) sets that Argo CD applies on top of `kustomize build`."""
    found = []
    kustomize = source.get("kustomize")
    if not _empty(kustomize):
        options = as_dict(kustomize)
        keys = sorted(str(k) for k, v in options.items() if k not in modelled and not _empty(v))
        if keys or not isinstance(kustomize, dict):
            found.append(f"kustomize options {', '.join(keys) or repr(kustomize)}")
    for key, tool in OTHER_TOOLS.items():
        if key in source and source[key] is not None:
            found.append(f"{key} options (Argo CD then renders it as {tool}, not as kustomize builds it)")
    return found


def _source_files(target: Path, path: str, app: App) -> Iterator[tuple[str, list[str]]]:
    """(file, what it sets) for the .argocd-source files Argo CD merges into this Application's source."""
    name, namespace = str(app.meta.get("name") or ""), str(app.meta.get("namespace") or "")
    instances = [name, f"{namespace}_{name}" if namespace else ""]  # Application.InstanceName, either form
    names = [SOURCE_FILES[0]] + [SOURCE_FILES[1].format(n) for n in instances if name and n and not _unresolved(n)]
    for file in dict.fromkeys(names):
        shown = f"{path.rstrip('/')}/{file}"
        try:
            if not (target / file).is_file():
                continue
            data = loader.data_file(target / file)
        except (InputError, OSError, ValueError):
            yield shown, ["settings gitops-check cannot read"]
            continue
        data = as_dict(data)
        found = _render_options(data, frozenset())  # its namespace is not the Application's, which WH-REF-033 reads
        found += sorted(f"{k}" for k, v in data.items() if k not in RESET_BY_ARGOCD and k not in OTHER_TOOLS
                        and k != "kustomize" and not _empty(v))
        if found:
            yield shown, found


def render_options(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A source that is an overlay of this repository is rendered by Argo CD exactly as `kustomize build` renders
    it: no kustomize options but the modelled namespace, no helm, plugin or directory options, and no
    .argocd-source files merged into it. An ApplicationSet's templatePatch (never read here) is refused too."""
    for app in apps(idx):
        for path, source in local_sources(app):
            target = _overlay_dir(inputs, path)
            if target is None:
                continue  # not an overlay here (WH-REF-032)
            found = _render_options(source)
            if found:
                yield RENDER_OPTIONS.violation(
                    app.doc,
                    f"{app.label}source {path!r} sets {' and '.join(found)}, which Argo CD applies on top of the "
                    "overlay and gitops-check never renders or checks; move the change into the overlay (its "
                    "kustomization.yaml), where it is validated, and remove it from the Application",
                )
            for file, what in _source_files(target, path, app):
                yield RENDER_OPTIONS.violation(
                    app.doc,
                    f"{app.label}Argo CD merges {file} into the source of {path!r} before rendering it, and that file "
                    f"sets {', '.join(what)}, which gitops-check never renders or checks; move the change into the "
                    "overlay's kustomization.yaml, where it is validated, and delete the file",
                )
    for appset in idx.of_kind("ApplicationSet"):
        if as_dict(appset.obj.get("spec")).get("templatePatch"):
            yield RENDER_OPTIONS.violation(
                appset,
                "spec.templatePatch changes the Applications it generates after their template, and gitops-check "
                "reads only the template, so what it patches (kustomize options, sources, sync settings) is never "
                "rendered or checked; write the Applications' settings in spec.template",
            )


# --------------------------------------------------------------------------- generated Applications (WH-REF-056)

# The generators of the locked ApplicationSet CRD (Argo CD v3.5.1) other than `list`, and what each makes its
# Applications from: none of it is in the source, so none of their Applications can be enumerated here. Argo CD runs
# every generator set in a generators[] entry (GetRelevantGenerators), `selector` aside, which only filters.
GENERATOR_INPUTS = {
    "git": "the folders or files of a Git repository at the revision Argo CD fetches",
    "clusters": "the clusters registered in Argo CD",
    "matrix": "every combination of its child generators' parameters",
    "merge": "its child generators' parameters merged by key",
    "scmProvider": "the repositories an SCM provider lists",
    "pullRequest": "the open pull requests of a repository",
    "clusterDecisionResource": "the status of a resource in the cluster",
    "plugin": "what a generator plugin's service answers",
}
UNJUDGED = ("so none of the Applications it generates is judged (overlay path, namespace, project, render options, "
            "ignored differences)")
LIST_FIX = ("write each Application as an element of a list generator's `elements` (literal key/value pairs) and its "
            "settings in spec.template, or as an Application of its own; both are judged")


def _sets(value: Any) -> bool:
    """The value sets something (mergo leaves a field the generator's template leaves empty to spec.template)."""
    if isinstance(value, dict):
        return any(_sets(v) for v in value.values())
    if isinstance(value, list):
        return any(_sets(v) for v in value)
    return not _empty(value)


def _unfilled(value: Any, element: dict, where: str = "") -> Iterator[tuple[str, str]]:
    """(field, text) for every string of a template a list element does not fill in full: a placeholder whose key
    the element lacks (or holds a list or mapping), and every other `{{ ... }}` (functions, pipes, conditions, trim
    markers), which Argo CD evaluates and gitops-check cannot. Mapping keys are never filled here: one with `{{` too."""
    if isinstance(value, str):
        if "{{" in value:
            def filled(m: re.Match) -> str:
                found = lookup(element, m.group(1))
                return m.group(0) if found is None or isinstance(found, (dict, list)) else ""
            if "{{" in PLACEHOLDER.sub(filled, value):
                yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            field = f"{where}.{k}" if where else str(k)
            if "{{" in str(k):
                yield field, str(k)
            yield from _unfilled(v, element, field)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _unfilled(v, element, f"{where}[{i}]")


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _indexes(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def generated_applications(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """The Applications an ApplicationSet generates must be ones gitops-check enumerates (argocdsync.applications):
    one per literal element of a list generator's `elements`, from spec.template, every placeholder filled by the
    element. Refused: any other generator (its Applications come from outside the source), a list generator's
    elementsYaml (elements Argo CD adds from a string) or own template (it takes precedence over spec.template,
    field by field), and template text the elements do not fill. spec.templatePatch is WH-REF-049's."""
    for appset in idx.of_kind("ApplicationSet"):
        spec = as_dict(appset.obj.get("spec"))
        for i, generator in enumerate(as_list(spec.get("generators"))):
            for key, value in as_dict(generator).items():
                if key == "selector" or value is None:
                    continue
                if key != "list":
                    made = GENERATOR_INPUTS.get(key)
                    what = (f"a {key} generator: Argo CD makes its Applications from {made}, which gitops-check "
                            "cannot enumerate" if made else
                            f"a {key!r} generator, which gitops-check does not know and cannot enumerate")
                    yield GENERATED_UNJUDGED.violation(
                        appset, f"generators[{i}] is {what}, {UNJUDGED}; {LIST_FIX}",
                    )
                    continue
                listed = as_dict(value)
                if not _empty(listed.get("elementsYaml")):
                    yield GENERATED_UNJUDGED.violation(
                        appset,
                        f"generators[{i}].list.elementsYaml adds elements Argo CD parses from a string (often a "
                        f"template of another generator's values), which gitops-check does not read, {UNJUDGED}; "
                        "move them into `elements` as literal key/value pairs",
                    )
                if _sets(listed.get("template")):
                    yield GENERATED_UNJUDGED.violation(
                        appset,
                        f"generators[{i}].list.template takes precedence over spec.template for its elements' "
                        "Applications (field by field), and gitops-check fills only spec.template, so none of "
                        "those Applications is judged as Argo CD generates it; move its fields into spec.template "
                        "(an ApplicationSet of their own for elements that need other settings)",
                    )
        template = as_dict(spec.get("template"))
        elements = [e for g in dicts(spec.get("generators")) for e in dicts(as_dict(g.get("list")).get("elements"))]
        unfilled: dict[tuple[str, str], list[int]] = {}
        for n, element in enumerate(elements):
            for part in ("metadata", "spec"):
                for field, text in _unfilled(template.get(part), element, f"spec.template.{part}"):
                    unfilled.setdefault((field, text), []).append(n)
        for (field, text), numbers in unfilled.items():
            yield GENERATED_UNJUDGED.violation(
                appset,
                f"{field} {_shown(text)} is not filled by list element{'s' if len(numbers) > 1 else ''} "
                f"{_indexes(numbers)} (a key the element lacks, or a function, pipe, condition or trim marker Argo CD "
                "evaluates and gitops-check does not), so what Argo CD generates there is not what is judged; use "
                "plain {{.key}} placeholders (or {{key}} without goTemplate) whose keys every element sets to a "
                "string, or write the value out",
            )


# --------------------------------------------------------------------------- project resource lists (WH-REF-050)


def _in_list(items: Any, group: str, kind: str, name: str | None = None) -> bool:
    """isResourceInList / isNamedResourceInList: some item's kind and group patterns match (and, in the cluster
    lists, its name pattern when it has one)."""
    for item in dicts(items):
        if go_match(item.get("kind"), kind) and go_match(item.get("group"), group):
            if name is None or not item.get("name") or go_match(item.get("name"), name):
                return True
    return False


def _not_permitted(pspec: dict, doc: Document) -> tuple[str, str] | None:
    """(why, what to do) when AppProject.IsGroupKindNamePermitted refuses the object, else None. Namespaced: no
    namespaceResourceWhitelist (absent or null) permits every kind, an empty one none. Cluster-scoped: only what
    clusterResourceWhitelist lists. A blacklist entry refuses in both."""
    group, kind = doc.group, doc.kind
    if doc.kind in CLUSTER_SCOPED:
        white, black, name = "clusterResourceWhitelist", "clusterResourceBlacklist", doc.name
        listed = pspec.get(white)
    else:
        white, black, name = "namespaceResourceWhitelist", "namespaceResourceBlacklist", None
        listed = pspec.get(white)
        if listed is None:
            listed = [{"group": "*", "kind": "*"}]
    if not _in_list(listed if isinstance(listed, list) else [], group, kind, name):
        how = "it is empty" if isinstance(listed, list) and not listed else "it is absent" if listed is None else ""
        return f"not in its {white}" + (f" ({how})" if how else ""), f"add {{group: {group!r}, kind: {kind}}} to {white}"
    if _in_list(pspec.get(black), group, kind, name):
        return f"listed in its {black}", f"remove it from {black}"
    return None


def project_kinds(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Every object an Application's overlay renders must be permitted by the Application's AppProject (when that
    project is in the source), as Argo CD checks each object before it syncs any."""
    for app in apps(idx):
        project = _project(idx, app)
        if project is None:
            continue  # WH-REF-035
        pspec = as_dict(project.obj.get("spec"))
        for path, _ in local_sources(app):
            refused: dict[tuple[str, str, str], list[str]] = {}
            for doc in _rendered_docs(inputs, path):
                why = _not_permitted(pspec, doc)
                if why is not None:
                    refused.setdefault((doc.group, doc.kind, *why), []).append(doc.name)
            for (group, kind, why, fix), names in refused.items():
                yield PROJECT_KINDS.violation(
                    app.doc,
                    f"{app.label}source path {path!r} renders {kind} {', '.join(sorted(set(names)))} (group "
                    f"{group or 'core'!r}), which AppProject {project.name!r} does not permit ({why}), so Argo CD refuses "
                    f"the whole sync; {fix} or remove the object from the overlay",
                )


# --------------------------------------------------------------------------- ignored pod templates (WH-REF-051)

WORKLOADS = (("argoproj.io", "Rollout"), ("apps", "Deployment"))
# What a sync must never leave as it is live: the pod template, every field in it (images, commands, args, env,
# resources, probes, volumes, labels), and so every ancestor of it. A path covers it when it is the template, an
# ancestor or a descendant of it ("*": any array element or key).
TEMPLATE = ("spec", "template")
# The one part of the template a sync may leave as it is live: its annotations, where `kubectl rollout restart`
# writes kubectl.kubernetes.io/restartedAt (commonly ignored, and a restart is no release). Matched literally: a
# "*" there may be the labels.
KEPT_LIVE = ("spec", "template", "metadata", "annotations")
# Field managers that own no part of a pod template: the HPA (scale subresource) and the Deployment controller.
REPLICA_MANAGERS = frozenset({"kube-controller-manager"})


def _covers(path: list[str]) -> bool:
    """The path (or what lies below it) reaches the pod template or a field in it, other than its annotations."""
    if not all(p == q or "*" in (p, q) for p, q in zip(path, TEMPLATE)):
        return False
    return tuple(path[:len(KEPT_LIVE)]) != KEPT_LIVE


def _pointer(pointer: str) -> list[str] | None:
    """A JSON pointer's segments ([] for "", the whole object); None when it is no pointer."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        return None
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]


def _ignored_template(entry: dict) -> list[str]:
    """What an ignoreDifferences entry ignores of a pod template (its expressions that cover it). A jq path this
    reader cannot follow to its end (recursive descent, functions) may reach anything below where it stops."""
    found = []
    for pointer in as_list_str(entry.get("jsonPointers")):
        segments = _pointer(pointer)
        if segments is not None and _covers(segments):
            found.append(f"jsonPointer {pointer!r}" if pointer else "jsonPointer '' (the whole object)")
    for expr in as_list_str(entry.get("jqPathExpressions")):
        if any(_covers(path) for path, _ in jq_paths(expr)):
            found.append(f"jqPathExpression {expr!r}")
    managers = [m for m in as_list_str(entry.get("managedFieldsManagers")) if m not in REPLICA_MANAGERS]
    if managers:
        found.append(f"every field managedFieldsManagers {', '.join(managers)} own (the pod template and images "
                     "fields included, once they wrote them)")
    return found


def _rendered_sources(app: App, inputs: Inputs) -> list[tuple[dict, list[Document]]] | None:
    """(source, what it renders) for every source of the Application; None when a source is not an overlay of this
    repository that builds (what the Application syncs is unknown)."""
    local = list(local_sources(app))
    if not local or len(local) != len(app.sources()):
        return None
    found = []
    for path, source in local:
        docs = _rendered(inputs, path)
        if docs is None:
            return None
        found.append((source, docs))
    return found


def _workloads(app: App, inputs: Inputs) -> list[Document] | None:
    """The Rollouts and Deployments the Application's sources render; None when what they render is unknown."""
    rendered = _rendered_sources(app, inputs)
    if rendered is None:
        return None
    return [d for _, docs in rendered for d in docs if (d.group, d.kind) in WORKLOADS]


def _entry_targets(entry: dict, app: App, workloads: list[Document] | None) -> list[str]:
    """The workloads an ignoreDifferences entry applies to (Argo CD: group and kind globs, exact name and namespace),
    as shown in the message; when what the sources render is unknown, the workload kinds its globs match."""
    group, kind = str(entry.get("group") or ""), str(entry.get("kind") or "")
    if workloads is None:
        return [f"every {k}" for g, k in WORKLOADS if argo_match(group, g) and argo_match(kind, k)]
    dest = str(app.destination.get("namespace") or "")
    return [
        f"{d.kind} {d.name}" for d in workloads
        if argo_match(group, d.group) and argo_match(kind, d.kind)
        and entry.get("name") in (None, "", d.name) and entry.get("namespace") in (None, "", d.namespace or dest)
    ]


def _automated(app: App) -> bool:
    automated = as_dict(app.spec.get("syncPolicy")).get("automated")
    return isinstance(automated, dict) and as_dict(automated).get("enabled") is not False


def ignored_templates(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """An Application must not ignore the pod template of its Rollouts and Deployments, nor any field in it (images,
    commands, env, resources, ...), when it syncs with RespectIgnoreDifferences=true (the sync keeps the live value)
    or automatically (a change there never makes it OutOfSync). Ignoring /spec/replicas for an HPA, or the template's
    annotations (kubectl's restartedAt), is fine."""
    for app in apps(idx):
        respects = app.options.get("RespectIgnoreDifferences") == "true"
        if not respects and not _automated(app):
            continue
        entries = dicts(app.spec.get("ignoreDifferences"))
        if not entries:
            continue
        workloads = _workloads(app, inputs)
        for i, entry in enumerate(entries):
            targets = _entry_targets(entry, app, workloads)
            what = _ignored_template(entry) if targets else []
            if not what:
                continue
            how = ("with syncOptions RespectIgnoreDifferences=true every sync keeps the live value"
                   if respects else "automated sync only syncs an OutOfSync Application, and a change there never "
                   "makes it OutOfSync")
            yield IGNORED_TEMPLATE.violation(
                app.doc,
                f"{app.label}ignoreDifferences[{i}] ignores the pod template or fields in it of "
                f"{', '.join(targets)} ({', '.join(what)}), and {how}: a new image, command, env value or limit "
                "there is never applied while Argo CD shows Synced; ignore only fields a controller owns (such as "
                "/spec/replicas under an HPA) or the template's annotations",
            )


# --------------------------------------------------------------------------- namespaces kept (WH-REF-055)


def _may_sync_namespace(pspec: dict, name: str) -> bool:
    """The AppProject lets its Applications sync Namespace NAME (clusterResourceWhitelist, not blacklisted)."""
    return (_in_list(pspec.get("clusterResourceWhitelist"), "", "Namespace", name)
            and not _in_list(pspec.get("clusterResourceBlacklist"), "", "Namespace", name))


def namespaces_kept(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Without CreateNamespace=true, every namespace the Application's namespaced objects land in (their own, the
    source's kustomize.namespace, else destination.namespace) must be a Namespace its sources render, when its
    AppProject (in the source) lets it sync that Namespace: a project that does not leaves the namespace to the
    platform. Judged only when every source is an overlay of this repository that builds."""
    for app in apps(idx):
        dest = str(app.destination.get("namespace") or "")
        project = _project(idx, app)
        if app.options.get("CreateNamespace") == "true" or project is None or _unresolved(dest):
            continue
        rendered = _rendered_sources(app, inputs)
        if rendered is None:
            continue
        kept = {d.name for _, docs in rendered for d in docs if d.kind == "Namespace"}
        landing = {
            str(as_dict(source.get("kustomize")).get("namespace") or d.namespace or dest)
            for source, docs in rendered for d in docs if d.kind not in CLUSTER_SCOPED
        }
        pspec = as_dict(project.obj.get("spec"))
        missing = sorted(ns for ns in landing - kept - BUILTIN_NAMESPACES - {""} if _may_sync_namespace(pspec, ns))
        if missing:
            paths = ", ".join(repr(path) for path, _ in local_sources(app))
            names = ", ".join(missing)
            yield NAMESPACE_KEPT.violation(
                app.doc,
                f"{app.label}source {paths} renders objects into namespace {names} but no Namespace {names}, and "
                "syncOptions lack CreateNamespace=true: Argo CD prunes a Namespace it synced once it leaves the overlay, "
                "which deletes every object in it (Rollout, Services, Secrets), and on a new cluster the sync fails on "
                "the missing namespace; keep the Namespace in the overlay, or set CreateNamespace=true (with "
                "managedNamespaceMetadata for its labels) and manage it there",
            )


CHECKS = (app_paths, app_namespaces, app_projects, project_permits, app_environments, selector_hash_kept,
          render_options, generated_applications, project_kinds, ignored_templates, namespaces_kept)

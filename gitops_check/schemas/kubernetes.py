"""Kubernetes JSON schemas for the pinned target version, from the kubernetes-validate package.

kubernetes-validate bundles strict schemas (`additionalProperties: false`) per Kubernetes minor, but
its files refer to shared definitions as `/api/_definitions.json#/$defs/...`, which kubeconform cannot
resolve. We prepare them once into the cache: one self-contained schema per group/version/kind (the
transitive closure of its definitions inlined under `$defs`, every `$ref` rewritten to `#/$defs/NAME`,
no `$id`), named the way kubeconform's `{{.ResourceKind}}{{.KindSuffix}}.json` template asks for, in a
folder per API group (`{{.Group}}`) so a custom resource whose group merely starts like a Kubernetes
group (networking.example.com Ingress) can never be validated against the Kubernetes schema.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import time
from functools import lru_cache
from pathlib import Path


from ..errors import ToolError
from . import cache

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORMAT = 2  # bump when the prepared files change shape: it is part of the cache folder name (2: integrity manifest)
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
_FOLDER = re.compile(r"^v(\d+)\.(\d+)\.0-local-strict$")


def package_version() -> str:
    return importlib.metadata.version("kubernetes-validate")


def _bundle() -> Path:
    """kubernetes-validate's schema folder, found without importing the package (it imports jsonschema: 45 ms of
    a one-overlay run that only needs its files)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ToolError("kubernetes-validate is not installed: run `make tools`")
    return Path(spec.submodule_search_locations[0]) / "kubernetes-json-schema"


@lru_cache(maxsize=None)
def available_versions() -> tuple[str, ...]:
    """Kubernetes minors ("1.34") that kubernetes-validate ships strict schemas for, oldest first."""
    found = [m.groups() for entry in _bundle().iterdir() if (m := _FOLDER.match(entry.name))]
    return tuple(f"{major}.{minor}" for major, minor in sorted((int(a), int(b)) for a, b in found))


def _minor(version: str) -> str:
    """"1.34", "1.34.0" and "v1.34" all mean minor 1.34."""
    return ".".join(version.lstrip("v").split(".")[:2])


def _known(version: str) -> str:
    """The minor of VERSION when kubernetes-validate ships it; ToolError naming the available versions."""
    minor = _minor(version)
    if minor not in available_versions():
        raise ToolError(
            f"no Kubernetes schemas for version {version} in kubernetes-validate {package_version()}: "
            f"available {', '.join(available_versions())} (set kubernetes-version in pyproject.toml)"
        )
    return minor


@lru_cache(maxsize=None)
def definitions(version: str) -> dict[str, dict]:
    """The `$defs` of one version's _definitions.json; ToolError naming the available versions."""
    minor = _known(version)
    text = (_bundle() / f"v{minor}.0-local-strict" / "_definitions.json").read_text()
    return local_refs(json.loads(text)["$defs"])


def local_refs(node):
    """`node` with every `$ref` pointing into the same document's `$defs` (`#/$defs/NAME`), whatever
    file the reference named (kubernetes-validate's kind files say `/api/_definitions.json#/...`)."""
    if isinstance(node, dict):
        return {
            key: "#/$defs/" + value.rsplit("/", 1)[1] if key == "$ref" and isinstance(value, str) else local_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [local_refs(value) for value in node]
    return node


def kubeconform_path(api_version: str, kind: str) -> str:
    """Where kubeconform looks for a kind under TEMPLATE (the rule of its registry.schemaPath)."""
    group, _, version = api_version.rpartition("/")
    suffix = "-" + (group.split(".")[0].lower() + "-" + version if group else version)
    return f"{group or version}/{kind.lower()}{suffix}.json"


def api_version(gvk: dict) -> str:
    return f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]


@lru_cache(maxsize=None)
def kinds(version: str) -> frozenset[tuple[str, str]]:
    """Every (apiVersion, kind) that has a schema at `version`."""
    return frozenset(
        (api_version(gvk), gvk["kind"])
        for definition in definitions(version).values()
        for gvk in definition.get("x-kubernetes-group-version-kind", [])
    )


def removed_after(api_version: str, kind: str, target: str) -> str | None:
    """The newest bundled version older than `target` that still had a schema for the kind, when the
    target has none (the API was removed in between); None when it never had one."""
    if (api_version, kind) in kinds(_minor(target)):
        return None
    older = [v for v in available_versions() if _key(v) < _key(_minor(target))]
    for version in reversed(older):
        if (api_version, kind) in kinds(version):
            return version
    return None


def other_versions(kind: str, target: str) -> list[str]:
    """apiVersions that serve `kind` at the target version (the candidates to migrate to)."""
    return sorted(av for av, k in kinds(_minor(target)) if k == kind)


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def references(node: object, found: set[str]) -> set[str]:
    """Names of every definition `node` refers to. A property may itself be called "$ref" (the
    JSONSchemaProps definition has one), so only string values count."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[1])
            else:
                references(value, found)
    elif isinstance(node, list):
        for value in node:
            references(value, found)
    return found


def closure(defs: dict[str, dict], roots: set[str]) -> dict[str, dict]:
    """The definitions `roots` need, transitively, keyed by name (sorted for stable output)."""
    needed: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in needed:
            if name not in defs:
                raise ToolError(f"schema definition {name!r} is referenced but not defined")
            needed.add(name)
            todo.extend(references(defs[name], set()))
    return {name: defs[name] for name in sorted(needed)}


def _check_definitions(defs: dict[str, dict], version: str) -> None:
    """Compile-check every shared definition once (kubeconform says "could not find schema" when a
    schema does not compile, which would hide the real problem); each kind schema then only needs
    its own top level checked."""
    import jsonschema  # only when schemas are built (make tools): its import is 50 ms a run otherwise

    try:
        jsonschema.Draft202012Validator.check_schema({"$schema": SCHEMA_DRAFT, "$defs": defs})
    except jsonschema.SchemaError as exc:
        raise ToolError(f"kubernetes-validate schemas for {version} are not valid JSON Schema: {exc.message}") from None


def _build(version: str):
    def build(folder: Path) -> dict:
        import jsonschema  # see _check_definitions

        started = time.perf_counter()
        defs = definitions(version)
        _check_definitions(defs, version)
        written = 0
        for name, definition in defs.items():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                top = {k: v for k, v in definition.items() if k != "$id"}
                top["$schema"] = SCHEMA_DRAFT
                top["$defs"] = closure(defs, references(definition, set()))
                jsonschema.Draft202012Validator.check_schema({k: v for k, v in top.items() if k != "$defs"})
                cache.write_json(folder / kubeconform_path(api_version(gvk), gvk["kind"]), top)
                written += 1
        return {"kubernetes": version, "kubernetes-validate": package_version(), "format": FORMAT,
                "schemas": written, "seconds": round(time.perf_counter() - started, 3)}

    return build


def prepare(version: str, cache_dir: Path, repair: bool = False) -> Path:
    """The folder of prepared schemas for `version` (built on first use, verified on every use; `repair`
    rebuilds a damaged one), for TEMPLATE."""
    minor = _minor(version)
    _known(minor)  # fail early, naming the available versions (not definitions(): 35 ms a run to parse them)
    folder = cache_dir / "schemas" / f"kubernetes-{minor}-kv{package_version()}-f{FORMAT}"
    return cache.publish(folder, _build(minor), repair=repair)


def object_meta(version: str) -> dict[str, dict]:
    """ObjectMeta and the definitions it needs, for custom resource schemas' `metadata`."""
    return closure(definitions(_minor(version)), {OBJECT_META})

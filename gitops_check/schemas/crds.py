"""Custom resource schemas, converted by us from the upstream CRDs that `crds.lock` pins.

The CRD files are read in place (settings.crds_dir) and every one is checked against its sha256 in
`crds.lock` before use: a CRD that changed under us would silently change what "valid" means.

The converter turns each served version's `openAPIV3Schema` into a strict JSON Schema (2020-12):
- unknown fields are rejected (`additionalProperties: false` on every object schema with
  `properties`), except where the CRD preserves unknown fields or declares `additionalProperties`;
- `x-kubernetes-int-or-string` accepts an integer or a string, `nullable` also accepts null;
- `x-kubernetes-embedded-resource` objects accept apiVersion/kind/metadata;
- the top level pins apiVersion and kind and validates `metadata` against Kubernetes' ObjectMeta.
Logical branches (allOf/anyOf/oneOf/not) are left as written: in a structural schema they only
restate constraints of fields declared beside them, and closing them would reject valid objects.
Versions with `served: false` get no schema, so an object using one is reported, not validated.
"""

from __future__ import annotations

import hashlib
import os
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from .. import loader
from ..errors import InputError, ToolError
from . import cache, kubernetes

FORMAT = 2  # bump when the generated files change shape: it is part of the cache folder name (2: integrity manifest)
LOCK_FILE = "crds.lock"
TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_DROP = ("description", "x-kubernetes-validations", "example", "examples")

# libyaml after the loader's limits (depth, aliases, duplicate keys): crds.lock names the files, and a lock file
# is a pull request's to change; libyaml's recursive composer kills the process on deep nesting.
_Loader = loader._StrictLoader


@dataclass(frozen=True)
class Locked:
    sha256: str
    path: str  # relative to settings.crds_dir


def read_lock(repo_root: Path) -> list[Locked]:
    """The `<sha256>  <path>` lines of crds.lock (sha256sum format; `#` lines are comments)."""
    lock = repo_root / LOCK_FILE
    try:
        lines = lock.read_text().splitlines()
    except OSError as exc:
        raise ToolError(f"{lock}: cannot read the CRD lock list: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        sha, _, path = line.partition("  ")
        if len(sha) != 64 or not path.strip():
            raise ToolError(f"{lock}:{number}: expected '<sha256>  <path>', got {line.strip()!r}")
        entries.append(Locked(sha.lower(), path.strip()))
    if not entries:
        raise ToolError(f"{lock}: no CRD is locked")
    return entries


def lock_hash(repo_root: Path) -> str:
    """Identity of the locked CRD set: part of the cache key, so changing the lock regenerates."""
    digest = hashlib.sha256()
    for entry in read_lock(repo_root):
        digest.update(f"{entry.sha256}  {entry.path}\n".encode())
    return digest.hexdigest()[:16]


def verify(repo_root: Path, crds_dir: Path) -> list[Path]:
    """The locked CRD files, after checking each one's sha256; ToolError on the first that is
    missing or differs, naming the file, the expected and the actual sha256."""
    files = []
    for entry in read_lock(repo_root):
        path = crds_dir / entry.path
        try:
            actual = hashlib.sha256(loader.read_bytes(path, str(path))).hexdigest()  # a FIFO is refused, not waited on
        except InputError as exc:
            if os.path.lexists(path):
                raise ToolError(str(exc)) from None
            raise ToolError(f"{path}: locked CRD file is missing (expected sha256 {entry.sha256}; GITOPS_CHECK_CRDS_DIR={crds_dir})") from None
        if actual != entry.sha256:
            raise ToolError(f"{path}: sha256 mismatch with {LOCK_FILE}: expected {entry.sha256}, actual {actual}")
        files.append(path)
    return files


@dataclass(frozen=True)
class Version:
    """One version of one CRD, as the deprecation check needs it."""

    group: str
    kind: str
    name: str
    served: bool
    deprecated: bool
    warning: str
    storage_version: str  # the version to migrate to

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.name}"


def load(files: list[Path]) -> list[dict]:
    """Every CustomResourceDefinition document in `files`."""
    crds = []
    for path in files:
        try:
            docs = list(yaml.load_all(loader.read_text(path, str(path)), Loader=_Loader))
        except yaml.YAMLError as exc:
            raise ToolError(f"{path}: locked CRD is not valid YAML: {exc}") from None
        crds += [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    return crds


def versions(crds: list[dict]) -> list[Version]:
    found = []
    for crd in crds:
        spec = crd["spec"]
        storage = next((v["name"] for v in spec["versions"] if v.get("storage")), spec["versions"][0]["name"])
        for v in spec["versions"]:
            found.append(
                Version(spec["group"], spec["names"]["kind"], v["name"], bool(v.get("served")),
                        bool(v.get("deprecated")), v.get("deprecationWarning") or "", storage)
            )
    return found


# --------------------------------------------------------------------------- the converter


def _strict(node: dict, in_junctor: bool = False) -> dict:
    """One openAPIV3Schema node as strict JSON Schema (see the module docstring)."""
    out = {k: v for k, v in node.items() if k not in _DROP and not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        out.pop("anyOf", None)  # the usual [{type: integer}, {type: string}] restated
    if node.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = types + ["null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    properties = dict(node.get("properties") or {})
    if node.get("x-kubernetes-embedded-resource"):
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", {"type": "object"})
    if properties:
        out["properties"] = {name: _strict(child) for name, child in properties.items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(node["additionalProperties"])
    elif (
        properties
        and not in_junctor
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if isinstance(node.get("items"), dict):
        out["items"] = _strict(node["items"])
    for junctor in _JUNCTORS:
        if isinstance(node.get(junctor), list):
            out[junctor] = [_strict(branch, in_junctor=True) for branch in node[junctor]]
        elif isinstance(node.get(junctor), dict):
            out[junctor] = _strict(node[junctor], in_junctor=True)
    return out


def convert(group: str, kind: str, version: str, schema: dict, object_meta: dict[str, dict]) -> dict:
    """The JSON Schema of one served CRD version."""
    converted = _strict(schema)
    properties = converted.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"$ref": "#/$defs/" + kubernetes.OBJECT_META}
    converted["type"] = "object"
    converted["required"] = sorted(set(converted.get("required", [])) | {"apiVersion", "kind"})
    if not schema.get("x-kubernetes-preserve-unknown-fields"):
        converted["additionalProperties"] = False
    converted["$schema"] = kubernetes.SCHEMA_DRAFT
    converted["$defs"] = object_meta
    return converted


def _build(files: list[Path], kubernetes_version: str):
    def build(folder: Path) -> dict:
        import jsonschema  # only when schemas are built (make tools): its import is 50 ms a run otherwise

        started = time.perf_counter()
        meta = kubernetes.object_meta(kubernetes_version)
        written = []
        crds = load(files)
        for crd in crds:
            spec = crd["spec"]
            group, kind = spec["group"], spec["names"]["kind"]
            for v in spec["versions"]:
                if not v.get("served"):
                    continue
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                if not isinstance(schema, dict):
                    raise ToolError(f"CRD {crd['metadata']['name']} version {v['name']} has no openAPIV3Schema")
                converted = convert(group, kind, v["name"], schema, meta)
                try:
                    jsonschema.Draft202012Validator.check_schema(converted, format_checker=None)  # patterns are Go RE2, not Python re
                except jsonschema.SchemaError as exc:
                    raise ToolError(f"CRD {crd['metadata']['name']} {v['name']}: converted schema does not compile: {exc.message}") from None
                path = f"{group}/{kind.lower()}_{v['name']}.json"
                cache.write_json(folder / path, converted)
                written.append(path)
        return {"format": FORMAT, "kubernetes": kubernetes_version, "schemas": sorted(written),
                "versions": [asdict(v) for v in versions(crds)], "seconds": round(time.perf_counter() - started, 3)}

    return build


def prepare(repo_root: Path, crds_dir: Path, kubernetes_version: str, cache_dir: Path, repair: bool = False) -> Path:
    """The folder of converted CRD schemas for TEMPLATE (verified first, built on first use). The
    folder name holds the lock hash and the ObjectMeta source, so any change regenerates it."""
    files = verify(repo_root, crds_dir)
    name = f"crds-{lock_hash(repo_root)}-k{kubernetes_version}-kv{kubernetes.package_version()}-f{FORMAT}"
    return cache.publish(cache_dir / "schemas" / name, _build(files, kubernetes_version), repair=repair)


def summary(folder: Path) -> tuple[list[str], list[Version]]:
    """(schema files, CRD versions) recorded when `folder` was built: reading them back is much
    faster than parsing megabytes of CRD YAML on every run."""
    data = json.loads((folder / cache.MARKER).read_text())
    return data["schemas"], [Version(**v) for v in data["versions"]]

"""Feature flags: the flagd flag definitions the service reads, in the ConfigMaps that carry them.

A flag definition is a ConfigMap data entry in flagd's format: one that declares flagd's schema
(`"$schema": "https://flagd.dev/schema/v0/flags.json"`, as every file of this repository does), or one a
container reads through the OpenFeature flagd provider's file resolver (`FLAGD_OFFLINE_FLAG_SOURCE_PATH`, a file
mounted from a ConfigMap key). Each is checked three ways:

- WH-FLAG-001: it validates against flagd's own schema (flags.json and the targeting.json it refers to), pinned
  in pyproject.toml and prepared into the cache by `make tools` (gitops_check/schemas/flagd.py);
- WH-FLAG-002: what the schema cannot say: the file defines flags under `flags` (the schema allows any other
  top-level key, which flagd ignores), the variant names a flag uses exist (its defaultVariant, and what its
  targeting returns literally: `if` branches, `fractional` buckets), and every `$ref` names an `$evaluators` entry;
- WH-FLAG-003: it reaches the service: the path a container reads is a file mounted from a ConfigMap key (with a
  file or in-process resolver), and every ConfigMap entry that declares flag definitions is read by some container.

flagd and its providers only log what the schema rejects, and answer an unknown variant with an error: either way
the application silently serves its code default, in one environment only. Names are compared as rendered, so the
hashed generator names are already applied on both sides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from .. import loader
from ..errors import InputError
from ..model import Document, Violation
from ..rules import rule
from ..schemas.flagd import FLAGS_ID
from .index import Index, PodTemplate, as_dict, as_list, dicts
from .inputs import Inputs

if TYPE_CHECKING:  # imported by schemas.flagd.validator() when a source has flag files
    import jsonschema

SCHEMA = rule(
    "WH-FLAG-001", "error", "references",
    "Feature-flag definitions validate against flagd's flag-definition schema (flags.json, targeting.json)",
    "flagd only logs a definition its schema rejects: the flag, or the whole file, silently falls back to the code default.",
)
VARIANTS = rule(
    "WH-FLAG-002", "error", "references",
    "Flag definitions are consistent: the file has flags, defaultVariant and targeting results name variants, $refs name $evaluators",
    "flagd ignores unknown top-level keys, answers an unknown variant with an error and fails a file on an unknown $ref: code defaults.",
)
WIRING = rule(
    "WH-FLAG-003", "error", "references",
    "The service reads the flag definitions: FLAGD_OFFLINE_FLAG_SOURCE_PATH is a file mounted from a ConfigMap key, and every flag ConfigMap is read",
    "A path that names no mounted file leaves the provider without flags; a flag ConfigMap nobody reads changes nothing when edited.",
)

PATH_ENV = "FLAGD_OFFLINE_FLAG_SOURCE_PATH"
RESOLVER_ENV = "FLAGD_RESOLVER"
FILE_RESOLVERS = {"file", "in-process", "in_process"}  # the providers' names for evaluating a local file in process
MAX_FINDINGS = 5  # schema findings reported per flag file (the rest are counted)
_SHAPE = {"type", "additionalProperties"}  # a oneOf/anyOf branch failing these at its own level does not apply at all


@dataclass
class FlagFile:
    """One ConfigMap data entry holding flagd flag definitions."""

    doc: Document  # the ConfigMap
    key: str
    text: str
    declared: bool  # it names flagd's schema in "$schema"

    @property
    def where(self) -> str:
        return f"data[{self.key!r}]"

    def parse(self) -> tuple[Any, str | None]:
        return parse(self.key, self.text)


def parse(key: str, text: str) -> tuple[Any, str | None]:
    """(the definitions, None) or (None, why they cannot be read): YAML for a .yaml/.yml key (through the loader and
    its limits: a value can hold an alias bomb), else JSON, as flagd reads them."""
    try:
        if key.endswith((".yaml", ".yml")):
            return loader.safe_load(text, f"data[{key!r}]"), None
        return json.loads(text), None
    except InputError as exc:
        return None, " ".join(str(exc).split(": ", 1)[-1].split())
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep for the parser
        return None, " ".join(str(exc).split()) or "nesting too deep"


@dataclass
class Reader:
    """A container that reads flag definitions from a file: where, and what that file is."""

    template: PodTemplate
    container: str
    path: str
    resolver: str | None  # FLAGD_RESOLVER as set (None: unset, "?" when not a literal)
    source: tuple[str, str] | None = None  # (ConfigMap name, key) the path is mounted from
    problem: str | None = None  # why it does not resolve to one
    unknown: bool = False  # the ConfigMap is not in the source (WH-REF-023's finding, not this one's)


def _declares_flagd(text: str, key: str) -> bool:
    if "flagd.dev/schema" not in text:
        return False
    data, problem = parse(key, text)
    if problem is not None:  # it names flagd's schema but does not parse (900 levels deep was skipped in silence)
        return FLAGS_ID in text
    return isinstance(data, dict) and data.get("$schema") == FLAGS_ID


def _configmap_data(idx: Index, namespace: str, name: str) -> dict | None:
    doc = idx.get("ConfigMap", namespace, name)
    return None if doc is None else as_dict(doc.obj.get("data"))


def _volume_files(idx: Index, namespace: str, volume: dict) -> tuple[dict[str, tuple[str, str]], bool] | None:
    """({path in the volume: (ConfigMap, key)}, every ConfigMap is in the source) of a configMap or projected
    volume; None for any other volume type."""
    sources = []
    if volume.get("configMap") is not None:
        sources.append(as_dict(volume["configMap"]))
    elif volume.get("projected") is not None:
        sources = [as_dict(s.get("configMap")) for s in dicts(as_dict(volume["projected"]).get("sources")) if s.get("configMap")]
        if not sources:
            return None
    else:
        return None
    files: dict[str, tuple[str, str]] = {}
    known = True
    for cm in sources:
        name = str(cm.get("name"))
        items = dicts(cm.get("items"))
        if items:
            files.update({str(i.get("path")): (name, str(i.get("key"))) for i in items})
            continue
        data = _configmap_data(idx, namespace, name)
        if data is None:
            known = False
            continue
        files.update({str(k): (name, str(k)) for k in data})
    return files, known


def _resolve(idx: Index, reader: Reader, container: dict) -> None:
    """Follow the container's volumeMounts from `reader.path` to a ConfigMap key, or say why it does not lead to one."""
    volumes = {str(v.get("name")): v for v in dicts(reader.template.spec.get("volumes"))}
    mounts = sorted(dicts(container.get("volumeMounts")), key=lambda m: len(str(m.get("mountPath") or "")), reverse=True)
    for mount in mounts:
        at = str(mount.get("mountPath") or "").rstrip("/")
        if reader.path != at and not reader.path.startswith(at + "/"):
            continue
        rel = reader.path[len(at) + 1:]
        sub = str(mount.get("subPath") or "").strip("/")
        rel = "/".join(p for p in (sub, rel) if p)
        volume = volumes.get(str(mount.get("name")))
        if volume is None:
            reader.problem = f"it is under volumeMount {mount.get('name')!r}, which names no volume of the pod"
            return
        found = _volume_files(idx, reader.template.namespace, volume)
        if found is None:
            reader.problem = f"volume {volume.get('name')!r} mounted at {at or '/'} is not a configMap volume"
            return
        files, known = found
        if not rel:
            reader.problem = f"it is the folder volume {volume.get('name')!r} is mounted at, not a file in it"
        elif rel in files:
            reader.source = files[rel]
        elif not known:
            reader.unknown = True
        else:
            reader.problem = (f"volume {volume.get('name')!r} mounted at {at or '/'} has no file {rel!r} "
                              f"(files: {', '.join(sorted(files)) or 'none'})")
        return
    reader.problem = "no volumeMount of the container covers it"


def readers(idx: Index) -> list[Reader]:
    """Every container (init containers too) that names a flag file in FLAGD_OFFLINE_FLAG_SOURCE_PATH."""
    found = []
    for template in idx.templates:
        for container in template.containers(init=True):
            env = {str(e.get("name")): e for e in dicts(container.get("env"))}
            entry = env.get(PATH_ENV)
            if entry is None or "value" not in entry:
                continue  # unset, or from a ConfigMap/Secret/field: not known before the pod runs
            resolver = env.get(RESOLVER_ENV)
            reader = Reader(template, str(container.get("name")), str(entry.get("value") or ""),
                            None if resolver is None else str(resolver["value"]) if "value" in resolver else "?")
            if not reader.path.startswith("/"):
                reader.problem = "it is not an absolute path"
            else:
                _resolve(idx, reader, container)
            found.append(reader)
    return found


def flag_files(idx: Index, read: list[Reader]) -> list[FlagFile]:
    """Every ConfigMap entry that declares flagd's schema or that a container reads as its flag file."""
    wanted = {(r.template.namespace, *r.source) for r in read if r.source}
    found = []
    for doc in idx.of_kind("ConfigMap"):
        for key, value in as_dict(doc.obj.get("data")).items():
            text = value if isinstance(value, str) else ""
            declared = _declares_flagd(text, str(key))
            if declared or (idx.ns(doc), doc.name, str(key)) in wanted:
                found.append(FlagFile(doc, str(key), text, declared))
    return found


# --------------------------------------------------------------------------- WH-FLAG-001


def _pointer(path) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _leaves(error: jsonschema.ValidationError) -> int:
    return sum(_leaves(e) for e in error.context) if error.context else 1


def _rejects(error: jsonschema.ValidationError, at) -> bool:
    """The branch's error says the instance is not of this alternative's shape at all (not a detail inside it)."""
    if list(error.absolute_path) != list(at):
        return False
    if error.validator in ("anyOf", "oneOf") and error.context:
        return all(_rejects(e, at) for e in error.context)
    return error.validator in _SHAPE


def explain(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error that says what is wrong: inside a oneOf/anyOf, the alternative the instance is shaped like (the
    one with the fewest errors when several are), then its first error, recursively."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list] = {}
        for e in error.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        fitting = [b for b in branches.values() if not all(_rejects(e, error.absolute_path) for e in b)]
        best = min(fitting or list(branches.values()), key=lambda b: sum(_leaves(e) for e in b))
        error = min(best, key=lambda e: (list(map(str, e.absolute_path)), e.validator in ("anyOf", "oneOf")))
    return error


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and not error.context:  # valid under several alternatives
        titles = [str(as_dict(s).get("title") or "?") for s in as_list(error.validator_value)]
        return f"fits more than one of {', '.join(titles)} (a flag needs variants, all of one type)"
    text = " ".join(error.message.split())
    return text if len(text) <= 240 else text[:237] + "..."


def schema_findings(inputs: Inputs, files: list[FlagFile]) -> Iterator[Violation]:
    if not files:
        return
    schemas = inputs.flagd_schemas  # only now: a source without flags needs no prepared schema
    judge = schemas.validator()
    for f in files:
        data, problem = f.parse()
        if problem:
            yield SCHEMA.violation(f.doc, f"{f.where} is not {'YAML' if f.key.endswith(('.yaml', '.yml')) else 'JSON'} "
                                          f"({problem}); fix the syntax: flagd cannot load the file at all")
            continue
        problems = _judged(judge, schemas.source, data)
        if problems is None:
            yield SCHEMA.violation(f.doc, f"{f.where} is nested too deeply to validate; flatten its rules (shared "
                                          "parts can move to $evaluators)")
            continue
        for problem in problems:
            yield SCHEMA.violation(f.doc, f"{f.where} {problem}")


# (schema source, the definition as canonical JSON) -> its problems: a fleet repeats the same flag files
_JUDGED: dict[tuple[str, str], list[str] | None] = {}


def _judged(judge: Any, source: str, data: Any) -> list[str] | None:
    """What flagd's schema finds in DATA, one message tail per finding (None: nested too deeply to validate)."""
    try:
        key = (source, json.dumps(data, sort_keys=True, default=repr))
    except (RecursionError, ValueError):
        key = None
    if key is not None and key in _JUDGED:
        return _JUDGED[key]
    try:
        errors = sorted(judge.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    except RecursionError:
        problems = None
    else:
        problems = []
        for n, error in enumerate(errors[:MAX_FINDINGS], 1):
            best = explain(error)
            more = f" (and {len(errors) - n} more)" if n == MAX_FINDINGS < len(errors) else ""
            problems.append(f"{_pointer(best.absolute_path)}: {_message(best)} (flagd schema from {source}){more}; "
                            "change it to what flagd's flag-definition schema allows")
    if key is not None:
        if len(_JUDGED) > 10_000:
            _JUDGED.clear()
        _JUDGED[key] = problems
    return problems


def flag_schema(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each flag file validates against flagd's flags.json (draft-07, targeting.json resolved locally)."""
    yield from schema_findings(inputs, flag_files(idx, readers(idx)))


# --------------------------------------------------------------------------- WH-FLAG-002


def _returned(rule_: Any) -> Iterator[Any]:
    """The literal values a targeting rule can return: `if` branches (nested ifs and fractionals followed) and
    `fractional` buckets. What a `var` or another operation returns is only known at evaluation."""
    node = as_dict(rule_)
    if "if" in node and len(node) == 1:
        args = as_list(node["if"])
        values = [args[i] for i in range(1, len(args), 2)] + ([args[-1]] if len(args) > 1 and len(args) % 2 == 1 else [])
        for value in values:
            if isinstance(value, dict):
                yield from _returned(value)
            elif value is not None:
                yield value
    elif "fractional" in node and len(node) == 1:
        for bucket in as_list(node["fractional"]):
            if isinstance(bucket, list) and bucket and isinstance(bucket[0], str):
                yield bucket[0]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _variant_key(value: Any) -> str | None:
    """How flagd turns a returned value into a variant name (booleans become "true"/"false", numbers their JavaScript
    spelling); None: not a name."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else None


def variant_findings(files: list[FlagFile], top_level: tuple[str, ...]) -> Iterator[Violation]:
    """`top_level`: the keys a flag file may have ("$schema" and the properties of flagd's flags.json)."""
    for f in files:
        data, problem = f.parse()
        if problem or not isinstance(data, dict):
            continue  # WH-FLAG-001
        try:
            yield from list(_variant_findings(f, data, top_level))
        except RecursionError:
            continue  # nested too deeply to follow: WH-FLAG-001 says so


def _variant_findings(f: FlagFile, data: dict, top_level: tuple[str, ...]) -> Iterator[Violation]:
    unknown = sorted(str(k) for k in data if k not in top_level)
    if unknown:
        yield VARIANTS.violation(f.doc, f"{f.where}: top-level key {', '.join(map(repr, unknown))} is not one of "
                                        f"{', '.join(top_level)} and flagd ignores it; fix its name or remove it")
    if not as_dict(data.get("flags")):
        yield VARIANTS.violation(f.doc, f"{f.where} defines no flags (no \"flags\" object, or an empty one), so every "
                                        "flag the service asks for serves its code default; define them under \"flags\"")
    evaluators = as_dict(data.get("$evaluators"))
    for name, evaluator in evaluators.items():
        for ref in dict.fromkeys(_refs(evaluator)):
            if ref not in evaluators:
                yield VARIANTS.violation(f.doc, f"{f.where} $evaluators {name!r}: $ref {ref!r} names no $evaluators entry "
                                                f"(entries: {', '.join(sorted(evaluators)) or 'none'}); add it or fix the name")
    for flag, spec in as_dict(data.get("flags")).items():
        spec = as_dict(spec)
        variants = as_dict(spec.get("variants"))
        if not variants:
            continue  # no variants: the schema cannot tell the flag's type (WH-FLAG-001)
        known = ", ".join(sorted(map(str, variants))) or "none"
        default = spec.get("defaultVariant")
        if isinstance(default, str) and default not in variants:
            yield VARIANTS.violation(f.doc, f"{f.where} flag {flag!r}: defaultVariant {default!r} is not one of its "
                                            f"variants ({known}); name one of them or add the variant")
        targeting = spec.get("targeting")
        for value in dict.fromkeys(map(json.dumps, _returned(targeting))):
            name = _variant_key(json.loads(value))
            if name is None or name not in variants:
                yield VARIANTS.violation(f.doc, f"{f.where} flag {flag!r}: its targeting can return {value}, which is "
                                                f"not one of its variants ({known}); return a variant name (or null for the default)")
        for ref in dict.fromkeys(_refs(targeting)):
            if ref not in evaluators:
                yield VARIANTS.violation(f.doc, f"{f.where} flag {flag!r}: targeting $ref {ref!r} names no $evaluators entry "
                                                f"(entries: {', '.join(sorted(evaluators)) or 'none'}); add it or fix the name")


def flag_variants(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Variant names and $evaluators references inside each flag file resolve."""
    files = flag_files(idx, readers(idx))
    if files:
        yield from variant_findings(files, ("$schema", *as_dict(inputs.flagd_schemas.flags.get("properties"))))


# --------------------------------------------------------------------------- WH-FLAG-003


def flag_wiring(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Each FLAGD_OFFLINE_FLAG_SOURCE_PATH leads to a mounted ConfigMap key under a file/in-process resolver, and
    every ConfigMap entry declaring flag definitions is what some container reads."""
    read = readers(idx)
    for r in read:
        what = f"container {r.container!r} {PATH_ENV}={r.path}"
        if r.problem:
            yield WIRING.violation(r.template.owner, f"{what}: {r.problem}; mount the flag ConfigMap there "
                                                      "(a configMap volume with the key) or fix the path")
        resolver = (r.resolver or "").lower()
        if r.resolver != "?" and resolver not in FILE_RESOLVERS:
            said = f"{RESOLVER_ENV}={r.resolver}" if r.resolver is not None else f"{RESOLVER_ENV} is unset (rpc)"
            yield WIRING.violation(r.template.owner, f"{what}: {said}, so the provider asks a flagd daemon instead of "
                                                      f"reading the file; set {RESOLVER_ENV}=file")
    reached = {(r.template.namespace, *r.source) for r in read if r.source}
    for f in flag_files(idx, read):
        if f.declared and (idx.ns(f.doc), f.doc.name, f.key) not in reached:
            yield WIRING.violation(f.doc, f"{f.where} holds flagd flag definitions no container of this source reads "
                                          f"(none has {PATH_ENV} naming a file mounted from it); mount it and point "
                                          f"{PATH_ENV} at it, or remove it")


CHECKS = (flag_schema, flag_variants, flag_wiring)

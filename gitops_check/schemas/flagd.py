"""flagd's flag-definition schema, extracted from the pinned @openfeature/flagd-core npm package.

The feature flags the service reads are flagd flag definitions (https://flagd.dev/schema/v0/flags.json, whose
flags and `$evaluators` refer to https://flagd.dev/schema/v0/targeting.json). No registry ships those two
schemas as files; @openfeature/flagd-core, the evaluation engine of OpenFeature's JavaScript flagd providers,
bundles both into index.cjs.js as plain object literals (rollup's JSON plugin: `var NAME = LITERAL;`
statements, then `var flagsSchema = {...}` and `var targetingSchema = {...}`), which it compiles with ajv.

`gitops-check prepare` (run by `make tools`) fetches the version pinned in pyproject.toml
([tool.gitops-check.flagd-schema]) with `npm pack` (bounded by a timeout), checks the sha256 of the tarball
against the pin, reads the bundle straight out of the tarball (nothing is unpacked, nothing of the package is
run: the literals are parsed here, by a parser that accepts literals and references to earlier literals only),
checks both as draft-07 schemas whose every `$ref` resolves between the two of them, and publishes
flags.json and targeting.json into `<cache>/schemas/flagd-<version>-<sha256 prefix>-f<FORMAT>/`, outside the
clone, with the integrity manifest every schema folder has (gitops_check.schemas.cache). A validation only
reads that folder: missing or damaged, it is one ToolError (exit 2) that says to run `make tools`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .. import integrity
from ..errors import ToolError
from ..settings import NpmPackage, Settings
from . import cache

FLAGS_ID = "https://flagd.dev/schema/v0/flags.json"
TARGETING_ID = "https://flagd.dev/schema/v0/targeting.json"
FILES = {FLAGS_ID: "flags.json", TARGETING_ID: "targeting.json"}
BUNDLES = ("package/index.cjs.js", "package/index.esm.js")  # where flagd-core keeps them, the CommonJS one first
FORMAT = 1  # bump when the prepared files change shape: it is part of the cache folder name
NPM_TIMEOUT = 300  # seconds for `npm pack` (a 25 kB tarball: a few seconds, unless the registry is unreachable)
MAX_TARBALL = 16 << 20  # bytes: flagd-core is about 40 kB; anything near this is not the package we pinned

# A sample every extraction must accept, and one it must reject: the extracted schema is the one that judges.
_SAMPLE = {
    "flags": {
        "sample": {
            "state": "ENABLED", "defaultVariant": "off", "variants": {"on": True, "off": False},
            "targeting": {"fractional": [{"var": "targetingKey"}, ["on", 10], ["off", 90]]},
        }
    }
}
_BROKEN = {"flags": {"sample": {"state": "ON", "defaultVariant": "off", "variants": {"off": False}}}}

if TYPE_CHECKING:
    import jsonschema
    import referencing


def pin(settings: Settings) -> NpmPackage:
    if settings.flagd_schema is None:
        raise ToolError(f"{settings.repo_root / 'pyproject.toml'}: no [tool.gitops-check.flagd-schema] (package, version, "
                        "sha256): the flag definitions cannot be checked without flagd's schema")
    return settings.flagd_schema


def folder(settings: Settings) -> Path:
    """The cache folder of the pinned schema: keyed by version and tarball hash, outside the clone."""
    p = pin(settings)
    return settings.cache_dir / "schemas" / f"flagd-{p.version}-{p.sha256[:12]}-f{FORMAT}"


@dataclass(frozen=True)
class FlagdSchemas:
    """flagd's flags.json and targeting.json, as prepared into `folder` from `package`@`version`."""

    package: str
    version: str
    folder: Path
    flags: dict
    targeting: dict

    @property
    def source(self) -> str:
        return f"{self.package}@{self.version}"

    def validator(self) -> jsonschema.Draft7Validator:
        return validator(self.flags, self.targeting)


def validator(flags: dict, targeting: dict) -> jsonschema.Draft7Validator:
    """A draft-07 validator of flags.json that resolves targeting.json locally and nothing else (no retrieval).
    jsonschema is imported here, not with the module: 45 ms a run whose overlays hold no flag file never needs."""
    import jsonschema

    return jsonschema.Draft7Validator(flags, registry=_registry(flags, targeting))


def _registry(flags: dict, targeting: dict) -> referencing.Registry:
    import referencing
    from referencing.jsonschema import DRAFT7

    return referencing.Registry().with_resources(
        (schema["$id"], DRAFT7.create_resource(schema)) for schema in (flags, targeting)
    )


def prepare(settings: Settings, repair: bool = False) -> Path:
    """The prepared folder, fetched and built when missing (or, with `repair`, damaged): `gitops-check prepare`."""
    p = pin(settings)
    return cache.publish(folder(settings), lambda tmp: _build(p, tmp), repair=repair)


def load(settings: Settings) -> FlagdSchemas:
    """The prepared schemas, checked against their integrity manifest; never fetched here (validation is offline):
    missing or damaged, a ToolError naming the folder and `make tools`."""
    p, path = pin(settings), folder(settings)
    if not cache.ready(path):
        raise ToolError(f"flagd schema {p.name}@{p.version} not found in {path}: run `make tools`")
    problem = cache.damage(path)
    if problem:
        raise ToolError(f"schema cache damaged: {path}: {problem}: {integrity.FIX}")
    return _read(path, p.name, p.version)


@lru_cache(maxsize=8)
def _read(path: Path, package: str, version: str) -> FlagdSchemas:
    try:
        flags, targeting = (json.loads((path / FILES[i]).read_text()) for i in (FLAGS_ID, TARGETING_ID))
    except (OSError, ValueError) as exc:
        raise ToolError(f"schema cache damaged: {path}: {exc}: {integrity.FIX}") from None
    return FlagdSchemas(package, version, path, flags, targeting)


# --------------------------------------------------------------------------- building the cache entry


def _build(p: NpmPackage, folder_: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="flagd-pack-") as scratch:
        tarball = fetch(p, Path(scratch))
        digest = integrity.sha256(tarball)
        if digest != p.sha256:
            raise ToolError(f"npm pack {p.name}@{p.version}: the tarball has sha256 {digest}, pyproject.toml pins "
                            f"{p.sha256} ([tool.gitops-check.flagd-schema]): not the package that was reviewed")
        bundle, text = read_bundle(tarball, p)
    schemas = extract(text, f"{p.name}@{p.version} {bundle}")
    check(schemas[FLAGS_ID], schemas[TARGETING_ID], f"{p.name}@{p.version}")
    for schema_id, name in FILES.items():
        (folder_ / name).write_text(json.dumps(schemas[schema_id], indent=2) + "\n")
    return {"package": p.name, "version": p.version, "tarball-sha256": digest, "bundle": bundle, "format": FORMAT,
            "schemas": dict(FILES)}


def fetch(p: NpmPackage, dest: Path) -> Path:
    """`npm pack NAME@VERSION` into `dest`, with a timeout: the registry's tarball (npm checks it against the registry's
    sha512 integrity), from npm's own cache when it has it (--prefer-offline), so a repair needs no network."""
    from ..toolchain import locate  # npm is a Debian package `make tools` installs when missing

    npm = locate("npm")
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
    cmd = [npm, "pack", f"{p.name}@{p.version}", "--json", "--ignore-scripts", "--prefer-offline", "--pack-destination", str(dest)]
    try:
        proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"npm pack {p.name}@{p.version}: no result after {NPM_TIMEOUT}s (is the npm registry reachable?)") from None
    except OSError as exc:
        raise ToolError(f"npm pack {p.name}@{p.version}: cannot run npm: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
        raise ToolError(f"npm pack {p.name}@{p.version} failed: {' / '.join(lines[-3:]) or 'no output'}")
    tarballs = sorted(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ToolError(f"npm pack {p.name}@{p.version}: expected one tarball in {dest}, found {len(tarballs)}")
    return tarballs[0]


def read_bundle(tarball: Path, p: NpmPackage) -> tuple[str, str]:
    """(member name, text) of the JavaScript bundle that embeds the schemas, read from the tarball in memory,
    after checking its package.json names the pinned package and version."""
    if tarball.stat().st_size > MAX_TARBALL:
        raise ToolError(f"{tarball.name}: {tarball.stat().st_size} bytes, not the small package {p.name}")
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}

            def text(name: str) -> str:
                f = tar.extractfile(members[name])
                return f.read().decode("utf-8") if f else ""

            manifest = json.loads(text("package/package.json")) if "package/package.json" in members else {}
            if (manifest.get("name"), manifest.get("version")) != (p.name, p.version):
                raise ToolError(f"{tarball.name}: package.json says {manifest.get('name')}@{manifest.get('version')}, "
                                f"not {p.name}@{p.version}")
            for name in BUNDLES:
                if name in members:
                    return name, text(name)
    except (tarfile.TarError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise ToolError(f"{tarball.name}: cannot read the npm tarball: {exc}") from None
    raise ToolError(f"{p.name}@{p.version} has none of {', '.join(BUNDLES)}: pin a version that embeds flagd's schema")


# --------------------------------------------------------------------------- the literals of the bundle


class _NotLiteral(Exception):
    pass


_TOKEN = re.compile(
    r"""(?P<skip>(?:\s+|//[^\n]*|/\*.*?\*/)+)
      |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![\w$]))
      |(?P<name>[A-Za-z_$][\w$]*)
      |(?P<punct>[{}\[\]:,;=])""",
    re.S | re.X,
)
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}
_START = re.compile(r'^var [A-Za-z_$][\w$]* = "https://flagd\.dev/schema/v0/[a-z]+\.json";$', re.M)


class _Literals:
    """`var NAME = LITERAL;` statements, one after another, where a literal is what JSON allows (plus single
    quotes, unquoted keys and names of earlier statements): rollup's rendering of imported JSON files."""

    def __init__(self, text: str, pos: int):
        self.text, self.pos = text, pos
        self.names: dict[str, object] = {}

    def _next(self, peek: bool = False) -> tuple[str, str]:
        pos = self.pos
        while True:
            m = _TOKEN.match(self.text, pos)
            if not m:
                raise _NotLiteral
            pos = m.end()
            if m.lastgroup != "skip":
                break
        if not peek:
            self.pos = pos
        return m.lastgroup, m.group()

    def _expect(self, value: str) -> None:
        if self._next()[1] != value:
            raise _NotLiteral

    def statements(self) -> dict[str, object]:
        """Every statement up to the first one that is not `var NAME = LITERAL;`."""
        while True:
            start = self.pos
            try:
                kind, word = self._next()
                if word != "var":
                    raise _NotLiteral
                kind, name = self._next()
                if kind != "name":
                    raise _NotLiteral
                self._expect("=")
                value = self._value()
                self._expect(";")
            except _NotLiteral:
                self.pos = start
                return self.names
            self.names[name] = value

    def _value(self) -> object:
        kind, word = self._next()
        if kind == "string":
            return _string(word)
        if kind == "number":
            return json.loads(word)
        if kind == "name":
            if word in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[word]
            if word in self.names:
                return copy.deepcopy(self.names[word])
            raise _NotLiteral
        if word == "{":
            return self._object()
        if word == "[":
            return self._array()
        raise _NotLiteral

    def _object(self) -> dict:
        found: dict[str, object] = {}
        while True:
            kind, word = self._next()
            if word == "}":
                return found
            if kind not in ("name", "string", "number"):
                raise _NotLiteral
            key = _string(word) if kind == "string" else word
            self._expect(":")
            found[key] = self._value()
            kind, word = self._next()
            if word == "}":
                return found
            if word != ",":
                raise _NotLiteral

    def _array(self) -> list:
        found: list = []
        while True:
            if self._next(peek=True)[1] == "]":
                self._next()
                return found
            found.append(self._value())
            kind, word = self._next()
            if word == "]":
                return found
            if word != ",":
                raise _NotLiteral


def _string(token: str) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif e == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2:i + 4]):
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        else:
            raise _NotLiteral
    s = "".join(out)
    # JSON strings pair surrogates the way JavaScript does; json.loads does the same for \\u escapes
    return json.loads(json.dumps(s)) if any(0xD800 <= ord(ch) <= 0xDFFF for ch in s) else s


def extract(text: str, where: str) -> dict[str, dict]:
    """{schema $id: schema} of flags.json and targeting.json, parsed from the bundle's literal statements."""
    found: dict[str, dict] = {}
    end = 0
    for start in _START.finditer(text):
        if start.start() < end:  # inside a run of statements already parsed
            continue
        literals = _Literals(text, start.start())
        values = literals.statements()
        end = literals.pos
        for value in values.values():
            if isinstance(value, dict) and value.get("$id") in FILES and value.get("$schema"):
                found.setdefault(value["$id"], value)
    missing = [FILES[i] for i in FILES if i not in found]
    if missing:
        raise ToolError(f"{where}: no {' or '.join(missing)} schema literal found (var ... = {{$id: ...}}): "
                        "pin a version of the package that embeds flagd's schema")
    return found


def _refs(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def check(flags: dict, targeting: dict, where: str) -> None:
    """Both are draft-07 schemas, every `$ref` in either resolves within the two of them, and the pair accepts a
    known-good definition and rejects a known-bad one: what we extracted is a working schema, not a fragment."""
    import jsonschema
    import referencing.exceptions

    for schema in (flags, targeting):
        if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
            raise ToolError(f"{where}: {FILES[schema['$id']]} is not a draft-07 schema ($schema {schema.get('$schema')!r})")
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ToolError(f"{where}: {FILES[schema['$id']]} is not valid JSON Schema: {exc.message}") from None
    registry = _registry(flags, targeting)
    for schema in (flags, targeting):
        resolver = registry.resolver(base_uri=schema["$id"])
        for ref in sorted(_refs(schema)):
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                raise ToolError(f"{where}: {FILES[schema['$id']]} refers to {ref}, which neither schema defines") from None
    judge = validator(flags, targeting)
    if list(judge.iter_errors(_SAMPLE)) or not list(judge.iter_errors(_BROKEN)):
        raise ToolError(f"{where}: the extracted flags.json does not judge a sample definition the way flagd does")

"""No network, by construction: the kustomization graph of an overlay is walked before kustomize builds it,
and every remote reference is refused with the file and line that holds it.

kustomize fetches whatever a kustomization names by URL: `resources`, `components` and `bases` that parse as
a git repository (https://, http://, ssh://, file://, `git@host:org/repo`, `github.com/org/repo`, the go-getter
forms `git::…`, `…//subdir` and `?ref=`/`?timeout=`/`?submodules=` queries: cloned with `git`, submodules
included, for as long as the pull request's own `?timeout=` says) and any file field given as an http(s) URL
(patches, generator `files`/`envs`/`env`, `configurations`, `crds`, `openapi`, `replacements`, the configs of
`generators`/`transformers`/`validators` and the paths inside them). `helmCharts` pulls charts. None of that
may happen while a pull request is judged, so this module refuses, before kustomize starts:

- any entry of those fields that looks remote (a superset of what kustomize's git URL parser and its
  http(s) loader accept: `://`, `::`, `?`, `//`, a URL scheme, `user@` and the `github.com` shorthand), even
  when a local folder of that name exists (kustomize tries the git clone first);
- `helmCharts` and `helmChartInflationGenerator`, and a HelmChartInflationGenerator plugin config;
- a path inside the repository that a symlink leads out of it;
- a kustomization or plugin config it cannot read (unverifiable means refused; kustomize would fail on it).

Keys are matched case-insensitively and YAML merge keys are followed, as kustomize's JSON decoding does. Local
folders named by `resources`, `components`, `bases` and the plugin fields are walked recursively (each once).
Which local files a kustomization may read stays with kustomize's default load restrictor
(LoadRestrictionsRootOnly), unchanged. The YAML is composed (nodes and their marks, nothing constructed), so
anchors are never expanded and a line can be named.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import InputError
from .loader import _StrictLoader, read_bytes

if TYPE_CHECKING:
    from .settings import Settings

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_FILE_BYTES = 1 << 20  # a kustomization or plugin config; real ones are a few KB
ADVICE = "gitops-check never lets kustomize reach the network: vendor it into the repository"

# Fields of a kustomization, by what kustomize does with their entries.
DIR_FIELDS = ("resources", "components", "bases")  # a file, or a folder (kustomization) or a git URL
FILE_FIELDS = ("crds", "configurations")  # files (http(s) URLs are fetched)
PLUGIN_FIELDS = ("generators", "transformers", "validators")  # inline configs, config files or folders
PATCH_FIELDS = ("patches", "patchesJson6902")  # entries with `path:`
HELM_FIELDS = ("helmCharts", "helmChartInflationGenerator")
# Paths inside builtin plugin configs that kustomize loads (PatchTransformer, PatchJson6902Transformer,
# PatchStrategicMergeTransformer, ConfigMap/SecretGenerator, ValueAddTransformer, ReplacementTransformer).
PLUGIN_PATH_FIELDS = ("path", "targetFilePath", "env")
PLUGIN_LIST_FIELDS = ("paths", "files", "envs")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?=\S)")
_USER = re.compile(r"^[A-Za-z][A-Za-z0-9-]*@")  # kustomize's SCP-style username (git@host:org/repo)
_BINARY = "tag:yaml.org,2002:binary"
_MERGE = "tag:yaml.org,2002:merge"
_NULL = "tag:yaml.org,2002:null"
# libyaml's composer (16x faster than PyYAML's; the same nodes, tags and marks; composing is most of a walk), after
# parse()'s limits (depth, aliases, duplicate keys): its recursion kills the process on deep nesting, and a
# kustomization is the pull request's to write.
_YAML_LOADER = _StrictLoader
# Composed documents by file content, shared by every walk of the process: a fleet of overlays names the same
# bases, and a run walks each target once for its inputs and once before kustomize builds it. Nodes are never
# modified; a walk's `seen` set is its own.
_COMPOSED: dict[str, list[Node]] = {}
_COMPOSED_MAX = 4096


def remote_reason(entry: str) -> str | None:
    """Why ENTRY would make kustomize reach the network (None: a local path). Deliberately broader than
    kustomize's own parsing: a local file named like a URL is refused too."""
    s = entry.strip()
    if not s:
        return None
    low = s.lower()
    bare = low[5:] if low.startswith("git::") else low
    if "://" in s:
        return "a URL"
    if "::" in s:
        return "a go-getter forced-getter form (::)"
    if bare.startswith(("github.com/", "github.com:")):
        return "the github.com shorthand of a git repository"
    if _USER.match(s):
        return "a git SSH address (user@host)"
    if _SCHEME.match(s):
        return "a URL scheme"
    if "?" in s:
        return "a URL query (?ref=, ?timeout=)"
    if "//" in s:
        return "a go-getter subdirectory (//)"
    return None


def redact(entry: str, limit: int = 100) -> str:
    """ENTRY as it may be shown: credentials, query and fragment removed, control characters escaped, cut."""
    s = entry.strip()
    s = re.sub(r"(?<=://)[^/@\s]+@", "***@", s)
    s = re.sub(r"[^/@\s:]*:[^/@\s]*@", "***@", s)
    for mark in ("?", "#"):
        if mark in s:
            s = s.split(mark, 1)[0] + mark + "…"
    s = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in s)
    return "'" + (s if len(s) <= limit else s[:limit] + "…") + "'"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _TooDeep(Exception):
    def __init__(self, node: Node):
        self.node = node


class _Walk:
    def __init__(self, root: Path | None):
        self.root = os.path.abspath(root) if root else None
        self.real_root = os.path.realpath(root) if root else None
        self.folders: set[tuple[str, bool]] = set()  # (real path, holds plugin configs) of walked folders
        self.files: set[str] = set()  # real paths of plugin config files read
        self.seen: set[tuple[int, str]] = set()  # (node, role): an anchor used many times is checked once
        self.keep: list[Node] = []  # every composed document stays alive, so no id() in `seen` is reused
        self.read: set[str] = set()  # every local path the graph names or reads (files(): what a build depends on)

    # -- showing -----------------------------------------------------------------------------------------
    def shown(self, path: str) -> str:
        base = self.root or os.getcwd()
        return os.path.relpath(path, base) if _inside(path, base) else path

    def fail(self, file: str, where: Node | int | None, message: str) -> None:
        line = where.start_mark.line + 1 if isinstance(where, Node) else where
        raise InputError(f"{self.shown(file)}{f':{line}' if line else ''}: {message}")

    # -- reading -----------------------------------------------------------------------------------------
    def compose(self, file: str) -> list[Node]:
        """The documents of FILE as YAML nodes (nothing constructed: anchors stay shared, never expanded)."""
        data = read_bytes(file, self.shown(file))  # never blocks: `transformers: [/proc/kmsg]` hung the walk
        if len(data) > MAX_FILE_BYTES:
            self.fail(file, None, f"larger than {MAX_FILE_BYTES >> 20} MiB: refused before kustomize reads it")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(file, None, "not UTF-8 text: cannot be checked for remote references")
        known = _COMPOSED.get(text)  # one read: another thread may clear the memo between two
        if known is not None:
            self.keep += known
            return known
        try:
            docs = [n for n in yaml.compose_all(text, Loader=_YAML_LOADER) if n is not None]
            if len(_COMPOSED) >= _COMPOSED_MAX:
                _COMPOSED.clear()
            _COMPOSED[text] = docs
            self.keep += docs
            return docs
        except RecursionError:
            self.fail(file, None, "YAML nested too deeply: cannot be checked for remote references")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            problem = " ".join((getattr(exc, "problem", None) or "cannot be parsed").split())[:200]
            self.fail(file, mark.line + 1 if mark else None,
                      f"invalid YAML: {problem} (cannot be checked for remote references)")
        return []

    def inline(self, entry: str, file: str, node: Node) -> list[Node]:
        """The mapping documents of an entry kustomize may read as inline YAML ([] when it is a path)."""
        s = entry.strip()
        if "\n" not in s and not s.startswith("{") and ": " not in s:
            return []
        try:
            docs = [n for n in yaml.compose_all(s, Loader=_YAML_LOADER) if isinstance(n, MappingNode)]
            self.keep += docs
            return docs
        except yaml.constructor.ConstructorError as exc:  # YAML, but over parse()'s limits: never a path
            self.fail(file, node, f"inline YAML refused: {exc.problem} (cannot be checked for remote references)")
        except (yaml.YAMLError, RecursionError):
            return []  # not YAML: kustomize takes it for a path, which a multi-line string cannot fetch

    # -- YAML nodes --------------------------------------------------------------------------------------
    def pairs(self, node: Node, depth: int = 0) -> Iterator[tuple[str, Node]]:
        """(lower-cased key, value) of a mapping, merge keys (<<) followed as kustomize's decoder does."""
        if not isinstance(node, MappingNode):
            return
        if depth > 32:  # kustomize's decoder follows them all: stopping here would hide what they name (and key it)
            raise _TooDeep(node)
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                continue
            if key.tag == _MERGE:
                for merged in value.value if isinstance(value, SequenceNode) else [value]:
                    yield from self.pairs(merged, depth + 1)
            else:
                yield key.value.lower(), value

    def fields(self, node: Node, *names: str) -> Iterator[tuple[str, Node]]:
        """Values of the keys NAMES (any case, as Go's JSON decoding matches them; duplicates included)."""
        wanted = {n.lower(): n for n in names}
        for key, value in self.pairs(node):
            if key in wanted:
                yield wanted[key], value

    @staticmethod
    def items(node: Node) -> list[Node]:
        if isinstance(node, SequenceNode):
            return node.value
        return [node] if isinstance(node, ScalarNode) and node.tag != _NULL and node.value else []

    @staticmethod
    def text(node: Node) -> str | None:
        """A scalar's string as kustomize's YAML decoder would see it (!!binary decoded)."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            return None
        if node.tag == _BINARY:
            try:
                return base64.b64decode("".join(node.value.split())).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return node.value
        return node.value

    def each(self, node: Node, role: str) -> Iterator[Node]:
        """The entries of a field, each node once per ROLE (an alias repeated a thousand times is one entry)."""
        for item in self.items(node):
            if self.first_time(item, "entry:" + role):
                yield item

    def first_time(self, node: Node, role: str) -> bool:
        key = (id(node), role)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    # -- checks ------------------------------------------------------------------------------------------
    def local(self, file: str, where: Node, field: str, entry: str) -> str:
        """ENTRY (named in FILE) refused when remote; else its local path, checked for a symlink escape."""
        reason = remote_reason(entry)
        if reason:
            self.fail(file, where, f"{field} entry {redact(entry)} is a remote reference ({reason}); {ADVICE}")
        if entry != entry.strip():  # kustomize reads "cm.yaml " as written; the walk would key and lint "cm.yaml"
            self.fail(file, where, f"{field} entry {redact(entry)} has spaces around it: refused")
        path = os.path.normpath(os.path.join(self.physical(os.path.dirname(file)), entry))
        if self.root and _inside(os.path.abspath(file), self.root) and not _inside(os.path.abspath(path), self.root):
            # `../../../../work/main/overlays/staging`: the verdict would depend on what else is on the CI host
            self.fail(file, where, f"{field} entry {redact(entry)} leads out of the repository: refused")
        self.escape(path, file, where, f"{field} entry {redact(entry)}")
        self.read.add(path)
        return path

    def physical(self, directory: str) -> str:
        """DIRECTORY with its symbolic links followed, as kustomize resolves a kustomization's folder before it
        joins the folder's entries (`link/../y` is the real folder's sibling, not `y` next to the link); inside the
        repository it keeps the repository's own spelling, so findings and keys name paths as the user knows them."""
        real = os.path.realpath(directory)
        if self.root and self.real_root and _inside(real, self.real_root):
            return os.path.normpath(os.path.join(self.root, os.path.relpath(real, self.real_root)))
        return real

    def escape(self, path: str, file: str, where: Node | None, what: str) -> None:
        if self.root and self.real_root and _inside(path, self.root) and os.path.lexists(path):
            if not _inside(os.path.realpath(path), self.real_root):
                self.fail(file, where, f"{what} leads out of the repository through a symlink: refused")

    # -- the walk ----------------------------------------------------------------------------------------
    def folder(self, directory: str, plugins: bool = False) -> None:
        """A kustomization folder: each kustomization file in it, and what they name."""
        key = (os.path.realpath(directory), plugins)
        if key in self.folders:
            return
        self.folders.add(key)
        memo_key = (key, self.root)
        # Within one run, a folder many overlays name (a base) is walked once; a cycle is walked plainly (kustomize
        # names it).
        if _FOLDERS is not None and memo_key not in _PENDING:
            if memo_key not in _FOLDERS:
                sub = _Walk(Path(self.root) if self.root else None)
                _PENDING.add(memo_key)
                try:
                    sub.walk_folder(directory, plugins)
                    _FOLDERS[memo_key] = (frozenset(sub.read), frozenset(sub.folders))
                except InputError as exc:
                    _FOLDERS[memo_key] = exc
                finally:
                    _PENDING.discard(memo_key)
            found = _FOLDERS[memo_key]
            if isinstance(found, InputError):
                raise InputError(str(found))
            self.read |= found[0]
            self.folders |= found[1]
            return
        self.walk_folder(directory, plugins)

    def walk_folder(self, directory: str, plugins: bool) -> None:
        key = (os.path.realpath(directory), plugins)
        self.folders.add(key)
        for name in KUSTOMIZATION_FILES:
            file = os.path.join(directory, name)
            if os.path.lexists(file):  # a FIFO or a device too: compose() refuses it (kustomize would wait on it)
                self.escape(file, file, None, "the kustomization")
                self.read.add(file)
                for doc in self.compose(file):
                    self.kustomization(file, doc, plugins)

    def kustomization(self, file: str, doc: Node, plugins: bool) -> None:
        try:
            self._kustomization(file, doc, plugins)
        except _TooDeep as deep:
            self.fail(file, deep.node, "merge keys (<<) nested more than 32 levels deep: refused")

    def _kustomization(self, file: str, doc: Node, plugins: bool) -> None:
        for field, value in self.fields(doc, *HELM_FIELDS):
            if self.items(value) or (isinstance(value, MappingNode) and value.value):
                self.fail(file, value, f"{field} would make kustomize pull a Helm chart; {ADVICE} "
                                       "(render it with helm template and list the output under resources)")
        for field, value in self.fields(doc, *DIR_FIELDS):
            for item in self.each(value, field):
                self.path_entry(file, item, field, plugins)
        for field, value in self.fields(doc, *FILE_FIELDS):
            for item in self.each(value, field):
                self.file_entry(file, item, field)
        for field, value in self.fields(doc, "patchesStrategicMerge"):
            for item in self.each(value, field):
                self.inline_or_path(file, item, field, plugin=False)
        for field, value in self.fields(doc, *PATCH_FIELDS, "replacements"):
            for item in self.each(value, field):
                for _, path in self.fields(item, "path"):
                    self.file_entry(file, path, f"{field} path")
        for field, value in self.fields(doc, "openapi"):
            for _, path in self.fields(value, "path"):
                self.file_entry(file, path, f"{field} path")
        for field, value in self.fields(doc, "configMapGenerator", "secretGenerator"):
            for generator in self.each(value, field):
                self.plugin_paths(file, generator, field, ("files", "envs", "env"))
        for field, value in self.fields(doc, *PLUGIN_FIELDS):
            for item in self.each(value, field):
                self.inline_or_path(file, item, field, plugin=True)

    def path_entry(self, file: str, node: Node, field: str, plugins: bool) -> None:
        """A resources/components/bases entry: refused when remote; a folder is walked, and a file read when it
        holds plugin configs (under a folder named by generators/transformers/validators)."""
        entry = self.text(node)
        if entry is None or not self.first_time(node, f"{field}:{plugins}"):
            return
        path = self.local(file, node, field, entry)
        if os.path.isdir(path):
            self.folder(path, plugins)
        elif plugins and os.path.isfile(path):
            self.plugin_file(path)

    def file_entry(self, file: str, node: Node, field: str) -> None:
        entry = self.text(node)
        if entry is not None and self.first_time(node, field):
            self.local(file, node, field, entry)

    def inline_or_path(self, file: str, node: Node, field: str, plugin: bool) -> None:
        """An entry kustomize reads as inline YAML when it parses so, else as a path (patchesStrategicMerge,
        generators, transformers, validators). A one-line entry is also checked as a path, whatever it is."""
        entry = self.text(node)
        if entry is None or not self.first_time(node, field):
            return
        if "\n" not in entry.strip():
            path = self.local(file, node, field, entry)
            if plugin and os.path.isdir(path):
                self.folder(path, plugins=True)
            elif plugin and os.path.isfile(path):
                self.plugin_file(path)
        else:  # inline YAML; were it not, kustomize would parse it as a git URL from its start
            head = entry.strip().splitlines()[0]
            reason = remote_reason(head)
            if reason:
                self.fail(file, node, f"{field} entry {redact(head)} is a remote reference ({reason}); {ADVICE}")
        if plugin:
            for doc in self.inline(entry, file, node):
                self.plugin_config(file, doc, node)

    def plugin_file(self, path: str) -> None:
        real = os.path.realpath(path)
        if real in self.files:
            return
        self.files.add(real)
        self.read.add(os.path.abspath(path))
        for doc in self.compose(path):
            try:
                self.plugin_config(path, doc)
            except _TooDeep as deep:
                self.fail(path, deep.node, "merge keys (<<) nested more than 32 levels deep: refused")

    def plugin_config(self, file: str, doc: Node, at: Node | None = None) -> None:
        """A generator/transformer/validator config (AT: the entry of an inline one, whose line is shown):
        the files a builtin plugin loads are checked, Helm refused."""
        for _, kind in self.fields(doc, "kind"):
            if (self.text(kind) or "").strip().lower() == "helmchartinflationgenerator":
                self.fail(file, at or kind,
                          f"a HelmChartInflationGenerator would make kustomize pull a Helm chart; {ADVICE}")
        self.plugin_paths(file, doc, kind_of(self, doc), PLUGIN_PATH_FIELDS + PLUGIN_LIST_FIELDS, at)
        for _, value in self.fields(doc, "replacements"):
            for item in self.each(value, "plugin replacements"):
                for _, path in self.fields(item, "path"):
                    entry = self.text(path)
                    if entry is not None:
                        self.local(file, at or path, "replacements path", entry)

    def plugin_paths(self, file: str, node: Node, owner: str, names: tuple[str, ...], at: Node | None = None) -> None:
        """The file fields NAMES of a generator or plugin config; `files` entries are `path` or `key=path`
        (the whole entry and the path are both checked); a multi-line `paths` entry is an inline patch."""
        for field, value in self.fields(node, *names):
            for item in self.each(value, f"{owner}.{field}"):
                entry = self.text(item)
                if entry is None or "\n" in entry.strip():
                    continue
                for part in dict.fromkeys((entry, entry.split("=", 1)[-1] if field == "files" else entry)):
                    self.local(file, at or item, f"{owner} {field}", part)


def kind_of(walk: _Walk, doc: Node) -> str:
    kinds = [walk.text(k) for _, k in walk.fields(doc, "kind")]
    return next((k for k in kinds if k), "plugin config")


def check(overlay: Path, settings: Settings | None = None) -> None:
    """Walk OVERLAY's kustomization graph; InputError (file:line, one line) at the first remote reference.

    Paths are shown relative to the repository under check (else to the working directory)."""
    files(overlay, settings)  # the same walk; the paths it read are not needed here


@contextmanager
def one_run() -> Iterator[None]:
    """While this lasts, each kustomization folder is walked once (files do not change under a validation run,
    which walks a target for its cache key, before kustomize builds it and for the lint stage, and whose overlays
    share their bases); nested uses share it."""
    global _FOLDERS
    outer = _FOLDERS
    if _FOLDERS is None:
        _FOLDERS = {}
    try:
        yield
    finally:
        _FOLDERS = outer


_FOLDERS: dict[tuple[tuple[str, bool], str | None], tuple[frozenset[str], frozenset[tuple[str, bool]]] | InputError] | None = None
_PENDING: set[tuple[tuple[str, bool], str | None]] = set()


def files(overlay: Path, settings: Settings | None = None) -> set[Path]:
    """The local paths OVERLAY's kustomize build depends on: every kustomization file walked and every path its
    fields name (resources, components, bases, patches, generator files/envs, configurations, replacements, crds,
    openapi, plugin configs and the files they load), existing or not, as absolute paths (folders named by
    `resources` stand for their kustomization files, which are listed too). Same walk and refusals as check()."""
    walk = _Walk(settings.repo_root if settings else None)
    directory = os.path.abspath(overlay)
    walk.escape(directory, directory, None, "the overlay")
    try:
        walk.folder(directory)
    except RecursionError:
        raise InputError(f"{walk.shown(directory)}: kustomization graph nested too deeply") from None
    return {Path(p) for p in walk.read}

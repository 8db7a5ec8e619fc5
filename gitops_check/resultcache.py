"""Incremental runs: a content-addressed cache of each target's rendered documents and findings.

A target's entry is found under a key made of
- the harness key: what judges every target — the running gitops_check package, the repository's global inputs
  (gitdiff.global_inputs: policies and their data, tool pins and settings in pyproject.toml, tools/, crds.lock,
  .yamllint, the SLO file, the Argo CD Applications that say how each overlay syncs), the stages of the run;
- the target itself: its kind, its name as reports show it, and the content of every file its kustomize build
  reads (kustomgraph.files, the walk `--changed` uses), a missing file or a folder included as such.
A target holding Argo CD Applications also reads the overlays they name (their paths must build, their
namespaces agree): those files are recorded in the entry and compared on every hit.

An unchanged target costs its walk and a hash of the files it reads (each file hashed once per run). A target whose
files changed while the run checked it stores nothing (its findings may be of either content). Findings
are stored before waivers are applied: a waiver change re-runs nothing and is still honoured. An entry that
cannot be read, or whose own digest does not match, is a miss; it never changes a verdict. A Secret's values are
not kept (a hit is reported, never checked again). A run whose
findings cannot all be attributed to its targets stores nothing. Entries are written atomically; older harness
keys are pruned. GITOPS_CHECK_RESULT_CACHE=off (or `validate --no-cache`) turns the cache off; an absolute path
there puts it elsewhere (a CI cache folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import kustomgraph
from .errors import InputError
from .model import Document, Source, Violation
from .settings import Settings

FORMAT = 1  # bump when an entry's layout or meaning changes
ENV = "GITOPS_CHECK_RESULT_CACHE"  # "off": no cache
KEEP_HARNESS_KEYS = 4  # folders of older harness keys beyond these are removed
MISSING, FOLDER = "missing", "folder"
REDACTED = "(redacted: not kept in the result cache)"
PACKAGE = Path(__file__).resolve().parent


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in ("off", "0", "false", "no")


def root_from_env() -> Path | None:
    """The cache folder GITOPS_CHECK_RESULT_CACHE names (an absolute path); None: the default, in the tool cache."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if os.path.isabs(value) else None


class Digests:
    """sha256 of files, each computed once per run."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def of(self, path: Path | str) -> str:
        key = os.path.abspath(path)
        if key not in self._memo:
            try:
                with open(key, "rb") as f:
                    self._memo[key] = hashlib.sha256(f.read()).hexdigest()
            except IsADirectoryError:
                self._memo[key] = FOLDER
            except FileNotFoundError:
                self._memo[key] = MISSING
            except OSError as exc:  # unreadable: never cached, the run says why
                self._memo[key] = f"unreadable:{exc.errno}"
        return self._memo[key]

    def tree(self, folder: Path) -> list[tuple[str, str]]:
        """(relative path, digest) of every file under FOLDER, bytecode caches aside."""
        found = []
        for directory, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if not name.endswith(".pyc"):
                    path = os.path.join(directory, name)
                    found.append((os.path.relpath(path, folder), self.of(path)))
        return found


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _header(body: bytes) -> bytes:
    """An entry's first line: its format and the sha256 of the rest (the body, JSON)."""
    return f"gitops-check-result {FORMAT} sha256:{hashlib.sha256(body).hexdigest()}".encode()


def _relative(path: Path | str, root: Path) -> str:
    text, base = os.path.abspath(path), str(root)
    if text.startswith(base + os.sep):  # the usual case, without relpath's work
        return text[len(base) + 1:].replace(os.sep, "/")
    return Path(os.path.relpath(text, base)).as_posix()


@dataclass
class Hit:
    source: Source
    found: dict[str, list[Violation]]  # stage -> findings (before waivers)


def _modified_since(path: Path, ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= ns
    except OSError:
        return False


class Store:
    """The cache of one run: keys computed once, entries read and written under the harness key."""

    def __init__(self, settings: Settings, stages: tuple[str, ...], root: Path | None = None):
        from . import gitdiff  # the same notion of "what judges every target" as --changed

        self.settings = settings
        self.stages = stages
        self.digests = Digests()
        self._global_inputs = [rel for rel in gitdiff.global_inputs(settings)
                               if rel not in ("gitops_check/", "waivers.yaml", settings.display(settings.waivers_file))]
        self.harness_key = self._harness_key(self.digests)  # (the running package is hashed itself; waivers apply after)
        self.started_ns = time.time_ns()  # what was modified after this could have been read either way
        self.folder = (root or settings.cache_dir / "results") / self.harness_key[:24]
        self._keys: dict[str, str | None] = {}
        self._read: dict[str, set[Path]] = {}  # target -> the files its key was computed from

    # -- keys ------------------------------------------------------------------------------------------------------
    def _harness_key(self, digests: Digests) -> str:
        settings, repo = self.settings, self.settings.repo_root
        globals_ = [(rel, digests.tree(repo / rel) if rel.endswith("/") else digests.of(repo / rel)) for rel in self._global_inputs]
        harness = [("package", digests.tree(PACKAGE))]
        # What settings.load() can take from the environment as well as from pyproject.toml, named explicitly.
        pins = [settings.kubernetes_version, sorted((n, t.version, t.source_key) for n, t in settings.tools.items()),
                digests.of(settings.slo_file), digests.tree(settings.policies_dir)]
        return _hash(FORMAT, list(self.stages), settings.offline, harness, globals_, pins)

    def harness_unchanged(self) -> bool:
        """Whether what judges every target (policies, settings, the harness...) still holds what it held when the
        run began: a policy edited while the run checked stored the new policy's findings under the old key."""
        return self._harness_key(Digests()) == self.harness_key

    def _files_digest(self, files: set[Path], digests: Digests | None = None) -> list[tuple[str, str]]:
        root, digests = self.settings.repo_root, digests or self.digests
        return sorted((_relative(f, root), digests.of(f)) for f in files)

    def key(self, path: Path, shown: str, kind: str) -> str | None:
        """The target's key; None when its inputs cannot be walked (the run then says why)."""
        if shown not in self._keys:
            try:
                files = kustomgraph.files(path, self.settings) if kind == "overlay" else {Path(path)}
            except InputError:
                self._keys[shown] = None
            else:
                self._keys[shown] = _hash(self.harness_key, kind, shown, self._files_digest(files))
                self._read[shown] = files
        return self._keys[shown]

    def unchanged_since_keyed(self, shown: str, kind: str) -> bool:
        """Whether the files a target was keyed by still hold what they held then (a file edited while the run
        rendered and checked it must not store its findings under the old content's key)."""
        files = self._read.get(shown)
        key = self._keys.get(shown)
        return files is not None and key == _hash(self.harness_key, kind, shown, self._files_digest(files, Digests()))

    def _entry_path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    # -- reading ---------------------------------------------------------------------------------------------------
    def load(self, path: Path, shown: str, kind: str) -> Hit | None:
        key = self.key(path, shown, kind)
        if key is None:
            return None
        try:
            with open(self._entry_path(key), "rb") as f:
                head, _, text = f.read().partition(b"\n")
            if head != _header(text):  # damaged or edited: a miss
                return None
            body = json.loads(text)
            if body["key"] != key:
                return None
            extras = body["extras"]
            if any(self.digests.of(self.settings.repo_root / rel) != digest for rel, digest in extras):
                return None
            docs = [Document(obj=obj, source=shown, line=line) for line, obj in body["documents"]]
            found = {stage: [Violation(**v) for v in vs] for stage, vs in body["violations"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Hit(Source(shown, kind, docs, 0.0, path, cached=True), found)

    # -- writing ---------------------------------------------------------------------------------------------------
    def save(self, source: Source, found: dict[str, list[Violation]]) -> None:
        """Store SOURCE's documents and findings (stage -> violations, before waivers)."""
        key = self.key(source.path or Path(source.name), source.name, source.kind)
        if key is None or not self.unchanged_since_keyed(source.name, source.kind):
            return
        extras = self._extras(source)
        if any(_modified_since(f, self.started_ns) for f in extras):
            return  # an overlay an Application names was edited while the run read it: its findings are of either content
        body = {
            "key": key,
            "target": source.name,
            "extras": self._files_digest(extras),
            "documents": [[d.line, _stored(d)] for d in source.documents],
            "violations": {stage: [v.as_dict() for v in vs] for stage, vs in found.items()},
        }
        text = json.dumps(body, separators=(",", ":")).encode()
        target = self._entry_path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
            with os.fdopen(fd, "wb") as f:
                f.write(_header(text) + b"\n" + text)
            os.replace(tmp, target)
        except OSError:
            return  # a cache that cannot be written is only slower

    def _extras(self, source: Source) -> set[Path]:
        """What a source holding Argo CD Applications reads besides its own build: the overlays they name."""
        from .argocdsync import applications, local_sources, overlay_dir

        found: set[Path] = set()
        for app in applications(source.documents):
            for path, _ in local_sources(app):
                try:
                    target = overlay_dir(self.settings.repo_root, str(path))
                except (OSError, ValueError, RuntimeError):
                    continue
                if target is None:
                    continue
                found.add(target)
                found.update(target / name for name in kustomgraph.KUSTOMIZATION_FILES)
                try:
                    found.update(kustomgraph.files(target, self.settings))
                except InputError:
                    pass  # the run reported it; the kustomization files above still key it
        return found

    def prune(self) -> None:
        """Keep the newest KEEP_HARNESS_KEYS harness folders (this run's included)."""
        parent = self.folder.parent
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            os.utime(self.folder)
            folders = sorted((p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in folders[KEEP_HARNESS_KEYS:]:
            shutil.rmtree(old, ignore_errors=True)


def _stored(doc: Document) -> dict:
    """What the cache keeps of a document: all of it, but a Secret's values (a hit only reports, never re-checks)."""
    if doc.kind != "Secret" or doc.api_version != "v1":
        return doc.obj
    kept = dict(doc.obj)
    for field in ("data", "stringData"):
        if isinstance(kept.get(field), dict):
            kept[field] = {k: REDACTED for k in kept[field]}
    return kept


def attribute(found: dict[str, list[Violation]], sources: list[Source], lint_files: dict[str, set[str]]
              ) -> dict[str, dict[str, list[Violation]]] | None:
    """Stage findings split by target: a finding belongs to the source it names, a lint finding (file:line) to
    every overlay that reads the file. None when a finding belongs to no source of the run (nothing is stored)."""
    names = {s.name for s in sources}
    split: dict[str, dict[str, list[Violation]]] = {s.name: {stage: [] for stage in found} for s in sources}
    for stage, violations in found.items():
        for v in violations:
            if stage == "lint":
                file = v.source.rsplit(":", 1)[0]
                owners = [n for n, files in lint_files.items() if file in files]
            else:
                owners = [v.source] if v.source in names else []
            if not owners:
                return None
            for owner in owners:
                split[owner][stage].append(v)
    return split

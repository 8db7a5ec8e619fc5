"""What a change touches: the targets whose inputs changed between two git refs (`validate --changed REF`), and
the rendered change of each, object by object (`gitops-check diff`).

A target's inputs are the files its kustomize build reads, found by walking its kustomization graph
transitively (kustomgraph.files: resources, components, bases, patches, generator files and envs,
configurations, replacements, crds, openapi, plugin configs), each under the name the walk used and its real name,
plus every symbolic link met on the way to them: a changed path touches an input that is it or lies under it (a
link repointed at another folder). A change to what judges every target (the
policies, the harness, the tool pins, crds.lock, waivers, the SLO file, .yamllint, the Argo CD Applications
that say how each overlay syncs) affects every target. Changed files are `git diff --name-only BASE HEAD`
(two trees compared, renames as a deletion and an addition), or BASE against the working tree plus untracked
files when there is no HEAD. Refs are resolved to commits first; nothing here touches the network or the
repository's state: a ref's tree is written into a temporary folder blob by blob, byte for byte (not with `git
archive`, which applies the tree's export-subst and export-ignore attributes; a tree whose attributes make a
checkout rewrite a file is refused). Both trees are walked and rendered with the invoking checkout's settings
(targets, tool pins and limits): what a ref holds is data.

Besides the diff, each target's two renderings are judged together (renames.py): a production Rollout or
Deployment, or a Service, HPA or PDB it depends on, or an Ingress or VirtualService routing to those Services, that
disappears (removed or renamed) is WH-DIFF-001, which Argo CD would sync as a new Rollout at 100 % without canary
and a prune of the running one; `diff` then exits 1. An Argo CD Application whose sources change (another folder,
another namespace) or that is gone is judged the same way as one target: what it syncs at the base against what it
(or the Applications new at the head) syncs at the head. A target that does not render on a side is shown as such
and not judged: exit 0, since validate fails on that rendering.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import html
import json
import os
import re
import secrets
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import argocdsync, kustomgraph, loader, pipeline, render, renames, runner
from .errors import InputError
from .model import Violation
from .references.index import CLUSTER_SCOPED
from .report import escape as visible
from .report import line as finding_line
from .settings import Settings

GIT_TIMEOUT = 120  # seconds, for every git process
MARKER = "<!-- gitops-check-diff -->"
MARKDOWN_LIMIT = 60_000  # characters: a pull-request comment holds 65,536
MAX_DIFF_LINES = 5_000  # lines of one object's YAML diffed line by line (the largest object here has a few hundred)
# Paths (relative to the repository) whose change affects every target: a folder ends in "/".
EVERYTHING = ("policies/", "gitops_check/", "tools/", "pyproject.toml", "crds.lock", "waivers.yaml", ".yamllint")


# -- git ---------------------------------------------------------------------------------------------------------
# Nothing git runs here may reach the network: no transport is allowed and a partial clone's blob missing locally is
# not fetched from its promisor remote (either variable alone stops that here, git 2.39); no prompt waits for a
# credential.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_ALLOW_PROTOCOL": "none",
            "GIT_NO_LAZY_FETCH": "1"}


def _git(root: Path, *args: str, binary: bool = False, stdin: bytes | None = None,
         env: dict[str, str] | None = None) -> str | bytes:
    try:
        proc = subprocess.run(["git", "-c", "core.quotepath=off", "-C", str(root), *args], capture_output=True,
                              timeout=GIT_TIMEOUT, **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
                              env={**os.environ, **_GIT_ENV, **(env or {})})
    except FileNotFoundError:
        raise InputError("git is not installed: the changed targets cannot be found") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took longer than {GIT_TIMEOUT} s") from None
    if proc.returncode != 0:
        message = " ".join(proc.stderr.decode("utf-8", "replace").split())[:300] or f"exit code {proc.returncode}"
        raise InputError(f"{root}: git {args[0]} failed: {message}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace")


def resolve(root: Path, ref: str) -> str:
    """REF as a commit id; InputError (one line) when it names none."""
    if not ref or ref.startswith("-"):
        raise InputError(f"{ref!r}: not a git revision")
    try:
        return str(_git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")).strip()
    except InputError:
        raise InputError(f"{ref}: not a commit in {root} (fetch it first: git fetch origin)") from None


def _prefix(root: Path) -> str:
    """Where the repository under check sits inside its git work tree ("" at the top, else "sub/dir/")."""
    return str(_git(root, "rev-parse", "--show-prefix")).strip()


def changed_files(root: Path, base: str, head: str | None) -> set[str]:
    """Paths (relative to ROOT, POSIX) that differ between commit BASE and commit HEAD, or the working tree
    (tracked changes and untracked, not ignored, files) when HEAD is None."""
    args = ["diff", "--name-only", "--no-renames", "-z", "--relative", base] + ([head] if head else []) + ["--"]
    names = set(filter(None, str(_git(root, *args)).split("\0")))
    if head is None:
        names |= set(filter(None, str(_git(root, "ls-files", "-z", "--others", "--exclude-standard")).split("\0")))
    return names


# How a commit's tree is written out. Not with `git archive`: it applies the archived tree's own .gitattributes, so
# `export-ignore` leaves files out and `export-subst` rewrites `$Format:...$` in them, and the tree diff rendered is
# not the checkout that Argo CD syncs and validate judges. Each blob is written byte for byte as git stores it
# (ls-tree, cat-file), in the file mode git records: 100644, 100755 (executable), 120000 (a symbolic link).
_FILE_MODES = {"100644": 0o644, "100664": 0o644, "100755": 0o755}
_SYMLINK, _GITLINK = "120000", "160000"
# A checkout does apply some of the tree's attributes to a file's bytes, which a blob written as stored would not
# show: `ident` ($Id$ expanded), `eol=crlf`, `working-tree-encoding`. A tree where one changes a file is refused.
_CONVERSIONS = ("ident", "eol", "text", "crlf", "working-tree-encoding")


def _tree(root: Path, tree: str) -> list[tuple[str, str, str]]:
    """(mode, object id, path) of every file of TREE, paths relative to it (as the file system spells them)."""
    out = []
    for record in bytes(_git(root, "ls-tree", "-r", "-z", "--full-tree", tree, binary=True)).split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, _, oid = meta.decode("ascii", "replace").split(" ", 2)
            out.append((mode, oid, os.fsdecode(path)))
    return out


def _blobs(root: Path, oids: list[str], commit: str) -> dict[str, bytes]:
    """The content of each blob OIDS names, from one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    data = bytes(_git(root, "cat-file", "--batch", binary=True, stdin=("\n".join(wanted) + "\n").encode("ascii")))
    out, pos = {}, 0
    for oid in wanted:
        end = data.find(b"\n", pos)
        header = data[pos:end].decode("ascii", "replace").split(" ") if end >= 0 else []
        if len(header) != 3 or header[0] != oid or header[1] != "blob" or not header[2].isdigit():
            raise InputError(f"{commit[:12]}: object {oid[:12]} of its tree is not in the local repository "
                             "(fetch the commit with its objects first)")
        start = end + 1
        out[oid] = data[start:start + int(header[2])]
        pos = start + int(header[2]) + 1
    return out


def _converted(root: Path, commit: str, files: dict[str, bytes]) -> None:
    """InputError when the tree's .gitattributes make a checkout write one of FILES (path relative to ROOT ->
    blob) other than as stored. The attributes are git's own answer (check-attr) from COMMIT's .gitattributes,
    read through a temporary index: the repository's index and work tree are not touched."""
    if not files:
        return
    with tempfile.TemporaryDirectory(prefix="gitops-check-attr-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(root, "read-tree", commit, env=env)
        names = b"".join(os.fsencode(p) + b"\0" for p in files)
        answer = bytes(_git(root, "check-attr", "--cached", "-z", "--stdin", *_CONVERSIONS, binary=True, stdin=names,
                            env=env)).split(b"\0")
    attrs: dict[str, dict[str, str]] = {}
    for i in range(0, len(answer) - 2, 3):
        attrs.setdefault(os.fsdecode(answer[i]), {})[answer[i + 1].decode()] = answer[i + 2].decode("utf-8", "replace")
    for path, data in files.items():
        a = attrs.get(path, {})
        why = None
        if a.get("ident") == "set" and b"$Id" in data:
            why = "ident (a checkout expands $Id$)"
        elif a.get("working-tree-encoding", "unspecified") not in ("unspecified", "unset", "set") and \
                a["working-tree-encoding"].replace("-", "").lower() != "utf8":
            why = f"working-tree-encoding={a['working-tree-encoding']} (a checkout re-encodes the file)"
        elif a.get("eol") == "crlf" and "unset" not in (a.get("text"), a.get("crlf")) and b"\n" in data:
            why = "eol=crlf (a checkout writes CRLF line endings)"
        if why:
            raise InputError(f"{commit[:12]}: {visible(path)}: its .gitattributes set {why}, so the checkout Argo CD "
                             "syncs differs from the commit's bytes, which gitops-check renders; remove the attribute")


def materialize(root: Path, commit: str, into: Path) -> Path:
    """The tree of COMMIT (the part under the repository's folder) written into INTO, each file byte for byte as
    git stores it; returns INTO. Refused (InputError): a path no checkout writes, a git submodule (Argo CD's
    checkout fetches its content, which this repository does not hold), a symbolic link that leads out of the
    tree, and a tree whose .gitattributes make a checkout change a file (_converted)."""
    prefix = _prefix(root)
    entries = _tree(root, f"{commit}:{prefix}" if prefix else f"{commit}^{{tree}}")
    blobs = _blobs(root, [oid for mode, oid, _ in entries if mode != _GITLINK], commit)
    _converted(root, commit, {path: blobs[oid] for mode, oid, path in entries if mode in _FILE_MODES})
    into.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()  # files and symbolic links
    folders: set[str] = set()
    links: list[str] = []
    for mode, oid, path in entries:
        shown = f"{commit[:12]}: {visible(path)}"
        parts = path.split("/")
        if any(p in ("", ".", "..") or p.lower() == ".git" for p in parts):
            raise InputError(f"{shown}: not a path a checkout writes: refused")
        if mode == _GITLINK:
            raise InputError(f"{shown}: a git submodule, whose content Argo CD's checkout fetches and this repository "
                             "does not hold: gitops-check cannot render it; vendor the files instead")
        if mode != _SYMLINK and mode not in _FILE_MODES:
            raise InputError(f"{shown}: git file mode {visible(mode)} is not a file: refused")
        parents = ["/".join(parts[:n]) for n in range(1, len(parts))]
        if path in written or path in folders or any(p in written for p in parents):
            raise InputError(f"{shown}: named twice in the tree (a malformed tree object): refused")
        folders.update(parents)
        target = into / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)  # only folders made here: no link is followed
            if mode == _SYMLINK:
                os.symlink(os.fsdecode(blobs[oid]), target)
                links.append(path)
            else:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODES[mode])
                with os.fdopen(fd, "wb") as f:
                    f.write(blobs[oid])
        except (OSError, ValueError) as exc:
            raise InputError(f"{shown}: cannot be written: {' '.join(str(exc).split())[:200]}") from None
        written.add(path)
    real = os.path.realpath(into)
    for path in links:  # once every link exists, as the data filter of tarfile refused them while extracting
        link = os.readlink(into / path)
        resolved = os.path.realpath(into / path)
        if os.path.isabs(link) or not (resolved == real or resolved.startswith(real + os.sep)):
            raise InputError(f"{commit[:12]}: {visible(path)}: a symbolic link out of the tree "
                             f"({visible(link)}): refused")
    return into


# -- the dependency walk -------------------------------------------------------------------------------------------
def for_tree(settings: Settings, tree: Path) -> Settings:
    """SETTINGS moved onto another tree of the same repository (a ref extracted with git archive): the targets,
    tool pins and limits stay those of the invoking checkout (a pull request's pyproject.toml is data), paths
    inside the repository follow to TREE."""
    old, new = settings.repo_root, Path(tree).resolve()

    def moved(p: Path) -> Path:
        rel = _relative(p, old)
        return new / rel if rel is not None else p

    return dataclasses.replace(settings, repo_root=new, applications=moved(settings.applications),
                               slo_file=moved(settings.slo_file), policies_dir=moved(settings.policies_dir),
                               waivers_file=moved(settings.waivers_file))


def _relative(path: Path, root: Path) -> str | None:
    for p in (os.path.abspath(path), os.path.realpath(path)):
        for r in (os.path.abspath(root), os.path.realpath(root)):
            rel = os.path.relpath(p, r)
            if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                return Path(rel).as_posix()
    return None


def global_inputs(settings: Settings) -> tuple[str, ...]:
    """What every target is judged by (relative paths; a folder ends in "/")."""
    root = settings.repo_root
    found = list(EVERYTHING)
    for p, folder in ((settings.policies_dir, True), (settings.waivers_file, False), (settings.slo_file, False)):
        rel = _relative(p, root)
        if rel and rel != ".":
            found.append(rel.rstrip("/") + "/" if folder else rel)
    try:  # how each overlay syncs (the server stage applies every overlay the way its Application says)
        if render.is_overlay(settings.applications):
            found += sorted(_paths(kustomgraph.files(settings.applications, settings), root))
    except InputError:
        rel = _relative(settings.applications, root)
        if rel and rel != ".":
            found.append(rel + "/")
    return tuple(dict.fromkeys(found))


def _touches(changed: set[str], inputs: tuple[str, ...] | set[str]) -> bool:
    """A changed path touches an input that is that path, lies under it (a changed symbolic link or submodule
    that a path read goes through), or holds it (an input folder, "x/")."""
    for name in changed:
        under = name + "/"
        for i in inputs:
            if name == i or name.startswith(i if i.endswith("/") else i + "/") or i.startswith(under):
                return True
    return False


def _links_met(path: str, limit: int = 40) -> list[str]:
    """Every symbolic link met while resolving the absolute PATH, each as the path it was met at (a link in a
    link's target included): realpath() without the shortcuts."""
    met: list[str] = []
    pending = list(reversed(Path(path).parts[1:]))
    here = os.sep
    while pending:
        part = pending.pop()
        if part == "..":
            here = os.path.dirname(here)
            continue
        step = os.path.join(here, part)
        if not os.path.islink(step):
            here = step
            continue
        if len(met) >= limit:  # a loop: the build fails on it; what was met so far is enough to key it
            break
        met.append(step)
        try:
            link = os.readlink(step)
        except OSError:
            break
        if os.path.isabs(link):
            here = os.sep
        pending += reversed([p for p in Path(link).parts if p != os.sep])
    return met


def _paths(found: set[Path], root: Path) -> set[str]:
    """The repository paths (relative, POSIX) that the paths a kustomization walk FOUND depend on: each as the walk
    spelled it and as it really is, and every symbolic link met on the way (a link repointed elsewhere is a change
    of what is built). A folder that exists stands for its kustomization files (listed too), so it is no input
    itself unless it is a symbolic link; a missing one (deleted) stands for all under it."""
    out: set[str] = set()
    for f in found:
        p, real = os.path.abspath(f), os.path.realpath(f)
        own = ([p] if os.path.islink(p) or not os.path.isdir(p) else []) + ([real] if not os.path.isdir(real) else [])
        for candidate in own + _links_met(p):
            if (r := _relative(candidate, root)) and r != ".":
                out.add(r)
    return out


def inputs(target: Path, settings: Settings) -> set[str] | None:
    """The repository files TARGET's build reads (relative, POSIX); None when its graph cannot be walked (a
    remote reference, YAML that does not parse): then it is affected by anything, and validate says why."""
    try:
        found = kustomgraph.files(target, settings)
    except InputError:
        return None
    return _paths(found, settings.repo_root)


def targets(settings: Settings) -> list[Path]:
    """The default targets (settings.targets globs), as validate resolves them; [] when none match."""
    try:
        return [p for p, _, _ in pipeline.resolve_targets([], settings)]
    except InputError:
        return []


def affected_in(settings: Settings, changed: set[str]) -> list[Path]:
    """The default targets of the tree SETTINGS describes that CHANGED touches."""
    if not changed:
        return []
    everything = _touches(changed, global_inputs(settings))
    found = []
    for target in targets(settings):
        deps = inputs(target, settings)
        if everything or deps is None or _touches(changed, deps):
            found.append(target)
    return found


def affected(repo: Path, base_ref: str, head_ref: str | None, settings: Settings) -> list[Path]:
    """The default targets (of the working tree, or of HEAD_REF's tree) affected by the changes between
    BASE_REF and HEAD_REF (None: the working tree)."""
    root = Path(repo)
    base = resolve(root, base_ref)
    head = resolve(root, head_ref) if head_ref else None
    changed = changed_files(root, base, head)
    if head is None:
        return affected_in(settings, changed)
    with tempfile.TemporaryDirectory(prefix="gitops-check-head-") as tmp:
        tree = materialize(root, head, Path(tmp))
        found = affected_in(for_tree(settings, tree), changed)
        return [settings.repo_root / p.relative_to(tree) for p in found]


# -- redaction -------------------------------------------------------------------------------------------------------
# What names a credential: the names WH-SEC-002/003 judge (policies/secrets.rego credential_name) and a few more.
_SECRET_KEY = re.compile(r"passw(or)?d|passphrase|token|secret|api[-_]?key|private[-_]?key|access[-_]?key|credential"
                         r"|auth[-_]?key|[-_.]key$|conn(ection)?[-_]?string$|dsn$|(^|[-_.])pass$|[-_.]pwd$"
                         r"|[a-z](?-i:Pass|Pwd)$", re.I)
# A `key=value` or `key: value` credential line inside a value (an app.properties in a ConfigMap): WH-SEC-003's
# credential_line (policies/secrets.rego), the same expression.
_CREDENTIAL_LINE = re.compile(
    r"""(?im)^[ \t-]*["']?([\w.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key"""
    r"""|secret[_-]?key|credentials?|conn(?:ection)?[_-]?string|[_.-]pass|[_.-]pwd))["']?[ \t]*[:=][ \t]*["']?[^\s"'$<{#]""")
# kubectl's copy of the whole object, as applied: a Secret's values in clear.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Keys that name a secret rather than hold one (secretKeyRef, secretName, an ExternalSecret's secretKey).
_NOT_SECRET_KEY = re.compile(r"(name|ref|refs|keyref|selector|path|file|namespace|kind|store|storeref|template)$"
                             r"|^secretkey$", re.I)
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}|\bxox[abpors]-[A-Za-z0-9-]{10,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|\bglpat-[A-Za-z0-9_-]{16,}|\bsk_(live|test)_[A-Za-z0-9]{16,}"
    r"|://[^/\s:@]+:[^/\s@]+@")
_SALT = secrets.token_bytes(16)  # per run: base and head compare, no digest outlives the run to be guessed at


def redacted(value: object) -> str:
    digest = hashlib.sha256(_SALT + str(value).encode("utf-8", "replace")).hexdigest()[:8]
    return f"<redacted sha256:{digest}>"


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)


def redact(obj: object, in_secret: bool = False) -> object:
    """A copy of a rendered object with secret values replaced (a change still shows as a changed digest):
    a Secret's data/stringData values and its last-applied-configuration annotation, values under
    secret-looking keys, `value` next to a secret-looking `name` (env entries), and strings that look like
    credentials or hold a credential line wherever they are."""
    if isinstance(obj, dict):
        out = {}
        named_secret = _secret_key(obj.get("name"))
        for key, value in obj.items():
            if (in_secret and key in ("data", "stringData") and isinstance(value, dict)):
                out[key] = {k: redacted(v) for k, v in value.items()}
            elif in_secret and key == "metadata" and isinstance(value, dict) and isinstance(value.get("annotations"), dict):
                notes = value["annotations"]
                out[key] = redact({**value, "annotations": {
                    k: redacted(v) if k == _LAST_APPLIED else v for k, v in notes.items()}})
            elif isinstance(value, (str, int, float, bytes)) and not isinstance(value, bool) and (
                    _secret_key(key) or (named_secret and key == "value")):
                out[key] = redacted(value)
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and (_SECRET_VALUE.search(obj) or _CREDENTIAL_LINE.search(obj)):
        return redacted(obj)
    return obj


# -- rendering and diffing ------------------------------------------------------------------------------------------
@dataclass
class Side:
    objects: dict[str, str] = field(default_factory=dict)  # "apiVersion kind namespace/name" -> YAML
    error: str | None = None
    present: bool = True
    docs: list[dict] = field(default_factory=list)  # the rendered objects as parsed (not redacted; never printed)


@dataclass
class TargetDiff:
    name: str
    base: Side
    head: Side
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    patches: dict[str, str] = field(default_factory=dict)  # object -> unified diff
    findings: list[Violation] = field(default_factory=list)  # WH-DIFF-001/002 (renames.py)


def _objects(text: str, source: str, docs: list[dict] | None = None) -> dict[str, str]:
    """Redacted YAML per object key; the parsed objects are appended to DOCS when given."""
    out: dict[str, str] = {}
    for _, doc in loader.load_all(text, source):  # the loader's limits: 600 levels of nesting was an internal error
        if not isinstance(doc, dict):
            continue
        if docs is not None:
            docs.append(doc)
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        ns = meta.get("namespace") or ""
        key = f"{doc.get('apiVersion', '')} {doc.get('kind', '')} {ns + '/' if ns else ''}{meta.get('name', '')}"
        clean = redact(doc, in_secret=doc.get("kind") == "Secret")
        body = yaml.safe_dump(clean, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
        n, unique = 2, key
        while unique in out:
            unique, n = f"{key} #{n}", n + 1
        out[unique] = body
    return out


def _render(settings: Settings, rel: str) -> Side:
    overlay = settings.repo_root / rel
    if not render.is_overlay(overlay):
        return Side(present=False)
    try:
        docs: list[dict] = []
        return Side(_objects(render.build(overlay, rel, settings), rel, docs), docs=docs)
    except InputError as exc:
        return Side(error=" ".join(str(exc).split())[:500])
    except yaml.YAMLError as exc:
        return Side(error=f"{rel}: rendered YAML does not parse: {' '.join(str(exc).split())[:300]}")


def compare(name: str, base: Side, head: Side) -> TargetDiff:
    d = TargetDiff(name, base, head)
    if base.error or head.error:
        return d
    if base.present and head.present:  # a target only one side has is not a rename (WH-REF-032 judges its Application)
        d.findings = renames.findings(name, base.docs, head.docs)
    for key in sorted(set(base.objects) | set(head.objects)):
        old, new = base.objects.get(key), head.objects.get(key)
        if old == new:
            continue
        (d.added if old is None else d.removed if new is None else d.changed).append(key)
        before, after = (old or "").splitlines(True), (new or "").splitlines(True)
        headers = (f"base/{visible(name)}: {visible(key)}" if old is not None else "/dev/null",
                   f"head/{visible(name)}: {visible(key)}" if new is not None else "/dev/null")
        if old is not None and new is not None and max(len(before), len(after)) > MAX_DIFF_LINES:
            # difflib is quadratic on lines that repeat (120,000 shuffled list items took 94 s): counted, not diffed
            d.patches[key] = (f"--- {headers[0]}\n+++ {headers[1]}\n@@ {len(before):,} lines before, {len(after):,} "
                              f"after: more than {MAX_DIFF_LINES:,}, not diffed line by line @@\n")
            continue
        d.patches[key] = "".join(difflib.unified_diff(before, after, *headers))
    return d


def diff(repo: Path, base_ref: str, head_ref: str | None, settings: Settings) -> list[TargetDiff]:
    """Every target affected between BASE_REF and HEAD_REF (None: the working tree), rendered on both sides."""
    root = Path(repo)
    base = resolve(root, base_ref)
    head = resolve(root, head_ref) if head_ref else None
    changed = changed_files(root, base, head)
    with tempfile.TemporaryDirectory(prefix="gitops-check-diff-") as tmp:
        base_tree = materialize(root, base, Path(tmp, "base"))
        head_tree = materialize(root, head, Path(tmp, "head")) if head else settings.repo_root
        sides = [for_tree(settings, base_tree), for_tree(settings, head_tree)]
        names: dict[str, None] = {}
        for side in sides:  # a target only one side has (added or removed) is shown too
            for t in affected_in(side, changed):
                names[Path(os.path.relpath(t, side.repo_root)).as_posix()] = None
        apps = moved(applications(sides[0]), applications(sides[1]))
        for m in apps:  # what an Application syncs on either side is rendered on both, shown like a target
            names.update(dict.fromkeys(sorted(m.paths())))
        ordered = sorted(names)
        with ThreadPoolExecutor(max_workers=2) as pool, runner.stop_on_failure(pool):
            bases = list(pool.map(lambda n: _render(sides[0], n), ordered))
            heads = list(pool.map(lambda n: _render(sides[1], n), ordered))
    diffs = [compare(n, b, h) for n, b, h in zip(ordered, bases, heads)]
    by_name = {d.name: d for d in diffs}
    judged = [(m, found) for m in apps if (found := judge_application(m, by_name)) is not None]
    # A folder such an Application syncs on either side is judged through it: its own base and head renderings are
    # not what the cluster goes from and to. A folder no Application syncs, or whose Application still syncs it as
    # it did, keeps its own judgement.
    for d in diffs:
        if any(d.name in m.paths() for m, _ in judged):
            d.findings = []
    for m, found in judged:
        if found:  # shown with the folder it now syncs (or synced)
            where = m.after[0].rendered() if m.after and m.after[0].rendered() else m.before.rendered()
            by_name[where[0]].findings += found
    return diffs


# -- what each Argo CD Application syncs -----------------------------------------------------------------------------
# Argo CD syncs Applications, not folders: a change that points the production Application at another folder (a
# copy of the overlay with a nameSuffix) leaves each folder's own rendering unchanged, yet the Application's objects
# are renamed all the same. So each Application of the applications overlay (settings.applications) whose sources
# change is judged as one target: what it syncs at the base against what it syncs at the head. An Application gone
# at the head (renamed, or deleted: its resources finalizer deletes what it synced) is judged against what the
# Applications new at the head sync: renaming it while pointing it at a renamed copy is the same rename.


@dataclass(frozen=True)
class Synced:
    """What one Application syncs: its overlays of this repository (relative to the tree; a path that names none is
    kept as written behind "?"), each with its kustomize namespace override, its other sources (a chart, another
    repository: never rendered here) and its destination namespace."""

    overlays: tuple[tuple[str, str], ...]
    elsewhere: tuple[str, ...]
    namespace: str

    @property
    def view(self) -> tuple:
        return self.overlays, self.elsewhere, self.namespace

    def rendered(self) -> list[str]:
        return [rel for rel, _ in self.overlays if not rel.startswith("?")]


def _overlay_rel(root: Path, path: str) -> str:
    try:
        target = argocdsync.overlay_dir(root, path)
        if target is not None and render.is_overlay(target):
            return target.relative_to(root.resolve()).as_posix()
    except (OSError, ValueError, RuntimeError):
        pass
    return "?" + path


def applications(side: Settings) -> dict[str, Synced] | None:
    """Every Application of SIDE's applications overlay by namespace/name, with what it syncs; None when the overlay
    does not render (validate reports it), {} when there is none."""
    overlay = side.applications
    if not render.is_overlay(overlay):
        return {}
    try:
        docs = render.documents(overlay, side.display(overlay), side)
    except InputError:
        return None
    found: dict[str, Synced] = {}
    for app in argocdsync.applications(docs):
        local = list(argocdsync.local_sources(app))
        overlays = tuple((_overlay_rel(side.repo_root, path), str(_mapping(source.get("kustomize")).get("namespace") or ""))
                         for path, source in local)
        mine = {id(source) for _, source in local}
        elsewhere = tuple(json.dumps(s, sort_keys=True, default=str) for s in app.sources() if id(s) not in mine)
        name, namespace = str(app.meta.get("name") or ""), str(app.meta.get("namespace") or app.doc.namespace or "")
        found.setdefault(f"{namespace}/{name}" if namespace else name,
                         Synced(overlays, elsewhere, str(app.destination.get("namespace") or "")))
    return found


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass
class Moved:
    """An Application whose sources change (AFTER: itself at the head), or that is gone at the head (AFTER: the
    Applications new at the head, which may sync its objects on)."""

    key: str
    before: Synced
    after: list[Synced]
    gone: bool = False

    def paths(self) -> set[str]:
        return set(self.before.rendered()) | {p for a in self.after for p in a.rendered()}


def moved(before: dict[str, Synced] | None, after: dict[str, Synced] | None) -> list[Moved]:
    """The Applications to judge as targets of their own; none when either side's cannot be read."""
    if before is None or after is None:
        return []
    newcomers = [s for key, s in sorted(after.items()) if key not in before]
    out = []
    for key, b in sorted(before.items()):
        a = after.get(key)
        if a is None:
            out.append(Moved(key, b, newcomers, gone=True))
        elif a.view != b.view:
            out.append(Moved(key, b, [a]))
    return out


def _placed(docs: list[dict], override: str, namespace: str) -> list[dict]:
    """DOCS as the Application applies them: in the namespace its kustomize override names (every namespaced
    object), else their own, else its destination namespace."""
    out = []
    for d in docs:
        meta = _mapping(d.get("metadata"))
        ns = override or meta.get("namespace") or namespace
        if d.get("kind") in CLUSTER_SCOPED or not ns or ns == meta.get("namespace"):
            out.append(d)
        else:
            out.append({**d, "metadata": {**meta, "namespace": ns}})
    return out


def _describe(s: Synced, other: Synced) -> str:
    parts = [rel.removeprefix("?") + (f" (namespace {o})" if o else "") for rel, o in s.overlays]
    parts += [f"{len(s.elsewhere)} source(s) outside this repository"] if s.elsewhere else []
    into = f" into namespace {s.namespace or '(none)'}" if s.namespace != other.namespace else ""
    return (", ".join(parts) or "nothing") + into


def judge_application(m: Moved, diffs: dict[str, TargetDiff]) -> list[Violation] | None:
    """WH-DIFF-001/002 for what Application M syncs, from the renderings in DIFFS (relative path -> both sides);
    None (not judged) when a side does not render (validate reports it: WH-REF-032, a build error)."""
    base: list[dict] = []
    for rel, override in m.before.overlays:
        if rel.startswith("?"):
            continue  # it syncs nothing there at the base (Argo CD reports a ComparisonError)
        side = diffs[rel].base
        if side.error or not side.present:
            return None
        base += _placed(side.docs, override, m.before.namespace)
    head: list[dict] = []
    for a in m.after:
        for rel, override in a.overlays:
            side = diffs[rel].head if not rel.startswith("?") else Side(present=False)
            if side.error or not side.present:
                return None
            head += _placed(side.docs, override, a.namespace)
    if m.gone:
        context = f"Application {m.key} is gone at the head" + (
            " and no Application new at the head syncs what it synced: " if not m.after else
            ", and the Application(s) new at the head sync what it synced otherwise: ")
    else:
        context = f"Application {m.key} syncs {_describe(m.after[0], m.before)} instead of {_describe(m.before, m.after[0])}: "
    return renames.findings(f"Application {m.key}", base, head, context)


# -- reports ----------------------------------------------------------------------------------------------------------
def _counts(diffs: list[TargetDiff]) -> tuple[int, int, int]:
    return (sum(len(d.added) for d in diffs), sum(len(d.removed) for d in diffs), sum(len(d.changed) for d in diffs))


def _target_line(d: TargetDiff) -> str:
    """One line: the target's folder name comes from the pull request (a newline in it started a `::error` line)."""
    name = visible(d.name)
    if not d.base.present and d.head.present:
        state = "new target; "
    elif d.base.present and not d.head.present:
        state = "target removed; "
    else:
        state = ""
    if d.base.error or d.head.error:
        return f"{name}: {state}does not render"
    if not d.patches:
        return f"{name}: {state}no rendered change"
    return f"{name}: {state}{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"


def _errors(d: TargetDiff) -> list[str]:
    return [f"{side}: {visible(s.error)}" for side, s in (("base", d.base), ("head", d.head)) if s.error]


def findings(diffs: list[TargetDiff]) -> list[Violation]:
    """Every target's WH-DIFF findings, errors first."""
    return sorted((v for d in diffs for v in d.findings), key=lambda v: (v.severity != "error", v.source, v.rule, v.ref))


def exit_code(diffs: list[TargetDiff]) -> int:
    """1 when a finding is an error (WH-DIFF-001), else 0."""
    return 1 if any(v.severity == "error" for v in findings(diffs)) else 0


def summary(diffs: list[TargetDiff], base_ref: str, head_ref: str | None) -> str:
    head = head_ref or "the working tree"
    if not diffs:
        return f"gitops-check diff: nothing to diff: no target is affected between {base_ref} and {head}"
    added, removed, changed = _counts(diffs)
    found = findings(diffs)
    errors = sum(v.severity == "error" for v in found)
    verdict = f"; {errors} error(s), {len(found) - errors} warning(s)" if found else ""
    return (f"gitops-check diff {base_ref} -> {head}: {len(diffs)} target(s) affected; "
            f"{added} added, {removed} removed, {changed} changed{verdict}")


def text(diffs: list[TargetDiff], base_ref: str, head_ref: str | None) -> str:
    out = []
    for d in diffs:
        out.append(f"=== {_target_line(d)}")
        out += [f"  {e}" for e in _errors(d)]
        for key, patch in d.patches.items():
            out.append(f"--- {'added' if key in d.added else 'removed' if key in d.removed else 'changed'}: {visible(key)}")
            out.append(patch.rstrip("\n"))
        out.append("")
    found = findings(diffs)
    if found:
        out += [finding_line(v) for v in found] + [""]
    out.append(summary(diffs, base_ref, head_ref))
    return "\n".join(out) + "\n"


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def markdown(diffs: list[TargetDiff], base_ref: str, head_ref: str | None, limit: int = MARKDOWN_LIMIT) -> str:
    """One collapsible block per target, after the hidden marker a bot finds its comment by; at most LIMIT
    characters (whole blocks are left off, with a note saying how many and how to see them)."""
    head = MARKER + "\n### Rendered change\n\n" + html.escape(summary(diffs, base_ref, head_ref)) + "\n\n"
    found = findings(diffs)
    if found:  # before the blocks, so the size cap leaves blocks off first; at most half the limit
        head += "**Findings** (`gitops-check diff`; the rules are in docs/policies.md):\n\n"
        for n, v in enumerate(found):
            item = f"- {html.escape(finding_line(v))}\n"
            if len(head) + len(item) > limit // 2:
                head += f"- … and {len(found) - n} more: run `make diff BASE=<base>` in a checkout to see them\n"
                break
            head += item
        head += "\n"
    blocks = []
    for d in diffs:
        body = "\n".join(html.escape(e) for e in _errors(d))
        patches = "\n".join(d.patches.values())
        if patches:
            fence = _fence(patches)
            body += f"\n\n{fence}diff\n{patches.rstrip()}\n{fence}"
        blocks.append(f"<details><summary>{html.escape(_target_line(d))}</summary>\n\n{body.strip()}\n\n</details>\n")
    out, kept = head, 0
    note = ("\n**Truncated**: {n} more target(s) left off to stay under {limit:,} characters; run "
            "`make diff BASE=<base>` in a checkout to see everything.\n")
    for block in blocks:
        if len(out) + len(block) + len(note) + 40 > limit:
            break
        out += block
        kept += 1
    if kept < len(blocks):
        out += note.format(n=len(blocks) - kept, limit=limit)
    return out

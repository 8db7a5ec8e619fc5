"""The validation pipeline: resolve targets, render them in parallel, run every stage once over all
documents, apply waivers. The report module turns the Result into text, JSON, JUnit or SARIF."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import kustomgraph, loader, render, resultcache, runner, waivers
from .context import Context
from .errors import InputError
from .model import Source, Violation
from .settings import Settings

# Stage name -> module exposing check(sources, ctx). Order is the order of the report. The server stage
# (a real kube-apiserver) judges what the schemas stage (kubeconform) approximates offline: a run has one.
STAGES = ("lint", "server", "policies", "references", "promql", "rollouts")
OFFLINE_STAGES = ("lint", "schemas", "policies", "references", "promql", "rollouts")


def default_stages(settings: Settings) -> tuple[str, ...]:
    return OFFLINE_STAGES if settings.offline else STAGES


@dataclass
class Result:
    sources: list[Source]
    violations: list[Violation]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    render_seconds: float = 0.0
    total_seconds: float = 0.0
    stages: tuple[str, ...] = ()  # the stages that judged the sources (stage_seconds: those that ran in this run)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error" and not v.waived]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning" and not v.waived]

    @property
    def waived(self) -> list[Violation]:
        return [v for v in self.violations if v.waived]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0



# What a folder target takes: every file whose name ends in one of these, whatever the case (evil.JSON too).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def resolve_targets(paths: list[str], settings: Settings) -> list[tuple[Path, str, str]]:
    """(path, shown name, kind) for each PATH; no PATH means the repository's default targets."""
    if not paths:
        try:
            found = sorted(
                {p for pattern in settings.targets for p in settings.repo_root.glob(pattern) if render.is_overlay(p)}
            )
        except OSError as exc:
            raise InputError(f"{exc.filename or settings.repo_root}: cannot read: {exc.strerror or exc}") from None
        if not found:
            raise InputError(f"{settings.repo_root}: no overlay matches the targets {list(settings.targets)}")
        return [(p, _shown(p, settings), "overlay") for p in found]
    targets: list[tuple[Path, str, str]] = []
    for raw in paths:
        path = Path(raw)
        try:
            if not path.exists():
                what = "a broken symbolic link" if path.is_symlink() else "no such file or directory"
                raise InputError(f"{raw}: {what}")
            if render.is_overlay(path):
                targets.append((path, _shown(path, settings), "overlay"))
            elif path.is_dir():
                files = _manifest_files(path, raw)
                if not files:
                    raise InputError(f"{raw}: directory has no kustomization.yaml and no YAML or JSON files")
                targets += [(f, _shown(f, settings), "file") for f in files]
            else:
                targets.append((path, _shown(path, settings), "file"))  # the loader refuses what is no regular file
        except OSError as exc:
            raise InputError(f"{exc.filename or raw}: cannot read: {exc.strerror or exc}") from None
    return targets


def parse_shard(raw: str) -> tuple[int, int]:
    """(K, N) of `--shard K/N`, 1 <= K <= N; anything else is an InputError."""
    k, sep, n = raw.partition("/")
    if not (sep and k.isascii() and k.isdigit() and n.isascii() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise InputError(f"--shard {raw}: expected K/N with 1 <= K <= N (for example 2/4)")
    return int(k), int(n)


def shard_of(shown: str, n: int) -> int:
    """The shard (1..N) of a target: sha256 of its path as shown (relative to the repository when inside
    it), so every runner of a CI matrix computes the same partition."""
    digest = hashlib.sha256(Path(shown).as_posix().encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def select_shard(targets: list[tuple[Path, str, str]], k: int, n: int) -> list[tuple[Path, str, str]]:
    """The targets of shard K of N: every target is in exactly one shard."""
    return [t for t in targets if shard_of(t[1], n) == k]


def _manifest_files(folder: Path, raw: str) -> list[Path]:
    """Every YAML or JSON file under `folder` (symbolic links to folders are not followed). A subfolder that
    cannot be read is an InputError, never silently skipped: what it hides could be what breaks."""

    def refuse(exc: OSError) -> None:
        raise InputError(f"{exc.filename or raw}: cannot read directory: {exc.strerror or exc}")

    files = []
    try:
        for directory, _, names in os.walk(folder, onerror=refuse):
            files += [Path(directory, n) for n in names if n.lower().endswith(MANIFEST_SUFFIXES)]
    except RecursionError:  # os.walk recurses once per level (Python 3.11): a pull request can nest 1,000 folders
        raise InputError(f"{raw}: folders nested more than {sys.getrecursionlimit()} levels deep: refused") from None
    return sorted(files)


def _shown(path: Path, settings: Settings) -> str:
    try:
        return settings.display(path)
    except (OSError, RuntimeError):  # a symbolic link loop: the loader names the problem
        return str(path)


def _render_one(target: tuple[Path, str, str], settings: Settings, rendered: render.Rendered | None = None) -> Source:
    path, shown, kind = target
    if rendered is not None:  # an overlay render_many() built
        if rendered.error:
            raise rendered.error
        return Source(shown, kind, rendered.documents, rendered.seconds, path)
    started = time.perf_counter()
    try:
        if kind == "overlay":
            docs = render.documents(path, shown, settings)
        else:
            docs = loader.read_file(path, shown)
    except (OSError, UnicodeDecodeError) as exc:  # what reading or rendering met on disk, named
        where = getattr(exc, "filename", None) or shown
        raise InputError(f"{shown}: cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    return Source(shown, kind, docs, time.perf_counter() - started, path)


def render_targets(targets: list[tuple[Path, str, str]], settings: Settings) -> list[Source]:
    """Parse files (in parallel) while every overlay renders through kustomize-batch (render.render_many: a few
    processes, not one per overlay); the error of the first target that fails, in order, wins. Every overlay
    is walked before any kustomize runs: a refused one (a remote reference) is raised first."""
    overlays = [(path, shown) for path, shown, kind in targets if kind == "overlay"]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(targets)))) as pool:
        files = [None if t[2] == "overlay" else pool.submit(_render_one, t, settings) for t in targets]
        rendered = iter(render.render_many(overlays, settings))
        return [_render_one(t, settings, next(rendered)) if f is None else f.result() for t, f in zip(targets, files)]


def run(paths: list[str], settings: Settings, stages: tuple[str, ...] | None = None, waivers_file: Path | None = None,
        cache: bool = False, cache_root: Path | None = None) -> Result:
    """Validate PATHS (no PATH: the repository's targets). With CACHE, a target whose inputs did not change since a
    run stored it (resultcache) is taken from the cache; only the others are rendered and checked."""
    with kustomgraph.one_run():  # every overlay walked once: for its cache key, before kustomize, for lint
        return _run(paths, settings, stages, waivers_file, cache, cache_root)


def _run(paths: list[str], settings: Settings, stages: tuple[str, ...] | None, waivers_file: Path | None,
         cache: bool, cache_root: Path | None) -> Result:
    started = time.perf_counter()
    stages = stages or default_stages(settings)
    targets = resolve_targets(paths, settings)
    waiver_path = waivers_file or settings.waivers_file
    waiver_list = waivers.load(waiver_path, settings.display(waiver_path))
    store = resultcache.Store(settings, stages, cache_root) if cache else None
    hits = {t[1]: hit for t in targets if store and (hit := store.load(*t))}
    todo = [t for t in targets if t[1] not in hits]
    fresh, found, seconds = _check(todo, settings, stages) if todo else ([], {n: [] for n in stages}, {})
    rendered_at = seconds.pop("render", 0.0)
    if store and fresh and store.harness_unchanged():
        from . import lint

        lint_files = {s.name: lint.files_of(s, settings) for s in fresh} if "lint" in stages else {}
        split = resultcache.attribute(found, fresh, lint_files)
        if split is not None:
            for source in fresh:
                store.save(source, split[source.name])
            store.prune()
    by_name = {s.name: s for s in fresh}
    sources = [hits[t[1]].source if t[1] in hits else by_name[t[1]] for t in targets]
    violations = []
    for name in stages:  # the same findings in the same order, however many came from the cache
        merged = found[name] + [v for hit in hits.values() for v in hit.found.get(name, [])]
        violations += sorted(dict.fromkeys(merged), key=lambda v: (v.source, v.rule, v.ref, v.message))
    violations = waivers.apply(violations, waiver_list, settings.display(waiver_path), {s.name for s in sources})
    return Result(
        sources=sources,
        violations=violations,
        stage_seconds=seconds,
        render_seconds=rendered_at,
        total_seconds=time.perf_counter() - started,
        stages=stages,
    )


def _check(targets: list[tuple[Path, str, str]], settings: Settings, stages: tuple[str, ...]
           ) -> tuple[list[Source], dict[str, list[Violation]], dict[str, float]]:
    """Render TARGETS and run every stage over them: (sources, stage -> findings, stage -> seconds and "render")."""
    started = time.perf_counter()
    # The control plane boots while the overlays render; it is stopped on every way out of this block.
    plane = None
    if "server" in stages:
        from . import controlplane  # its imports cost a few hundred milliseconds an offline run never needs

        plane = controlplane.Session(settings)
    pool = ThreadPoolExecutor(max_workers=2 * len(stages) + 1)  # not a `with`: leaving one waits for every thread
    try:
        with tempfile.TemporaryDirectory(prefix="gitops-check-") as tmp, runner.stop_on_failure(pool):
            workdir = Path(tmp)
            ctx = Context(settings, workdir, plane.ready if plane else None)

            def timed(name: str, given: list[Source]) -> tuple[list[Violation], float]:
                t0 = time.perf_counter()
                found = modules[name].check(given, ctx)
                return found, time.perf_counter() - t0

            # kustomize renders in another process while this one imports the stages and runs those that read
            # the targets' files rather than their documents (lint): a one-overlay run was a queue otherwise.
            rendering = pool.submit(render_targets, targets, settings)
            unrendered = [Source(shown, kind, [], 0.0, path) for path, shown, kind in targets]
            modules, running = {}, {}
            for name in stages:  # each imported while kustomize renders; lint started as soon as it is
                modules[name] = importlib.import_module(f"gitops_check.{name}")
                if not getattr(modules[name], "READS_DOCUMENTS", True):
                    running[name] = pool.submit(timed, name, unrendered)
                elif hasattr(modules[name], "ahead"):  # what the stage needs besides the documents (ctx.once)
                    pool.submit(modules[name].ahead, ctx)
            sources = rendering.result()  # a target that does not render is the error, whatever lint found
            rendered_at = time.perf_counter()
            # Each stage runs one tool process (or pure Python); running them side by side hides latency.
            running |= {name: pool.submit(timed, name, sources) for name in stages if name not in running}
            outcomes = {name: running[name].result() for name in stages}  # the first error in stage order
    finally:
        pool.shutdown(wait=False)  # its work is done, or stop_on_failure() waited for it, or the run was interrupted
        if plane:
            plane.close()
    seconds = {name: outcomes[name][1] for name in stages}
    seconds["render"] = rendered_at - started
    return sources, {name: outcomes[name][0] for name in stages}, seconds

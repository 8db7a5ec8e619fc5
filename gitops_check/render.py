"""Render overlays with the pinned kustomize: build() runs `kustomize build` for one overlay (`gitops-check
render`, plan, the other callers); render_many() builds many overlays in a few kustomize-batch processes (the
pipeline), kustomize's own build command run in-process for each overlay (tools/kustomize)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import kustomgraph, loader, runner
from .errors import InputError, ToolError
from .model import Document
from .settings import Settings
from .toolchain import locate

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# At most this many overlays per kustomize-batch process: what one process prints stays well within
# tool-output-mib and what it computes within tool-cpu-seconds (an overlay here takes about 50 ms of CPU).
BATCH_OVERLAYS = 50


def is_overlay(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in KUSTOMIZATION_FILES)


def _check(overlay: Path, source: str, settings: Settings | None) -> None:
    """What must hold before kustomize may run on OVERLAY; InputError otherwise."""
    if not overlay.exists():
        raise InputError(f"{source}: no such file or directory")
    if not is_overlay(overlay):
        raise InputError(f"{source}: not an overlay (no kustomization.yaml)")
    kustomgraph.check(overlay, settings)  # no network: a remote reference is refused before kustomize runs


def _failed(source: str, message: str, default: str = "no output") -> InputError:
    # kustomize's message can be huge and quote the files it read: one line, cut and redacted
    return InputError(f"{source}: kustomize build failed: {runner.one_line(message, default=default)}")


def build(overlay: Path, source: str | None = None, settings: Settings | None = None) -> str:
    """`kustomize build OVERLAY`; an overlay that does not build is an InputError with kustomize's message."""
    source = source or str(overlay)
    _check(overlay, source, settings)
    kustomize = locate("kustomize", settings)
    try:
        proc = runner.run([kustomize, "build", str(overlay)], tool="kustomize", settings=settings)
    except ToolError as exc:
        raise ToolError(f"{source}: {exc}") from None
    if proc.returncode != 0:
        raise _failed(source, proc.stderr.replace("Error: ", "", 1), f"exit code {proc.returncode}")
    return proc.stdout


def documents(overlay: Path, source: str | None = None, settings: Settings | None = None) -> list[Document]:
    """The overlay built and parsed strictly into Documents (what every caller of build() wants)."""
    source = source or str(overlay)
    return loader.parse(build(overlay, source, settings), source)


# ------------------------------------------------------------------------------------ many overlays at once


@dataclass
class Rendered:
    """One overlay of render_many(): its documents or the error documents() would raise for it, and its
    share of the time its kustomize-batch process took."""

    source: str
    documents: list[Document]
    error: InputError | None = None
    seconds: float = 0.0


def documents_many(overlays: list[tuple[Path, str]], settings: Settings) -> list[list[Document]]:
    """documents() of every (overlay, source), through kustomize-batch; the first overlay that fails raises."""
    rendered = render_many(overlays, settings)
    for r in rendered:
        if r.error:
            raise r.error
    return [r.documents for r in rendered]


def render_many(overlays: list[tuple[Path, str]], settings: Settings) -> list[Rendered]:
    """Every (overlay, source) built as documents() builds it, in a few kustomize-batch processes (one per
    core, at most BATCH_OVERLAYS overlays each). Each overlay's walk runs first: a refusal (a remote
    reference, no such overlay) is raised before any kustomize runs. A build error is that overlay's
    Rendered.error, the same InputError documents() raises; the other overlays are still built."""
    for overlay, source in overlays:
        try:
            _check(overlay, source, settings)
        except (OSError, UnicodeDecodeError) as exc:  # what the walk met on disk, named
            where = getattr(exc, "filename", None) or source
            raise InputError(f"{source}: cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    if not overlays:
        return []
    batch = locate("kustomize-batch", settings)
    cores = runner.usable_cores()
    size = min(BATCH_OVERLAYS, -(-len(overlays) // max(1, min(cores, 8))))
    chunks = [overlays[i:i + size] for i in range(0, len(overlays), size)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return [r for chunk in pool.map(lambda c: _batch(batch, c, settings), chunks) for r in chunk]


def _batch(batch: str, overlays: list[tuple[Path, str]], settings: Settings) -> list[Rendered]:
    """OVERLAYS through one kustomize-batch process (another for those after an overlay it died on)."""
    started = time.perf_counter()
    try:
        # The whole process is bounded by tool-timeout-seconds, like any tool: 50 overlays take about 2 s.
        # (runner.GOGC: 75 MiB resident for 50 overlays, a fifth less CPU than Go's default)
        proc = runner.run([batch, *(str(o) for o, _ in overlays)], tool="kustomize-batch", settings=settings)
    except ToolError as exc:
        more = f" (and {len(overlays) - 1} more overlays built with it)" if len(overlays) > 1 else ""
        error = ToolError(f"{overlays[0][1]}{more}: {exc}")
        return [Rendered(source, [], error) for _, source in overlays]
    # complete lines only; split("\n"), not splitlines(): a U+0085 (NEL) in a string ends no line of JSON
    lines = proc.stdout.split("\n")[:-1][:len(overlays)]
    share = (time.perf_counter() - started) / max(1, len(lines))
    done = [_decode(line, overlay, source, share) for line, (overlay, source) in zip(lines, overlays)]
    if len(done) < len(overlays):  # it died building the next overlay (a crash of kustomize): that one failed
        source = overlays[len(done)][1]
        done.append(Rendered(source, [], _failed(source, proc.stderr, f"exit code {proc.returncode}")))
        if len(done) < len(overlays):
            done += _batch(batch, overlays[len(done):], settings)
    return done


def _decode(line: str, overlay: Path, source: str, share: float) -> Rendered:
    started = time.perf_counter()
    try:
        if len(line) > loader.MAX_FILE_BYTES:
            raise InputError(f"{source}: larger than {loader.MAX_FILE_BYTES // (1024 * 1024)} MiB: refused")
        try:
            entry = json.loads(line)
        except RecursionError:
            raise InputError(f"{source}: nesting deeper than {loader.MAX_DEPTH} levels: refused") from None
        except ValueError as exc:
            raise ToolError(f"{source}: kustomize-batch printed no JSON: {exc}") from None
        if not isinstance(entry, dict) or entry.get("overlay") != str(overlay):
            raise ToolError(f"{source}: kustomize-batch answered for another overlay")
        if "error" in entry:
            raise _failed(source, str(entry["error"]))
        docs = _objects(entry["documents"], source)
    except (KeyError, TypeError, AttributeError):  # never a pass on an answer that is not one
        return Rendered(source, [], ToolError(f"{source}: kustomize-batch printed something that is not an answer"), share)
    except InputError as exc:
        return Rendered(source, [], exc, share)
    return Rendered(source, docs, None, share + time.perf_counter() - started)


def _objects(items: list[dict[str, Any]], source: str) -> list[Document]:
    """loader.parse() of the stream, from the objects sigs.k8s.io/yaml made of its documents: the same
    Documents (lists flattened) and the same refusals, those of reading the stream first."""
    for item in items:
        if "error" in item:
            raise InputError(f"{source}:{item['line']}: invalid YAML: {runner.one_line(str(item['error']))}")
        _nesting(item["object"], source, item["line"])
    docs: list[Document] = []
    for item in items:
        obj, line = item["object"], item["line"]
        if obj is None:  # an empty document
            continue
        nested = obj.get("items") if isinstance(obj, dict) and obj.get("kind") == "List" else None
        for one in nested if isinstance(nested, list) else [obj]:
            docs.append(loader._document(one, source, line, True))
    if not docs:
        raise InputError(f"{source}: no Kubernetes objects found (empty file or only comments)")
    return docs


def _nesting(obj: Any, source: str, line: int) -> None:
    """The loader's depth limit (loader.MAX_DEPTH nested mappings and sequences)."""
    pending = [(obj, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > loader.MAX_DEPTH:
            raise InputError(f"{source}:{line}: nesting deeper than {loader.MAX_DEPTH} levels: refused")
        pending += [(child, depth + 1) for child in children]

"""Build a schema folder once, publish it atomically, and verify it on every use.

A prepared folder is written under a temporary name next to its final name, sanity-checked by the
caller, stamped with a marker file and renamed into place in one `rename()`. A run that loses the race
to a concurrent run throws its copy away and uses the winner's: both built the same bytes from the
same inputs, because every input (versions, lock hash, converter format) is part of the folder name.

The marker also holds the folder's integrity manifest (size, mtime and sha256 of every file, see
gitops_check.integrity). Every use checks it (one stat per file, ~330 files); a truncated, missing,
modified or added file makes the folder damaged: a validation stops with one line naming the folder and
`make tools` (exit 2) rather than judging manifests against a broken schema, and `gitops-check prepare`
(run by `make tools`) checks every sha256 and rebuilds a damaged folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .. import integrity
from ..errors import ToolError

MARKER = ".complete"


def ready(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def damage(folder: Path, full: bool = False) -> str | None:
    """Why the published `folder` cannot be used (a phrase), or None when it matches its manifest."""
    data = integrity.read_json(folder / MARKER)
    if data is None or not isinstance(data.get("files"), dict):
        return f"its marker {MARKER} is unreadable or has no integrity manifest"
    listing = [n for n in integrity.files_under(folder) if not n.startswith(MARKER)]
    problem, touched = integrity.check(folder, data["files"], full=full, listing=listing)
    if problem is None:
        integrity.refresh(folder, folder / MARKER, data, touched)
    return problem


def publish(folder: Path, build: Callable[[Path], dict], repair: bool = False) -> Path:
    """Return `folder`, building it with `build(tmp) -> summary` first if it is not complete yet.

    The summary (a JSON-able dict: counts, timings) is stored in the marker file with the manifest. A
    published folder is verified first: when damaged, ToolError (one line: the folder, what is wrong,
    `make tools`), or with `repair` (prepare, make tools) every sha256 is checked and it is rebuilt.
    """
    if ready(folder):
        problem = damage(folder, full=repair)
        if problem is None:
            return folder
        if not repair:
            raise ToolError(f"schema cache damaged: {folder}: {problem}: {integrity.FIX}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=folder.parent))
    try:
        summary = build(tmp)
        summary["files"] = integrity.record(tmp, integrity.files_under(tmp))
        (tmp / MARKER).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not ready(folder) or damage(folder) is not None:  # not a lost race: a leftover or a damaged copy is in the way
                _replace(folder, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _replace(folder: Path, fresh: Path) -> None:
    """Move the folder in the way aside (one rename), put `fresh` in its place, then delete the old one."""
    aside = Path(tempfile.mkdtemp(prefix=folder.name + ".damaged-", dir=folder.parent))
    try:
        try:
            os.rename(folder, aside / "old")
        except FileNotFoundError:
            pass
        try:
            os.rename(fresh, folder)
        except OSError as exc:
            if not ready(folder) or damage(folder) is not None:  # else a concurrent run published a good one
                raise ToolError(f"cannot publish {folder}: {exc.strerror}") from None
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def write_json(path: Path, schema: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))

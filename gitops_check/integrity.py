"""Integrity manifests of the caches outside the clone: prepared schema folders and built tools.

When a cache entry is published, the size, modification time (ns) and sha256 of each of its files are
recorded next to them. Before use the entry is checked against that record: the fast path is one
`stat()` per file (size and mtime equal: unchanged, which is what a truncation, a rewrite in place or a
missing file is not); a file whose size is right but whose mtime moved (a copy without -p) is hashed,
and accepted only if its sha256 matches. A folder's listing is compared too, so a file added to a schema
folder (a permissive schema for a kind that has none) is found. Checking everything by sha256
(`full=True`) is what `python3 -m gitops_check.toolchain verify` does.

Standard library only: `python3 -m gitops_check.toolchain install` runs it before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

FIX = "run `make tools` to rebuild it"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record(folder: Path, names: list[str]) -> dict[str, list]:
    """{relative name: [size, mtime_ns, sha256]} of each file, for the manifest."""
    entries = {}
    for name in sorted(names):
        st = os.stat(folder / name)
        entries[name] = [st.st_size, st.st_mtime_ns, sha256(folder / name)]
    return entries


def files_under(folder: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file below `folder`, relative and with `/` separators, except the names in `skip`."""
    found = []
    for top, dirs, files in os.walk(folder):
        rel = os.path.relpath(top, folder)
        for name in files:
            path = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
            if path not in skip:
                found.append(path)
    return found


def check(folder: Path, entries: dict, full: bool = False, listing: list[str] | None = None) -> tuple[str | None, set[str]]:
    """(the first problem found as a phrase, or None; names whose mtime moved but whose sha256 matched).

    `listing`: the files actually present (for folders whose every file is in the manifest)."""
    if not isinstance(entries, dict) or not entries:
        return "its integrity manifest lists no file", set()
    touched = set()
    for name, entry in entries.items():
        try:
            size, mtime_ns, digest = entry
            st = os.stat(folder / name)
        except FileNotFoundError:
            return f"{name} is missing", set()
        except (OSError, TypeError, ValueError):
            return f"{name} cannot be checked (unreadable or a malformed manifest entry)", set()
        if st.st_size != size:
            return f"{name} is {st.st_size} bytes, the build wrote {size} (truncated or overwritten)", set()
        if full or st.st_mtime_ns != mtime_ns:
            try:
                actual = sha256(folder / name)
            except OSError as exc:
                return f"{name} cannot be read ({exc.strerror})", set()
            if actual != digest:
                return f"{name} has sha256 {actual[:16]}..., the build wrote {digest[:16]}... (modified)", set()
            if st.st_mtime_ns != mtime_ns:
                touched.add(name)
    if listing is not None:
        extra = sorted(set(listing) - set(entries))
        if extra:
            return f"{extra[0]} was added after the build ({len(extra)} file(s) not in its manifest)", set()
    return None, touched


def refresh(folder: Path, manifest: Path, data: dict, touched: set[str], key: str = "files") -> None:
    """Record the new mtime of files that were verified by sha256 (a copied cache), so the next run takes
    the fast path; silently skipped where the cache is read-only."""
    if not touched:
        return
    for name in touched:
        data[key][name][1] = os.stat(folder / name).st_mtime_ns
    write_json(manifest, data, quiet=True)


def write_json(path: Path, data: dict, quiet: bool = False) -> None:
    """Write `path` atomically (a reader sees the old or the new file, never half of one)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:
        if not quiet:
            raise
        try:
            os.unlink(tmp)
        except (OSError, NameError):
            pass


def read_json(path: Path) -> dict | None:
    """The manifest at `path`, or None when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

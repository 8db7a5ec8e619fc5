"""Build a schema folder once and publish it atomically, so concurrent runs never see half of one.

A prepared folder is written under a temporary name next to its final name, sanity-checked by the
caller, stamped with a marker file and renamed into place in one `rename()`. A run that loses the race
to a concurrent run throws its copy away and uses the winner's: both built the same bytes from the
same inputs, because every input (versions, lock hash, converter format) is part of the folder name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

MARKER = ".complete"


def ready(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def publish(folder: Path, build: Callable[[Path], dict]) -> Path:
    """Return `folder`, building it with `build(tmp) -> summary` first if it is not complete yet.

    The summary (a JSON-able dict: counts, timings) is stored in the marker file.
    """
    if ready(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=folder.parent))
    try:
        summary = build(tmp)
        (tmp / MARKER).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not ready(folder):  # not a lost race: an unusable leftover (no marker) is in the way
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def write_json(path: Path, schema: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))

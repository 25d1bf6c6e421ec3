"""Atomic writes: a file is either absent or complete, whatever interrupts the run.

Each writer fills a temporary file in the target's folder and `os.replace`s it into place, so
Ctrl-C or a crash mid-write never leaves a truncated manifest or trace behind.
"""

from __future__ import annotations

import gzip
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

from profkit import fileio

TRACE_GZIP_LEVEL = 6


@contextmanager
def _atomic_target(path: Path):
    """Yield a temporary path next to `path`; on success move it into place, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with fileio.output_path(path) as tmp:  # the project's one atomic writer
        yield tmp


def atomic_write_text(path: Path, text: str) -> None:
    with _atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def atomic_gzip(src: Path, dst: Path) -> None:
    """Gzip `src` into `dst` atomically (the trace export is plain JSON; Perfetto opens the .gz)."""
    with _atomic_target(dst) as tmp, open(src, "rb") as fin, gzip.open(tmp, "wb", compresslevel=TRACE_GZIP_LEVEL) as fout:
        shutil.copyfileobj(fin, fout, length=1 << 20)


def scratch_path(folder: Path, name: str) -> Path:
    """A new empty file `.<name>.<random>.tmp` in `folder` (see profkit.fileio). Caller deletes it."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return fileio.scratch_path(folder, name)

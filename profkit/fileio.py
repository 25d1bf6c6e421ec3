"""Writing a file the user named: the one place in profkit that replaces files on disk.

`output_path(path)` hands out the path to write the new content into:

- a regular file (or nothing yet) at `path`: a new temporary file beside it, `os.replace`d into place
  on success and deleted on any failure (disk full, permission, Ctrl-C), so `path` is either the old
  content or the new one, never half-written; an existing file's permission bits are kept;
- a symbolic link: the same, for the file the link points to (the link stays a link);
- anything else that exists (`/dev/null`, a FIFO, a terminal): `path` itself, written through —
  replacing `/dev/null` with a regular file would break the whole machine.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` as `output_path` describes."""
    with output_path(path) as out, open(out, "wb") as fh:
        fh.write(data)


@contextmanager
def output_path(path) -> Iterator[Path]:
    """A path to write `path`'s new content into (see the module docstring). Raises OSError (with
    `filename` set) when `path` is a directory, a symlink loop, or its folder is missing or unwritable."""
    target = _link_target(Path(path))
    mode = _existing_mode(target)
    if mode is not None and not stat.S_ISREG(mode):
        yield target  # device, FIFO, socket: write through
        return
    tmp = scratch_path(target.parent, target.name)
    try:
        if mode is not None:
            os.chmod(tmp, stat.S_IMODE(mode))
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def scratch_path(folder, name: str) -> Path:
    """A new empty file `.<name>.<random>.tmp` in `folder` (same file system as the final file, so
    `os.replace` is atomic; permissions follow the umask, unlike mkstemp's 0600). Caller deletes it."""
    folder = Path(folder)
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "xb"):
                return tmp
        except FileExistsError:
            continue


def _link_target(path: Path) -> Path:
    """`path` with every symbolic link followed (the file a write should land in)."""
    if not path.is_symlink():
        return path
    resolved = Path(os.path.realpath(path))
    if resolved.is_symlink():  # realpath stops inside a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    return resolved


def _existing_mode(target: Path) -> int | None:
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    return mode

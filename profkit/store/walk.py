"""The one directory walker, with the one path policy every reader (CLI and dashboard) follows.

Policy, for everything found under a traces folder (the *root*):

- Nothing outside the root is read. A symlink (to a file or a folder) whose target resolves outside
  the root is skipped and reported; so is a broken symlink.
- Every folder is walked once. A symlink to a folder already walked (a loop, or a second way into
  the same folder) is skipped and reported; a symlink to a file already listed is listed once.
- Only regular files are listed: a FIFO, device or socket with a trace's name is skipped and
  reported (opening a FIFO would block the reader for ever).
- A folder that cannot be listed is skipped and reported, never an error.
- Hidden entries (".name": scratch files of atomic writes, editor and tool folders) are ignored.

Only files that can matter to profkit are listed (`.json`/`.json.gz` and the NVML samples); other
files are ignored without a word. `walk(root)` returns `Walk(files, skipped)`; each skipped entry
says why, and front ends report each one once.

File names that are not valid UTF-8 are kept as Python keeps them (surrogate escapes), so the file
can still be opened; `display(path)` is what messages show.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from profkit.errors import ProfkitError
from profkit.store.layout import NVML_SAMPLES_FILE, is_json_name


def display(path) -> str:
    """`path` as text that any terminal, JSON writer or browser can show: bytes of a file name that
    are not UTF-8 appear as `\\xNN`."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Found:
    """A file the walker lists: its path under the root (links not resolved) and root-relative name."""

    path: Path
    rel: str  # POSIX separators, relative to the root

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Skipped:
    """Something under the root that was not read, and why."""

    path: Path
    reason: str
    rel: str = ""  # relative to the root walked (POSIX separators); "" for the root itself

    def __str__(self) -> str:
        return f"{display(self.rel or self.path)}: {self.reason}"


class Walk(NamedTuple):
    """What `walk` found: files to read (sorted by relative path) and what it skipped."""

    files: list[Found]
    skipped: list[Skipped]


def _relevant(name: str) -> bool:
    return is_json_name(name) or name == NVML_SAMPLES_FILE


def walk(root) -> Walk:
    """Every relevant regular file under the folder `root`, by the policy above.

    Raises ProfkitError when `root` itself is not a folder; nothing below it ever raises.
    """
    root = Path(root)
    if not root.is_dir():
        raise ProfkitError(f"{display(root)}: no such folder; give the folder that holds your runs and traces (e.g. traces/)")
    real_root = Path(os.path.realpath(root))
    files: list[Found] = []
    skipped: list[Skipped] = []
    seen_dirs = {_dir_key(real_root)}
    seen_files: dict[str, str] = {}
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(folder, f"cannot list this folder ({exc.strerror or exc}); skipped", prefix.rstrip("/")))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            rel = prefix + entry.name
            is_link = entry.is_symlink()
            try:
                st = os.stat(entry.path)  # follows links
            except OSError as exc:
                if is_link and (_relevant(entry.name) or exc.errno == errno.ELOOP):
                    skipped.append(Skipped(path, _link_problem(exc), rel))
                elif not is_link:
                    skipped.append(Skipped(path, f"cannot read ({exc.strerror or exc}); skipped", rel))
                continue
            real = os.path.realpath(entry.path) if is_link else None
            if stat.S_ISDIR(st.st_mode):
                if real is not None and not _inside(real, real_root):
                    skipped.append(Skipped(path, "symlink to a folder outside the traces folder; not read", rel))
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs:
                    skipped.append(Skipped(path, "symlink to a folder already walked (a loop); skipped", rel))
                    continue
                seen_dirs.add(key)
                subfolders.append((path, rel + "/"))
                continue
            if not _relevant(entry.name):
                continue
            if real is not None and not _inside(real, real_root):
                skipped.append(Skipped(path, "symlink to a file outside the traces folder; not read", rel))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(Skipped(path, "not a regular file (a FIFO, device or socket); not read", rel))
                continue
            identity = real or os.path.realpath(entry.path)
            if identity in seen_files:
                continue  # the same file reached twice (a link inside the folder): listed once
            seen_files[identity] = rel
            files.append(Found(path, rel))
        stack.extend(reversed(subfolders))
    files.sort(key=lambda f: f.rel)
    return Walk(files, skipped)


def _link_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop; skipped"
    if exc.errno == errno.ENOENT:
        return "broken symlink (its target does not exist); skipped"
    return f"symlink that cannot be followed ({exc.strerror or exc}); skipped"


def _dir_key(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _inside(real: str, real_root: Path) -> bool:
    return Path(real).is_relative_to(real_root)


def regular_file(path) -> Path:
    """`path` if it is a regular file (links followed: the user named it), else ProfkitError."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ProfkitError(f"{display(path)}: no such file or directory") from None
        raise ProfkitError(f"{display(path)}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ProfkitError(f"{display(path)}: not a regular file; give a trace, manifest or results file")
    return path


def sibling(folder: Path, name: str) -> Path | None:
    """`folder/name` when it is a regular file that stays inside `folder` (links out are not followed)."""
    path = Path(folder) / name
    try:
        if path.is_symlink() and not _inside(os.path.realpath(path), Path(os.path.realpath(folder))):
            return None
        return path if stat.S_ISREG(os.stat(path).st_mode) else None
    except OSError:
        return None

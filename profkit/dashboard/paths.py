"""Which traces directory the dashboard serves, and keeping every path it opens inside it.

The directory comes from, in order: `--traces-dir DIR` after `--` on the `streamlit run` command
line (what `profkit dashboard [TRACES_DIR]` passes), `$PROFKIT_TRACES_DIR`, else the bundled
`traces/samples` of the checkout profkit runs from.

Every trace, manifest or sample file the UI names (a selection, a `?trace=` query parameter) is a
path *relative to that root*; `inside(root, rel)` resolves it (symlinks included) and refuses
anything that lands outside the root.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from profkit.errors import ProfkitError

#: Environment variable naming the traces directory (the CLI argument wins over it).
TRACES_DIR_ENV = "PROFKIT_TRACES_DIR"
#: The samples shipped with the checkout, relative to the repository root.
SAMPLES_SUBDIR = Path("traces") / "samples"


def bundled_samples_dir() -> Path | None:
    """`traces/samples` of the checkout this profkit was imported from (None in a wheel install)."""
    import profkit

    candidate = Path(profkit.__file__).resolve().parent.parent / SAMPLES_SUBDIR
    return candidate if candidate.is_dir() else None


def traces_dir_from(argv: list[str] | None = None, environ: dict | None = None) -> Path:
    """The traces directory for this app: `--traces-dir` in `argv`, else the env var, else the samples.

    Raises ProfkitError when none is given and no bundled samples exist, or the one given is not a directory.
    """
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--traces-dir")
    given, _ = parser.parse_known_args(argv or [])
    raw = given.traces_dir or environ.get(TRACES_DIR_ENV)
    if raw:
        root = Path(raw).expanduser()
        if not root.is_dir():
            source = "--traces-dir" if given.traces_dir else f"${TRACES_DIR_ENV}"
            raise ProfkitError(f"{source} {raw}: not a directory; give the folder that holds your runs (e.g. traces/)")
        return root.resolve()
    samples = bundled_samples_dir()
    if samples is None:
        raise ProfkitError(
            f"no traces directory given and no bundled samples found; run `profkit dashboard TRACES_DIR` "
            f"or set ${TRACES_DIR_ENV}"
        )
    return samples


def inside(root: Path, rel: str | os.PathLike) -> Path:
    """`root / rel`, resolved, provided it stays inside `root` (else ProfkitError).

    Absolute paths, `..` components and symlinks pointing out of the root are all refused.
    """
    root = Path(root).resolve()
    text = str(rel)
    if not text or "\x00" in text:
        raise ProfkitError(f"{text!r} is not a file inside the traces directory")
    candidate = (root / text).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        raise ProfkitError(f"{text!r} is outside the traces directory {root}; the dashboard only opens files inside it")
    return candidate


def relative(root: Path, path: Path) -> str:
    """`path` as the root-relative string the UI passes around (POSIX separators)."""
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()

"""Which traces folder a front end serves, and names of files inside it.

The folder is, in order: the one given (a command-line argument), `$PROFKIT_TRACES_DIR`, else the
bundled `traces/samples` of the checkout profkit runs from.

Inside it, a file is named by its path relative to the folder ("run-1/x.pt.trace.json.gz"). A name
that comes from outside (a URL, a selection) is only opened if it is one the walker listed
(`profkit.store.Listing.traces`); `inside` refuses anything that resolves outside the folder, so the
message can say so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from profkit.errors import ProfkitError
from profkit.store.walk import display

#: Environment variable naming the traces folder (a command-line argument wins over it).
TRACES_DIR_ENV = "PROFKIT_TRACES_DIR"
#: The samples shipped with the checkout, relative to the repository root.
SAMPLES_SUBDIR = Path("traces") / "samples"


def bundled_samples_dir() -> Path | None:
    """`traces/samples` of the checkout this profkit was imported from (None in a wheel install)."""
    import profkit

    candidate = Path(profkit.__file__).resolve().parent.parent / SAMPLES_SUBDIR
    return candidate if candidate.is_dir() else None


def traces_dir(given: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None, option: str = "TRACES_DIR") -> Path:
    """The traces folder: `given`, else $PROFKIT_TRACES_DIR, else the bundled samples (resolved).

    Raises ProfkitError when the folder named is not one, or none is named and there are no samples.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    raw = given if given not in (None, "") else env.get(TRACES_DIR_ENV)
    if raw:
        root = Path(raw).expanduser()
        if not root.is_dir():
            source = option if given not in (None, "") else f"${TRACES_DIR_ENV}"
            raise ProfkitError(f"{source} {display(raw)}: not a directory; give the folder that holds your runs (e.g. traces/)")
        return root.resolve()
    samples = bundled_samples_dir()
    if samples is None:
        raise ProfkitError(f"no traces directory given and no bundled samples found; run `profkit dashboard TRACES_DIR` or set ${TRACES_DIR_ENV}")
    return samples


def inside(root: Path, rel: str | os.PathLike) -> Path:
    """`root / rel`, resolved, provided it stays inside `root` (else ProfkitError).

    Absolute paths, `..` components and symlinks pointing out of the root are all refused.
    """
    root = Path(root).resolve()
    text = str(rel)
    if not text or "\x00" in text:
        raise ProfkitError(f"{display(text)!r} is not a file inside the traces directory")
    candidate = (root / text).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        raise ProfkitError(f"{display(text)!r} is outside the traces directory {display(root)}; only files inside it are opened")
    return candidate

"""On-disk cache of parsed traces: numpy columns in one uncompressed .npz per trace.

Keyed by the trace's absolute path, size and modification time, plus `CACHE_FORMAT`; a changed
file misses the cache. Location: `$PROFKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/profkit`, else
`~/.cache/profkit`. A cache that cannot be read or written is ignored (never an error).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import orjson

from profkit.trace.model import Table, Trace

CACHE_FORMAT = 5  # bump when the trace model changes
_TABLES = ("gpu", "runtime", "ops", "annotations")


def cache_dir() -> Path:
    explicit = os.environ.get("PROFKIT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "profkit"


def cache_path(trace_path: Path) -> Path:
    st = trace_path.stat()
    key = f"{CACHE_FORMAT}|{trace_path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:20]
    return cache_dir() / f"{trace_path.name}.{digest}.npz"


def read(trace_path: Path) -> Trace | None:
    try:
        target = cache_path(trace_path)
        if not target.exists():
            return None
        with np.load(target, allow_pickle=False) as z:
            header = orjson.loads(z["header"].tobytes())
            tables = {t: Table({c: z[f"{t}.{c}"] for c in header["columns"][t]}) for t in _TABLES}
    except Exception:  # a corrupt or foreign cache entry is simply a miss
        return None
    return Trace(
        path=str(trace_path),
        metadata=header["metadata"],
        strings=header["strings"],
        t0_ns=header["t0_ns"],
        event_count=header["event_count"],
        extent_ns=tuple(header.get("extent_ns") or (0, 0)),
        **tables,
    )


def write(trace_path: Path, trace: Trace) -> None:
    try:
        target = cache_path(trace_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "metadata": trace.metadata,
            "strings": trace.strings,
            "t0_ns": trace.t0_ns,
            "event_count": trace.event_count,
            "extent_ns": list(trace.extent_ns),
            "columns": {t: list(getattr(trace, t).columns) for t in _TABLES},
        }
        arrays = {"header": np.frombuffer(orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8)}
        for t in _TABLES:
            for c, v in getattr(trace, t).columns.items():
                arrays[f"{t}.{c}"] = v
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, target)
    except OSError:
        pass  # read-only home or full disk: analysis still works, just uncached

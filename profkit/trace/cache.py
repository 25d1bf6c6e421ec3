"""On-disk cache of parsed traces: numpy columns in one uncompressed .npz per trace.

An entry is found by a key made of the trace's absolute path, size and modification time, plus
`CACHE_FORMAT`; and it is used only if it proves it belongs to the file: its header records the
same path, size and modification time and a content fingerprint (a hash of the file's size and
its first and last 64 KiB) that is checked against the file on every read. Anything else under
the key — another trace's entry, a foreign .npz, a damaged file — is a miss, never a report.

Beside the parse, other results computed from the file (the analyses: `profkit.analyses.cache`)
are kept as *side entries*: opaque bytes under a kind and a key the caller chooses, found and
verified against the file exactly as the parse is (`read_entry` / `write_entry`).

Location: `$PROFKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/profkit`, else `~/.cache/profkit`. A cache
that cannot be read or written is ignored (never an error); a failed write leaves no temporary file.

Size: at most `$PROFKIT_CACHE_MAX_BYTES` (default 4 GiB; e.g. "512MiB"). After each write the least
recently used entries (a hit marks an entry used) are deleted until the cache holds at most 80% of
that; the entry just written is always kept. Only files named like profkit's entries are counted or
deleted, so a cache folder shared with other files is safe.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import numpy as np
import orjson

from profkit import fileio
from profkit.trace.model import Table, Trace

CACHE_FORMAT = 9  # bump when the trace model or the entry layout changes
FINGERPRINT_BYTES = 64 * 1024
_TABLES = ("gpu", "runtime", "ops", "annotations")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
DEFAULT_MAX_CACHE_BYTES = 4 * 1024**3
PRUNE_TO_FRACTION = 0.8  # pruning frees down to this share of the cap, so that it runs seldom
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9._-]*\.[0-9a-f]{20}\.[a-z]+$")  # `_entry_path`'s names, and only those


def cache_dir() -> Path:
    explicit = os.environ.get("PROFKIT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "profkit"


def _source(trace_path: Path) -> dict:
    """What an entry must match: the file's path, size, mtime and content fingerprint."""
    st = os.stat(trace_path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device: never opened here (reading could block)
        raise OSError(f"{trace_path} is not a regular file")
    return {
        "path": os.fsencode(os.path.realpath(trace_path)).decode("utf-8", "backslashreplace"),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "fingerprint": fingerprint(trace_path, st.st_size),
    }


def fingerprint(path: Path, size: int) -> str:
    """sha1 of the size and the first and last FINGERPRINT_BYTES of the file (cheap at any size)."""
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            fh.seek(max(size - FINGERPRINT_BYTES, FINGERPRINT_BYTES))
            h.update(fh.read(FINGERPRINT_BYTES))
    return h.hexdigest()


def cache_path(trace_path: Path, source: dict | None = None) -> Path:
    return _entry_path(source or _source(trace_path), "npz")


def max_cache_bytes() -> int:
    """`$PROFKIT_CACHE_MAX_BYTES` as bytes, else DEFAULT_MAX_CACHE_BYTES (also when it is not a size)."""
    from profkit.trace.source import parse_size

    text = os.environ.get("PROFKIT_CACHE_MAX_BYTES", "")
    try:
        return parse_size(text) if text.strip() else DEFAULT_MAX_CACHE_BYTES
    except ValueError:
        return DEFAULT_MAX_CACHE_BYTES


def prune(keep: Path | None = None, max_bytes: int | None = None) -> int:
    """Delete the least recently used entries while the cache holds more than `max_bytes` (default
    `max_cache_bytes()`), down to PRUNE_TO_FRACTION of it; never `keep`. Returns the bytes freed."""
    limit = max_cache_bytes() if max_bytes is None else max_bytes
    entries = []
    try:
        with os.scandir(cache_dir()) as it:
            for e in it:
                if _ENTRY_NAME.match(e.name) and e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime_ns, st.st_size, Path(e.path)))
    except OSError:
        return 0
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return 0
    freed = 0
    for _, size, path in sorted(entries):
        if total - freed <= limit * PRUNE_TO_FRACTION:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed


def _used(entry: Path) -> None:
    """Mark a cache hit as recently used (its mtime orders pruning)."""
    try:
        os.utime(entry)
    except OSError:
        pass


def _entry_path(source: dict, suffix: str, key: str = "") -> Path:
    parts = [str(CACHE_FORMAT), source["path"], str(source["size"]), str(source["mtime_ns"])] + ([key] if key else [])
    digest = hashlib.sha1("|".join(parts).encode()).hexdigest()[:20]
    readable = _UNSAFE_NAME.sub("_", Path(source["path"]).name)[:80]  # the file's own name: every link to it shares the entry
    return cache_dir() / f"{readable}.{digest}.{suffix}"


def read(trace_path: Path) -> Trace | None:
    """The cached Trace of `trace_path`, or None (a miss) unless a valid entry of this very file exists."""
    try:
        source = _source(trace_path)
        target = cache_path(trace_path, source)
        if not target.is_file():
            return None
        with np.load(target, allow_pickle=False) as z:
            header = orjson.loads(z["header"].tobytes())
            if header.get("format") != CACHE_FORMAT or header.get("source") != source:
                return None
            tables = {t: Table({c: z[f"{t}.{c}"] for c in header["columns"][t]}) for t in _TABLES}
        if any(len({len(v) for v in tables[t].columns.values()}) > 1 for t in _TABLES):
            return None
        _used(target)
        return Trace(
            path=str(trace_path),
            metadata=header["metadata"],
            strings=header["strings"],
            t0_ns=header["t0_ns"],
            event_count=header["event_count"],
            json_bytes=header["json_bytes"],
            warnings=header["warnings"],
            extent_ns=tuple(header.get("extent_ns") or (0, 0)),
            gpu=tables["gpu"],
            runtime=tables["runtime"],
            ops=tables["ops"],
            annotations=tables["annotations"],
        )
    except Exception:  # noqa: BLE001 -- a corrupt or foreign cache entry is simply a miss
        return None


def write(trace_path: Path, trace: Trace) -> None:
    """Store `trace` as the entry of `trace_path`; silently nothing if the cache cannot be written."""
    try:
        source = _source(trace_path)
        target = cache_path(trace_path, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            return  # not ours to follow
        header = {
            "format": CACHE_FORMAT,
            "source": source,
            "metadata": trace.metadata,
            "strings": trace.strings,
            "t0_ns": trace.t0_ns,
            "event_count": trace.event_count,
            "extent_ns": list(trace.extent_ns),
            "json_bytes": trace.json_bytes,
            "warnings": trace.warnings,
            "columns": {t: list(getattr(trace, t).columns) for t in _TABLES},
        }
        arrays = {"header": np.frombuffer(orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8)}
        for t in _TABLES:
            for c, v in getattr(trace, t).columns.items():
                arrays[f"{t}.{c}"] = v
        with fileio.output_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # the stub lets **arrays reach allow_pickle: the keys are "table.column"
        prune(keep=target)
    except (OSError, TypeError, ValueError):
        pass  # read-only home, full disk, or metadata orjson cannot write: analysis still works, uncached


# ---- side entries: other results computed from the file ------------------------------------------
_ENTRY_MAGIC = b"profkit-entry\n"
_KIND = re.compile(r"[a-z]+")


def entry_path(trace_path: Path, kind: str, key: str, source: dict | None = None) -> Path:
    """Where the side entry `kind`/`key` of `trace_path` lives (`kind`: lower-case letters, e.g. "analysis")."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"cache entry kind must be lower-case letters, got {kind!r}")
    return _entry_path(source or _source(trace_path), kind, f"{kind}|{key}")


def read_entry(trace_path: Path, kind: str, key: str) -> bytes | None:
    """The bytes stored as `kind`/`key` for this very file (same path, size, mtime and content
    fingerprint), or None: a missing, foreign, damaged or unreadable entry is a miss."""
    try:
        source = _source(trace_path)
        with open(entry_path(trace_path, kind, key, source), "rb") as fh:
            data = fh.read()
        if not data.startswith(_ENTRY_MAGIC):
            return None
        start = len(_ENTRY_MAGIC) + 4
        size = int.from_bytes(data[len(_ENTRY_MAGIC) : start], "little")
        header = orjson.loads(data[start : start + size])
        if header != {"format": CACHE_FORMAT, "kind": kind, "key": key, "source": source}:
            return None
        _used(entry_path(trace_path, kind, key, source))
        return data[start + size :]
    except Exception:  # noqa: BLE001 -- a corrupt or foreign entry is simply a miss
        return None


def write_entry(trace_path: Path, kind: str, key: str, payload: bytes) -> None:
    """Store `payload` as the `kind`/`key` entry of `trace_path`; silently nothing if the cache cannot be written."""
    try:
        source = _source(trace_path)
        target = entry_path(trace_path, kind, key, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            return  # not ours to follow
        header = orjson.dumps({"format": CACHE_FORMAT, "kind": kind, "key": key, "source": source})
        with fileio.output_path(target) as tmp, open(tmp, "wb") as fh:
            fh.write(_ENTRY_MAGIC + len(header).to_bytes(4, "little") + header + payload)
        prune(keep=target)
    except (OSError, TypeError, ValueError):
        pass  # read-only home, full disk: the result still stands, uncached

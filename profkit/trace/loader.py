"""Read a Kineto trace file (.json or .json.gz) into a `Trace`, once, with clear errors.

Parsing uses orjson and a single pass over the events; the resulting columns are cached on disk
(see `profkit.trace.cache`) so a second analysis of the same file skips the JSON entirely.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import orjson

from profkit.errors import TraceError
from profkit.trace import cache
from profkit.trace.model import (
    COPY_DTOD,
    COPY_DTOH,
    COPY_HTOD,
    COPY_OTHER,
    KERNEL,
    MEMCPY,
    MEMSET,
    NO_ID,
    Table,
    Trace,
)

TRACE_SUFFIXES = (".json", ".json.gz")
GPU_CATEGORIES = {"kernel": KERNEL, "gpu_memcpy": MEMCPY, "gpu_memset": MEMSET}
RUNTIME_CATEGORIES = {"cuda_runtime", "cuda_driver"}
OP_CATEGORIES = {"cpu_op"}
ANNOTATION_CATEGORIES = {"user_annotation"}
_KEPT_CATEGORIES = set(GPU_CATEGORIES) | RUNTIME_CATEGORIES | OP_CATEGORIES | ANNOTATION_CATEGORIES


DIRECTORY_TRACE_SUFFIXES = ("trace.json", "trace.json.gz")  # Kineto's names: <name>.pt.trace.json[.gz]


def is_trace_file(path: Path) -> bool:
    return path.name.endswith(TRACE_SUFFIXES)


def _traces_in(directory: Path) -> list[Path]:
    """Trace files under a directory: Kineto-named ones (*trace.json[.gz]), skipping manifests and
    results JSON beside them; any .json/.json.gz when nothing is Kineto-named."""
    files = sorted(q for q in directory.rglob("*") if q.is_file() and is_trace_file(q) and ".profkit-cache" not in q.parts)
    named = [q for q in files if q.name.endswith(DIRECTORY_TRACE_SUFFIXES)]
    return named or files


def find_traces(paths) -> list[Path]:
    """Expand files and directories (recursively) into trace files, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            inside = _traces_in(p)
            if not inside:
                raise TraceError(p, "directory holds no .json or .json.gz trace files")
            found.extend(inside)
        elif p.exists():
            found.append(p)
        else:
            raise TraceError(p, "no such file or directory")
    return found


def load_trace(path, use_cache: bool = True) -> Trace:
    """Parse `path` into a Trace (from the on-disk cache when the file is unchanged)."""
    path = Path(path)
    _check_file(path)
    if use_cache:
        cached = cache.read(path)
        if cached is not None:
            return cached
    trace = parse_trace(path)
    if use_cache:
        cache.write(path, trace)
    return trace


def parse_trace(path: Path) -> Trace:
    document = _read_json(path)
    events = document.get("traceEvents")
    if not isinstance(events, list):
        raise TraceError(path, "JSON has no 'traceEvents' list; is this a torch.profiler (Kineto) trace?")
    metadata = {k: v for k, v in document.items() if k != "traceEvents"}
    _decode_embedded_json(metadata)
    return _build(path, metadata, events)


# ---------------------------------------------------------------------------------------------
def _check_file(path: Path) -> None:
    if not path.exists():
        raise TraceError(path, "no such file")
    if not path.is_file():
        raise TraceError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise TraceError(path, "file is empty")


def _read_json(path: Path) -> dict:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise TraceError(path, f"truncated or corrupt gzip ({exc}); re-copy or re-export the trace") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TraceError(path, f"invalid JSON ({exc}); the file may be truncated") from None
    if not isinstance(document, dict):
        raise TraceError(path, "top-level JSON is not an object; expected a Kineto trace with 'traceEvents'")
    return document


def _decode_embedded_json(metadata: dict) -> None:
    """`prof.add_metadata_json` stores values as JSON text or objects; normalise to objects."""
    for key, value in list(metadata.items()):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                metadata[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass


class _Interner:
    def __init__(self):
        self.ids: dict[str, int] = {}
        self.strings: list[str] = []

    def __call__(self, text) -> int:
        if text is None:
            return NO_ID
        if not isinstance(text, str):
            text = orjson.dumps(text).decode()
        i = self.ids.get(text)
        if i is None:
            i = self.ids[text] = len(self.strings)
            self.strings.append(text)
        return i


def _copy_kind(name: str) -> int:
    if "DtoH" in name:
        return COPY_DTOH
    if "HtoD" in name:
        return COPY_HTOD
    if "DtoD" in name:
        return COPY_DTOD
    return COPY_OTHER


def _build(path: Path, metadata: dict, events: list) -> Trace:
    """One pass over the events, appending the fields each table keeps (hot loop: locals only)."""
    intern = _Interner()
    ids, strings = intern.ids, intern.strings

    def sid(text) -> int:
        i = ids.get(text) if text.__class__ is str else None
        return i if i is not None else intern(text)

    gpu = {k: [] for k in ("name_id", "ts", "dur", "kind", "copy_kind", "stream", "device", "correlation", "external_id", "bytes")}
    rt = {k: [] for k in ("name_id", "ts", "dur", "tid", "correlation", "external_id")}
    ops = {k: [] for k in ("name_id", "ts", "dur", "tid", "external_id", "dims_id", "types_id", "flops")}
    ann = {k: [] for k in ("name_id", "ts", "dur", "tid")}
    number = (int, float)
    for index, e in enumerate(events):
        if e.__class__ is not dict or e.get("ph") != "X":
            continue
        cat = e.get("cat")
        if cat not in _KEPT_CATEGORIES:
            continue
        ts, dur, name = e.get("ts"), e.get("dur"), e.get("name")
        if ts.__class__ not in number or dur.__class__ not in number or name is None:
            _raise_malformed(path, index, cat, e)
        args = e.get("args") or {}
        if cat in GPU_CATEGORIES:
            kind = GPU_CATEGORIES[cat]
            table = gpu
            table["kind"].append(kind)
            table["copy_kind"].append(_copy_kind(name) if kind == MEMCPY else NO_ID)
            table["stream"].append(int(args.get("stream", e.get("tid", NO_ID)) or 0))
            table["device"].append(int(args.get("device", 0) or 0))
            table["correlation"].append(int(args.get("correlation", NO_ID)))
            table["external_id"].append(int(args.get("External id", NO_ID)))
            table["bytes"].append(int(args.get("bytes", 0) or 0))
        elif cat in RUNTIME_CATEGORIES:
            table = rt
            table["tid"].append(_tid(e))
            table["correlation"].append(int(args.get("correlation", NO_ID)))
            table["external_id"].append(int(args.get("External id", NO_ID)))
        elif cat in OP_CATEGORIES:
            table = ops
            table["tid"].append(_tid(e))
            table["external_id"].append(int(args.get("External id", NO_ID)))
            table["dims_id"].append(intern(args.get("Input Dims")))
            table["types_id"].append(intern(args.get("Input type")))
            table["flops"].append(float(args.get("flops", 0.0) or 0.0))
        else:
            table = ann
            table["tid"].append(_tid(e))
        table["name_id"].append(sid(name))
        table["ts"].append(ts)
        table["dur"].append(dur)
    tables = [gpu, rt, ops, ann]
    starts = [min(t["ts"]) for t in tables if t["ts"]]
    t0_us = min(starts) if starts else 0.0
    t0_ns = int(round(t0_us * 1000.0))
    dtypes = {"kind": np.int8, "copy_kind": np.int8, "flops": np.float64, "stream": np.int32, "device": np.int32, "name_id": np.int32, "dims_id": np.int32, "types_id": np.int32}
    built = [_to_table(cols, dtypes, t0_ns) for cols in tables]
    return Trace(
        path=str(path),
        metadata=metadata,
        strings=strings,
        gpu=built[0],
        runtime=built[1],
        ops=built[2],
        annotations=built[3],
        t0_ns=t0_ns,
        event_count=len(events),
    )


def _raise_malformed(path: Path, index: int, cat: str, event: dict):
    for key in ("ts", "dur", "name"):
        if key not in event:
            raise TraceError(path, f"event #{index} ({cat}) has no '{key}' field; the trace is malformed")
    raise TraceError(path, f"event #{index} ({cat}) has a non-numeric 'ts' or 'dur'; the trace is malformed")


def _tid(event: dict) -> int:
    tid = event.get("tid", 0)
    try:
        return int(tid)
    except (TypeError, ValueError):
        return NO_ID


def _to_table(cols: dict[str, list], dtypes: dict, t0_ns: int) -> Table:
    """Lists -> numpy columns; float microseconds -> integer nanoseconds from t0."""
    arrays = {k: np.asarray(v, dtype=dtypes.get(k, np.int64)) for k, v in cols.items() if k not in ("ts", "dur")}
    arrays["ts_ns"] = np.rint(np.asarray(cols["ts"], dtype=np.float64) * 1000.0).astype(np.int64) - t0_ns
    arrays["dur_ns"] = np.rint(np.asarray(cols["dur"], dtype=np.float64) * 1000.0).astype(np.int64)
    order = np.argsort(arrays["ts_ns"], kind="stable")
    return Table({k: v[order] for k, v in arrays.items()})


def replace_atomically(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file and os.replace (no half-written files)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

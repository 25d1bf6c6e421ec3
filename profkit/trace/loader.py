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


def is_trace_file(path: Path) -> bool:
    return path.name.endswith(TRACE_SUFFIXES)


def find_traces(paths) -> list[Path]:
    """Expand files and directories (recursively) into trace files, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            inside = sorted(q for q in p.rglob("*") if q.is_file() and is_trace_file(q) and ".profkit-cache" not in q.parts)
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


def _ns(value) -> int:
    return int(round(value * 1000.0))


def _build(path: Path, metadata: dict, events: list) -> Trace:
    intern = _Interner()
    gpu: dict[str, list] = {k: [] for k in ("name_id", "ts_ns", "dur_ns", "kind", "copy_kind", "stream", "device", "correlation", "external_id", "bytes")}
    rt: dict[str, list] = {k: [] for k in ("name_id", "ts_ns", "dur_ns", "tid", "correlation", "external_id")}
    ops: dict[str, list] = {k: [] for k in ("name_id", "ts_ns", "dur_ns", "tid", "external_id", "dims_id", "types_id", "flops")}
    ann: dict[str, list] = {k: [] for k in ("name_id", "ts_ns", "dur_ns", "tid")}
    t_min = None
    for index, e in enumerate(events):
        if not isinstance(e, dict) or e.get("ph") != "X":
            continue
        cat = e.get("cat")
        if cat not in GPU_CATEGORIES and cat not in RUNTIME_CATEGORIES and cat not in OP_CATEGORIES and cat not in ANNOTATION_CATEGORIES:
            continue
        try:
            ts = e["ts"]
            dur = e["dur"]
            name = e["name"]
        except KeyError as exc:
            raise TraceError(path, f"event #{index} ({cat}) has no '{exc.args[0]}' field; the trace is malformed") from None
        if not isinstance(ts, (int, float)) or not isinstance(dur, (int, float)):
            raise TraceError(path, f"event #{index} ({cat}) has a non-numeric 'ts' or 'dur'; the trace is malformed")
        if t_min is None or ts < t_min:
            t_min = ts
        args = e.get("args") or {}
        tsn, durn = _ns(ts), _ns(dur)
        if cat in GPU_CATEGORIES:
            kind = GPU_CATEGORIES[cat]
            gpu["name_id"].append(intern(name))
            gpu["ts_ns"].append(tsn)
            gpu["dur_ns"].append(durn)
            gpu["kind"].append(kind)
            gpu["copy_kind"].append(_copy_kind(name) if kind == MEMCPY else NO_ID)
            gpu["stream"].append(int(args.get("stream", e.get("tid", NO_ID)) or 0))
            gpu["device"].append(int(args.get("device", 0) or 0))
            gpu["correlation"].append(int(args.get("correlation", NO_ID)))
            gpu["external_id"].append(int(args.get("External id", NO_ID)))
            gpu["bytes"].append(int(args.get("bytes", 0) or 0))
        elif cat in RUNTIME_CATEGORIES:
            rt["name_id"].append(intern(name))
            rt["ts_ns"].append(tsn)
            rt["dur_ns"].append(durn)
            rt["tid"].append(_tid(e))
            rt["correlation"].append(int(args.get("correlation", NO_ID)))
            rt["external_id"].append(int(args.get("External id", NO_ID)))
        elif cat in OP_CATEGORIES:
            ops["name_id"].append(intern(name))
            ops["ts_ns"].append(tsn)
            ops["dur_ns"].append(durn)
            ops["tid"].append(_tid(e))
            ops["external_id"].append(int(args.get("External id", NO_ID)))
            ops["dims_id"].append(intern(args.get("Input Dims")))
            ops["types_id"].append(intern(args.get("Input type")))
            ops["flops"].append(float(args.get("flops", 0.0) or 0.0))
        else:
            ann["name_id"].append(intern(name))
            ann["ts_ns"].append(tsn)
            ann["dur_ns"].append(durn)
            ann["tid"].append(_tid(e))
    t0_ns = _ns(t_min) if t_min is not None else 0
    dtypes = {"kind": np.int8, "copy_kind": np.int8, "flops": np.float64, "stream": np.int32, "device": np.int32, "name_id": np.int32, "dims_id": np.int32, "types_id": np.int32}
    tables = [_to_table(cols, dtypes, t0_ns) for cols in (gpu, rt, ops, ann)]
    return Trace(
        path=str(path),
        metadata=metadata,
        strings=intern.strings,
        gpu=tables[0],
        runtime=tables[1],
        ops=tables[2],
        annotations=tables[3],
        t0_ns=t0_ns,
        event_count=len(events),
    )


def _tid(event: dict) -> int:
    tid = event.get("tid", 0)
    try:
        return int(tid)
    except (TypeError, ValueError):
        return NO_ID


def _to_table(cols: dict[str, list], dtypes: dict, t0_ns: int) -> Table:
    arrays = {k: np.asarray(v, dtype=dtypes.get(k, np.int64)) for k, v in cols.items()}
    arrays["ts_ns"] = arrays["ts_ns"] - t0_ns
    order = np.argsort(arrays["ts_ns"], kind="stable")
    return Table({k: v[order] for k, v in arrays.items()})


def replace_atomically(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file and os.replace (no half-written files)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

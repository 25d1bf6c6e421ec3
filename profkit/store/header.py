"""A trace's header, read without parsing its events: what it ran on and the manifest it embeds.

Kineto writes `deviceProperties`, CUDA or HIP versions, `distributedInfo`, `baseTimeNanoseconds` and
`add_metadata_json` entries (profkit's `profkit_manifest`) as top-level keys before `traceEvents`.
`read_trace_header` reads the (decompressed) file up to that key -- at most HEADER_READ_LIMIT_BYTES --
and `TraceHeader` names what it holds. Metadata Kineto writes after the events is not seen here.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from profkit.errors import ProfkitError
from profkit.store.layout import TRACE_METADATA_KEY
from profkit.store.walk import display
from profkit.trace.metadata import cuda_version_text, distributed_info, hip_version_text
from profkit.trace.metadata import metadata_int as _int

HEADER_READ_LIMIT_BYTES = 8 << 20
"""How far into a (decompressed) trace the metadata header is looked for."""
_CHUNK = 64 << 10
_FIRST_TS = re.compile(rb'"ts"\s*:\s*"?([0-9.]+)')


@dataclass(frozen=True)
class TraceHeader:
    """What a trace's header says (None where it does not)."""

    gpu_name: str | None
    gpu_count: int | None
    gpu_memory_bytes: int | None
    cuda_runtime: str | None  # "13.0"
    cuda_driver: str | None
    hip_runtime: str | None  # "7.2.53211"
    hip_driver: str | None
    roctracer: str | None
    rank: int | None  # distributedInfo: this trace's rank in its job
    world_size: int | None
    created: str | None  # ISO 8601: Kineto's base time + the first event's timestamp
    manifest: dict | None  # the embedded profkit manifest (run-level part + "config")
    raw: dict  # every header key, embedded JSON strings decoded


def read_trace_header(path) -> dict | None:
    """The top-level keys written before "traceEvents", plus the first event's "ts" (`_first_ts_us`).

    None when the file is JSON without "traceEvents" in its first HEADER_READ_LIMIT_BYTES (not a
    trace, or metadata too large to look through). Raises ProfkitError when the file cannot be read
    (missing, corrupt gzip).
    """
    path = Path(path)
    try:
        raw = _read_prefix(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise ProfkitError(f"{display(path)}: cannot read ({exc}); re-copy the file") from None
    pos = raw.find(b'"traceEvents"')
    if pos < 0:
        return None
    head = raw[:pos].rstrip()
    text = head[:-1] if head.endswith(b",") else head
    try:
        header = orjson.loads(text + b"}") if text.strip() != b"{" else {}
    except orjson.JSONDecodeError:
        header = {}
    if not isinstance(header, dict):
        header = {}
    for key, value in list(header.items()):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                header[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
    match = _FIRST_TS.search(raw[pos : pos + _CHUNK])
    if match:
        try:
            header["_first_ts_us"] = float(match.group(1))
        except ValueError:
            pass
    return header


def trace_header(path) -> TraceHeader | None:
    """`read_trace_header` named: GPU, versions, rank, time taken, embedded manifest."""
    raw = read_trace_header(path)
    return None if raw is None else header_from_metadata(raw, path)


def header_from_metadata(raw: dict, path=None) -> TraceHeader:
    """A `TraceHeader` from a trace's top-level keys (a header, or a loaded `Trace.metadata`)."""
    props = raw.get("deviceProperties")
    props = [p for p in props if isinstance(p, dict)] if isinstance(props, list) else []
    first = props[0] if props else {}
    dist = distributed_info(raw)
    manifest = raw.get(TRACE_METADATA_KEY)
    return TraceHeader(
        gpu_name=_text(first.get("name")),
        gpu_count=len(props) or None,
        gpu_memory_bytes=_int(first.get("totalGlobalMem")),
        cuda_runtime=cuda_version_text(raw.get("cuda_runtime_version")),
        cuda_driver=cuda_version_text(raw.get("cuda_driver_version")),
        hip_runtime=hip_version_text(raw.get("hip_runtime_version")),
        hip_driver=hip_version_text(raw.get("hip_driver_version")),
        roctracer=_text(raw.get("roctracer_version")),
        rank=_int(dist.get("rank")),
        world_size=_int(dist.get("world_size")),
        created=_trace_time(raw, Path(path) if path is not None else None),
        manifest=manifest if isinstance(manifest, dict) else None,
        raw=raw,
    )


def _read_prefix(path: Path) -> bytes:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    out = bytearray()
    with opener(path, "rb") as fh:
        while len(out) < HEADER_READ_LIMIT_BYTES:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            if b'"traceEvents"' in out[-len(chunk) - 16 :]:
                out += fh.read(_CHUNK)  # room for the first event
                break
    return bytes(out)


_ABSOLUTE_US = (1e15, 4e15)  # a timestamp in this range is Unix microseconds (the years 2001 to 2096), not relative


def _trace_time(header: dict, path: Path | None) -> str | None:
    """When the trace was taken: Kineto's base time + the first event's timestamp; else the first
    timestamp itself when it is a Unix time (traces of PyTorch before 2.0 wrote absolute
    microseconds); else the file's mtime."""
    base = header.get("baseTimeNanoseconds")
    first = header.get("_first_ts_us")
    if isinstance(first, int):
        first = float(first)
    if isinstance(base, int) and isinstance(first, float):
        seconds = base / 1e9 + first / 1e6
    elif isinstance(first, float) and _ABSOLUTE_US[0] <= first < _ABSOLUTE_US[1]:
        seconds = first / 1e6
    else:
        if path is None:
            return None
        try:
            seconds = path.stat().st_mtime
        except OSError:
            return None
    return iso_time(seconds)


def iso_time(seconds: float) -> str | None:
    """Unix seconds as local ISO 8601 (None when out of range)."""
    try:
        return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None

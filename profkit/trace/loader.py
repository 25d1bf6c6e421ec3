"""Read a Kineto trace file (.json or .json.gz) into a `Trace`, once, with clear errors.

Reading streams: the file is decompressed in chunks under a cap (`profkit.trace.source`), split into
batches of events as it arrives (`profkit.trace.jsonstream`), and each batch is decoded by msgspec
into only the fields profkit keeps, then appended to typed columns. Memory follows the events kept,
not the size of the JSON. The columns are cached on disk (`profkit.trace.cache`), so a second
analysis of the same file skips the JSON entirely.

Input that is not a trace is a TraceError; a trace with some bad events is read without them, and
`Trace.warnings` says what was dropped, ignored or repaired (see `profkit.trace.checks`).
"""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson

from profkit.errors import TraceError
from profkit.trace import cache
from profkit.trace.checks import Notes, first_occurrences, usable_times
from profkit.trace.jsonstream import EventSink, read_trace_json
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
from profkit.trace.repair import clean_text, clean_value, decode_repairing
from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES, TraceTooLarge, trace_chunks

# PyTorch 1.8-1.9 (early Kineto) wrote "Kernel", "Memcpy", "Memset", "Runtime" and "Operator" for
# what later versions call "kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime" and "cpu_op".
GPU_CATEGORIES = {"kernel": KERNEL, "gpu_memcpy": MEMCPY, "gpu_memset": MEMSET, "Kernel": KERNEL, "Memcpy": MEMCPY, "Memset": MEMSET}
RUNTIME_CATEGORIES = {"cuda_runtime", "cuda_driver", "Runtime"}
OP_CATEGORIES = {"cpu_op", "Operator"}
ANNOTATION_CATEGORIES = {"user_annotation"}
_KEPT_CATEGORIES = set(GPU_CATEGORIES) | RUNTIME_CATEGORIES | OP_CATEGORIES | ANNOTATION_CATEGORIES
_NO_RAW = msgspec.Raw(b"")


class _Args(msgspec.Struct, rename={"external_id": "External id", "external_id_v1": "external id", "input_dims": "Input Dims", "input_type": "Input type"}):
    """The `args` fields profkit reads; every other field is skipped by the decoder."""

    # Numbers are decoded as whatever JSON type the writer used (ROCm writes some as strings, e.g.
    # "bytes": "1", "stream": "0x0") and coerced in `_Builder`.
    external_id: Any = NO_ID
    external_id_v1: Any = NO_ID  # PyTorch 1.8-1.9 runtime events spell it "external id"
    correlation: Any = NO_ID
    stream: Any = None
    device: Any = 0
    bytes: Any = 0
    flops: Any = 0.0
    input_dims: msgspec.Raw = _NO_RAW
    input_type: msgspec.Raw = _NO_RAW


class _Event(msgspec.Struct):
    # Any JSON type is accepted and checked in `_Builder.add`: a wrong type drops or defaults one
    # value, never the trace.
    ph: Any = ""
    cat: Any = None
    name: Any = None
    ts: Any = None
    dur: Any = None
    tid: Any = 0
    args: _Args | None = None


# traceEvents entries that are not objects decode as themselves (counted and skipped), so that a
# batch holding one still decodes in one call.
_EVENTS_DECODER = msgspec.json.Decoder(list[_Event | bool | int | float | str | list | None])
_EVENT_DECODER = msgspec.json.Decoder(_Event)
_ARGS_DECODER = msgspec.json.Decoder(_Args)
_FIELDS_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY_DECODER = msgspec.json.Decoder()
_EVENT_FIELDS = ("ph", "cat", "name", "ts", "dur", "tid")
_ARGS_FIELDS = {f.name: f.encode_name for f in msgspec.structs.fields(_Args)}  # attribute -> key in the file


def load_trace(path, use_cache: bool = True, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> Trace:
    """Parse `path` into a Trace (from the on-disk cache when the file is unchanged). A file that
    unpacks to more than `max_bytes` is refused (TraceTooLarge), cached or not."""
    path = Path(path)
    if use_cache:
        cached = cache.read(path)
        if cached is not None:
            if cached.json_bytes > max_bytes:
                raise TraceTooLarge(path, max_bytes)
            return cached
    trace = parse_trace(path, max_bytes)
    if use_cache:
        cache.write(path, trace)
    return trace


def parse_trace(path: Path, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> Trace:
    """Read the trace file at `path` (no cache); see the module docstring."""
    path = Path(path)
    counted = _Counted(trace_chunks(path, max_bytes))
    builder = _Builder(path)
    try:
        raw_metadata = read_trace_json(counted, path, builder)
    except RecursionError:
        raise TraceError(path, "JSON nested too deeply to read (over 1000 levels); not a Kineto trace") from None
    metadata = {key: _metadata_value(path, key, raw, builder.notes) for key, raw in raw_metadata.items()}
    _decode_embedded_json(metadata)
    return builder.trace(metadata, counted.total)


class _Counted:
    """Chunks passed through, with their total size."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.total = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.total += len(chunk)
            yield chunk


def _metadata_value(path: Path, key: str, raw: bytes, notes: Notes):
    """A top-level value decoded to plain Python objects (strings safe to print and to write out)."""
    try:
        return clean_value(decode_repairing(_ANY_DECODER, raw, notes), notes)
    except RecursionError:
        raise TraceError(path, f"top-level value {key!r} is nested too deeply to read (over 1000 levels)") from None
    except msgspec.ValidationError:  # a number beyond what msgspec can hold
        notes.ignored_values[f"top-level {key!r}"] += 1
        return None
    except msgspec.DecodeError as exc:
        raise TraceError(path, f"invalid JSON in the top-level value {key!r} ({exc})") from None


_INT64_MAX = (1 << 63) - 1


def _decode_embedded_json(metadata: dict) -> None:
    """`prof.add_metadata_json` stores values as JSON text or objects; normalise to objects."""
    for key, value in list(metadata.items()):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                metadata[key] = clean_value(orjson.loads(value), Notes())
            except orjson.JSONDecodeError:
                pass


def _copy_kind(name: str) -> int:
    if "DtoH" in name:
        return COPY_DTOH
    if "HtoD" in name:
        return COPY_HTOD
    if "DtoD" in name:
        return COPY_DTOD
    return COPY_OTHER


_INT32_MAX = (1 << 31) - 1
_IDS = (NO_ID, _INT64_MAX)  # correlation, External id, stream: NO_ID when absent
_SIZES = (0, _INT64_MAX)  # bytes
_DEVICES = (0, _INT32_MAX)  # device: an int32 column
_TABLE_COLUMNS = {
    "gpu": {
        "name_id": "q",
        "ts": "d",
        "dur": "d",
        "kind": "b",
        "copy_kind": "b",
        "stream": "q",
        "device": "q",
        "correlation": "q",
        "external_id": "q",
        "bytes": "q",
    },
    "runtime": {"name_id": "q", "ts": "d", "dur": "d", "tid": "q", "correlation": "q", "external_id": "q"},
    "ops": {"name_id": "q", "ts": "d", "dur": "d", "tid": "q", "external_id": "q", "dims_id": "q", "types_id": "q", "flops": "d"},
    "annotations": {"name_id": "q", "ts": "d", "dur": "d", "tid": "q"},
}
_TABLE_LABELS = {"gpu": "GPU activities", "runtime": "runtime calls", "ops": "CPU ops", "annotations": "annotations"}
_NARROW = {"kind": np.int8, "copy_kind": np.int8, "device": np.int32, "name_id": np.int32, "dims_id": np.int32, "types_id": np.int32}


class _Builder(EventSink):
    """Typed columns grown event by event (array.array: 8 bytes a value, no Python object each)."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.notes = Notes()
        self.columns: dict[str, dict[str, array[Any]]] = {t: {c: array(code) for c, code in cols.items()} for t, cols in _TABLE_COLUMNS.items()}
        self.ids: dict[str, int] = {}
        self.strings: list[str] = []
        self.canonical: dict[bytes, int] = {}
        self.other_lo, self.other_hi = float("inf"), float("-inf")  # complete events of categories not kept

    # ---- EventSink ---------------------------------------------------------------------------
    def batch(self, data: bytes) -> None:
        self.add(_EVENTS_DECODER.decode(data))

    def one(self, data: bytes) -> None:
        event = self._decode_one(data)
        if event is None:
            self.count += 1
        else:
            self.add([event])

    def _decode_one(self, data: bytes) -> _Event | None:
        """One traceEvents entry, repaired or salvaged field by field; None when nothing is usable."""
        notes = self.notes
        try:
            return decode_repairing(_EVENT_DECODER, data, notes)
        except RecursionError:
            notes.too_deep += 1
            return None
        except msgspec.ValidationError:  # (a DecodeError too: caught first)
            pass
        except msgspec.DecodeError as exc:
            raise TraceError(self.path, f"invalid JSON in traceEvents entry #{self.count} ({exc}); the file may be damaged") from None
        try:
            fields = decode_repairing(_FIELDS_DECODER, data, notes)
        except msgspec.ValidationError:
            notes.not_objects += 1
            return None
        event = _Event(**{f: self._salvage(fields[f], f) for f in _EVENT_FIELDS if f in fields})
        if "args" in fields:
            event.args = self._salvage_args(fields["args"])
        return event

    def _salvage(self, raw: msgspec.Raw, field: str):
        try:
            return _ANY_DECODER.decode(raw)
        except msgspec.ValidationError:  # a number beyond float range: a time is then infinite (dropped, counted)
            if field in ("ts", "dur"):
                return float("inf")
            self.notes.ignored_values[field] += 1
            return None

    def _salvage_args(self, raw: msgspec.Raw) -> _Args | None:
        try:
            return _ARGS_DECODER.decode(raw)
        except msgspec.ValidationError:
            pass
        try:
            fields = _FIELDS_DECODER.decode(raw)
        except msgspec.ValidationError:
            self.notes.ignored_values["args"] += 1
            return None
        args = _Args()
        for attr, key in _ARGS_FIELDS.items():
            if key in fields:
                value = fields[key] if attr in ("input_dims", "input_type") else self._salvage(fields[key], attr)
                setattr(args, attr, value)
        return args

    # ---- the hot loop ------------------------------------------------------------------------
    def add(self, events: list) -> None:
        """Append the kept fields of each event to its table (hot loop: locals only, checks inline)."""
        gpu, rt, ops, ann = (self.columns[t] for t in ("gpu", "runtime", "ops", "annotations"))
        ids, sid, raw_id, number, integer, tid_of = self.ids, self._sid, self._raw_id, self._number, self._int, self._tid
        kept = _KEPT_CATEGORIES
        no_args = _Args()
        for e in events:
            if e.__class__ is not _Event:
                self.notes.not_objects += 1
                continue
            if e.ph != "X":
                continue
            cat = e.cat
            if cat.__class__ is not str or cat not in kept:
                self._widen_extent(e)
                continue
            ts, dur, name = e.ts, e.dur, e.name
            if ts.__class__ is not float:
                ts = number(ts, "ts", cat)
            if dur.__class__ is not float:
                dur = number(dur, "dur", cat)
            if name.__class__ is not str:
                name = self._name(name, cat)
            if ts is None or dur is None or name is None:
                continue
            args = e.args or no_args
            if cat in GPU_CATEGORIES:
                kind = GPU_CATEGORIES[cat]
                table = gpu
                table["kind"].append(kind)
                table["copy_kind"].append(_copy_kind(name) if kind == MEMCPY else NO_ID)
                stream = args.stream
                if stream.__class__ is not int or not 0 <= stream <= _INT64_MAX:
                    stream = integer(stream, NO_ID, "stream", _IDS)
                table["stream"].append(stream if stream != NO_ID else tid_of(e))
                device = args.device
                if device.__class__ is not int or not 0 <= device <= _INT32_MAX:
                    device = integer(device, 0, "device", _DEVICES)
                table["device"].append(device)
                table["correlation"].append(integer(args.correlation, NO_ID, "correlation", _IDS))
                table["external_id"].append(integer(args.external_id if args.external_id is not NO_ID else args.external_id_v1, NO_ID, "External id", _IDS))
                table["bytes"].append(integer(args.bytes, 0, "bytes", _SIZES))
            elif cat in RUNTIME_CATEGORIES:
                table = rt
                table["tid"].append(tid_of(e))
                table["correlation"].append(integer(args.correlation, NO_ID, "correlation", _IDS))
                table["external_id"].append(integer(args.external_id if args.external_id is not NO_ID else args.external_id_v1, NO_ID, "External id", _IDS))
            elif cat in OP_CATEGORIES and not name.startswith("ProfilerStep#"):  # PyTorch 1.8-1.9 wrote steps as ops
                table = ops
                table["tid"].append(tid_of(e))
                table["external_id"].append(integer(args.external_id if args.external_id is not NO_ID else args.external_id_v1, NO_ID, "External id", _IDS))
                table["dims_id"].append(raw_id(args.input_dims))
                table["types_id"].append(raw_id(args.input_type))
                flops = args.flops
                table["flops"].append(flops if flops.__class__ is float and 0.0 <= flops < 1e300 else self._flops(flops))
            else:
                table = ann
                table["tid"].append(tid_of(e))
            i = ids.get(name)
            table["name_id"].append(i if i is not None else sid(name))
            table["ts"].append(ts)
            table["dur"].append(dur)
        self.count += len(events)

    def _widen_extent(self, e: _Event) -> None:
        """Kineto's "Trace" span, python_function, MTIA events...: not kept, but the trace's window
        includes them (a trace without steps is measured over its whole extent)."""
        ts, dur = e.ts, e.dur
        if ts.__class__ is int:  # Kineto writes whole microseconds as JSON integers (the "Trace" span often)
            ts = float(ts)
        if dur.__class__ is int:
            dur = float(dur)
        if ts.__class__ is float and dur.__class__ is float and 0.0 <= dur < 1e15 and 0.0 <= ts < 1e18:
            if ts < self.other_lo:
                self.other_lo = ts
            if ts + dur > self.other_hi:
                self.other_hi = ts + dur

    # ---- values of the wrong type (slow paths, called only off the common case) -------------
    def _number(self, value, field: str, cat: str) -> float | None:
        """A time as float microseconds; None (and counted) when absent or not a number."""
        if value.__class__ is int:
            return float(value) if abs(value) < 1e300 else float("inf")
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        elif value is None:
            self.notes.dropped_fields[f"{cat} without '{field}'"] += 1
            return None
        self.notes.dropped_fields[f"{cat} with a non-numeric '{field}'"] += 1
        return None

    def _name(self, value, cat: str) -> str | None:
        if value is None:
            self.notes.dropped_fields[f"{cat} without 'name'"] += 1
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        self.notes.dropped_fields[f"{cat} with a 'name' that is not text"] += 1
        return None

    def _int(self, value, default: int, field: str, bounds: tuple[int, int]) -> int:
        """An integer field as written by any Kineto version: int, float, decimal or hex string;
        `default` (counted) for anything else or a value outside `bounds` (inclusive)."""
        low, high = bounds
        if value.__class__ is int and low <= value <= high:
            return value
        if value is None or (value == default and value.__class__ is int):
            return default
        number = None
        if isinstance(value, str):
            try:
                number = int(value.strip(), 0)
            except ValueError:
                try:
                    as_float = float(value)
                    number = int(as_float) if as_float.is_integer() else None
                except (ValueError, OverflowError):
                    number = None
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif value.__class__ is int:
            number = value
        if number is None or not low <= number <= high:
            self.notes.ignored_values[field] += 1
            return default
        return number

    def _flops(self, value) -> float:
        number = float(value) if value.__class__ is int else None
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not 0.0 <= number < 1e300:
            self.notes.ignored_values["flops"] += 1
            return 0.0
        return number

    def _tid(self, event: _Event) -> int:
        """The thread id (negative ones are Kineto's too); NO_ID for a named thread ("stream 7")."""
        tid = event.tid
        if tid.__class__ is int and -_INT64_MAX <= tid <= _INT64_MAX:
            return tid
        if isinstance(tid, str):
            try:
                tid = int(tid.strip(), 0)
            except ValueError:
                return NO_ID
        elif isinstance(tid, float) and tid.is_integer():
            tid = int(tid)
        if tid.__class__ is int and -_INT64_MAX <= tid <= _INT64_MAX:
            return tid
        if tid is not None:
            self.notes.ignored_values["tid"] += 1
        return NO_ID

    # ---- names -------------------------------------------------------------------------------
    def _sid(self, text: str) -> int:
        i = self.ids.get(text)
        if i is None:
            i = self.ids[text] = len(self.strings)
            self.strings.append(clean_text(text, self.notes))
        return i

    def _raw_id(self, raw: msgspec.Raw) -> int:
        key = bytes(raw)
        i = self.canonical.get(key)
        if i is None:
            text = _raw_text(key)
            i = self.canonical[key] = NO_ID if text is None else self._sid(text)
        return i

    # ---- the Trace ---------------------------------------------------------------------------
    def trace(self, metadata: dict, json_bytes: int) -> Trace:
        """The Trace: times checked (profkit.trace.checks), exact duplicates removed, columns typed.
        One table at a time, its growing arrays released as it is done (peak memory: one table twice)."""
        raw = self.columns
        as_numpy = {"d": np.float64, "b": np.int8, "q": np.int64}
        masks = usable_times(
            [np.frombuffer(raw[t]["ts"], np.float64) for t in _TABLE_COLUMNS], [np.frombuffer(raw[t]["dur"], np.float64) for t in _TABLE_COLUMNS], self.notes
        )
        starts = [np.frombuffer(raw[t]["ts"], np.float64)[m].min() for t, m in zip(_TABLE_COLUMNS, masks) if m.any()]
        if self.other_hi >= self.other_lo:
            starts.append(self.other_lo)
        t0_ns = int(round(min(starts) * 1000.0)) if starts else 0  # the first event of any category
        tables = {}
        for t, mask in zip(_TABLE_COLUMNS, masks):
            cols = {c: np.frombuffer(v, as_numpy[v.typecode])[mask] for c, v in raw[t].items()}
            raw[t] = {}  # the array.array buffers can go
            unique = first_occurrences(cols)
            if not unique.all():
                self.notes.duplicates[_TABLE_LABELS[t]] += int((~unique).sum())
                cols = {c: v[unique] for c, v in cols.items()}
            tables[t] = _to_table(cols, t0_ns)
        return Trace(
            path=str(self.path),
            metadata=metadata,
            strings=self.strings,
            t0_ns=t0_ns,
            event_count=self.count,
            json_bytes=json_bytes,
            warnings=self.notes.warnings(),
            extent_ns=self._extent_ns(list(tables.values()), t0_ns),
            gpu=tables["gpu"],
            runtime=tables["runtime"],
            ops=tables["ops"],
            annotations=tables["annotations"],
        )

    def _extent_ns(self, tables: list[Table], t0_ns: int) -> tuple[int, int]:
        """First start and last end (ns from t0) of every complete event, whatever its category."""
        lows = [int(t.ts_ns.min()) for t in tables if len(t)]
        highs = [int(t.end_ns.max()) for t in tables if len(t)]
        if self.other_hi >= self.other_lo:
            lows.append(int(round(self.other_lo * 1000.0)) - t0_ns)
            highs.append(int(round(self.other_hi * 1000.0)) - t0_ns)
        return (min(lows), max(highs)) if lows else (0, 0)


def _raw_text(text: bytes) -> str | None:
    """Recorded shapes/dtypes as compact JSON text (the interned form), None when absent."""
    if not text:
        return None
    if b" " in text:  # Kineto writes ", " separators; intern one canonical spelling
        try:
            text = orjson.dumps(orjson.loads(text))
        except orjson.JSONDecodeError:  # nested beyond orjson's limit, or numbers it cannot hold
            pass
    return text.decode("utf-8", "replace")


def _to_table(cols: dict[str, np.ndarray], t0_ns: int) -> Table:
    """Float microseconds -> integer nanoseconds from t0; narrow integer columns; rows by start time."""
    arrays = {k: v.astype(_NARROW[k]) if k in _NARROW else v for k, v in cols.items() if k not in ("ts", "dur")}
    arrays["ts_ns"] = np.rint(cols["ts"] * 1000.0).astype(np.int64) - t0_ns
    arrays["dur_ns"] = np.rint(cols["dur"] * 1000.0).astype(np.int64)
    order = np.argsort(arrays["ts_ns"], kind="stable")
    return Table({k: v[order] for k, v in arrays.items()})

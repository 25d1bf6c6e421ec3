"""The bad-input corpus: every trace file profkit must refuse in one line, or read without the bad
parts, generated from a real trace (never hand-made blobs).

    python tests/bad_inputs.py OUTDIR      # write every case to OUTDIR to try by hand

`base_document()` is a real Kineto trace (the bundled H200 fp16 batch-1 sample, cut to its
prefill and first two decode steps, ~30k events). Each `Case` writes its input into a folder:

- `error`: `profkit analyze` must exit 2 with one line naming the file and this problem;
- `warnings`: it must exit 0 and warn with these texts; with `same_as_base` the report must equal
  the base trace's (what was added was junk, and all of it was dropped).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

SAMPLE = Path(__file__).resolve().parent.parent / "traces" / "samples" / "h200_llama3-8b_fp16_b1.pt.trace.json.gz"
KEPT_STEPS = 3  # prefill + two decode steps
MiB = 1024**2


def base_document() -> dict:
    """The real trace the corpus is made from (see the module docstring)."""
    doc = orjson.loads(gzip.decompress(SAMPLE.read_bytes()))
    steps = sorted((e for e in doc["traceEvents"] if str(e.get("name", "")).startswith("ProfilerStep")), key=lambda e: e["ts"])
    end = steps[KEPT_STEPS]["ts"]  # the first step not kept starts here
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("ts", 0) < end and e not in steps[KEPT_STEPS:]]
    return doc


# ---- writing -----------------------------------------------------------------------------------
def dumps(doc) -> bytes:
    """Compact JSON as Python's json writes it (NaN stays a bare NaN, as json.dumps does)."""
    return json.dumps(doc).encode()


class Base:
    """The base trace as a document and as JSON text, split around its events for cheap splicing."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.text = dumps(doc)
        key = b'"traceEvents": ['
        start = self.text.index(key) + len(key)
        end = self.text.rindex(b"]")
        self.head, self.body, self.tail = self.text[:start], self.text[start:end], self.text[end:]

    def first(self, **match) -> dict:
        return next(e for e in self.doc["traceEvents"] if all(e.get(k) == v for k, v in match.items()))

    def plus(self, *events) -> bytes:
        """The base trace with events appended (dicts, or raw JSON bytes for what json cannot write)."""
        extra = b"".join(b", " + (e if isinstance(e, bytes) else dumps(e)) for e in events)
        return self.head + self.body + extra + self.tail

    def kernel(self, **changes) -> dict:
        """A copy of the base trace's first kernel with some fields changed (None removes a field;
        keys 'args.x' change args)."""
        event = copy.deepcopy(self.first(cat="kernel"))
        for key, value in changes.items():
            holder, name = (event["args"], key[5:]) if key.startswith("args.") else (event, key)
            if value is None:
                holder.pop(name, None)
            else:
                holder[name] = value
        return event

    def copy(self) -> dict:
        return orjson.loads(self.text)

    def changed(self, change: Callable[[dict], None]) -> bytes:
        """The base trace with `change` applied to a copy of every event."""
        doc = self.copy()
        for e in doc["traceEvents"]:
            change(e)
        return orjson.dumps(doc)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, 1) if path.name.endswith(".gz") else data)
    return path


def gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p, 1) for p in parts)


def gzip_of_repeats(head: bytes, block: bytes, repeats: int, tail: bytes) -> bytes:
    """One gzip member of head + block*repeats + tail, without building the whole text."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(head)]
    for _ in range(repeats):
        out.append(z.compress(block))
    out.append(z.compress(tail))
    out.append(z.flush())
    return b"".join(out)


# ---- the cases -----------------------------------------------------------------------------------
@dataclass
class Case:
    name: str  # also the input file's name
    build: Callable[[Base], bytes]  # the file's content (gzipped for a .gz name unless `raw`)
    error: str | None = None
    warnings: tuple[str, ...] = ()
    same_as_base: bool = False
    args: tuple[str, ...] = ()
    raw: bool = False  # build returns the file's exact bytes

    def write(self, folder: Path, base: Base) -> Path:
        path = folder / self.name
        data = self.build(base)
        if self.raw:
            path.write_bytes(data)
            return path
        return write(path, data)


def _negative_dur(b: Base) -> bytes:
    doc = b.copy()
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    kernels[len(kernels) // 2]["dur"] = -5.0
    return orjson.dumps(doc)


def _stream_above_int32(e: dict) -> None:
    if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy"):
        e["args"]["stream"] += 2**33


def _numbers_as_strings(e: dict) -> None:
    if e.get("cat") == "kernel":
        e["ts"] = repr(e["ts"])
        e["args"]["stream"] = hex(e["args"]["stream"])
        e["args"]["correlation"] = str(e["args"]["correlation"])


def _objects_inside(e: dict) -> None:
    e.setdefault("args", {})["extra"] = [{"a": "}, {"}, {"b": [{"c": "}]"}]}]


def _invalid_utf8_name(b: Base) -> bytes:
    """The base trace with invalid UTF-8 bytes at the end of its busiest kernel's name."""
    busy: dict[str, float] = {}
    for e in b.doc["traceEvents"]:
        if e.get("cat") == "kernel":
            busy[e["name"]] = busy.get(e["name"], 0.0) + e["dur"]
    name = dumps(max(busy, key=busy.__getitem__))
    return b.text.replace(name, name[:-1] + b"\xff\xfe" + name[-1:])


def _whitespace_between_events(b: Base) -> bytes:
    half = b.body.index(b"}, {", len(b.body) // 2) + 1
    return b.head + b.body[:half] + b"," + b" " * (8 * MiB) + b.body[half + 1 :] + b.tail


def _raw_kernel(b: Base, field: str, value: bytes) -> bytes:
    """A kernel event as JSON text whose `field` is the raw JSON `value` (what json cannot write)."""
    return dumps(b.kernel(**{field: 7.0})).replace(f'"{field}": 7.0'.encode(), f'"{field}": '.encode() + value)


_NESTED = b"[" * 5000 + b"]" * 5000


def cases() -> list[Case]:
    return [
        # -- not a trace: one line, exit 2 ------------------------------------------------------
        Case("empty.json", lambda b: b"", error="file is empty", raw=True),
        Case("empty.json.gz", lambda b: b"", error="file is empty"),
        Case("whitespace.json", lambda b: b" \n\t\r" * 1000, error="only whitespace"),
        Case("truncated.json.gz", lambda b: gzip.compress(b.text, 1)[:40_000], error="truncated gzip", raw=True),
        Case("corrupt.json.gz", lambda b: gzip.compress(b.text[:9000], 1)[:20] + random.Random(1).randbytes(5000), error="corrupt gzip", raw=True),
        Case("gzip_then_junk.json.gz", lambda b: gzip.compress(b.text, 1) + b"junk", error="unexpected bytes after the gzip data", raw=True),
        Case("not_json.json.gz", lambda b: b"hello, this is not JSON", error="not JSON"),
        Case("cut_off.json", lambda b: b.text[: len(b.text) // 2], error="ends early"),
        Case("not_object.json", lambda b: b"[1, 2, 3]", error="not an object"),
        Case("string_document.json", lambda b: b'"traceEvents"', error="not an object"),
        Case("no_trace_events.json", lambda b: b.head.rsplit(b'"traceEvents"', 1)[0] + b'"x": 1}', error="no 'traceEvents'"),
        Case("trace_events_object.json", lambda b: b'{"traceEvents": {"ph": "X"}}', error="'traceEvents' is not a list"),
        Case("trace_events_null.json", lambda b: b'{"traceEvents": null}', error="'traceEvents' is not a list"),
        Case("deep_metadata.json", lambda b: b'{"traceEvents": [], "x": ' + _NESTED + b"}", error="nested too deeply"),
        Case("data_after.json", lambda b: b.text + b" {}", error="unexpected data after the top-level object"),
        Case("syntax_error_in_event.json", lambda b: b'{"traceEvents": [{"ph": "X", "name": tru}]}', error="invalid JSON in traceEvents entry #0"),
        Case("stray_comma.json", lambda b: b'{"traceEvents": [{"ph": "i"},]}', error="stray comma"),
        Case("missing_comma.json", lambda b: b'{"traceEvents": [{"ph": "i"} {"ph": "i"}]}', error="invalid JSON in traceEvents entry #0"),
        Case("unterminated_string.json", lambda b: b'{"traceEvents": [{"name": "abc', error="ends early"),
        Case("value_missing.json", lambda b: b'{"traceEvents": [], "x": ', error="ends early"),
        Case("colon_missing.json", lambda b: b'{"traceEvents": [], "x" 1}', error="expected ':' after a key"),
        Case("trailing_comma_object.json", lambda b: b'{"traceEvents": [],}', error="expected a key in quotes"),
        Case("over_cap.json.gz", lambda b: b.text, error="unpacks to over 1 MiB", args=("--max-trace-bytes", "1MiB")),
        Case("over_cap_plain.json", lambda b: b.text, error="unpacks to over 1 MiB", args=("--max-trace-bytes", "1MiB")),
        Case(
            "whitespace_bomb.json.gz",
            lambda b: gzip_of_repeats(b'{"traceEvents": [', b" " * MiB, 64, b"]}"),
            error="unpacks to over 32 MiB",
            args=("--max-trace-bytes", "32MiB"),
            raw=True,
        ),
        Case(
            "junk_event_bomb.json.gz",
            lambda b: gzip_of_repeats(b'{"traceEvents": [', b"{}, " * (MiB // 4), 64, b"{}]}"),
            error="unpacks to over 32 MiB",
            args=("--max-trace-bytes", "32MiB"),
            raw=True,
        ),
        Case(
            "multi_member_bomb.json.gz",
            lambda b: gzip_members(b'{"traceEvents": [', *[b" " * MiB] * 40, b"]}"),
            error="unpacks to over 32 MiB",
            args=("--max-trace-bytes", "32MiB"),
            raw=True,
        ),
        Case("huge_event.json", lambda b: b'{"traceEvents": [{"ph": "X", "name": "' + b"a" * (17 * MiB) + b'"}]}', error="over 16 MiB of JSON"),
        Case("huge_metadata.json", lambda b: b'{"x": "' + b"a" * (17 * MiB) + b'", "traceEvents": []}', error="over 16 MiB of JSON"),
        Case("bad_cap_option.json", lambda b: b'{"traceEvents": []}', error="--max-trace-bytes: not a size", args=("--max-trace-bytes", "lots")),
        # -- a trace with bad parts: read without them, warn, exit 0 -----------------------------
        Case("negative_dur.json.gz", _negative_dur, warnings=("negative dur: 1",)),
        Case("negative_ts.json.gz", lambda b: b.plus(b.kernel(ts=-100.0)), warnings=("negative ts: 1",), same_as_base=True),
        Case("nan_literal.json.gz", lambda b: b.plus(b.kernel(dur=float("nan"))), warnings=("repaired 1 event", "NaN or infinite dur: 1"), same_as_base=True),
        Case("nan_string.json.gz", lambda b: b.plus(b.kernel(ts="NaN")), warnings=("NaN or infinite ts: 1",), same_as_base=True),
        Case("infinite_dur.json.gz", lambda b: b.plus(b.kernel(dur=float("inf"))), warnings=("NaN or infinite dur: 1",), same_as_base=True),
        Case("number_beyond_float.json.gz", lambda b: b.plus(_raw_kernel(b, "dur", b"1e400")), warnings=("NaN or infinite dur: 1",), same_as_base=True),
        Case("huge_dur.json.gz", lambda b: b.plus(b.kernel(dur=1e300)), warnings=("dur longer than the trace: 1",), same_as_base=True),
        Case("huge_ts.json.gz", lambda b: b.plus(b.kernel(ts=1e300)), warnings=("ts beyond the clock's range: 1",), same_as_base=True),
        Case("far_ts.json.gz", lambda b: b.plus(b.kernel(ts=b.kernel()["ts"] + 1e12)), warnings=("ts outside the trace's time span: 1",), same_as_base=True),
        Case("zero_ts.json.gz", lambda b: b.plus(b.kernel(ts=0)), warnings=("ts outside the trace's time span: 1",), same_as_base=True),
        Case(
            "missing_fields.json.gz",
            lambda b: b.plus(b.kernel(ts=None), b.kernel(dur=None), b.kernel(name=None)),
            warnings=("dropped 3 events missing a field", "kernel without 'ts': 1", "kernel without 'dur': 1", "kernel without 'name': 1"),
            same_as_base=True,
        ),
        Case(
            "null_values.json.gz",
            lambda b: b.plus({"ph": "X", "cat": "kernel", "name": "n", "ts": None, "dur": 1, "args": None}),
            warnings=("kernel without 'ts'",),
            same_as_base=True,
        ),
        Case(
            "wrong_types.json.gz",
            lambda b: b.plus(b.kernel(dur=True), b.kernel(dur="abc"), b.kernel(ts=[1]), b.kernel(name={"a": 1})),
            warnings=("dropped 4 events", "non-numeric 'dur': 2", "non-numeric 'ts': 1", "'name' that is not text: 1"),
            same_as_base=True,
        ),
        Case(
            "huge_ids.json.gz",
            lambda b: b.plus(b.kernel(**{"args.correlation": 2**70, "args.External id": -(2**64), "args.device": 2**40, "args.stream": 2**65})),
            warnings=("ignored 4 values", "correlation: 1", "External id: 1", "device: 1", "stream: 1"),
        ),
        Case(
            "bad_id_strings.json.gz",
            lambda b: b.plus(b.kernel(**{"args.correlation": "abc", "args.stream": "0xZZ", "args.bytes": -1})),
            warnings=("ignored 3 values", "correlation: 1", "stream: 1", "bytes: 1"),
        ),
        Case("args_not_object.json.gz", lambda b: b.plus(b.kernel(args=[1, 2])), warnings=("args: 1",)),
        Case(
            "duplicate_profilerstep.json.gz",
            lambda b: b.plus(b.first(name="ProfilerStep#2")),
            warnings=("removed 1 exact duplicate event (annotations: 1)",),
            same_as_base=True,
        ),
        Case(
            "everything_twice.json.gz", lambda b: b.head + b.body + b", " + b.body + b.tail, warnings=("exact duplicate events (CPU ops: ",), same_as_base=True
        ),
        Case(
            "non_object_entries.json.gz",
            lambda b: b.plus(1, "x", None, [], True),
            warnings=("ignored 5 traceEvents entries that are not JSON objects",),
            same_as_base=True,
        ),
        Case(
            "deep_event.json.gz",
            lambda b: b.plus(_raw_kernel(b, "args", b'{"x": ' + _NESTED + b"}")),
            warnings=("dropped 1 event nested too deeply",),
            same_as_base=True,
        ),
        Case("invalid_utf8_name.json.gz", _invalid_utf8_name, warnings=("with text that is not valid JSON",)),
        Case(
            "lone_surrogate_name.json.gz",
            lambda b: b.plus(_raw_kernel(b, "name", b'"bad\\ud800name"')),
            warnings=("repaired 1 event with text that is not valid JSON",),
        ),
        Case("unhashable_category.json.gz", lambda b: b.plus(b.kernel(cat=["kernel"]), b.kernel(cat={"a": 1})), same_as_base=True),
        Case("empty_events.json", lambda b: b'{"traceEvents": []}', warnings=("no GPU activity",)),
        # -- valid but unusual: read exactly as the base -----------------------------------------
        Case("stream_above_int32.json.gz", lambda b: b.changed(_stream_above_int32)),
        Case("numbers_as_strings.json.gz", lambda b: b.changed(_numbers_as_strings), same_as_base=True),
        Case("multi_member.json.gz", lambda b: gzip_members(b.text[:1000], b.text[1000:2_000_000], b.text[2_000_000:]), same_as_base=True, raw=True),
        Case("zero_padded.json.gz", lambda b: gzip.compress(b.text, 1) + b"\0" * 1024, same_as_base=True, raw=True),
        Case("byte_order_mark.json.gz", lambda b: b"\xef\xbb\xbf" + b.text, same_as_base=True),
        Case("pretty_printed.json.gz", lambda b: orjson.dumps(b.doc, option=orjson.OPT_INDENT_2), same_as_base=True),
        Case("objects_inside_events.json.gz", lambda b: b.changed(_objects_inside), same_as_base=True),
        Case("whitespace_between_events.json.gz", _whitespace_between_events, same_as_base=True),
    ]


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python tests/bad_inputs.py OUTDIR")
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    base = Base(base_document())
    write(out / "base.json.gz", base.text)
    for case in cases():
        case.write(out, base)
    print(f"wrote {len(cases()) + 1} files to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])

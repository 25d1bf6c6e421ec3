"""Split a Kineto trace's JSON as it streams in: the top-level values, and `traceEvents` in batches.

The document is never held whole. Decompressed bytes arrive in chunks (`profkit.trace.source`) and
leave as batches of complete events, which the caller decodes with msgspec:

- fast path: the batch ends at the last `}, {"` in the buffer; if msgspec decodes
  `[` + batch + `]`, the cut was between two events (a cut inside a string or a nested value
  cannot parse), and nearly every batch of a real trace goes this way;
- exact path: otherwise a resumable scan of strings and brackets finds each event's end, and the
  events are decoded one by one (so one odd event costs one event, not the batch).

Memory stays at one chunk plus the longest single value: an event over MAX_EVENT_BYTES, or
top-level values over MAX_METADATA_BYTES, are refused; whitespace between values is dropped as
it arrives (a gzip of blank space costs nothing but time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from profkit.errors import TraceError
from profkit.trace.source import format_bytes

#: Largest single event (or top-level value), in bytes of JSON. Kineto events are under a few KiB.
MAX_EVENT_BYTES = 16 * 1024**2
#: Largest total of the top-level values other than traceEvents (device properties, run manifest).
MAX_METADATA_BYTES = 64 * 1024**2

_SPACE = b" \t\r\n"
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{},]', re.DOTALL)  # a lone '"' = a string cut off
_SCALAR_END = re.compile(rb"[ \t\r\n,\]}]")
_EVENT_END = re.compile(rb'\}[ \t\r\n]*(,)[ \t\r\n]*\{[ \t\r\n]*"')  # between two events: group 1 is the comma
_COMMA = re.compile(rb",")
_FAST_TRIES = 3
_TAIL_BYTES = 64 * 1024  # where the fast path looks for its cut
_DECODE_FAILURES = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_BOM = b"\xef\xbb\xbf"
_JSON_VALUE_START = re.compile(rb'[\[{"\-0-9]|true\b|false\b|null\b')


class EventSink:
    """What the stream hands events to (the loader implements it); `count` is how many traceEvents
    entries it has been given so far."""

    count: int = 0

    def batch(self, data: bytes) -> None:
        """Decode `[e1, e2, ...]`; raise a msgspec error or RecursionError (and keep nothing) when
        `data` does not decode as it stands."""
        raise NotImplementedError

    def one(self, data: bytes) -> None:
        """Decode the single traceEvents entry `data`, repairing or dropping it as the loader sees
        fit; raise TraceError when it is not JSON at all."""
        raise NotImplementedError


class _Buffer:
    """Decompressed bytes not yet consumed (`data[pos:]`), refilled chunk by chunk; `base` is the
    offset of data[0] in the whole decompressed document (for error messages)."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = iter(chunks)
        self.data = b""
        self.pos = 0
        self.base = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk (dropping what was consumed); False at the end of the input."""
        if self.eof:
            return False
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.base += self.pos
        self.data = self.data[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> int | None:
        """The next byte that is not whitespace (reading on, dropping whitespace); None at the end."""
        while True:
            data, pos = self.data, self.pos
            if pos < len(data) and data[pos] not in _SPACE:
                return data[pos]
            m = _NOT_SPACE.search(data, pos, pos + 256)
            if m:
                self.pos = m.start()
                return data[self.pos]
            rest = data[pos:].lstrip(_SPACE)  # a long run of blank space: C speed
            self.base += len(data) - len(rest)
            self.data, self.pos = rest, 0
            if rest:
                return rest[0]
            if not self.more():
                return None

    def offset(self, index: int | None = None) -> int:
        return self.base + (self.pos if index is None else index)


class _Scan:
    """A resumable scan of JSON tokens from just inside a container (depth 0) onward: the commas
    at depth 0 (where its elements end) and its closing bracket. Positions are absolute offsets."""

    def __init__(self, start: int):
        self.at = start
        self.depth = 0

    def run(self, buf: _Buffer) -> tuple[list[int], int | None]:
        data, base, depth = buf.data, buf.base, self.depth
        commas: list[int] = []
        resume = len(data)
        for m in _TOKEN.finditer(data, self.at - base):
            first = data[m.start()]
            if first == 0x22:  # '"'
                if m.end() - m.start() == 1:  # a string that goes on past the buffer
                    resume = m.start()
                    break
            elif first == 0x2C:  # ','
                if depth == 0:
                    commas.append(base + m.start())
            elif first in (0x5B, 0x7B):  # '[' '{'
                depth += 1
            else:  # ']' '}'
                depth -= 1
                if depth < 0:
                    self.at, self.depth = base + m.end(), depth
                    return commas, base + m.start()
        self.at, self.depth = base + resume, depth
        return commas, None


def read_trace_json(chunks: Iterable[bytes], path, sink: EventSink) -> dict[str, bytes]:
    """Feed the events of the trace document in `chunks` to `sink`; return the other top-level
    values as raw JSON bytes by key. TraceError when the document is not a JSON object or breaks off."""
    return _Reader(_Buffer(chunks), path, sink).document()


class _Reader:
    def __init__(self, buf: _Buffer, path, sink: EventSink):
        self.buf, self.path, self.sink = buf, path, sink
        self.metadata: dict[str, bytes] = {}
        self.metadata_bytes = 0
        self.has_events = False

    def fail(self, problem: str) -> TraceError:
        return TraceError(self.path, problem)

    # ---- the top-level object ----------------------------------------------------------------
    def document(self) -> dict[str, bytes]:
        buf = self.buf
        first = buf.peek()
        if first is None:
            if buf.base == 0:
                raise self.fail("file is empty")
            raise self.fail("file holds only whitespace, no JSON; is this a torch.profiler (Kineto) trace?")
        if buf.data.startswith(_BOM, buf.pos):
            buf.pos += len(_BOM)
            first = buf.peek()
        if first != ord("{"):
            if not _JSON_VALUE_START.match(buf.data, buf.pos):
                raise self.fail(f"not JSON (it starts with {buf.data[buf.pos : buf.pos + 16]!r}); is this a torch.profiler (Kineto) trace?")
            raise self.fail("top-level JSON is not an object; expected a Kineto trace with 'traceEvents'")
        buf.pos += 1
        c = buf.peek()
        if c == ord("}"):
            buf.pos += 1
        else:
            self._members()
        if buf.peek() is not None:
            raise self.fail(f"invalid JSON: unexpected data after the top-level object at byte {buf.offset()}")
        if not self.has_events:
            raise self.fail("JSON has no 'traceEvents' list; is this a torch.profiler (Kineto) trace?")
        return self.metadata

    def _members(self) -> None:
        buf = self.buf
        while True:
            if buf.peek() != ord('"'):
                raise self._truncated_or("a key in quotes")
            key = self._key()
            if buf.peek() != ord(":"):
                raise self._truncated_or("':' after a key")
            buf.pos += 1
            start = buf.peek()
            if key == "traceEvents":
                if start != ord("["):
                    raise (
                        self._truncated_or("a list after 'traceEvents'")
                        if start is None
                        else self.fail("'traceEvents' is not a list; is this a torch.profiler (Kineto) trace?")
                    )
                buf.pos += 1
                self.has_events = True
                self._events()
            else:
                self._metadata_value(key)
            c = buf.peek()
            buf.pos += 1
            if c == ord("}"):
                return
            if c != ord(","):
                buf.pos -= 1
                raise self._truncated_or("',' or '}' between top-level values")

    def _truncated_or(self, expected: str) -> TraceError:
        buf = self.buf
        if buf.peek() is None:
            return self._ends_early()
        return self.fail(f"invalid JSON: expected {expected} at byte {buf.offset()}")

    def _ends_early(self) -> TraceError:
        return self.fail(f"invalid JSON: the file ends early (after {self.sink.count} events); it may be truncated")

    def _key(self) -> str:
        raw = self._value(MAX_EVENT_BYTES, "a top-level key")
        try:
            return msgspec.json.decode(raw, type=str)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return raw.decode("utf-8", "replace")

    def _metadata_value(self, key: str) -> None:
        raw = self._value(MAX_EVENT_BYTES, f"the top-level value {key!r}")
        self.metadata_bytes += len(raw)
        if self.metadata_bytes > MAX_METADATA_BYTES:
            raise self.fail(f"the values outside 'traceEvents' add up to over {format_bytes(MAX_METADATA_BYTES)}; not a Kineto trace")
        self.metadata[key] = raw

    def _value(self, limit: int, what: str) -> bytes:
        """The raw bytes of the JSON value at the read position (reading on as needed)."""
        buf = self.buf
        if buf.peek() is None:
            raise self._ends_early()
        start = buf.offset()
        scan = _Scan(start + 1)
        while True:
            end = self._value_end(scan)
            if end is not None:
                break
            if buf.offset(len(buf.data)) - start > limit:
                raise self.fail(f"{what} is over {format_bytes(limit)} of JSON; not a Kineto trace")
            if not buf.more():
                end = self._value_end(scan)  # a number that ends the input
                if end is None:
                    raise self._ends_early()
                break
        raw = buf.data[buf.pos : end - buf.base]
        buf.pos = end - buf.base
        return raw

    def _value_end(self, scan: _Scan) -> int | None:
        """Absolute offset just past the value starting at the read position; None if not all here yet."""
        buf = self.buf
        data, pos = buf.data, buf.pos
        first = data[pos]
        if first == 0x22:
            m = _STRING.match(data, pos)
            return buf.offset(m.end()) if m else None
        if first in (0x5B, 0x7B):
            _, close = scan.run(buf)
            return None if close is None else close + 1
        m = _SCALAR_END.search(data, pos)
        if m:
            return buf.offset(m.start())
        return buf.offset(len(data)) if buf.eof else None

    # ---- traceEvents -------------------------------------------------------------------------
    def _events(self) -> None:
        """Events from just after traceEvents' '[' to just after its ']'."""
        buf = self.buf
        if buf.peek() == ord("]"):
            buf.pos += 1
            return
        scan: _Scan | None = None
        while True:
            if self._fast_batch():
                scan = None
                if buf.peek() is None:
                    raise self._truncated_or("an event")
                continue
            scan = scan or _Scan(buf.offset())
            if self._exact_events(scan):
                return
            if buf.offset(len(buf.data)) - buf.offset() > MAX_EVENT_BYTES:
                raise self.fail(f"event #{self.sink.count} is over {format_bytes(MAX_EVENT_BYTES)} of JSON; not a Kineto trace event")
            if not buf.more():
                raise self._ends_early()

    def _fast_batch(self) -> bool:
        """Decode everything up to one of the last few '}, {"' (else ',') in the buffer as one batch
        (a cut inside a string, e.g. a kernel name holding '}, {"', does not decode: the one before
        is tried); False if none decodes."""
        buf = self.buf
        data, pos = buf.data, buf.pos
        tail = max(pos, len(data) - _TAIL_BYTES)
        cuts = [m.start(1) for m in _EVENT_END.finditer(data, tail)]
        if not cuts:  # entries that are not Kineto events ({}, numbers...): try the last commas
            cuts = [m.start() for m in _COMMA.finditer(data, max(tail, len(data) - 4096))]
        for cut in reversed(cuts[-_FAST_TRIES:]):
            try:
                self.sink.batch(b"[" + data[pos:cut] + b"]")
            except _DECODE_FAILURES:
                continue
            buf.pos = cut + 1
            return True
        return False

    def _exact_events(self, scan: _Scan) -> bool:
        """Hand over each complete event found by `scan`; True when traceEvents' ']' was reached."""
        buf = self.buf
        commas, close = scan.run(buf)
        ends = commas + ([close] if close is not None else [])
        start = buf.offset()
        for end in ends:
            raw = buf.data[start - buf.base : end - buf.base]
            if not raw.strip():
                raise self.fail(f"invalid JSON: an empty entry in 'traceEvents' (a stray comma) at byte {end}")
            self.sink.one(raw)
            start = end + 1
        buf.pos = start - buf.base
        if close is not None:
            return True
        if commas:
            buf.peek()
            scan.at = max(scan.at, buf.offset())
        return False

"""The bytes of a trace file, decompressed as a stream and capped: how profkit reads every trace.

A `.json.gz` is inflated one chunk at a time (every member of a multi-member gzip, in order), and
the decompressed bytes are counted: past `max_bytes` the read stops with `TraceTooLarge`, so a small
gzip that unpacks into gigabytes (a "gzip bomb") never reaches memory. Plain JSON is read in
chunks under the same cap. Every failure is a `TraceError` naming the file and the problem.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from profkit.errors import TraceError, option

#: Largest decompressed trace read by default, in bytes (`load_trace(max_bytes=)`, `--max-trace-bytes`). Real traces of long
#: runs reach a few GiB; past this a file is refused before it can exhaust memory.
DEFAULT_MAX_TRACE_BYTES = 8 * 1024**3
#: Decompressed bytes handed out at a time.
CHUNK_BYTES = 1 << 20
#: Compressed bytes read at a time (small: zlib copies what it has not consumed on every call, and
#: 64 KiB of a gzip bomb is already gigabytes).
GZIP_READ_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class TraceTooLarge(TraceError):
    """The decompressed trace is larger than the cap it is read under."""

    def __init__(self, path, max_bytes: int):
        self.max_bytes = max_bytes
        super().__init__(
            path,
            f"unpacks to over {format_bytes(max_bytes)} ({option('max_bytes')}); refused to protect memory. "
            f"If this really is one trace, raise {option('max_bytes')}",
        )


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'; whole units without decimals ('8 GiB')."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def parse_size(text: str) -> int:
    """'8GiB', '512MiB', '100k', '12345' -> bytes (binary units; 'G' and 'GB' mean GiB too)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (s[:-1], s[-1]) if s[-1:] in units and s[-1:] != "" else (s, "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size: {text!r}; give bytes, or a number with K/M/G/T (e.g. 8GiB)") from None
    if not value > 0 or value * units[unit] >= 2**63:
        raise ValueError(f"size must be positive, got {text!r}")
    return int(value * units[unit])


def trace_chunks(path: Path, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> Iterator[bytes]:
    """The decompressed bytes of the trace file at `path`, in chunks of at most CHUNK_BYTES."""
    fh = open_trace_file(path)
    with fh:
        yield from decompressed_chunks(fh, path, max_bytes)


def open_trace_file(path: Path) -> BinaryIO:
    """`path` opened for reading; a TraceError saying why when it cannot be (never a raw OSError)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise TraceError(path, describe_os_error(exc, path)) from None
    if stat.S_ISDIR(mode):
        raise TraceError(path, "is a directory, not a trace file")
    if not stat.S_ISREG(mode):
        raise TraceError(path, "not a regular file (a device, FIFO or socket); give a trace file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise TraceError(path, describe_os_error(exc)) from None


def describe_os_error(exc: OSError, path=None) -> str:
    """An OSError (about `path`, when given) as the problem part of a one-line message, with what
    to do about it."""
    if exc.errno == errno.ENOENT:
        if path is not None and os.path.islink(path):
            return f"broken symbolic link (it points to {os.readlink(path)!r}, which does not exist)"
        return "no such file or directory"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself); fix or remove the link"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make the file readable (chmod +r) or copy it somewhere readable"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a trace file"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot read ({exc.strerror or exc})"


def decompressed_chunks(fh: BinaryIO, name, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> Iterator[bytes]:
    """The bytes of `fh` (gunzipped when they start with the gzip magic), at most `max_bytes` of them
    in total; `name` is what error messages call the file."""
    first = _read(fh, name, 2)
    chunks = _gunzip(_chain(first, _blocks(fh, name, GZIP_READ_BYTES)), name) if first == GZIP_MAGIC else _chain(first, _blocks(fh, name, CHUNK_BYTES))
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise TraceTooLarge(name, max_bytes)
        yield chunk


def unpacked_size(fh: BinaryIO, name, max_bytes: int) -> int:
    """Decompressed size of `fh`, read to the end without keeping it (TraceTooLarge past `max_bytes`)."""
    return sum(len(chunk) for chunk in decompressed_chunks(fh, name, max_bytes))


def _blocks(fh: BinaryIO, name, size: int) -> Iterator[bytes]:
    while block := _read(fh, name, size):
        yield block


def _read(fh: BinaryIO, name, size: int) -> bytes:
    try:
        return fh.read(size)
    except OSError as exc:
        raise TraceError(name, describe_os_error(exc)) from None


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _gunzip(blocks: Iterator[bytes], name) -> Iterator[bytes]:
    """Inflate every gzip member in turn (zero padding between or after members is allowed, as
    gzip(1) allows it); anything else after a member is an error, as is a member cut short."""
    inflater = None  # the member being inflated; None between members
    for block in blocks:
        pending = block
        while pending:
            if inflater is None:
                pending = pending.lstrip(b"\0")
                if not pending:
                    break
                if not GZIP_MAGIC.startswith(pending[:2]):
                    raise TraceError(name, "unexpected bytes after the gzip data (not another gzip member); re-copy or re-export the trace")
                inflater = zlib.decompressobj(wbits=31)
            try:
                out = inflater.decompress(pending, CHUNK_BYTES)
            except zlib.error as exc:
                raise TraceError(name, f"corrupt gzip ({exc}); re-copy or re-export the trace") from None
            if out:
                yield out
            if inflater.eof:
                pending = inflater.unused_data
                inflater = None
            else:
                pending = inflater.unconsumed_tail
    if inflater is not None:
        while not inflater.eof:  # flush what the last block left in the inflater
            try:
                out = inflater.decompress(b"", CHUNK_BYTES)
            except zlib.error as exc:
                raise TraceError(name, f"corrupt gzip ({exc}); re-copy or re-export the trace") from None
            if not out:
                raise TraceError(name, "truncated gzip (the data ends before the gzip stream does); re-copy or re-export the trace")
            yield out

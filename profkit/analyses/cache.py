"""A trace file's analysis, kept on disk beside its parse so that a second `analyze` skips the work.

`analyze_file(path)` returns what `profkit analyze` shows of one file — the `TraceAnalysis`, the
workload it ran and what reading the file dropped or repaired — from the cache when an entry of
this very file exists, else by loading (`load_trace`, with its own parse cache) and analyzing it,
then storing the result.

An entry is a side entry of the parse cache (`profkit.trace.cache.read_entry`): found by the file's
path, size and modification time and used only if its content fingerprint matches the file. Its
key holds everything else the result depends on: `ANALYSIS_FORMAT`, `profkit.__version__` and a
fingerprint of profkit's own source files (a changed analysis is never served stale while
developing), the GPU spec judged against (every field, measured bandwidth and peaks included; None =
matched from the trace) and the manifest a trace without one is told (`known_manifest`).

Entries are msgpack written by msgspec from the typed dataclasses and decoded back into them: data
only, never code (no pickle). An entry that cannot be read, decoded or written is a miss, never an
error.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import orjson

import profkit
from profkit.analyses.summary import TraceAnalysis, analyze_trace
from profkit.analyses.workload import Workload, describe_workload
from profkit.hardware.catalog import GpuSpec
from profkit.trace import cache
from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES, TraceTooLarge

ANALYSIS_FORMAT = 1  # bump when the entry's layout changes (the dataclasses' shapes are covered by the code fingerprint)
_KIND = "analysis"


@dataclass
class AnalyzedFile:
    """One trace file as `profkit analyze` reports it."""

    analysis: TraceAnalysis
    workload: Workload
    trace_warnings: list[str] = field(default_factory=list)  # what reading the file dropped or repaired (also first in analysis.warnings)
    json_bytes: int = 0  # the trace's JSON size unpacked, in bytes (checked against max_bytes on a hit too)


def analyze_file(
    path, gpu: GpuSpec | None = None, *, use_cache: bool = True, max_bytes: int = DEFAULT_MAX_TRACE_BYTES, known_manifest: dict | None = None, trace=None
) -> AnalyzedFile:
    """`analyze_trace` and `describe_workload` of the trace file at `path`, cached (see the module docstring).

    gpu: the GPU to judge against (None: matched from the trace). use_cache: False reads and analyzes
    the file again and stores nothing (neither the parse nor the analysis). known_manifest: the
    manifest the run store knows for a trace that embeds none (`profkit.store.known_manifest`);
    ignored for a trace with its own. trace: the file's `Trace` when the caller has loaded it already
    (as `load_trace` returned it, unmodified), used on a miss. Raises TraceError for a file that is
    not a readable trace, TraceTooLarge above `max_bytes`.
    """
    path = Path(path)
    key = _key(gpu, known_manifest) if use_cache else None
    if key is not None:
        hit = _decode(cache.read_entry(path, _KIND, key))
        if hit is not None:
            if hit.json_bytes > max_bytes:
                raise TraceTooLarge(path, max_bytes)
            hit.analysis.metadata.path = str(path)  # the entry is shared by every name of the file
            hit.analysis.metadata.trace_name = _file_name(path)
            return hit
    if trace is None:
        from profkit.trace import load_trace

        trace = load_trace(path, use_cache=use_cache, max_bytes=max_bytes)
    if trace.manifest is None and known_manifest is not None:
        trace.metadata["profkit_manifest"] = known_manifest  # in memory only, as `profkit compare` tells it
    analysis = analyze_trace(trace, gpu)
    done = AnalyzedFile(analysis, describe_workload(trace, analysis), list(trace.warnings), trace.json_bytes)
    if key is not None:
        payload = _encode(done)
        if payload is not None:
            cache.write_entry(path, _KIND, key, payload)
    return done


def _file_name(path: Path) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]  # as analyze_trace names it


# ---- the key -------------------------------------------------------------------------------------
def _key(gpu: GpuSpec | None, known_manifest: dict | None) -> str | None:
    """A digest of every input besides the file; None when an input cannot be written as JSON (not cached)."""
    inputs = {"format": ANALYSIS_FORMAT, "profkit": profkit.__version__, "code": code_fingerprint(), "gpu": gpu, "manifest": known_manifest}
    try:
        text = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return None
    return hashlib.sha1(text).hexdigest()


_CODE_FINGERPRINT: list[str] = []


def code_fingerprint() -> str:
    """sha1 of the name, size and modification time of every .py file of the installed profkit
    package (computed once per process: ~1 ms)."""
    if not _CODE_FINGERPRINT:
        root = Path(profkit.__file__).parent
        h = hashlib.sha1()
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                h.update(f"{os.path.relpath(os.path.join(folder, name), root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        _CODE_FINGERPRINT.append(h.hexdigest())
    return _CODE_FINGERPRINT[0]


# ---- the entry -----------------------------------------------------------------------------------
def _numpy_scalar(value):
    """numpy scalars that reach a dataclass field are written as the Python number they hold."""
    if isinstance(value, (np.integer, np.bool_, np.floating)):
        return value.item()
    raise NotImplementedError(f"cannot cache a {type(value).__name__}")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_numpy_scalar)
_DECODER = msgspec.msgpack.Decoder(AnalyzedFile)


def _encode(done: AnalyzedFile) -> bytes | None:
    try:
        return _ENCODER.encode(done)
    except (TypeError, NotImplementedError, OverflowError, ValueError):
        return None  # a value msgpack cannot hold: the result stands, uncached


def _decode(data: bytes | None) -> AnalyzedFile | None:
    if data is None:
        return None
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, TypeError, ValueError):  # ValidationError is a DecodeError
        return None

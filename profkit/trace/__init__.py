"""Trace model: read Kineto traces once into compact columns (`load_trace`). Finding trace files in
folders is the run store's job (`profkit.store.find_traces`).

`load_trace` and `Trace` are imported on first use, so that a module of this package (the cache,
the source's size options) can be imported without the reader and its decoders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profkit.trace.loader import load_trace
    from profkit.trace.model import Trace

__all__ = ["Trace", "load_trace"]


def __getattr__(name: str):
    if name == "load_trace":
        from profkit.trace.loader import load_trace

        return load_trace
    if name == "Trace":
        from profkit.trace.model import Trace

        return Trace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Trace model: read Kineto traces once into compact columns (`load_trace`)."""

from profkit.trace.loader import find_traces, load_trace
from profkit.trace.model import Trace

__all__ = ["Trace", "find_traces", "load_trace"]

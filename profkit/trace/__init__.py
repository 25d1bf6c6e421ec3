"""Trace model: read Kineto traces once into compact columns (`load_trace`). Finding trace files in
folders is the run store's job (`profkit.store.find_traces`)."""

from profkit.trace.loader import load_trace
from profkit.trace.model import Trace

__all__ = ["Trace", "load_trace"]

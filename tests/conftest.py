"""Shared fixtures: the bundled sample traces, analysed once per session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from profkit.analyses.summary import TraceAnalysis
    from profkit.trace.model import Trace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "traces" / "samples"


@pytest.fixture(scope="session", autouse=True)
def parse_cache_dir(tmp_path_factory) -> Path:
    """One parsed-trace cache for the session, in pytest's temporary folder (tests write nowhere
    else), shared by in-process calls and the CLI subprocesses they start."""
    folder = tmp_path_factory.mktemp("profkit-cache")
    os.environ["PROFKIT_CACHE_DIR"] = str(folder)
    return folder


def sample(name: str) -> Path:
    return SAMPLES / f"{name}.pt.trace.json.gz"


_ANALYSES: dict[str, TraceAnalysis] = {}


@pytest.fixture(scope="session")
def analysis() -> Callable[[str], TraceAnalysis]:
    """analysis(name) -> TraceAnalysis of a bundled sample, computed once per session."""
    from profkit.analyses.summary import analyze_path

    def get(name: str) -> TraceAnalysis:
        if name not in _ANALYSES:
            _ANALYSES[name] = analyze_path(sample(name))
        return _ANALYSES[name]

    return get


@pytest.fixture(scope="session")
def trace() -> Callable[[str], Trace]:
    from profkit.trace import load_trace

    cache: dict[str, Trace] = {}

    def get(name: str) -> Trace:
        if name not in cache:
            cache[name] = load_trace(sample(name))
        return cache[name]

    return get

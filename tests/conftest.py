"""Shared fixtures: the bundled sample traces, analysed once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "traces" / "samples"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def parse_cache_dir(tmp_path_factory) -> Path:
    """One parsed-trace cache for the session, in pytest's temporary folder (tests write nowhere
    else), shared by in-process calls and the CLI subprocesses they start."""
    folder = tmp_path_factory.mktemp("profkit-cache")
    os.environ["PROFKIT_CACHE_DIR"] = str(folder)
    return folder


def sample(name: str) -> Path:
    return SAMPLES / f"{name}.pt.trace.json.gz"


_ANALYSES: dict = {}


@pytest.fixture(scope="session")
def analysis():
    """analysis(name) -> TraceAnalysis of a bundled sample, computed once per session."""
    from profkit.analyses.summary import analyze_path

    def get(name: str):
        if name not in _ANALYSES:
            _ANALYSES[name] = analyze_path(sample(name))
        return _ANALYSES[name]

    return get


@pytest.fixture(scope="session")
def trace():
    from profkit.trace import load_trace

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_trace(sample(name))
        return cache[name]

    return get

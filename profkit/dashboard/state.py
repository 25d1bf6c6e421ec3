"""Session-state keys the pages share, and the helpers that read and write them.

A *trace ref* names one trace for the whole app: a path relative to the traces directory
("h200_llama3-8b_int8_b1.pt.trace.json.gz", "<run-id>/<config>.pt.trace.json.gz"), or
"upload:<digest>" for a file uploaded in this browser session. Pages pass refs around, never
absolute paths; `data` resolves them through `paths.inside`.

Deep links: `?trace=REF` opens a trace in Run detail and Recommend, `?a=REF&b=REF` a pair in Compare.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT_KEY = "profkit.traces_dir"
SELECTED_KEY = "profkit.selected"
COMPARE_KEY = "profkit.compare"
UPLOADS_KEY = "profkit.uploads"
UPLOAD_PREFIX = "upload:"
#: Uploaded traces kept per browser session (oldest dropped first).
MAX_UPLOADS = 4


def set_root(root: Path) -> None:
    st.session_state[ROOT_KEY] = str(root)


def root() -> Path | None:
    value = st.session_state.get(ROOT_KEY)
    return Path(value) if value else None


def selected() -> str | None:
    return st.session_state.get(SELECTED_KEY)


def select(ref: str) -> None:
    st.session_state[SELECTED_KEY] = ref


def compare_pair() -> tuple[str, str] | None:
    pair = st.session_state.get(COMPARE_KEY)
    return tuple(pair) if pair and len(pair) == 2 else None


def set_compare(a: str, b: str) -> None:
    st.session_state[COMPARE_KEY] = (a, b)


def adopt_query_params() -> None:
    """Copy `?trace=` / `?a=&b=` deep-link parameters into the session (validated when used)."""
    params = st.query_params
    if "trace" in params:
        select(params["trace"])
    if "a" in params and "b" in params:
        set_compare(params["a"], params["b"])


def uploads() -> dict:
    """ref -> (file name, Trace, TraceAnalysis) of this session's uploads."""
    return st.session_state.setdefault(UPLOADS_KEY, {})


def add_upload(ref: str, name: str, trace, analysis) -> None:
    held = uploads()
    held.pop(ref, None)
    held[ref] = (name, trace, analysis)
    while len(held) > MAX_UPLOADS:
        held.pop(next(iter(held)))


def is_upload(ref: str) -> bool:
    return ref.startswith(UPLOAD_PREFIX)

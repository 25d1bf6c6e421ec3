"""Session-state keys the pages share, and the helpers that read and write them.

A *trace ref* names one trace for the whole app: its name relative to the traces directory as the
run store lists it ("h200_llama3-8b_int8_b1.pt.trace.json.gz", "<run-id>/<config>.pt.trace.json.gz"),
or "upload:<digest>" for a file uploaded in this browser session. Pages pass refs around, never
absolute paths; `data.resolve` opens only refs the listing holds.

The URL holds what a page shows, so it can be shared: `/detail?trace=REF` (also read by Recommend's
what-if), `/compare?a=REF&b=REF`. A page adopts its URL's parameters when they change (a link opened,
the browser's back button) and writes its current choice back (`from_url`, `to_url`).
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


def from_url(keys: tuple[str, ...], seen_key: str) -> tuple[str, ...] | None:
    """The URL's values of `keys` when they are all there and differ from what this page last wrote
    (a link was opened, or the user went back): the page should adopt them. Else None."""
    params = st.query_params
    if not all(params.get(k) for k in keys):
        return None
    values = tuple(str(params.get(k)) for k in keys)
    return None if tuple(st.session_state.get(seen_key) or ()) == values else values


def to_url(seen_key: str, **values: str) -> None:
    """Make the URL's query parameters exactly `values` (and remember them as this page's own)."""
    if st.query_params.to_dict() != values:
        st.query_params.from_dict(values)
    st.session_state[seen_key] = tuple(values.values())


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

"""Small Streamlit building blocks the pages share (pickers, guarded loads, tables)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from profkit.dashboard import data, state
from profkit.errors import ProfkitError


def require_root() -> Path:
    root = state.root()
    if root is None:
        st.info("No traces directory: start the dashboard with `profkit dashboard TRACES_DIR`.")
        st.stop()
    return root


def trace_picker(root: Path, label: str, current: str | None, key: str) -> str | None:
    """A selectbox over every trace ref (directory traces, then this session's uploads)."""
    refs = data.trace_refs(root) + list(state.uploads())
    if current and current not in refs:
        refs = [current, *refs]  # e.g. a deep link; validated (and refused if bad) when loaded
    if not refs:
        return None
    index = refs.index(current) if current in refs else 0
    return st.selectbox(label, refs, index=index, format_func=data.ref_label, key=key)


def setup_line(a, workload=None, known=None) -> str:
    """One line: GPU, CUDA/HIP and library versions, and what ran (when known). `known`: the run
    store's (RunInfo, ConfigInfo) for the trace, so the versions are those `profkit runs` shows."""
    from profkit.report.analyze_render import cuda_version
    from profkit.store import VERSION_LABELS

    m = a.metadata
    parts = [m.gpu_name or "no GPU recorded"]
    run = known[0] if known else None
    if run is None or (run.hip_runtime is None and run.cuda_runtime is None):
        parts.append(f"CUDA driver {cuda_version(m.cuda_driver_version)}, runtime {cuda_version(m.cuda_runtime_version)}")
    if run is not None:
        parts += [f"{VERSION_LABELS[k]} {v}" for k, v in run.versions.items() if k != "cuda_driver"]
    if workload is not None:
        names = {"precision": "precision", "batch_size": "batch", "prompt_len": "prompt", "mode": "mode"}
        bits = [f"{label} {getattr(workload, k)}" for k, label in names.items() if getattr(workload, k, None) not in (None, "")]
        if bits:
            parts.append(", ".join(bits))
    return " · ".join(parts)


def load_or_stop(loader, *args):
    """Call a data loader; on a ProfkitError show its message in the page and stop (no traceback)."""
    try:
        return loader(*args)
    except ProfkitError as exc:
        st.error(str(exc))
        st.stop()


def or_none(loader, *args):
    """Call a data loader; None instead of a ProfkitError (for optional extras such as defaults)."""
    try:
        return loader(*args)
    except ProfkitError:
        return None


def table(rows, columns: dict, **kwargs) -> None:
    """Dataclass rows (or dicts) as a sortable dataframe.

    `columns` maps attribute -> heading, or -> (heading, number format) where the format is a
    printf string ("%.2f") or a Streamlit preset ("percent"); other floats show two decimals.
    """
    specs = {attr: (spec, None) if isinstance(spec, str) else spec for attr, spec in columns.items()}
    records = [{head: (r.get(attr) if isinstance(r, dict) else getattr(r, attr, None)) for attr, (head, _) in specs.items()} for r in rows]
    frame = pd.DataFrame.from_records(records, columns=[head for head, _ in specs.values()])
    config = {}
    for head, given in specs.values():
        fmt = "%.2f" if given is None and pd.api.types.is_float_dtype(frame[head]) else given
        if fmt is not None:
            config[head] = st.column_config.NumberColumn(head, format=fmt)
    st.dataframe(frame, hide_index=True, column_config=config, **kwargs)


def plot(fig) -> None:
    st.plotly_chart(fig, config={"displaylogo": False})


_CHARTS_LOADED = "profkit.charts_loaded"


def preload_charts() -> None:
    """Once per browser session, after its first page: an empty, transparent 10-pixel chart at the foot of the
    sidebar. The browser loads Streamlit's plotly bundle (4.7 MB of JavaScript, ~1 s on 2 cores) with
    the first chart a tab draws; loaded behind the first page, it no longer delays the first switch
    to a page with charts (benchmarks/bench_dashboard.py)."""
    if st.session_state.get(_CHARTS_LOADED):
        return
    st.session_state[_CHARTS_LOADED] = True
    from profkit.dashboard.charts import blank

    st.sidebar.plotly_chart(blank(), config={"staticPlot": True, "displayModeBar": False}, width="content")


def go(page: str, query_params: dict | None = None) -> None:
    """Switch to one of the app's pages by its url path ("detail", "compare", ...), with these query parameters."""
    from profkit.dashboard.app import PAGES, PAGES_DIR

    script = next(script for script, _, _, url in PAGES if url == page)
    st.switch_page(PAGES_DIR / script, query_params=query_params or None)

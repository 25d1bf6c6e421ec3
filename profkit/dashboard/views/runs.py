"""Runs: every run and trace in the traces directory, filterable; open one, compare two, or upload a trace."""

import streamlit as st

from profkit.dashboard import data, state, uploads, widgets
from profkit.errors import ProfkitError

#: Columns the table can be filtered by.
FILTERS = ("GPU", "driver", "CUDA runtime", "torch", "transformers", "bitsandbytes", "model", "precision", "batch", "prompt", "mode", "status")

root = widgets.require_root()
title, refresh = st.columns([5, 1], vertical_alignment="bottom")
title.title("Runs")
if refresh.button("Rescan folder", help=f"Runs are listed again every {data.RUNS_TTL_S} s; rescan now."):
    data.runs_table.clear()
table = widgets.load_or_stop(data.runs_table, root)
for warning in table.attrs.get("warnings", []):
    st.warning(warning)
if table.attrs.get("outside"):
    st.warning(f"{table.attrs['outside']} trace(s) resolve outside {root} (symlinks) and are not shown: the dashboard only opens files inside its traces directory.")

if table.empty:
    st.info(f"No runs or traces in {root} yet: record some with `profkit run --out {root}`, or upload a trace below.")
else:
    with st.expander("Filters", expanded=False):
        cols = st.columns(4)
        chosen = {}
        for i, column in enumerate(FILTERS):
            values = sorted({str(v) for v in table[column].dropna()})
            if values:
                chosen[column] = cols[i % 4].multiselect(column, values, key=f"runs.filter.{column}")
    shown = table
    for column, values in chosen.items():
        if values:
            shown = shown[shown[column].astype(str).isin(values)]
    st.caption(f"{len(shown)} of {len(table)} configurations. Select one row to open it, two to compare them (the first selected is A).")
    event = st.dataframe(
        shown.drop(columns=["trace"]),
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key="runs.table",
        column_config={
            "decode tok/s": st.column_config.NumberColumn(format="%.1f"),
            "TPOT ms": st.column_config.NumberColumn(format="%.1f"),
            "TTFT ms": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    picked = [shown["trace"].iloc[i] for i in event.selection.rows if i < len(shown)]
    openable = [ref for ref in picked if ref]
    if len(picked) != len(openable):
        st.warning("A selected configuration has no trace (it failed or ran without the profiler), so it cannot be opened.")
    left, right = st.columns(2)
    if left.button("Open in Run detail", disabled=len(openable) != 1, type="primary"):
        state.select(openable[0])
        widgets.go("detail")
    if right.button("Compare the two", disabled=len(openable) != 2):
        state.set_compare(openable[0], openable[1])
        widgets.go("compare")

st.subheader("Analyze a trace file")
st.caption(f"A torch.profiler trace (.json or .json.gz, up to {uploads.upload_limit_mb()} MiB); it is analyzed like `profkit analyze` and kept for this browser session only.")
upload = st.file_uploader("Trace file", type=["json", "gz"], max_upload_size=uploads.upload_limit_mb(), key="runs.upload")
if upload is not None:
    try:
        ref = data.upload(upload.name, upload.getvalue())
    except ProfkitError as exc:
        st.error(str(exc))
    else:
        a = data.analysis(root, ref)
        st.success(f"Analyzed {upload.name}: {len(a.steps)} steps, GPU {a.metadata.gpu_name or 'none recorded'}.")
        for name, report in a.phases.items():
            st.markdown(f"**{name} — {report.verdict.bound or 'n/a'}-bound.** {report.verdict.sentence}")
        if st.button("Open the upload in Run detail"):
            state.select(ref)
            widgets.go("detail")

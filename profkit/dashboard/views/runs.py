"""Runs: every run and trace in the traces directory, filterable; open one, compare two, or upload a trace."""

import streamlit as st

from profkit.dashboard import data, state, uploads, widgets
from profkit.errors import ProfkitError

#: Columns the table can be filtered by.
FILTERS = (
    "GPU",
    "driver",
    "CUDA runtime",
    "HIP runtime",
    "torch",
    "transformers",
    "bitsandbytes",
    "model",
    "precision",
    "batch",
    "prompt",
    "mode",
    "rank",
    "status",
)
ORDER_KEY = "runs.selection_order"

root = widgets.require_root()
title, refresh = st.columns([5, 1], vertical_alignment="bottom")
title.title("Runs")
if refresh.button("Rescan folder", help=f"Runs are listed again every {data.RUNS_TTL_S} s; rescan now."):
    data.listing.clear()
    data.runs_table.clear()
table = widgets.load_or_stop(data.runs_table, root)
for warning in table.attrs.get("warnings", []):
    st.warning(warning)
skipped = table.attrs.get("skipped", [])
if skipped:
    st.warning(f"Not read ({len(skipped)}): the dashboard only opens files inside {root}, each once.\n\n" + "\n".join(f"- {line}" for line in skipped))

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
        shown.drop(columns=["trace"]).dropna(axis=1, how="all"),
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
    # The grid reports selected rows in table order; keep the order in which they were selected.
    current = [shown.index[i] for i in event.selection.rows if i < len(shown)]
    order = [k for k in st.session_state.get(ORDER_KEY, []) if k in current]
    order += [k for k in current if k not in order]
    st.session_state[ORDER_KEY] = order
    picked = [table.loc[k, "trace"] for k in order]
    openable = [ref for ref in picked if data.is_ref(ref)]
    if len(picked) != len(openable):
        st.warning("A selected configuration has no trace (it failed, ran without the profiler, or is not finished), so it cannot be opened.")
    if len(openable) == 2:
        st.caption(f"A (baseline): {data.ref_label(openable[0])} · B (candidate): {data.ref_label(openable[1])}")
    left, right = st.columns(2)
    if left.button("Open in Run detail", disabled=len(openable) != 1, type="primary"):
        state.select(openable[0])
        widgets.go("detail", {"trace": openable[0]})
    if right.button("Compare the two", disabled=len(openable) != 2):
        state.set_compare(openable[0], openable[1])
        widgets.go("compare", {"a": openable[0], "b": openable[1]})

st.subheader("Analyze a trace file")
st.caption(
    f"A torch.profiler trace (.json or .json.gz, up to {uploads.upload_limit_mb()} MiB); it is analyzed like `profkit analyze` and kept for this browser "
    "session only."
)
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
            widgets.go("detail", {"trace": ref})

"""Run detail: one trace's steps, phase verdicts, kernels, idle gaps, bandwidth; its run's NVML and sweep."""

from functools import partial

import streamlit as st

from profkit.dashboard import charts, data, state, widgets

URL_KEY = "detail.url"

root = widgets.require_root()
st.title("Run detail")
linked = state.from_url(("trace",), URL_KEY)
if linked:  # a link was opened: show its trace
    state.select(linked[0])
    st.session_state.pop("detail.trace", None)
ref = widgets.trace_picker(root, "Trace", state.selected(), key="detail.trace")
if ref is None:
    st.info("No traces here yet: record one with `profkit run`, or upload a trace on the Runs page.")
    st.stop()
state.select(ref)
a = widgets.load_or_stop(data.analysis, root, ref)
state.to_url(URL_KEY, trace=ref)
workload = data.workload(root, ref)
m = a.metadata
extras = widgets.load_or_stop(data.run_extras, root, ref)

st.caption(widgets.setup_line(a, workload, data.run_of(root, ref)))
for note in a.warnings:
    st.warning(note)

main_phase = "decode" if "decode" in a.phases else next(iter(a.phases), None)
if main_phase is None:
    st.info("No steps found in this trace, so there is nothing per step to show.")
    st.stop()

# ---- headline figures and verdicts --------------------------------------------------------------
ph = a.phases[main_phase]
cols = st.columns(6)
step_word = "step" if main_phase == "step" else f"{main_phase} step"  # a training or whole-trace step is just "step"
cols[0].metric(f"ms / {step_word}", f"{ph.stats.wall_ms:.1f}")
cols[1].metric("GPU busy ms / step", f"{ph.stats.gpu_busy_ms:.2f}")
cols[2].metric("GPU idle", f"{ph.stats.idle_fraction:.0%}")
cols[3].metric("kernels / step", f"{ph.stats.kernels:,.0f}")
cols[4].metric(f"syncs / {step_word}", f"{ph.stats.sync_calls:,.0f}", help="One decode step yields one token per sequence.")
cols[5].metric("bound", ph.verdict.bound or "n/a")

st.subheader("Verdicts")
for name, report in a.phases.items():
    st.markdown(f"**{name} — {report.verdict.bound or 'n/a'}-bound.** {report.verdict.sentence}")

st.subheader("Phases (steady state, medians per step)")
widgets.table(
    [{**vars(r.stats), "bound": r.verdict.bound} for r in a.phases.values()],
    {
        "phase": "phase",
        "steady_steps": "steady steps",
        "wall_ms": "wall ms",
        "wall_ms_p90": "wall p90 ms",
        "gpu_busy_ms": "busy ms",
        "idle_fraction": ("idle", "percent"),
        "kernels": ("kernels", "%.0f"),
        "sync_calls": ("syncs", "%.0f"),
        "d2h_copies": ("D2H copies", "%.0f"),
        "graph_launches": ("graph replays", "%.0f"),
        "wall_ms_spread": "noise ms",
        "bound": "bound",
    },
)

# ---- steps ------------------------------------------------------------------------------------
st.subheader("Per-step timeline")
widgets.plot(charts.step_timeline(a.steps))
for s in a.steps:
    if s.outlier:
        st.caption(f"Outlier {s.name}: {s.outlier_reason}; kept out of the steady-state figures.")

# ---- per phase --------------------------------------------------------------------------------
if not a.has_gpu_activity:
    st.info("This trace has no GPU activity, so there are no kernel, idle or bandwidth sections.")
    st.stop()
phase = st.radio("Phase", list(a.phases), index=list(a.phases).index(main_phase), horizontal=True, key="detail.phase")
report = a.phases[phase]

st.subheader("Kernels")
left, right = st.columns([2, 3])
with left:
    widgets.plot(charts.kernel_categories(report.kernels))
with right:
    steps = max(report.kernels.steps, 1)
    widgets.table(
        [dict(vars(k), ms_per_step=k.total_ms / steps, calls_per_step=k.count / steps) for k in report.kernels.top],
        {
            "op": "launched by op",
            "category": "category",
            "ms_per_step": ("ms / step", "%.3f"),
            "share": ("share", "percent"),
            "calls_per_step": ("calls / step", "%.0f"),
            "mean_us": ("mean us", "%.1f"),
            "input_dims": "input dims",
            "kernel": "kernel",
            "op_path": "op path",
        },
    )

causes = report.causes
if causes is not None:
    st.subheader("Idle gaps and their causes")
    c = st.columns(4)
    c[0].metric("host wait share of idle", f"{causes.host_wait_share:.0%}")
    c[1].metric("host us per kernel", f"{causes.host_ms_per_kernel * 1000:.1f}")
    c[2].metric("D2H copies / step", f"{causes.d2h_copies_per_step:,.0f}")
    c[3].metric("sync wait ms / step", f"{causes.sync_wait_ms_per_step:.2f}")
    left, right = st.columns(2)
    with left:
        widgets.plot(charts.idle_split(causes))
    with right:
        widgets.plot(charts.gap_histogram(causes))
    if causes.sync_issuers:
        st.markdown("**Who synchronizes** (per step)")
        widgets.table(causes.sync_issuers, {"op_path": "op path -> call", "per_step": ("per step", "%.0f")})

bw = report.bandwidth
if bw is not None:
    st.subheader("Bandwidth and roofline")
    c = st.columns(4)
    c[0].metric("bytes / step", f"{bw.bytes_per_step / 1e9:.2f} GB" if bw.bytes_per_step else "n/a", help=bw.bytes_source)
    c[1].metric("achieved (busy)", f"{bw.achieved_bandwidth_gbps:,.0f} GB/s" if bw.achieved_bandwidth_gbps else "n/a")
    c[2].metric("MBU (busy / wall)", f"{bw.mbu:.0%} / {bw.mbu_wall:.0%}" if bw.mbu is not None and bw.mbu_wall is not None else "n/a")
    c[3].metric("MFU", f"{bw.mfu:.1%}" if bw.mfu is not None else "n/a")
    left, right = st.columns([3, 2])
    with left:
        widgets.plot(charts.roofline(bw))
    with right:
        widgets.plot(charts.bandwidth_bars(bw))
        if m.peak_bandwidth_gbps is None:
            st.caption("GPU not in the catalog: no peak to compare against.")
    if bw.gemms:
        per = max(report.stats.steady_steps, 1)
        widgets.table(
            [dict(vars(g), calls_per_step=g.calls / per, mb_per_call=g.bytes_per_call / 1e6) for g in bw.gemms],
            {
                "op": "op",
                "input_dims": "input dims",
                "calls_per_step": ("calls / step", "%.0f"),
                "mb_per_call": ("MB / call", "%.1f"),
                "mean_us": ("mean us", "%.1f"),
                "achieved_gbps": ("GB/s", "%.0f"),
                "fraction_of_peak": ("of peak", "percent"),
                "achieved_tflops": ("TFLOP/s", "%.2f"),
                "kernel": "kernel",
            },
        )

# ---- the run this trace belongs to ------------------------------------------------------------
if extras.nvml is not None:
    st.subheader("NVML samples")
    widgets.plot(charts.nvml_timeline(extras.nvml, extras.nvml_windows))
    st.caption(extras.nvml_note)
if extras.sweep is not None and extras.sweep["batch"].nunique() > 1:
    st.subheader("Batch sweep")
    widgets.plot(charts.batch_sweep(extras.sweep))
    widgets.table(
        extras.sweep.to_dict("records"),
        {
            "precision": "precision",
            "batch": "batch",
            "mode": "mode",
            "decode_tokens_per_s": ("decode tok/s", "%.1f"),
            "tpot_median_ms": ("TPOT median ms", "%.1f"),
            "tpot_p90_ms": ("TPOT p90 ms", "%.1f"),
            "ttft_ms": ("TTFT ms", "%.1f"),
            "peak_gpu_mem_gib": ("peak GPU mem GiB", "%.2f"),
        },
    )
    st.caption(extras.sweep_note)

with st.expander("Top-level CPU ops (host time, whole trace)"):
    widgets.table(a.cpu_ops, {"name": "op", "count": "calls", "total_ms": ("total ms", "%.1f")})

left, right = st.columns(2)
left.download_button(
    "Download as Markdown (as `profkit analyze --markdown`)", partial(data.analysis_markdown, a), file_name="analysis.md", mime="text/markdown"
)
right.download_button("Download as JSON (as `profkit analyze --json`)", partial(data.analysis_json, a), file_name="analysis.json", mime="application/json")

"""Plotly figure builders for the dashboard: analysis dataclasses (or run tables) in, figures out.

Nothing here computes an analysis; each builder only lays out numbers the analyses already hold.
Every figure carries a `meta` name (`fig.layout.meta`) so tests can tell which chart is which.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

WALL_COLOR = "#9aa5b1"
BUSY_COLOR = "#1f77b4"
OUTLIER_COLOR = "#d62728"
HOST_COLOR = "#ff7f0e"
KERNEL_COLOR = "#2ca02c"
OTHER_COLOR = "#9467bd"
PRECISION_COLORS = {"bf16": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728", "nf4": "#9467bd"}


def _layout(fig: go.Figure, name: str, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        meta=name,
        title=dict(text=title, x=0, xanchor="left"),
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
    )
    return fig


def blank() -> go.Figure:
    """An empty, transparent 10 x 10 pixel figure (plotly's smallest; `widgets.preload_charts`)."""
    fig = go.Figure()
    fig.update_layout(
        meta="blank",
        width=10,
        height=10,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def step_timeline(steps) -> go.Figure:
    """Wall vs GPU-busy time per ProfilerStep (`Step` list); outlier steps marked in red."""
    labels = [f"{s.name.replace('ProfilerStep', '')} {s.phase}" for s in steps]
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[s.wall_ms for s in steps],
        name="wall ms",
        marker_color=WALL_COLOR,
        marker_line=dict(color=[OUTLIER_COLOR if s.outlier else WALL_COLOR for s in steps], width=[3 if s.outlier else 0 for s in steps]),
        hovertemplate="%{x}<br>wall %{y:.2f} ms<extra></extra>",
    )
    fig.add_bar(
        x=labels,
        y=[s.gpu_busy_ms for s in steps],
        name="GPU busy ms",
        marker_color=BUSY_COLOR,
        customdata=[[s.idle_fraction, s.kernels, s.sync_calls] for s in steps],
        hovertemplate="%{x}<br>busy %{y:.2f} ms<br>idle %{customdata[0]:.0%}<br>%{customdata[1]} kernels, %{customdata[2]} syncs<extra></extra>",
    )
    out = [(lab, s) for lab, s in zip(labels, steps) if s.outlier]
    if out:
        fig.add_scatter(
            x=[lab for lab, _ in out],
            y=[s.wall_ms for _, s in out],
            mode="markers+text",
            name="outlier",
            marker=dict(symbol="x", size=12, color=OUTLIER_COLOR),
            text=["outlier"] * len(out),
            textposition="top center",
            hovertext=[s.outlier_reason for _, s in out],
            hoverinfo="text",
        )
    fig.update_layout(barmode="overlay", bargap=0.25)
    fig.update_yaxes(title_text="ms per step", rangemode="tozero")
    return _layout(fig, "step_timeline", "Per-step time: wall vs GPU busy")


def kernel_categories(breakdown) -> go.Figure:
    """GPU time per step by kernel category (`KernelBreakdown`)."""
    rows = sorted(breakdown.categories, key=lambda c: c.per_step_ms)
    fig = go.Figure(
        go.Bar(
            x=[c.per_step_ms for c in rows],
            y=[c.label for c in rows],
            orientation="h",
            marker_color=BUSY_COLOR,
            text=[f"{c.share:.0%}" for c in rows],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>%{x:.3f} ms per step<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="GPU ms per step")
    return _layout(fig, "kernel_categories", f"Kernel categories ({breakdown.phase})", height=max(260, 40 + 32 * len(rows)))


def idle_split(causes) -> go.Figure:
    """Idle time per stream split into host wait / kernel wait / other (`Causes`)."""
    streams = [f"stream {s.stream}" for s in causes.streams]
    fig = go.Figure()
    for label, attr, color in (("host wait", "host_wait_ms", HOST_COLOR), ("kernel wait", "kernel_wait_ms", KERNEL_COLOR), ("other", "other_ms", OTHER_COLOR)):
        fig.add_bar(
            y=streams,
            x=[getattr(s, attr) for s in causes.streams],
            name=label,
            orientation="h",
            marker_color=color,
            hovertemplate=f"%{{y}}<br>{label} %{{x:.2f}} ms<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="idle ms (steady steps)")
    return _layout(fig, "idle_split", f"GPU idle time by cause ({causes.phase})", height=max(200, 120 + 40 * len(streams)))


def gap_histogram(causes) -> go.Figure:
    """Counts of idle gaps between GPU activities by length bucket in microseconds (`Causes`)."""
    buckets = list(causes.gap_histogram_us)
    fig = go.Figure(
        go.Bar(x=buckets, y=[causes.gap_histogram_us[b] for b in buckets], marker_color=HOST_COLOR, hovertemplate="%{x} us: %{y} gaps<extra></extra>")
    )
    fig.update_xaxes(title_text="gap length (us)", type="category")
    fig.update_yaxes(title_text="gaps")
    return _layout(fig, "gap_histogram", f"Idle gaps between GPU activities ({causes.phase})")


def roofline(bw) -> go.Figure:
    """Achieved GEMM throughput against the GPU's bandwidth and compute roofs (`PhaseBandwidth`).

    x = arithmetic intensity (FLOP per byte moved), y = TFLOP/s; one point per GEMM shape and one
    for the whole phase. The roof is min(peak TFLOP/s, intensity x peak bandwidth).
    """
    fig = go.Figure()
    points = [g for g in bw.gemms if g.bytes_per_call and g.flops_per_call]
    intensities = [g.flops_per_call / g.bytes_per_call for g in points]
    if bw.flops_per_step and bw.bytes_per_step:
        intensities.append(bw.flops_per_step / bw.bytes_per_step)
    lo = min([*intensities, 1.0]) / 3
    hi = max([*intensities, (bw.peak_tflops or 1) * 1000 / (bw.peak_bandwidth_gbps or 1)]) * 3
    if bw.peak_bandwidth_gbps:
        xs = [lo * (hi / lo) ** (i / 60) for i in range(61)]
        roof = [x * bw.peak_bandwidth_gbps / 1000 for x in xs]
        if bw.peak_tflops:
            roof = [min(r, bw.peak_tflops) for r in roof]
        fig.add_scatter(
            x=xs,
            y=roof,
            mode="lines",
            name=f"roof: {bw.peak_bandwidth_gbps:,.0f} GB/s" + (f", {bw.peak_tflops:,.0f} TFLOP/s {bw.compute_dtype}" if bw.peak_tflops else ""),
            line=dict(color="black", width=2),
        )
    if points:
        fig.add_scatter(
            x=[g.flops_per_call / g.bytes_per_call for g in points],
            y=[g.achieved_tflops for g in points],
            mode="markers",
            name="GEMM shapes",
            marker=dict(size=[8 + min(g.calls, 400) / 25 for g in points], color=BUSY_COLOR, opacity=0.8),
            customdata=[[g.op, g.input_dims, g.achieved_gbps, g.calls] for g in points],
            hovertemplate="%{customdata[0]} %{customdata[1]}<br>%{customdata[2]:,.0f} GB/s, %{y:.2f} TFLOP/s<br>%{customdata[3]} calls<extra></extra>",
        )
    if bw.flops_per_step and bw.bytes_per_step and bw.achieved_tflops is not None:
        fig.add_scatter(
            x=[bw.flops_per_step / bw.bytes_per_step],
            y=[bw.achieved_tflops],
            mode="markers",
            name=f"whole {bw.phase} step",
            marker=dict(symbol="star", size=16, color=OUTLIER_COLOR),
            hovertemplate=f"whole {bw.phase} step<br>%{{y:.2f}} TFLOP/s<extra></extra>",
        )
    fig.update_xaxes(type="log", dtick=1, exponentformat="power", title_text="arithmetic intensity (FLOP / byte)")
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", title_text="TFLOP/s (over GPU busy time)")
    fig = _layout(fig, "roofline", f"Roofline ({bw.phase}): achieved vs the GPU's limits", height=460)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0), margin=dict(b=40))
    return fig


def bandwidth_bars(bw) -> go.Figure:
    """Achieved DRAM bandwidth over busy and over wall time against the peak (`PhaseBandwidth`)."""
    labels, values, colors = [], [], []
    for label, value, color in (
        ("achieved (GPU busy)", bw.achieved_bandwidth_gbps, BUSY_COLOR),
        ("achieved (wall)", bw.achieved_bandwidth_wall_gbps, WALL_COLOR),
        ("GPU peak", bw.peak_bandwidth_gbps, "black"),
    ):
        if value is not None:
            labels.append(label)
            values.append(value)
            colors.append(color)
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=colors, text=[f"{v:,.0f} GB/s" for v in values], textposition="auto"))
    fig.update_xaxes(title_text="GB/s")
    return _layout(fig, "bandwidth_bars", f"DRAM bandwidth ({bw.phase})", height=220)


def nvml_timeline(samples, windows=()) -> go.Figure:
    """NVML samples (DataFrame: t_s from start, gpu_util_pct, mem_util_pct, sm_clock_mhz, power_w) over time;
    `windows`: (label, t0_s, t1_s) spans shaded and labelled on the utilization panel."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, specs=[[{}], [{"secondary_y": True}]])
    for i, (label, t0, t1) in enumerate(windows):
        fig.add_vrect(x0=t0, x1=t1, fillcolor=WALL_COLOR if i % 2 else "#c6dbef", opacity=0.3, line_width=0, row=1, col=1)
        fig.add_annotation(x=(t0 + t1) / 2, y=104, text=label, showarrow=False, font=dict(size=9), textangle=-90, yanchor="top", row=1, col=1)
    for col, label, color in (("gpu_util_pct", "GPU util %", BUSY_COLOR), ("mem_util_pct", "memory util %", HOST_COLOR)):
        if col in samples:
            fig.add_scatter(x=samples["t_s"], y=samples[col], name=label, mode="lines", line=dict(color=color, width=1), row=1, col=1)
    if "sm_clock_mhz" in samples:
        fig.add_scatter(x=samples["t_s"], y=samples["sm_clock_mhz"], name="SM clock MHz", mode="lines", line=dict(color=KERNEL_COLOR, width=1), row=2, col=1)
    if "power_w" in samples:
        fig.add_scatter(
            x=samples["t_s"], y=samples["power_w"], name="power W", mode="lines", line=dict(color=OTHER_COLOR, width=1), row=2, col=1, secondary_y=True
        )
    fig.update_yaxes(title_text="%", range=[0, 106], row=1, col=1)
    fig.update_yaxes(title_text="MHz", row=2, col=1)
    fig.update_yaxes(title_text="W", row=2, col=1, secondary_y=True)
    fig.update_xaxes(title_text="seconds from the first sample", row=2, col=1)
    return _layout(fig, "nvml_timeline", "NVML: utilization, SM clock and power", height=460)


def batch_sweep(sweep) -> go.Figure:
    """Decode tokens/s and TPOT vs batch size, one line per precision (DataFrame: precision, batch, decode_tokens_per_s, tpot_median_ms)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("decode tokens/s (all sequences)", "time per output token (median, ms)"))
    for (precision, mode), unsorted in sweep.groupby(["precision", "mode"], sort=False, dropna=False):
        group = unsorted.sort_values("batch")
        name = f"{precision} {mode}" if mode and mode != "eager" else str(precision)
        color = PRECISION_COLORS.get(str(precision))
        marker = dict(symbol="diamond" if mode == "compiled" else "circle", size=8)
        fig.add_scatter(
            x=group["batch"],
            y=group["decode_tokens_per_s"],
            mode="lines+markers",
            name=name,
            legendgroup=name,
            line=dict(color=color),
            marker=marker,
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=group["batch"],
            y=group["tpot_median_ms"],
            mode="lines+markers",
            name=name,
            legendgroup=name,
            showlegend=False,
            line=dict(color=color, dash="dot"),
            marker=marker,
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", tickvals=sorted(sweep["batch"].dropna().unique()), title_text="batch size")
    fig.update_yaxes(type="log", dtick=1, row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig = _layout(fig, "batch_sweep", "Batch sweep (un-profiled timings)", height=400)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0), margin=dict(b=40))
    return fig


def compare_steps(comparison) -> go.Figure:
    """Each steady step of A and B per phase and metric (`Comparison`), medians marked, and the band
    around A's median that a change must leave to be significant (the comparison's own threshold)."""
    panels = [(phase, change) for phase, pc in comparison.phases.items() for change in (pc.wall_ms, pc.gpu_busy_ms)]
    titles = [f"{phase} {'wall' if c.metric == 'wall_ms' else 'GPU busy'}" + (" *" if c.significant else "") for phase, c in panels]
    fig = make_subplots(rows=1, cols=max(len(panels), 1), subplot_titles=titles, horizontal_spacing=0.06)
    for i, (_phase, c) in enumerate(panels, start=1):
        fig.add_hrect(y0=c.baseline - c.threshold_ms, y1=c.baseline + c.threshold_ms, fillcolor=WALL_COLOR, opacity=0.25, line_width=0, row=1, col=i)
        for side, values, median, color in (("A", c.baseline_values, c.baseline, WALL_COLOR), ("B", c.candidate_values, c.candidate, BUSY_COLOR)):
            fig.add_scatter(
                x=[side] * len(values),
                y=values,
                mode="markers",
                marker=dict(color=color, size=7, opacity=0.7),
                name=f"{side} steps",
                legendgroup=side,
                showlegend=i == 1,
                row=1,
                col=i,
                hovertemplate=f"{side} step %{{y:.2f}} ms<extra></extra>",
            )
            fig.add_scatter(
                x=[side],
                y=[median],
                mode="markers",
                marker=dict(symbol="line-ew-open", size=30, color="black", line=dict(width=3)),
                name="median",
                legendgroup="median",
                showlegend=i == 1 and side == "A",
                row=1,
                col=i,
                hovertemplate=f"{side} median %{{y:.2f}} ms<extra></extra>",
            )
        fig.update_yaxes(rangemode="tozero", row=1, col=i)
    fig.update_yaxes(title_text="ms per step", row=1, col=1)
    fig = _layout(fig, "compare_steps", "Steady steps, A vs B", height=420)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="right", x=1), margin=dict(b=60))
    return fig


def estimate_vs_measured(rows) -> go.Figure:
    """Modelled vs measured decode tokens/s (rows: dicts with label, tokens_per_s, kind)."""
    colors = {"measured": BUSY_COLOR, "ideal": "black", "engine": KERNEL_COLOR}
    fig = go.Figure(
        go.Bar(
            x=[r["tokens_per_s"] for r in rows],
            y=[r["label"] for r in rows],
            orientation="h",
            marker_color=[colors.get(r["kind"], WALL_COLOR) for r in rows],
            text=[f"{r['tokens_per_s']:,.1f}" for r in rows],
            textposition="auto",
        )
    )
    fig.update_xaxes(title_text="decode tokens/s (all sequences)")
    return _layout(fig, "estimate_vs_measured", "What-if: modelled vs measured decode speed", height=max(220, 80 + 40 * len(rows)))

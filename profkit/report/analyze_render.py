"""`profkit analyze` report: the analysis of each trace as sections (terminal and Markdown)."""

from __future__ import annotations

from dataclasses import replace

from profkit.analyses.kernels import CATEGORY_LABELS, KernelBreakdown
from profkit.analyses.steps import Step
from profkit.analyses.summary import TraceAnalysis
from profkit.report.tables import Section, fmt, pct, shorten
from profkit.trace.metadata import cuda_version_text, hip_version_text

PHASE_ORDER = ("prefill", "decode")


def trace_title(a: TraceAnalysis) -> str:
    return a.metadata.trace_name.removesuffix(".json").removesuffix(".pt.trace")


def sections(a: TraceAnalysis) -> list[Section]:
    out = [_metadata(a)]
    if a.warnings:
        out.append(Section("Warnings", notes=list(a.warnings)))
    out.append(_steps(a))
    if a.whole_trace is not None and a.step_source.steps != "window":
        out.append(_whole_trace(a, a.whole_trace))
    out.append(_phases(a))
    out.append(Section("Verdicts", notes=[f"[{r.verdict.bound or 'n/a'}] {r.verdict.sentence}" for r in a.phases.values()]))
    if a.has_gpu_activity:
        for name, r in a.phases.items():
            out.append(_categories(name, r))
        if a.pretrace and a.whole_trace_categories:
            out.append(_whole_categories(a.whole_trace_categories))
        for name in _main_phases(a):
            out.append(_top_kernels(name, a.phases[name]))
        out.append(_idle(a))
        out.append(_causes(a))
        for name in _main_phases(a):
            out.append(_gemms(name, a.phases[name]))
    else:  # a CPU run: the work is inside the operators (profkit.analyses.host_ops)
        for name in (n for n in _main_phases(a) if a.phases[n].kernels.categories):
            out.append(replace(_categories(name, a.phases[name]), title=f"CPU operator self time by category — {name} (per step)"))
            out.append(replace(_gemms(name, a.phases[name]), title=f"GEMM operators — {name} (CPU time, bytes from shapes)"))
    out.append(_cpu_ops(a))
    return out


def _main_phases(a: TraceAnalysis) -> list[str]:
    return [p for p in a.phases if p in PHASE_ORDER] or list(a.phases)[:1]


def _metadata(a: TraceAnalysis) -> Section:
    m = a.metadata
    rows = [
        [
            "GPU",
            f"{m.gpu_name or 'none recorded'}"
            + (f" ({m.sm_count} SMs, {m.memory_bytes / 2**30:.1f} GiB, cc {m.compute_capability})" if m.memory_bytes else ""),
        ]
    ]
    if m.platform == "ROCm" or m.hip_runtime_version or m.hip_driver_version:
        rows.append(
            ["HIP driver / runtime / roctracer", f"{hip_version(m.hip_driver_version)} / {hip_version(m.hip_runtime_version)} / {m.roctracer_version or 'n/a'}"]
        )
    if m.platform != "ROCm":
        rows.append(
            ["CUDA driver / runtime / CUPTI", f"{cuda_version(m.cuda_driver_version)} / {cuda_version(m.cuda_runtime_version)} / {m.cupti_version or 'n/a'}"]
        )
    rows.append(["Catalog match", _catalog_text(m)])
    rows.append(["Steps from", f"{a.step_source.steps}; phases from {a.step_source.phases}" + (f" (serving engine: {m.engine})" if m.engine else "")])
    if m.rank is not None:
        rows.append(["Rank", str(m.rank)])
    if m.manifest:
        rows.extend(_manifest_rows(m.manifest))
    return Section("Trace", ["field", "value"], rows, right_align_from=99)


def _catalog_text(m) -> str:
    if not m.gpu_spec_key:
        return (
            "none: GPU not in the catalog, so peak bandwidth, MBU and MFU are unknown (give --bandwidth-gbps X)"
            if m.gpu_name is not None
            else "none (no GPU recorded)"
        )
    how = {"name": "", "given": ", as given", "SM count and memory": f", matched by {m.gpu_match_note}"}.get(m.gpu_match, "")
    return f"{m.gpu_spec_key} — peak DRAM {m.peak_bandwidth_gbps:,.0f} GB/s ({m.peak_source}{how})"


def _manifest_rows(manifest: dict) -> list[list[str]]:
    env = manifest.get("environment") or {}
    cfg = manifest.get("config") or {}
    rows = [["Run", f"{manifest.get('run_id', '?')} on {manifest.get('host', '?')}"]]
    versions = ", ".join(f"{k} {env[k]}" for k in ("torch", "transformers", "bitsandbytes", "driver_version", "cuda_runtime", "cudnn") if env.get(k))
    if versions:
        rows.append(["Versions", versions])
    if cfg:
        rows.append(["Config", ", ".join(f"{k}={cfg[k]}" for k in ("precision", "batch_size", "prompt_len", "new_tokens", "mode") if k in cfg)])
    return rows


def cuda_version(value) -> str:
    """CUDA encodes versions as 1000*major + 10*minor: 13000 -> '13.0 (13000)'."""
    text = cuda_version_text(value)
    return f"{text} ({value})" if text else "n/a"


def hip_version(value) -> str:
    """HIP encodes versions as 10,000,000*major + 100,000*minor + patch: 60443483 -> '6.4.43483'."""
    return hip_version_text(value) or "n/a"


def _steps(a: TraceAnalysis) -> Section:
    engine = any(s.tokens is not None or s.batch_size is not None for s in a.steps)
    rows = []
    for s in a.steps:
        row = [
            shorten(s.name, 40),
            s.phase,
            fmt(s.wall_ms),
            fmt(s.gpu_busy_ms),
            fmt(s.idle_fraction, 3),
            fmt(s.kernels),
            fmt(s.sync_calls),
            fmt(s.d2h_copies),
            fmt(s.graph_launches),
        ]
        if engine:
            row += [fmt(s.batch_size), fmt(s.tokens), fmt(s.context_tokens)]
        rows.append([*row, "OUTLIER" if s.outlier else ""])
    notes = [f"{s.name}: {s.outlier_reason}; excluded from steady-state figures" for s in a.steps if s.outlier]
    headers = ["step", "phase", "wall ms", "GPU busy ms", "idle", "kernels", "syncs", "D2H", "graphs"]
    if engine:
        headers += ["batch", "tokens", "KV tokens read"]
        notes.append("batch, tokens and KV tokens read as the serving engine annotated each step (vLLM execute_context_..., SGLang step[...])")
    return Section("Steps", [*headers, ""], rows, notes, right_align_from=2)


def _whole_trace(a: TraceAnalysis, w: Step) -> Section:
    rows = [["whole trace", fmt(w.wall_ms), fmt(w.gpu_busy_ms), fmt(w.idle_fraction, 3), fmt(w.kernels), fmt(w.sync_calls), fmt(w.graph_launches)]]
    notes = ["From the first to the last event of any kind; kernels = launched while recording (kernels without a launch record belong to no window)."]
    if a.pretrace:
        p = a.pretrace
        notes.append(
            f"{p.kernels} kernels ({p.activities} GPU activities, {p.gpu_ms:.2f} ms of GPU time, the last ending at {p.last_end_ms:.1f} ms) "
            "have no launch record (launched before recording began, or no launch calls recorded): counted in GPU busy time, not in any step's kernels; "
            "the whole-trace idle split follows HTA (it drops them when the trace has two or more ProfilerSteps)."
        )
    return Section("Whole trace", ["window", "wall ms", "GPU busy ms", "idle", "kernels", "syncs", "graphs"], rows, notes, right_align_from=1)


def _phases(a: TraceAnalysis) -> Section:
    tokens = any(r.stats.tokens_per_step is not None for r in a.phases.values())
    rows = []
    for name, r in a.phases.items():
        st, bw = r.stats, r.bandwidth
        row = [
            name,
            f"{st.steady_steps}/{st.steps}",
            fmt(st.wall_ms),
            fmt(st.wall_ms_p90),
            fmt(st.gpu_busy_ms),
            fmt(st.idle_fraction, 3),
            fmt(st.kernels, 0),
            fmt(st.sync_calls, 0),
            fmt(st.d2h_copies, 0),
        ]
        if tokens:
            row += [fmt(st.tokens_per_step, 0), fmt(st.tokens_per_s, 1)]
        row += [
            fmt(bw.bytes_per_step / 1e9 if bw and bw.bytes_per_step else None),
            fmt(bw.achieved_bandwidth_gbps if bw else None, 0),
            pct(bw.mbu if bw else None),
            pct(bw.mfu if bw else None),
            r.verdict.bound or "n/a",
        ]
        rows.append(row)
    notes = [f"{name}: bytes {r.bandwidth.bytes_source}" for name, r in a.phases.items() if r.bandwidth and r.bandwidth.bytes_source != "shapes"]
    notes += [
        f"{name}: {r.bandwidth.kv_source}" for name, r in a.phases.items() if r.bandwidth and r.bandwidth.kv_source and r.bandwidth.kv_read_bytes_per_step
    ]
    notes.append("Medians over steady steps (outliers excluded); GB/s and MBU over GPU busy time; MFU against the dense tensor peak of the GEMM dtype.")
    if tokens:
        notes.append(
            "tok/step and tok/s as the serving engine annotated them: in decode one token per sequence, so tok/s is the batch's decode throughput and the "
            "step wall time its per-token latency."
        )
    headers = ["phase", "steady", "wall ms", "wall p90", "busy ms", "idle", "kernels", "syncs", "D2H"]
    if tokens:
        headers += ["tok/step", "tok/s"]
    headers += ["GB/step", "GB/s", "MBU", "MFU", "bound"]
    return Section("Phases (steady state, per step)", headers, rows, notes)


def _categories(name: str, r) -> Section:
    rows = [
        [CATEGORY_LABELS[c.category], fmt(c.per_step_ms, 3), fmt(c.count / max(r.kernels.steps, 1), 0), fmt(c.mean_us, 1), pct(c.share)]
        for c in r.kernels.categories
    ]
    return Section(f"Kernel time by category — {name} (per step)", ["category", "ms/step", "launches/step", "mean us", "share"], rows)


def _whole_categories(k: KernelBreakdown) -> Section:
    rows = [[CATEGORY_LABELS[c.category], fmt(c.total_ms, 3), fmt(c.count), fmt(c.mean_us, 1), pct(c.share)] for c in k.categories]
    return Section("Kernel time by category — whole trace (pre-trace kernels included)", ["category", "total ms", "launches", "mean us", "share"], rows)


def _top_kernels(name: str, r) -> Section:
    rows = [
        [
            shorten(k.kernel, 48),
            k.category,
            shorten(" > ".join(k.op_path.split(" > ")[-2:]), 60),
            shorten(k.input_dims, 36),
            fmt(k.total_ms / max(r.kernels.steps, 1), 3),
            fmt(k.count // max(r.kernels.steps, 1)),
            fmt(k.mean_us, 1),
            pct(k.share),
        ]
        for k in r.kernels.top[:10]
    ]
    return Section(
        f"Top kernels — {name} (per step)",
        ["kernel", "category", "launched by", "input dims", "ms/step", "calls/step", "mean us", "share"],
        rows,
        right_align_from=4,
    )


def _idle(a: TraceAnalysis) -> Section:
    rows = []
    for name, r in a.phases.items():
        for s in r.causes.streams if r.causes else []:
            rows.append(
                [
                    name,
                    str(s.stream),
                    fmt(s.idle_ms / max(r.stats.steady_steps, 1)),
                    pct(s.host_wait_ratio),
                    pct(s.kernel_wait_ms / s.idle_ms if s.idle_ms else None),
                    pct(s.other_ms / s.idle_ms if s.idle_ms else None),
                ]
            )
    for s in a.idle_streams:
        rows.append(
            [
                "whole trace",
                str(s.stream),
                fmt(s.idle_ms),
                pct(s.host_wait_ratio),
                pct(s.kernel_wait_ms / s.idle_ms if s.idle_ms else None),
                pct(s.other_ms / s.idle_ms if s.idle_ms else None),
            ]
        )
    notes = [
        "HTA's definitions at ns precision: host wait = the next kernel was launched after the previous one ended; kernel wait = other gaps < 30 us; phase "
        "rows are per step, the whole-trace row is total ms over the activities HTA covers."
    ]
    return Section("Idle time per stream", ["scope", "stream", "idle ms", "host wait", "kernel wait", "other"], rows, notes, right_align_from=2)


def _causes(a: TraceAnalysis) -> Section:
    rows, notes = [], []
    for name, r in a.phases.items():
        c = r.causes
        if c is None:
            continue
        rows.append(
            [
                name,
                fmt(c.kernels_per_step, 0),
                fmt(c.launch_api_ms_per_step),
                fmt(c.host_ms_per_kernel * 1000, 1),
                fmt(c.gpu_busy_ms_per_step),
                fmt(c.syncs_per_step, 0),
                fmt(c.d2h_copies_per_step, 0),
                fmt(c.sync_wait_ms_per_step),
                fmt(c.graph_launches_per_step, 0),
                fmt(c.kernels_per_graph_launch, 0),
            ]
        )
        for issuer in c.sync_issuers[:3]:
            notes.append(f"{name}: {issuer.per_step:.0f}/step  {shorten(issuer.op_path, 110)}")
    return Section(
        "Causes (per step)",
        ["phase", "kernels", "launch API ms", "host us/kernel", "GPU busy ms", "syncs", "D2H", "sync wait ms", "graph replays", "kernels/graph"],
        rows,
        notes,
    )


def _gemms(name: str, r) -> Section:
    bw = r.bandwidth
    rows = []
    for g in (bw.gemms if bw else [])[:10]:
        rows.append(
            [
                g.op,
                shorten(g.input_dims, 34),
                shorten(g.kernel, 40),
                fmt(g.calls // max(r.stats.steady_steps, 1)),
                fmt(g.bytes_per_call / 1e6, 1),
                fmt(g.mean_us, 1),
                fmt(g.achieved_gbps, 0),
                pct(g.fraction_of_peak),
            ]
        )
    notes = [] if rows else ["no GEMM op with recorded shapes in this phase (CUDA/HIP graph replays and custom ops carry none)"]
    return Section(
        f"GEMM bandwidth — {name}", ["op", "input dims", "kernel", "calls/step", "MB/call", "mean us", "GB/s", "of peak"], rows, notes, right_align_from=3
    )


def _cpu_ops(a: TraceAnalysis) -> Section:
    rows = [[shorten(o.name, 70), fmt(o.count), fmt(o.total_ms)] for o in a.cpu_ops[:10]]
    return Section("Top-level CPU ops (host time, whole trace)", ["op", "calls", "total ms"], rows)


def overview_phase(a: TraceAnalysis) -> str | None:
    """The phase a trace's row in the table across traces shows: decode where there is one, else the
    phase with the most steady steps other than prefill (a training step, a serving engine's mixed
    step), else prefill."""
    if "decode" in a.phases:
        return "decode"
    others = [n for n in a.phases if n != "prefill"]
    if others:
        return max(others, key=lambda n: a.phases[n].stats.steady_steps)
    return "prefill" if "prefill" in a.phases else None


def _gpu_cell(m) -> str:
    if m.gpu_name:
        return m.gpu_name
    if m.gpu_spec_key:
        return f"unnamed ({m.gpu_spec_key} by {m.gpu_match})"
    return "none"


def overview_section(analyses: list[TraceAnalysis], workloads: list | None = None) -> Section:
    """One row per trace: the table across configurations of a run. `workloads` (from
    `describe_workload`, same order) add the configuration and the profiled decode tokens/s."""
    rows = []
    for i, a in enumerate(analyses):
        name = overview_phase(a)
        r = a.phases[name] if name else None
        p = a.phases.get("prefill")
        w = workloads[i] if workloads else None
        gpu = r if r and a.has_gpu_activity else None  # a CPU-only trace has no GPU figures, not zeros
        rows.append(
            [
                trace_title(a),
                w.label() if w else "",
                _gpu_cell(a.metadata),
                name or "none",
                fmt(p.stats.wall_ms) if p else "n/a",
                fmt(r.stats.wall_ms) if r else "n/a",
                fmt(_decode_tokens_per_s(r, w) if name == "decode" else None, 1),
                fmt(gpu.stats.gpu_busy_ms) if gpu else "n/a",
                fmt(gpu.stats.idle_fraction, 3) if gpu else "n/a",
                fmt(gpu.stats.kernels, 0) if gpu else "n/a",
                fmt(r.stats.sync_calls, 0) if r else "n/a",
                pct(gpu.bandwidth.mbu) if gpu and gpu.bandwidth else "n/a",
                (r.verdict.bound or "n/a") if r else "n/a",
            ]
        )
    notes = [
        "phase: decode where the trace has one, else its main phase (e.g. a training step); "
        "ms/step and the columns after it are that phase's steady-state medians.",
        "decode tok/s = tokens per decode step (the serving engine's annotation, else the batch) / profiled decode step time "
        "(the profiler adds overhead; `profkit run` records un-profiled timings in the manifest).",
    ]
    return Section(
        "All traces",
        ["trace", "config", "GPU", "phase", "prefill ms", "ms/step", "decode tok/s", "busy ms", "idle", "kernels", "syncs", "MBU", "bound"],
        rows,
        notes,
        right_align_from=4,
    )


def _decode_tokens_per_s(r, w) -> float | None:
    if r is None or not r.stats.wall_ms:
        return None
    if r.stats.tokens_per_s is not None:
        return r.stats.tokens_per_s
    return w.batch_size * 1000.0 / r.stats.wall_ms if w and w.batch_size else None


def markdown(analyses: list[TraceAnalysis], workloads: list | None = None) -> str:
    parts = [render_md(a) for a in analyses]
    if len(analyses) > 1:
        from profkit.report.tables import render_markdown

        parts.append(render_markdown("Across traces", [overview_section(analyses, workloads)]))
    return "\n\n".join(parts) + "\n"


def render_md(a: TraceAnalysis) -> str:
    from profkit.report.tables import render_markdown

    return render_markdown(trace_title(a), sections(a))


def terminal(analyses: list[TraceAnalysis], workloads: list | None = None, console=None) -> None:
    from profkit.report.tables import render_terminal

    for a in analyses:
        render_terminal(trace_title(a), sections(a), console)
    if len(analyses) > 1:
        render_terminal("Across traces", [overview_section(analyses, workloads)], console)

"""Renderers for `profkit.analyses.estimate.Estimate`: Markdown and terminal (rich); the JSON form is
`Estimate.to_dict()`.

Memory is shown in GiB (2**30 bytes) with GB (1e9 bytes) beside the big figures; JSON carries bytes.
"""

from __future__ import annotations

from profkit.analyses.estimate import Estimate, estimate_notes


def _gib(n: float) -> str:
    if abs(n) < 2**30:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**30:.2f} GiB"


def _gib_gb(n: float) -> str:
    return f"{n / 2**30:.2f} GiB ({n / 1e9:.2f} GB)"


def _batch(b: int | None) -> str:
    return "never (KV reads grow as fast as FLOPs)" if b is None else str(b)


def estimate_rows(est: Estimate) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(label, value)]) shared by the terminal and Markdown renderers."""
    w = est.weights
    memory = [
        ("GPU capacity (CUDA-reported)", _gib_gb(est.memory_bytes)),
        ("weights", _gib_gb(est.weights_bytes)),
        ("  decoder linears", _gib(w.linear_bytes)),
        ("  quantization scales", _gib(w.scale_bytes) if w.scale_bytes else "none"),
        ("  embedding (16-bit)", _gib(w.embedding_bytes)),
        ("  lm_head", _gib(w.lm_head_bytes) if w.lm_head_bytes else "tied to the embedding"),
        ("CUDA context", _gib(est.cuda_context_bytes)),
        ("headroom (capacity - weights - context)", _gib_gb(est.headroom_bytes)),
        ("KV cache per token", f"{est.kv_bytes_per_token / 1024:.0f} KiB ({est.kv_bytes_per_token:,} bytes)"),
        (f"KV cache, batch {est.batch_size} x {est.context_len:,} tokens", _gib(est.kv_bytes)),
        ("activations/workspace", _gib(est.activation_bytes)),
        ("total", _gib_gb(est.total_bytes)),
        ("free after total", _gib(est.free_bytes) + ("" if est.fits else "  DOES NOT FIT")),
        (f"max batch at {est.context_len:,} tokens", str(est.max_batch)),
    ]
    speed = [
        (
            "bandwidth / peaks used",
            f"{est.bandwidth_gbps:,.0f} GB/s; linears {est.linear_peak_tflops:g}, attention/lm_head {est.other_peak_tflops:g} TFLOP/s ({est.gpu_source})",
        ),
        ("decode bytes per step", f"{est.decode_bytes_per_step / 1e9:.2f} GB"),
        ("decode step", f"{est.decode_ms_ideal:.2f} ms ({est.decode_bound}-bound)"),
        (f"decode tok/s per sequence at {est.context_len:,} tokens", f"{est.decode_tokens_per_s_ideal:.1f}"),
        ("decode tok/s per sequence, empty KV cache", f"{est.decode_tokens_per_s_ideal_empty_cache:.1f}"),
        (f"decode tok/s aggregate (batch {est.batch_size})", f"{est.decode_tokens_per_s_ideal_aggregate:.1f}"),
        (
            "decode turns compute-bound at batch",
            f"{_batch(est.decode_compute_bound_batch)} at {est.context_len:,} tokens; "
            f"{_batch(est.decode_compute_bound_batch_empty_cache)} with an empty KV cache",
        ),
        (
            f"prefill, batch {est.batch_size} x {est.context_len:,} tokens",
            f"{est.prefill_ms_ideal:.1f} ms ({est.prefill_bound}-bound, {est.prefill_tokens_per_s_ideal:,.0f} tok/s)",
        ),
    ]
    sections = [("Memory", memory), ("Ideal speed (roofline upper bounds, modelled)", speed)]
    if est.measured:
        sections.append(("Measured decode (un-profiled runs; MBU = modelled bytes / measured TPOT)", [_measured_row(m) for m in est.measured]))
    return sections


def _measured_row(m) -> tuple[str, str]:
    where = m.gpu_name + ("" if m.on_estimate_gpu else " (another GPU: its own roofline)")
    mbu = f"MBU {m.mbu_wall:.0%}" if m.mbu_wall is not None else "MBU unknown (the byte model exceeds the GPU's bandwidth for this run)"
    return (
        f"{m.label} on {where}",
        f"{m.tokens_per_s_per_sequence:,.1f} tok/s per sequence ({m.tokens_per_s_aggregate:,.1f} aggregate), TPOT {m.tpot_ms:.2f} ms; "
        f"{m.tokens_per_s_per_sequence / m.roofline_tokens_per_s:.0%} of its roofline at {m.context_len:,} tokens; {mbu}; from {m.source}",
    )


def render_markdown(est: Estimate) -> str:
    """A Markdown section: a heading, one table per section, the notes as a list."""
    lines = [
        f"## Estimate: {est.model} on {est.gpu_name}, {est.precision}",
        "",
        f"{est.precision_description}; context {est.context_len:,} tokens, batch {est.batch_size}.",
    ]
    for section, rows in estimate_rows(est):
        lines += ["", f"### {section}", "", "| quantity | value |", "|---|---|"]
        lines += [f"| {label.strip()} | {value} |" for label, value in rows]
    lines += ["", "### Notes", ""]
    lines += [f"- {note}" for note in estimate_notes(est)]
    return "\n".join(lines) + "\n"


def render_terminal(est: Estimate, console=None) -> None:
    """Print the estimate with rich tables."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    console.print(
        f"[bold]{est.model}[/bold] on [bold]{est.gpu_name}[/bold], [bold]{est.precision}[/bold]: "
        f"{est.precision_description}; context {est.context_len:,} tokens, batch {est.batch_size}"
    )
    for section, rows in estimate_rows(est):
        table = Table(title=section, title_justify="left", show_header=False, box=None, pad_edge=False)
        table.add_column(style="cyan")
        table.add_column(justify="left")
        for label, value in rows:
            table.add_row(escape(label), escape(value))  # paths and [brackets] are text, not markup
        console.print(table)
    for i, note in enumerate(estimate_notes(est)):
        style = "bold yellow" if i < len(est.warnings) else "dim"
        console.print(f"- {note}", style=style, highlight=False)

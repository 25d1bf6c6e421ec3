"""`profkit estimate`: memory, headroom, max batch and ideal speeds, before running anything."""

from __future__ import annotations

import typer

from profkit.analyses.estimate import DEFAULT_BATCH_SIZE, DEFAULT_CONTEXT_LEN, DEFAULT_GPU, DEFAULT_MODEL, DEFAULT_PRECISION, PRECISIONS


def register(app: typer.Typer) -> None:
    @app.command("estimate")
    def estimate_command(
        model: str = typer.Option(DEFAULT_MODEL, "--model", help="Built-in model name (llama-3-8b, tiny) or a Hugging Face config.json (file or folder)."),
        gpu: str = typer.Option(DEFAULT_GPU, "--gpu", help="Catalog GPU key or name: a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h200, l4, l40s, ..."),
        bandwidth_gbps: float | None = typer.Option(None, "--bandwidth-gbps", help="DRAM bandwidth in GB/s (1e9 B/s); replaces the --gpu entry's."),
        memory_gb: float | None = typer.Option(None, "--memory-gb", help="Device memory in GB (1e9 bytes) as CUDA reports it; replaces the --gpu entry's."),
        peak_tflops: float | None = typer.Option(
            None, "--peak-tflops", help="Dense tensor-core peak in TFLOP/s, used for every GEMM; replaces the --gpu entry's."
        ),
        precision: str = typer.Option(DEFAULT_PRECISION, "--precision", help=f"Weight precision: {', '.join(PRECISIONS)}."),
        context_len: int = typer.Option(DEFAULT_CONTEXT_LEN, "--context-len", help="Tokens per sequence in the KV cache."),
        batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", help="Sequences decoded together."),
        measured: list[str] | None = typer.Option(
            None,
            "--measured",
            help="A run folder, run-results JSON or trace (repeatable): "
            "its timed runs of this precision and batch are shown beside the model, marked measured.",
        ),
        json_out: str | None = typer.Option(None, "--json", help="Write the estimate as JSON to FILE, or '-' for stdout (nothing else printed)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of the terminal tables."),
    ) -> None:
        """Memory (weights, KV cache, headroom, max batch) and roofline speeds for a model on a GPU."""
        import sys

        from profkit.api import estimate
        from profkit.cli.output import json_text, write_json
        from profkit.report.estimate_render import render_markdown, render_terminal

        est = estimate(
            model,
            gpu,
            precision=precision,
            context_len=context_len,
            batch_size=batch_size,
            bandwidth_gbps=bandwidth_gbps,
            memory_gb=memory_gb,
            peak_tflops=peak_tflops,
            measured=measured or (),
        )

        if json_out is not None:
            text = json_text(est.to_dict())
            write_json(text, json_out)
            if json_out == "-":
                return
        if markdown:
            sys.stdout.write(render_markdown(est))
        else:
            render_terminal(est)

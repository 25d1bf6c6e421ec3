"""`profkit estimate`: memory, headroom, max batch and ideal speeds, before running anything."""

from __future__ import annotations

from typing import List, Optional

import typer

from profkit.analyses.estimate import DEFAULT_BATCH_SIZE, DEFAULT_CONTEXT_LEN, DEFAULT_PRECISION, PRECISIONS

DEFAULT_GPU = "a100-40gb-sxm"
DEFAULT_MODEL = "llama-3-8b"


def _gpu_from_options(gpu: str, bandwidth_gbps: float | None, memory_gb: float | None, peak_tflops: float | None):
    """The catalog GPU, with any of its numbers replaced by the ones given."""
    from dataclasses import replace

    from profkit.errors import ProfkitError
    from profkit.hardware.catalog import DTYPE_KEYS, get_gpu, with_measured

    spec = get_gpu(gpu)
    given = {"--bandwidth-gbps": bandwidth_gbps, "--memory-gb": memory_gb, "--peak-tflops": peak_tflops}
    for option, value in given.items():
        if value is not None and not value > 0:
            raise ProfkitError(f"{option} must be a positive number, got {value}")
    if all(v is None for v in given.values()):
        return spec
    peaks = {key: peak_tflops for key in DTYPE_KEYS} if peak_tflops is not None else None
    spec = with_measured(spec, bandwidth_gbps=bandwidth_gbps, peak_tflops=peaks)
    if memory_gb is not None:
        spec = replace(spec, memory_bytes=int(memory_gb * 1e9))
    if all(v is not None for v in given.values()):
        return replace(spec, key="custom", name="GPU given by its numbers", sm_count=0)
    return replace(spec, key=f"{spec.key}+given", name=f"{spec.name} (with the numbers given)")


def register(app: typer.Typer) -> None:
    @app.command("estimate")
    def estimate_command(
        model: str = typer.Option(DEFAULT_MODEL, "--model", help="Built-in model name (llama-3-8b, tiny) or a Hugging Face config.json (file or folder)."),
        gpu: str = typer.Option(DEFAULT_GPU, "--gpu", help="Catalog GPU key or name: a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h200, l4, l40s, ..."),
        bandwidth_gbps: Optional[float] = typer.Option(None, "--bandwidth-gbps", help="DRAM bandwidth in GB/s (1e9 B/s); replaces the --gpu entry's."),
        memory_gb: Optional[float] = typer.Option(None, "--memory-gb", help="Device memory in GB (1e9 bytes) as CUDA reports it; replaces the --gpu entry's."),
        peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help="Dense tensor-core peak in TFLOP/s, used for every GEMM; replaces the --gpu entry's."),
        precision: str = typer.Option(DEFAULT_PRECISION, "--precision", help=f"Weight precision: {', '.join(PRECISIONS)}."),
        context_len: int = typer.Option(DEFAULT_CONTEXT_LEN, "--context-len", help="Tokens per sequence in the KV cache."),
        batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", help="Sequences decoded together."),
        measured: Optional[List[str]] = typer.Option(None, "--measured", help="A run folder, run-results JSON or trace (repeatable): its timed runs of this precision and batch are shown beside the model, marked measured."),
        json_out: Optional[str] = typer.Option(None, "--json", help="Write the estimate as JSON to FILE, or '-' for stdout (nothing else printed)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of the terminal tables."),
    ) -> None:
        """Memory (weights, KV cache, headroom, max batch) and roofline speeds for a model on a GPU."""
        import sys

        from profkit.cli.output import json_text, write_json
        from profkit.analyses.estimate import estimate
        from profkit.models import model_shape
        from profkit.report.estimate_render import estimate_to_dict, render_markdown, render_terminal

        shape = model_shape(model)
        spec = _gpu_from_options(gpu, bandwidth_gbps, memory_gb, peak_tflops)
        est = estimate(shape, spec, precision=precision, context_len=context_len, batch_size=batch_size)
        if measured:
            from profkit.analyses.estimate import with_measured
            from profkit.analyses.evidence import load_inputs

            inputs = load_inputs(measured)
            est = with_measured(est, shape, spec, inputs.configs, inputs.model)

        if json_out is not None:
            text = json_text(estimate_to_dict(est))
            write_json(text, json_out)
            if json_out == "-":
                return
        if markdown:
            sys.stdout.write(render_markdown(est))
        else:
            render_terminal(est)

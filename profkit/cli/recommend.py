"""`profkit recommend`: ranked changes (precision, batch size, launch overhead) with their evidence,
expected gain (measured or modelled), confidence and how to make them."""

from __future__ import annotations

import typer

from profkit.analyses.estimate import DEFAULT_CONTEXT_LEN


def register(app: typer.Typer) -> None:
    @app.command("recommend")
    def recommend_command(
        paths: list[str] = typer.Argument(..., help="Run directories (profkit run), trace files or folders, and/or run-results JSON files."),
        target_gpu: str | None = typer.Option(
            None,
            "--target-gpu",
            help="The GPU you deploy on (catalog key or name: a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h200, l4, l40s, ...); default a100-40gb-sxm. "
            "Measurements from other GPUs are scaled to it.",
        ),
        context_len: int | None = typer.Option(
            None, "--context-len", help=f"Tokens per sequence in the KV cache (prompt + generated) on the target. Default {DEFAULT_CONTEXT_LEN}."
        ),
        tpot_slo_ms: float | None = typer.Option(None, "--tpot-slo-ms", help="Latency target for the time per output token (checked on its p90), ms."),
        ttft_slo_ms: float | None = typer.Option(None, "--ttft-slo-ms", help="Latency target for the time to first token (at the measured prompt length), ms."),
        model: str | None = typer.Option(
            None, "--model", help="Model shape: llama-3-8b, tiny or a Hugging Face config.json. Default: the run manifest's, else llama-3-8b."
        ),
        json_out: str | None = typer.Option(None, "--json", help="Write the recommendations as a JSON list to FILE, or '-' for stdout (nothing else printed)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of the terminal view."),
        strict: bool = typer.Option(
            False, "--strict", help="In a folder, exit with an error (code 2) on a file that cannot be read instead of skipping it with a note."
        ),
    ) -> None:
        """Ranked recommendations: what to change, why (measured numbers), expected gain (measured or modelled), confidence, how."""
        import sys

        from profkit.api import recommend
        from profkit.cli.output import json_text, write_json
        from profkit.report.recommend_render import recommendations_to_json, render_markdown, render_terminal, report_header

        result = recommend(*paths, target_gpu=target_gpu, context_len=context_len, tpot_slo_ms=tpot_slo_ms, ttft_slo_ms=ttft_slo_ms, model=model, strict=strict)
        header = report_header(result, context_given=context_len is not None)

        if json_out is not None:
            text = json_text(recommendations_to_json(result))
            write_json(text, json_out)
            if json_out == "-":
                for line in header.set_aside + ((header.nothing,) if not result else ()):
                    print(f"profkit: note: {line}", file=sys.stderr)
                return
        if markdown:
            sys.stdout.write(render_markdown(result, header))
        else:
            render_terminal(result, header)

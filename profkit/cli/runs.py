"""`profkit runs`: the runs and traces under a folder, with what they ran on, filterable."""

from __future__ import annotations

import typer

DEFAULT_TRACES_DIR = "traces"  # `profkit run --out` default (profkit.capture.config.RunConfig.out_dir)


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs_command(
        traces_dir: str = typer.Argument(DEFAULT_TRACES_DIR, help="Folder holding run folders (with manifest.json) and/or trace files."),
        run_id: str | None = typer.Option(None, "--run-id", help="Keep runs whose id contains this text."),
        date: str | None = typer.Option(None, "--date", help="Keep runs created on this date or month (ISO: 2026-11-26, 2026-11)."),
        gpu: str | None = typer.Option(None, "--gpu", help="Keep runs whose GPU name contains this text (e.g. h100)."),
        driver: str | None = typer.Option(None, "--driver", help="... whose NVIDIA driver version contains this text (e.g. 580)."),
        cuda: str | None = typer.Option(None, "--cuda", help="... whose CUDA runtime version contains this text (e.g. 13.0)."),
        torch: str | None = typer.Option(None, "--torch", help="... whose torch version contains this text."),
        transformers: str | None = typer.Option(None, "--transformers", help="... whose transformers version contains this text."),
        bitsandbytes: str | None = typer.Option(None, "--bitsandbytes", help="... whose bitsandbytes version contains this text."),
        model: str | None = typer.Option(None, "--model", help="... whose model name contains this text."),
        host: str | None = typer.Option(None, "--host", help="... run on a host whose name contains this text."),
        precision: str | None = typer.Option(None, "--precision", help="Keep configurations of this precision (bf16, fp16, int8, nf4)."),
        batch: int | None = typer.Option(None, "--batch", help="Keep configurations of this batch size."),
        prompt_len: int | None = typer.Option(None, "--prompt-len", help="Keep configurations of this prompt length."),
        mode: str | None = typer.Option(None, "--mode", help="Keep configurations of this mode (eager, compiled)."),
        quick: bool = typer.Option(
            False, "--quick", help="Do not read the events of loose traces without a manifest (their precision and batch stay unknown)."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Exit with an error (code 2) if any file in the folder cannot be read or is skipped, instead of listing it with a warning."
        ),
        json_out: str | None = typer.Option(
            None, "--json", help="Write the list as JSON (schema profkit.runs/1) to FILE, or '-' for stdout (nothing else printed)."
        ),
        markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of the terminal table."),
    ) -> None:
        """List runs (run id, date, GPU, rank, driver, CUDA/HIP, torch, transformers, bitsandbytes, precisions, batch sizes, speeds)."""
        import sys

        from profkit.cli.output import json_text, write_json
        from profkit.errors import ProfkitError
        from profkit.report.runs_render import problem_lines, render_markdown, render_terminal
        from profkit.store import RunFilter, filter_runs, list_runs

        criteria = RunFilter(
            run_id=run_id,
            date=date,
            gpu=gpu,
            driver=driver,
            cuda=cuda,
            torch=torch,
            transformers=transformers,
            bitsandbytes=bitsandbytes,
            model=model,
            host=host,
            precision=precision,
            batch_size=batch,
            prompt_len=prompt_len,
            mode=mode,
        )
        listing = list_runs(traces_dir, inspect_traces=not quick)
        if strict and listing.problems():
            raise ProfkitError(f"{listing.problems()[0]} (--strict: fix or remove it, or drop --strict to list it with a warning)")
        shown = filter_runs(listing.runs, criteria)
        if json_out is not None:
            text = json_text(listing.filtered(criteria).to_dict())
            write_json(text, json_out)
            if json_out == "-":
                for line in problem_lines(listing, shown):
                    print(f"profkit: warning: {line}", file=sys.stderr)
                return
        if markdown:
            sys.stdout.write(render_markdown(listing, shown, criteria))
        else:
            render_terminal(listing, shown, criteria)

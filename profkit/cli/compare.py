"""`profkit compare`: what got faster or slower between a baseline and candidates, and why."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_command(
        baseline: str = typer.Argument(..., help="Baseline: a trace file (.json/.json.gz) or a run folder (with manifest.json)."),
        candidates: list[str] = typer.Argument(
            ...,
            help="One or more candidates: trace files or run folders. "
            "Run folder vs run folder pairs configurations by precision, batch, prompt length and mode.",
        ),
        baseline_rep: list[str] | None = typer.Option(
            None,
            "--baseline-rep",
            help="A repeated trace (or run folder) of the baseline configuration, for the run-to-run noise; give it several times for several repeats. "
            "Candidates with the baseline's exact set-up are used as repeats automatically.",
        ),
        json_out: str | None = typer.Option(
            None,
            "--json",
            help="Write the comparison as JSON (schema profkit.compare/1, docs/compare-json.md) to FILE, or '-' for stdout (nothing else printed).",
        ),
        markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of the terminal tables."),
        k_sigma: float | None = typer.Option(
            None,
            "--k-sigma",
            help="A change is significant beyond this many times the combined noise of the two medians (default: profkit.analyses.compare.K_SIGMA, 2).",
        ),
        rel_floor: float | None = typer.Option(None, "--rel-floor", help="... and beyond this fraction of the baseline (default: REL_FLOOR, 0.03 = 3%)."),
        strict: bool = typer.Option(
            False, "--strict", help="In a folder, exit with an error (code 2) on a file that cannot be read instead of skipping it with a note."
        ),
    ) -> None:
        """Compare a baseline with candidates: set-up differences, step times with significance, kernel
        categories and operations aligned by what they compute, and a verdict."""
        import sys

        from profkit.api import compare
        from profkit.cli.output import json_text, write_json
        from profkit.report.compare_render import render_markdown, render_terminal

        report = compare(baseline, *candidates, baseline_reps=baseline_rep or (), k_sigma=k_sigma, rel_floor=rel_floor, strict=strict)

        if json_out is not None:
            text = json_text(report.to_dict())
            write_json(text, json_out)
            if json_out == "-":
                return
        if markdown:
            sys.stdout.write(render_markdown(report))
        else:
            render_terminal(report)

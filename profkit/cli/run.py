"""`profkit run`: run Llama inference across precisions, batch sizes and modes under the profiler.

Leaves `<out>/<run-id>/` with one `.pt.trace.json.gz` per configuration, `manifest.json` and
`nvml_samples.csv`, which `profkit analyze`, `compare`, `recommend` and the dashboard read.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

import typer

from profkit.capture.config import DEVICES, MODES, PRECISIONS, RunConfig
from profkit.errors import ProfkitError

if TYPE_CHECKING:
    from rich.progress import TaskID

_DEFAULTS = {f.name: f.default for f in fields(RunConfig)}
SUMMARY_WIDTH = 160  # columns of the summary table when stdout is not a terminal
INTERRUPTED_EXIT = 130  # 128 + SIGINT, what shells report for Ctrl-C


def interrupted_line(run_dir, kept: list[str]) -> str:
    """What Ctrl-C leaves behind, in one line."""
    names = f": {', '.join(kept)}" if kept else ""
    return f"profkit: interrupted; kept {len(kept)} finished configurations in {run_dir}{names}"


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


def _parse_list(option: str, text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise ProfkitError(f"{option} is empty; give a comma-separated list")
    return items


def _parse_ints(option: str, text: str) -> tuple[int, ...]:
    items = _parse_list(option, text)
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise ProfkitError(f"{option} takes comma-separated integers (e.g. 1,4,16), got {text!r}") from None


def build_config(*, model: str | None, random_weights: bool, model_config: str | None, **options) -> RunConfig:
    """RunConfig from the command-line values (lists given as comma-separated text)."""
    if random_weights and model is not None:
        raise ProfkitError("--random-weights and --model PATH exclude each other; drop one")
    return RunConfig(
        model_path=model,
        model_config=model_config,
        precisions=_parse_list("--precisions", options.pop("precisions")),
        batch_sizes=_parse_ints("--batch-sizes", options.pop("batch_sizes")),
        modes=_parse_list("--mode", options.pop("modes")),
        **options,
    )


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        model: str | None = typer.Option(None, "--model", help="Local Hugging Face checkpoint folder, loaded with from_pretrained."),
        random_weights: bool = typer.Option(
            False, "--random-weights", help="Random weights of --model-config's shape (the default without --model); no download."
        ),
        model_config: str | None = typer.Option(
            None, "--model-config", help="Shape for random weights: llama-3-8b (default on GPU), tiny (default on CPU), or a config.json path."
        ),
        precisions: str = typer.Option(
            _csv(_DEFAULTS["precisions"]),
            "--precisions",
            help=f"Comma list of {', '.join(PRECISIONS)} (int8 = bitsandbytes LLM.int8; int8wo/int4wo/fp8 = torchao; int4wo and fp8 need a CUDA GPU).",
        ),
        batch_sizes: str = typer.Option(_csv(_DEFAULTS["batch_sizes"]), "--batch-sizes", help="Comma list of batch sizes."),
        modes: str = typer.Option(
            _csv(_DEFAULTS["modes"]), "--mode", help=f"Comma list of {', '.join(MODES)} (compiled = static KV cache + torch.compile, CUDA graphs on GPU)."
        ),
        prompt_len: int = typer.Option(_DEFAULTS["prompt_len"], "--prompt-len", help="Prompt tokens per sequence."),
        new_tokens: int = typer.Option(
            _DEFAULTS["new_tokens"], "--new-tokens", help="Tokens generated per sequence in the timed run (1 from prefill + decode steps)."
        ),
        profile_steps: int = typer.Option(
            _DEFAULTS["profile_steps"], "--profile-steps", help="Decode tokens traced after the prefill step (capped at --new-tokens - 1)."
        ),
        int8_threshold: float = typer.Option(
            _DEFAULTS["int8_threshold"], "--int8-threshold", help="LLM.int8 outlier threshold (BitsAndBytesConfig.llm_int8_threshold)."
        ),
        device: str = typer.Option(_DEFAULTS["device"], "--device", help=f"{' | '.join(DEVICES)}."),
        seed: int = typer.Option(_DEFAULTS["seed"], "--seed", help="Seed for random weights and prompt ids."),
        prompt_text: str | None = typer.Option(
            None, "--prompt-text", help="Prompt text for the checkpoint's tokenizer (repeated/cut to --prompt-len); default random ids."
        ),
        layer_ranges: bool = typer.Option(False, "--layer-ranges", help="Also annotate every decoder layer (NVTX + record_function; eager only)."),
        out: str = typer.Option(_DEFAULTS["out_dir"], "--out", help="Folder for run folders."),
        run_id: str | None = typer.Option(None, "--run-id", help="Run folder name (default: time stamp + model)."),
        resume: bool = typer.Option(False, "--resume", help="Continue --run-id, skipping configurations already recorded as ok."),
    ) -> None:
        """Run Llama inference across precisions x batch sizes x modes; write traces + manifest."""
        cfg = build_config(
            model=model,
            random_weights=random_weights,
            model_config=model_config,
            precisions=precisions,
            batch_sizes=batch_sizes,
            modes=modes,
            prompt_len=prompt_len,
            new_tokens=new_tokens,
            profile_steps=profile_steps,
            int8_threshold=int8_threshold,
            device=device,
            seed=seed,
            prompt_text=prompt_text,
            layer_ranges=layer_ranges,
            out_dir=out,
            run_id=run_id,
            resume=resume,
        )
        import sys

        from rich.console import Console

        from profkit.capture.sweep import SweepInterrupted, run_sweep

        console = Console(stderr=True)
        try:
            with _ProgressReporter(console) as reporter:
                result = run_sweep(cfg, reporter)
        except SweepInterrupted as stop:
            console.print(interrupted_line(stop.run_dir, stop.kept), highlight=False, soft_wrap=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        except KeyboardInterrupt:  # before the run folder was written
            console.print("profkit: interrupted before the sweep started; nothing was written", highlight=False)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        _print_summary(Console(width=None if sys.stdout.isatty() else SUMMARY_WIDTH), result)
        failed = [c["name"] for c in result.manifest["configs"] if c["name"] in result.ran and c["status"] == "failed"]
        if failed:
            console.print(f"[red]{len(failed)} configuration(s) failed[/red] (see 'error' in the manifest): {', '.join(failed)}")
            raise typer.Exit(1)


class _ProgressReporter:
    """A rich progress bar over the sweep's configurations (a `SweepReporter`)."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None  # the bar, once the sweep has started

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.stop()
        return False

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]note:[/yellow] {text}")

    def start(self, todo, skipped) -> None:
        if skipped:
            self.console.print(f"--resume: {len(skipped)} configuration(s) already done, skipped")
        self.task = self.progress.add_task("sweep", total=len(todo))
        self.progress.start()

    def config_started(self, spec, what: str) -> None:
        assert self.task is not None, "the sweep starts before its configurations"
        self.progress.update(self.task, description=f"{spec.name}: {what}")

    def config_done(self, spec, entry: dict) -> None:
        if entry["status"] != "ok":
            self.console.print(f"[red]{spec.name}: {entry['status']}[/red] {entry['error']}")
        assert self.task is not None, "the sweep starts before its configurations"
        self.progress.update(self.task, advance=1, description="sweep")


def _print_summary(console, result) -> None:
    from rich.table import Table

    from profkit.capture.manifest import summary_rows

    table = Table(title=f"profkit run {result.manifest['run_id']} ({result.manifest['environment']['device']})")
    rows = summary_rows(result.manifest)
    for column in rows[0] if rows else ():
        text = column in ("config", "status")
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    console.print(f"traces and manifest: {result.run_dir}")
